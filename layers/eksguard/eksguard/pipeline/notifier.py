"""The notifier: one alert -> (Security Hub finding) -> (central findings bus) -> (Slack message).

Two kinds of event arrive. From the stack's own alert topic (SNS): the alert is parsed with the
contract model first - a message that breaks the contract is rejected with the reason and goes
nowhere - then imported into Security Hub, forwarded to the organization's central bus, and posted
to Slack. Security Hub goes first because its import is idempotent (same finding id); the forward
goes before Slack because it is a local PutEvents, while Slack is the delivery most likely to fail
and be retried. From the central findings bus (the security account's stack): a member's finding,
posted to Slack labelled with its account alias, account and region - and never forwarded again.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from eksguard.alert import central
from eksguard.alert.asff import build_finding, is_finding, missing_fields
from eksguard.alert.messages import AlertMessage, ContractError
from eksguard.alert.slack import build_payload
from eksguard.aws.clients import Aws
from eksguard.aws.findings_bus import ForwardError, put_event
from eksguard.aws.securityhub import FindingImportError, import_findings
from eksguard.config import ConfigError

if TYPE_CHECKING:  # the webhook module needs slack-sdk, which only the notifier function ships
    from eksguard.alert.webhook import SlackWebhook


@dataclass(frozen=True)
class NotifierConfig:
    slack_secret_arn: str = ""
    security_hub_export: bool = False
    partition: str = "aws"
    # This account's findings bus (forwarded to the central bus by a rule); "" - no forwarding.
    findings_bus: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifierConfig:
        env = os.environ if env is None else env
        export = env.get("EKSGUARD_SECURITY_HUB_EXPORT", "false").strip().lower()
        if export not in ("true", "false"):
            raise ConfigError(f"SecurityHubExport must be true or false, got {export!r}")
        return cls(slack_secret_arn=env.get("EKSGUARD_SLACK_WEBHOOK_SECRET_ARN", "").strip(),
                   security_hub_export=export == "true", partition=env.get("EKSGUARD_PARTITION", "aws") or "aws",
                   findings_bus=env.get("EKSGUARD_FINDINGS_BUS", "").strip())


@dataclass(frozen=True)
class NotifyResult:
    status: str  # delivered | rejected
    rule_id: str | None = None
    action: str | None = None
    resource_id: str | None = None
    slack: bool = False
    security_hub: bool = False
    forwarded: bool = False
    origin: str | None = None  # the member account and region, for a finding from the central bus
    reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Outputs:
    """Where alerts go. ``alias`` is called only when a finding is forwarded (one IAM read, cached)."""

    aws: Aws
    slack: SlackWebhook | None
    alias: Callable[[], str]


def handle_event(event: Any, config: NotifierConfig, out: Outputs, now: datetime) -> list[NotifyResult]:
    """Every record of an SNS event (SNS sends one), or one finding from the central bus; anything else
    is rejected as a whole."""
    if central.is_central_event(event):
        return [handle_central(event, out)]
    try:
        bodies = sns_messages(event)
    except ContractError as exc:
        return [NotifyResult("rejected", reason=str(exc))]
    return [handle(body, config, out, now) for body in bodies]


def sns_messages(event: Any) -> list[str]:
    records = event.get("Records") if isinstance(event, Mapping) else None
    if not isinstance(records, list) or not records:
        raise ContractError("not an SNS event (it has no Records) nor an eksguard finding from the central bus")
    bodies = []
    for record in records:
        sns = record.get("Sns") if isinstance(record, Mapping) else None
        if not isinstance(sns, Mapping) or not isinstance(sns.get("Message"), str):
            raise ContractError("not an SNS event: a record has no Sns.Message string")
        bodies.append(sns["Message"])
    return bodies


def handle(body: str, config: NotifierConfig, out: Outputs, now: datetime) -> NotifyResult:
    try:
        message = AlertMessage.from_json(body)
    except ContractError as exc:
        return NotifyResult("rejected", reason=str(exc))
    exported = config.security_hub_export and is_finding(message)
    if exported:
        finding = build_finding(message, now, config.partition, out.aws.home_region)
        if missing := missing_fields(finding):
            raise FindingImportError(f"finding {finding.get('Id')!r} lacks required ASFF field(s): "
                                     + ", ".join(missing))
        import_findings(out.aws, [finding])
    if config.findings_bus:
        try:
            put_event(out.aws, config.findings_bus, central.SOURCE, central.DETAIL_TYPE,
                      central.detail(message, out.alias()))
        except ForwardError as exc:
            raise ForwardError(f"finding {message.rule_id} on {message.resource_id} not forwarded: {exc}") from exc
    if out.slack is not None:
        out.slack.post(build_payload(message))
    return NotifyResult("delivered", message.rule_id, message.action, message.resource_id, slack=out.slack is not None,
                        security_hub=exported, forwarded=bool(config.findings_bus))


def handle_central(event: Mapping[str, Any], out: Outputs) -> NotifyResult:
    try:
        finding = central.parse(event)
    except ContractError as exc:
        return NotifyResult("rejected", reason=str(exc))
    if out.slack is not None:
        out.slack.post(build_payload(finding.message, origin=finding.origin.label))
    message = finding.message
    return NotifyResult("delivered", message.rule_id, message.action, message.resource_id, slack=out.slack is not None,
                        origin=finding.origin.label)
