"""The Slack message for each kind of action: Block Kit that slack-sdk's models parse and validate,
and the facts an on-call engineer needs (who, what, where, undo, exempt)."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from tests.unit.alert_samples import message

from eksguard.alert.messages import AlertMessage
from eksguard.alert.slack import FIELD_LIMIT, HEADER_LIMIT, build_payload, console_url, render_text

ROLE_ARN = "arn:aws:iam::123456789012:role/eksguard-demo/app/payments-irsa"
CLUSTER_ARN = "arn:aws:eks:ap-northeast-2:123456789012:cluster/demo"
CASES: dict[str, AlertMessage] = {
    "revoked": message(),
    "rewrote-trust": message(
        rule_id="IR-001", severity="high", title="IRSA trust without an exact audience", resource_id="payments-irsa",
        resource_arn=ROLE_ARN, action="rewrote-trust",
        before={"Condition": {"StringEquals": {"aud": "sts.amazon.com"}}},
        after={"Condition": {"StringEquals": {"aud": "sts.amazonaws.com"}}},
        summary="IR-001 on payments-irsa: eksguard set the audience to sts.amazonaws.com."),
    "alert-only": message(mode="audit", action="alert-only", remediation_id="", after={"CidrIpv4": "0.0.0.0/0"},
                          before={"CidrIpv4": "0.0.0.0/0"}, summary="SG-002 on demo-nodes: changed nothing (audit)."),
    "exempt": message(action="exempt", after={"CidrIpv4": "0.0.0.0/0"}, before={"CidrIpv4": "0.0.0.0/0"},
                      how_to_exempt="tag sg-0123456789abcdef0 with eksguard:exempt=true",
                      summary="SG-002 on ci-runner: left alone (exempt until 2026-12-31)."),
    "failed": message(action="failed", error="revoke failed: UnauthorizedOperation", after={"CidrIpv4": "0.0.0.0/0"},
                      before={"CidrIpv4": "0.0.0.0/0"}, summary="SG-002 on demo-nodes: eksguard FAILED to revoke."),
    "rolled-back": message(
        rule_id="EK-002", severity="medium", title="Control-plane logging disabled", resource_id="demo",
        resource_arn=CLUSTER_ARN, action="rolled-back", before={"logging": "on"}, after={"logging": "off"},
        actor="arn:aws:iam::123456789012:user/bob", summary="EK-002 on demo: rolled back remediation r-1 by bob."),
}
WHAT = {
    "revoked": "Revoked the offending rule", "rewrote-trust": "Rewrote the trust policy",
    "alert-only": "Alert only - nothing was changed", "exempt": "Exempt - left alone (exemption tag)",
    "failed": ":warning: FAILED - the change could not be made; the problem is still there",
    "rolled-back": "Rolled back an earlier remediation (before-image restored)",
}


def _texts(payload: dict[str, Any]) -> list[str]:
    out = []
    for block in payload["blocks"]:
        out += [block["text"]["text"]] if "text" in block else []
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", [])]
    return out


@pytest.mark.parametrize("action", sorted(CASES))
def test_blocks_parse_and_validate_with_slack_sdk(action: str) -> None:
    payload = build_payload(CASES[action].validate())
    parsed = Block.parse_all(payload["blocks"])
    assert [b.to_dict() for b in parsed] == payload["blocks"]  # nothing slack-sdk does not know
    for block in parsed:
        block.validate_json()  # Block Kit limits: lengths, field counts


@pytest.mark.parametrize("action", sorted(CASES))
def test_each_action_says_what_eksguard_did(action: str) -> None:
    texts = _texts(build_payload(CASES[action]))
    assert f"*What eksguard did*\n{WHAT[action]}" in texts
    assert payload_fallback(action).startswith(f"[{CASES[action].severity.upper()}] {CASES[action].rule_id} {action}")


def payload_fallback(action: str) -> str:
    return str(build_payload(CASES[action])["text"])


@pytest.mark.parametrize("action", sorted(CASES))
def test_rollback_command_only_when_eksguard_changed_something(action: str) -> None:
    joined = "\n".join(_texts(build_payload(CASES[action])))
    undo = f"`eksguard rollback {CASES[action].remediation_id}`"
    assert (undo in joined) == (action in ("revoked", "rewrote-trust"))


@pytest.mark.parametrize("action", sorted(CASES))
def test_how_to_exempt_except_when_already_exempt(action: str) -> None:
    joined = "\n".join(_texts(build_payload(CASES[action])))
    assert ("To exempt:" in joined) == (action != "exempt")


def test_exact_payload_of_a_revoke() -> None:
    url = "https://ap-northeast-2.console.aws.amazon.com/ec2/home?region=ap-northeast-2#SecurityGroup:groupId=" \
          "sg-0123456789abcdef0"
    assert build_payload(message(related_rules=("SG-001",))) == {
        "text": "[CRITICAL] SG-002 revoked on sg-0123456789abcdef0: SG-002 on demo-nodes: eksguard revoked tcp/22 "
                "ingress from 0.0.0.0/0.",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                        "text": ":red_circle: CRITICAL SG-002 World-open ingress to a protected port"}},
            {"type": "section",
             "text": {"type": "mrkdwn",
                      "text": "SG-002 on demo-nodes: eksguard revoked tcp/22 ingress from 0.0.0.0/0."},
             "fields": [
                 {"type": "mrkdwn", "text": f"*Resource*\n<{url}|sg-0123456789abcdef0>"},
                 {"type": "mrkdwn", "text": "*Account / region*\n123456789012 / ap-northeast-2"},
                 {"type": "mrkdwn",
                  "text": "*Changed by*\narn:aws:sts::123456789012:assumed-role/PlatformAdmin/jane@example.com"},
                 {"type": "mrkdwn", "text": "*When*\n2026-11-20T09:00:05Z"},
                 {"type": "mrkdwn", "text": "*What eksguard did*\nRevoked the offending rule"},
                 {"type": "mrkdwn", "text": "*Mode*\nenforce"},
             ]},
            {"type": "section", "fields": [
                {"type": "mrkdwn",
                 "text": '*Before*\n```{"CidrIpv4":"0.0.0.0/0","FromPort":22,"SecurityGroupRuleId":"sgr-1"}```'},
                {"type": "mrkdwn", "text": "*After*\n_removed_"},
            ]},
            {"type": "section", "text": {
                "type": "mrkdwn",
                "text": "*Undo this change*\n`eksguard rollback f6db0e44-cd95-558d-9af9-07f917c2ea2d`"}},
            {"type": "context", "elements": [
                {"type": "mrkdwn", "text": "To exempt: tag sg-0123456789abcdef0 with eksguard:exempt=true or "
                                           "eksguard:exempt=YYYY-MM-DD"},
                {"type": "mrkdwn", "text": "event `3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f01` | remediation "
                                           "`f6db0e44-cd95-558d-9af9-07f917c2ea2d` | also SG-001"},
            ]},
        ],
    }


def test_failure_shows_the_error_and_the_state_left_unchanged() -> None:
    texts = _texts(build_payload(CASES["failed"]))
    assert "*Error*\n```revoke failed: UnauthorizedOperation```" in texts
    assert "*After*\n_unchanged_" in texts


def test_storm_count_is_reported() -> None:
    joined = "\n".join(_texts(build_payload(message(suppressed=4))))
    assert ":mute: 4 similar events suppressed since the previous alert for this resource and rule" in joined
    assert "suppressed" not in "\n".join(_texts(build_payload(message())))


@pytest.mark.parametrize(("arn", "resource_id", "region", "url"), [
    ("arn:aws:ec2:eu-west-1:123456789012:security-group/sg-1", "sg-1", "eu-west-1",
     "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#SecurityGroup:groupId=sg-1"),
    (ROLE_ARN, "payments-irsa", "us-east-1", "https://console.aws.amazon.com/iam/home#/roles/details/payments-irsa"),
    (CLUSTER_ARN, "demo", "ap-northeast-2",
     "https://ap-northeast-2.console.aws.amazon.com/eks/home?region=ap-northeast-2#/clusters/demo"),
    ("arn:aws-cn:eks:cn-north-1:123456789012:cluster/prod", "prod", "cn-north-1",
     "https://cn-north-1.console.amazonaws.cn/eks/home?region=cn-north-1#/clusters/prod"),
    ("arn:aws:ec2:eu-west-1:123456789012:launch-template/lt-0abc", "lt-0abc", "eu-west-1",
     "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1#LaunchTemplateDetails:launchTemplateId=lt-0abc"),
    ("", "sweep:eu-west-1", "eu-west-1", None),
])
def test_console_deep_links(arn: str, resource_id: str, region: str, url: str | None) -> None:
    assert console_url(message(resource_arn=arn, resource_id=resource_id, region=region)) == url


def test_user_text_is_escaped_for_mrkdwn() -> None:
    payload = build_payload(message(summary="opened by <@U123> & friends", actor="<!channel>"))
    texts = _texts(payload)
    assert "opened by &lt;@U123&gt; &amp; friends" in texts
    assert "*Changed by*\n&lt;!channel&gt;" in texts


def test_huge_images_and_titles_stay_within_block_kit_limits() -> None:
    huge = message(title="x" * 500, before={"Rules": [{"CidrIpv4": f"10.0.{i}.0/24"} for i in range(2000)]})
    payload = build_payload(huge)
    header = payload["blocks"][0]["text"]["text"]
    assert len(header) == HEADER_LIMIT and header.endswith("…")
    for block in Block.parse_all(payload["blocks"]):
        block.validate_json()
    assert all(len(t) <= FIELD_LIMIT for t in _texts(payload))


def test_text_rendering_reads_like_slack() -> None:
    text = render_text(build_payload(message(suppressed=2)))
    lines = text.splitlines()
    assert lines[1] == "| :red_circle: CRITICAL SG-002 World-open ingress to a protected port |"
    assert "  Resource:              sg-0123456789abcdef0 (https://ap-northeast-2.console.aws.amazon.com/ec2/home?" \
           "region=ap-northeast-2#SecurityGroup:groupId=sg-0123456789abcdef0)" in lines
    assert "  What eksguard did:     Revoked the offending rule" in lines
    assert "  After:                 removed" in lines
    assert "`eksguard rollback f6db0e44-cd95-558d-9af9-07f917c2ea2d`" in lines
    assert "  · :mute: 2 similar events suppressed since the previous alert for this resource and rule" in lines
    assert "  · To exempt: tag sg-0123456789abcdef0 with eksguard:exempt=true or eksguard:exempt=YYYY-MM-DD" in lines
    assert "*" not in text and "```" not in text  # no mrkdwn markers left
