"""The SNS contract (DESIGN section 6) as one model: validation, parsing, and the publish gate."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.unit.alert_samples import message

from eksguard.alert.dedupe import StormSettings
from eksguard.alert.messages import CONTRACT_FIELDS, AlertMessage, ContractError
from eksguard.alert.publish import publish


def test_a_valid_message_round_trips_through_json() -> None:
    original = message(related_rules=("SG-001",), suppressed=3, target_id="sgr-1")
    text = json.dumps(original.to_dict())
    assert AlertMessage.from_json(text) == original
    assert set(CONTRACT_FIELDS) <= set(json.loads(text))


def test_attributes_and_subject_are_unchanged() -> None:
    m = message()
    assert m.attributes() == {"severity": "critical", "rule_id": "SG-002", "action": "revoked"}
    assert m.subject == "[eksguard] CRITICAL SG-002 revoked: sg-0123456789abcdef0"


@pytest.mark.parametrize("field", [f for f in CONTRACT_FIELDS])
def test_each_contract_field_is_required(field: str) -> None:
    body = message().to_dict()
    del body[field]
    with pytest.raises(ContractError, match=field):
        AlertMessage.from_json(json.dumps(body))


@pytest.mark.parametrize(("overrides", "complaint"), [
    ({"action": "deleted"}, "action 'deleted' is not one of"),
    ({"severity": "urgent"}, "severity 'urgent' is not one of"),
    ({"mode": "yolo"}, "mode 'yolo' is not one of"),
    ({"account": ""}, "account is required"),
    ({"rule_id": ""}, "rule_id is required"),
    ({"summary": "  "}, "summary is required"),
    ({"resource_id": "", "resource_arn": ""}, "resource_id or resource_arn is required"),
    ({"remediation_id": ""}, "remediation_id is required when the action is revoked"),
    ({"before": ["not", "an", "object"]}, "before must be an object or null"),
    ({"event_id": 42}, "event_id must be a string, got int"),
    ({"suppressed": -1}, "suppressed must be a non-negative integer"),
    ({"suppressed": True}, "suppressed must be a non-negative integer"),
    ({"related_rules": ("SG-001", 7)}, "related_rules must be a list of rule ids"),
    ({"error": 500}, "error must be a string or null"),
])
def test_validation_names_the_problem(overrides: dict[str, Any], complaint: str) -> None:
    with pytest.raises(ContractError, match=complaint):
        message(**overrides).validate()


def test_every_problem_is_reported_at_once() -> None:
    problems = message(action="deleted", severity="urgent", account="").problems()
    assert len(problems) == 3


def test_alert_only_needs_no_remediation_id() -> None:
    assert message(action="alert-only", remediation_id="").validate().action == "alert-only"


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"a string"', ""])
def test_non_object_bodies_are_rejected(text: str) -> None:
    with pytest.raises(ContractError, match="JSON"):
        AlertMessage.from_json(text)


def test_unknown_fields_from_a_newer_publisher_are_tolerated() -> None:
    body = {**message().to_dict(), "runbook_url": "https://example.com/runbook"}
    assert AlertMessage.from_json(json.dumps(body)) == message()


class _RecordingSns:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def publish(self, **kwargs: Any) -> dict[str, str]:
        self.calls.append(kwargs)
        return {"MessageId": "m-1"}


class _FakeAws:
    def __init__(self) -> None:
        self.sns = _RecordingSns()

    def client(self, service: str, region: str | None = None) -> Any:
        assert service == "sns", f"publish must not touch {service} when collapse is off"
        return self.sns


def test_publish_refuses_a_broken_message_and_sends_nothing() -> None:
    aws = _FakeAws()
    with pytest.raises(ContractError, match="action 'deleted'"):
        publish(aws, "arn:aws:sns:ap-northeast-2:123456789012:alerts", message(action="deleted"),  # type: ignore[arg-type]
                    storm=StormSettings(window_seconds=0))
    assert aws.sns.calls == []


def test_publish_sends_the_contract_with_its_filter_attributes() -> None:
    aws = _FakeAws()
    sent = publish(aws, "arn:aws:sns:ap-northeast-2:123456789012:alerts", message(),  # type: ignore[arg-type]
                       storm=StormSettings(window_seconds=0))
    (call,) = aws.sns.calls
    assert sent == "m-1"
    assert AlertMessage.from_json(call["Message"]) == message()
    assert call["MessageAttributes"] == {
        "severity": {"DataType": "String", "StringValue": "critical"},
        "rule_id": {"DataType": "String", "StringValue": "SG-002"},
        "action": {"DataType": "String", "StringValue": "revoked"},
    }
