"""The central stream's event: what a member puts on its bus, and what the central notifier accepts.
Each pass/fail case is named; the label comes from EventBridge's envelope, never from the payload."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.unit.alert_samples import message

from eksguard.alert import central
from eksguard.alert.messages import ContractError
from eksguard.alert.slack import build_payload


def event(**overrides: Any) -> dict[str, Any]:
    """An event as the central bus delivers it: EventBridge's envelope around the member's detail."""
    base = {"version": "0", "id": "0f1e2d3c-0000-4000-8000-000000000001", "detail-type": central.DETAIL_TYPE,
            "source": central.SOURCE, "account": "123456789012", "region": "ap-northeast-2",
            "time": "2026-11-20T09:00:07Z", "resources": [],
            "detail": json.loads(central.detail(message(), "team-b-prod"))}
    return {**base, **overrides}


def test_pass_a_forwarded_finding_is_labelled_by_the_envelope() -> None:
    found = central.parse(event())
    assert found.message == message()
    assert found.origin.label == "team-b-prod (123456789012) / ap-northeast-2"


def test_pass_an_account_without_alias_is_labelled_by_its_id() -> None:
    detail = json.loads(central.detail(message(), ""))
    assert central.parse(event(detail=detail)).origin.label == "123456789012 / ap-northeast-2"


@pytest.mark.parametrize(("name", "overrides", "reason"), [
    ("claims-another-account", {"account": "222233334444"}, "claims 123456789012 / ap-northeast-2 but was sent by "
                                                            "222233334444 / ap-northeast-2"),
    ("claims-another-region", {"region": "eu-west-1"}, "but was sent by 123456789012 / eu-west-1"),
    ("not-eksguard", {"source": "aws.ec2"}, "not an eksguard finding"),
    ("no-account", {"account": None}, "no valid account"),
    ("account-not-12-digits", {"account": "12345"}, "no valid account"),
    ("no-region", {"region": ""}, "no region"),
    ("no-alert", {"detail": {"account_alias": "x"}}, "no alert object"),
    ("alert-breaks-contract", {"detail": {"alert": {"rule_id": "SG-002"}}}, "lacks required field"),
])
def test_fail(name: str, overrides: dict[str, Any], reason: str) -> None:
    with pytest.raises(ContractError, match=reason.replace("(", r"\(").replace(")", r"\)")):
        central.parse(event(**overrides))


def test_a_non_string_alias_is_dropped_not_trusted() -> None:
    detail = json.loads(central.detail(message(), ""))
    detail["account_alias"] = {"<!channel>": 1}
    assert central.parse(event(detail=detail)).origin.alias == ""


def test_sns_events_are_not_central_events() -> None:
    assert central.is_central_event(event())
    assert not central.is_central_event({"Records": [{"Sns": {}}], "detail-type": central.DETAIL_TYPE})
    assert not central.is_central_event({"detail-type": "AWS API Call via CloudTrail"})


def test_a_broken_message_is_never_put_on_the_bus() -> None:
    with pytest.raises(ContractError, match="severity"):
        central.detail(message(severity="urgent"), "alias")


def test_an_oversized_finding_is_refused_before_put_events() -> None:
    with pytest.raises(ContractError, match="over EventBridge's limit"):
        central.detail(message(summary="x" * 300_000), "alias")


def test_the_slack_label_leads_the_header_and_the_notification() -> None:
    label = "team-b-prod (123456789012) / ap-northeast-2"
    payload = build_payload(message(), origin=label)
    assert payload["text"].startswith(f"[{label}] [CRITICAL] SG-002 revoked")
    assert label in payload["blocks"][0]["text"]["text"]
    assert f"*Account / region*\n{label}" in [f["text"] for f in payload["blocks"][1]["fields"]]
    # Without a label (a stack's own Slack channel) nothing changes.
    assert "team-b-prod" not in json.dumps(build_payload(message()))


def test_an_alias_cannot_inject_slack_markup() -> None:
    origin = central.Origin("123456789012", "ap-northeast-2", "<!channel> & co").label
    fields = [f["text"] for f in build_payload(message(), origin=origin)["blocks"][1]["fields"]]
    assert "*Account / region*\n&lt;!channel&gt; &amp; co (123456789012) / ap-northeast-2" in fields
