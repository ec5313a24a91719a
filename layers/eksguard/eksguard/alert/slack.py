"""Slack Block Kit for one alert, built by pure functions: what an on-call engineer needs to understand
the alert and, if need be, undo the change within a minute. Also a plain-text rendering of the
blocks (for the local demo and the docs), so what Slack would show can be read in a terminal.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from eksguard.alert.messages import AlertMessage
from eksguard.model import ActionKind

SEVERITY_EMOJI = {
    "critical": ":red_circle:", "high": ":large_orange_circle:", "medium": ":large_yellow_circle:",
    "low": ":large_blue_circle:", "info": ":white_circle:",
}
WHAT_EKSGUARD_DID: dict[str, str] = {
    ActionKind.REVOKED: "Revoked the offending rule",
    ActionKind.REWROTE_TRUST: "Rewrote the trust policy",
    ActionKind.ENABLED_LOGGING: "Enabled control-plane logging",
    ActionKind.RESTRICTED_ENDPOINT: "Restricted the public endpoint",
    ActionKind.NEW_LAUNCH_TEMPLATE_VERSION: "Made a new launch template version",
    ActionKind.ROLLED_BACK: "Rolled back an earlier remediation (before-image restored)",
    ActionKind.ALERT_ONLY: "Alert only - nothing was changed",
    ActionKind.EXEMPT: "Exempt - left alone (exemption tag)",
    ActionKind.FAILED: ":warning: FAILED - the change could not be made; the problem is still there",
}
_CONSOLE_HOST = {"aws": "console.aws.amazon.com", "aws-cn": "console.amazonaws.cn",
                 "aws-us-gov": "console.amazonaws-us-gov.com"}
# Block Kit limits (api.slack.com/reference/block-kit): header 150, section text 3000, field 2000.
HEADER_LIMIT, TEXT_LIMIT, FIELD_LIMIT, IMAGE_LIMIT = 150, 3000, 2000, 600
_LINK = re.compile(r"<([^|>]+)\|([^>]+)>")
# Bold and italic markers wrap whole words; a lone "*" (as in "eks:*") or "_" in a name stays.
_BOLD = re.compile(r"(?<!\w)\*([^*\n]+)\*(?!\w)")
_ITALIC = re.compile(r"(?<!\w)_([^_\n]+)_(?!\w)")


def build_payload(message: AlertMessage, origin: str = "") -> dict[str, Any]:
    """The webhook body: ``text`` (the notification and screen-reader fallback) and ``blocks``.

    ``origin`` labels the central stream's messages (``alias (account) / region``): one channel carries
    every account of the organization, so the label leads both the header and the notification."""
    label = f"[{origin}] " if origin else ""
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": _plain(f"{SEVERITY_EMOJI.get(message.severity, '')} {label}"
                                          f"{message.severity.upper()} {message.rule_id} {message.title}".strip(),
                                          HEADER_LIMIT)},
        {"type": "section", "text": _mrkdwn(_escape(message.summary)), "fields": _facts(message, origin)},
        {"type": "section", "fields": [
            _mrkdwn(f"*Before*\n{_image(message.before)}", FIELD_LIMIT),
            _mrkdwn(f"*After*\n{_after(message)}", FIELD_LIMIT),
        ]},
    ]
    if message.error:
        blocks.append({"type": "section", "text": _mrkdwn(f"*Error*\n```{_escape(message.error)}```")})
    if message.changed:
        blocks.append({"type": "section", "text": _mrkdwn(
            f"*Undo this change*\n`eksguard rollback {message.remediation_id}`")})
    blocks.append({"type": "context", "elements": _context(message)})
    fallback = f"{label}[{message.severity.upper()}] {message.rule_id} {message.action} on {message.resource_id}: " \
               f"{message.summary}"
    return {"text": _escape(fallback)[:TEXT_LIMIT], "blocks": blocks}


def _facts(message: AlertMessage, origin: str) -> list[dict[str, Any]]:
    resource = _escape(message.resource_id or message.resource_arn)
    url = console_url(message)
    where = _escape(origin) if origin else f"{message.account} / {message.region}"
    return [
        _mrkdwn(f"*Resource*\n<{url}|{resource}>" if url else f"*Resource*\n`{resource}`", FIELD_LIMIT),
        _mrkdwn(f"*Account / region*\n{where}", FIELD_LIMIT),
        _mrkdwn(f"*Changed by*\n{_escape(message.actor or 'unknown')}", FIELD_LIMIT),
        _mrkdwn(f"*When*\n{_escape(message.time or 'unknown')}", FIELD_LIMIT),
        _mrkdwn(f"*What eksguard did*\n{WHAT_EKSGUARD_DID.get(message.action, message.action)}", FIELD_LIMIT),
        _mrkdwn(f"*Mode*\n{message.mode}", FIELD_LIMIT),
    ]


def _context(message: AlertMessage) -> list[dict[str, Any]]:
    elements = []
    if message.suppressed:
        plural = "s" if message.suppressed > 1 else ""
        elements.append(_mrkdwn(f":mute: {message.suppressed} similar event{plural} suppressed since the "
                                "previous alert for this resource and rule"))
    if message.how_to_exempt and message.action != ActionKind.EXEMPT:
        elements.append(_mrkdwn(f"To exempt: {_escape(message.how_to_exempt)}"))
    ids = f"event `{message.event_id or '-'}` | remediation `{message.remediation_id or '-'}`"
    if message.related_rules:
        ids += f" | also {', '.join(message.related_rules)}"
    elements.append(_mrkdwn(ids))
    return elements


def _after(message: AlertMessage) -> str:
    if message.after is None and message.changed:
        return "_removed_"
    if message.after is not None and message.after == message.before:
        return "_unchanged_"
    return _image(message.after)


def _image(image: Mapping[str, Any] | None) -> str:
    """A compact one-object rendering: enough to see what was there, cut where Slack would choke."""
    if image is None:
        return "_none_"
    text = json.dumps(image, sort_keys=True, separators=(",", ":"), default=str)
    if len(text) > IMAGE_LIMIT:
        text = text[:IMAGE_LIMIT - 1] + "…"
    return f"```{_escape(text)}```"


def console_url(message: AlertMessage) -> str | None:
    """A deep link to the resource in the AWS console, by ARN (or id) type; None when unknown."""
    arn, region = message.resource_arn, message.region
    partition = arn.split(":")[1] if arn.startswith("arn:") and arn.count(":") >= 5 else "aws"
    host = _CONSOLE_HOST.get(partition, _CONSOLE_HOST["aws"])
    resource = arn.split(":", 5)[5] if arn.count(":") >= 5 else ""
    kind, _, name = resource.partition("/")
    group_id = name if kind == "security-group" else message.resource_id
    if group_id.startswith("sg-"):
        return f"https://{region}.{host}/ec2/home?region={region}#SecurityGroup:groupId={group_id}"
    if kind == "role" and ":iam:" in arn:
        # IAM is global: one console URL, the role by its name (the last path segment).
        return f"https://{host}/iam/home#/roles/details/{name.rsplit('/', 1)[-1]}"
    if kind == "cluster" and ":eks:" in arn:
        return f"https://{region}.{host}/eks/home?region={region}#/clusters/{name}"
    if kind == "launch-template":
        return f"https://{region}.{host}/ec2/home?region={region}#LaunchTemplateDetails:launchTemplateId={name}"
    return None


def _plain(text: str, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "plain_text", "text": _cut(text, limit), "emoji": True}


def _mrkdwn(text: str, limit: int = TEXT_LIMIT) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cut(text, limit)}


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters (links, mentions).
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def render_text(payload: Mapping[str, Any]) -> str:
    """The blocks as a terminal would show them: header boxed, fields as lines, context dimmed."""
    lines: list[str] = []
    for block in payload.get("blocks", []):
        kind = block.get("type")
        if kind == "header":
            title = _unmrkdwn(block["text"]["text"])
            lines += [f"+{'-' * (len(title) + 2)}+", f"| {title} |", f"+{'-' * (len(title) + 2)}+"]
        elif kind == "section":
            if "text" in block:
                lines.append(_unmrkdwn(block["text"]["text"]))
            lines += [_field(f["text"]) for f in block.get("fields", [])]
        elif kind == "context":
            lines += [f"  · {_unmrkdwn(e['text'])}" for e in block.get("elements", []) if "text" in e]
        elif kind == "divider":
            lines.append("-" * 40)
    return "\n".join(lines)


def _field(text: str) -> str:
    label, _, value = _unmrkdwn(text).partition("\n")
    return f"  {label + ':':<22} {value}"


def _unmrkdwn(text: str) -> str:
    text = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", text)
    text = _ITALIC.sub(r"\1", _BOLD.sub(r"\1", text.replace("```", "")))
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
