"""The security-group guard end to end on moto: each events/ file after the mistake it records.

The handler runs exactly as Lambda would run it (template environment, Powertools decorators,
idempotency table), and each test asserts the resulting AWS state and the SNS messages."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field

import pytest
from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.moto_iam import invoke_enforced

from eksguard.alert.messages import CONTRACT_FIELDS
from eksguard.local.demo import SCENARIOS
from eksguard.local.replay import matching_rules


@dataclass(frozen=True)
class Expect:
    group: str
    gone: frozenset[tuple[int | None, str]] = frozenset()
    kept: frozenset[tuple[int | None, str]] = frozenset()
    # (rule id, action) of every alert, in any order
    alerts: tuple[tuple[str, str], ...] = ()
    dropped: bool = False
    extra: dict[str, object] = field(default_factory=dict)


EXPECTED = {
    "sg-ingress-ssh-world-grouped-node": Expect(
        "node_sg", gone=frozenset({(22, "0.0.0.0/0")}),
        kept=frozenset({(22, "10.0.0.0/8"), (10250, "control_plane_sg")}),
        alerts=(("SG-002", "revoked"),)),
    "sg-ingress-kubelet-ipv6-world-node": Expect(
        "node_sg", gone=frozenset({(10250, "::/0")}), kept=frozenset({(10250, "control_plane_sg")}),
        alerts=(("SG-002", "revoked"),)),
    "sg-ingress-api-world-flat-control-plane": Expect(
        "control_plane_sg", gone=frozenset({(443, "0.0.0.0/0")}),
        kept=frozenset({(443, "bastion_sg"), (443, "node_sg")}), alerts=(("SG-001", "revoked"),)),
    "sg-ingress-lb-8080-world": Expect(
        "lb_sg", gone=frozenset({(8080, "0.0.0.0/0")}), kept=frozenset({(443, "0.0.0.0/0"), (80, "0.0.0.0/0")}),
        alerts=(("SG-004", "revoked"),)),
    "sg-ingress-rdp-world-flat-bastion": Expect(
        "bastion_sg", gone=frozenset({(3389, "0.0.0.0/0")}), kept=frozenset({(22, "203.0.113.0/24")}),
        alerts=(("SG-002", "revoked"), ("SG-005", "alert-only"))),
    "sg-modify-bastion-ssh-to-world": Expect(
        "bastion_sg", gone=frozenset({(22, "0.0.0.0/0")}), alerts=(("SG-002", "revoked"), ("SG-005", "alert-only"))),
    "sg-ingress-wide-public-cidr-node": Expect(
        "node_sg", gone=frozenset({(30443, "8.0.0.0/8")}), alerts=(("SG-003", "revoked"),)),
    "sg-ingress-referenced-group-control-plane": Expect(
        "control_plane_sg", kept=frozenset({(443, "bastion_sg"), (443, "node_sg")})),
    "sg-ingress-ssh-world-exempt-ci-runner": Expect(
        "ci_runner_sg", kept=frozenset({(22, "0.0.0.0/0")}), alerts=(("SG-002", "exempt"), ("SG-005", "exempt"))),
    "sg-ingress-ssh-world-expired-exemption": Expect(
        "batch_sg", gone=frozenset({(22, "0.0.0.0/0")}), alerts=(("SG-002", "revoked"), ("SG-005", "alert-only"))),
    "sg-ingress-groupname-only-default-vpc": Expect("legacy_sg", kept=frozenset({(22, "0.0.0.0/0")})),
    "sg-egress-all-traffic-world-bastion": Expect("bastion_sg", alerts=(("SG-005", "alert-only"),)),
    "sg-revoke-cluster-self-rule": Expect("cluster_sg", alerts=(("SG-006", "alert-only"),)),
    "sg-ingress-failed-unauthorized": Expect("node_sg", dropped=True),
    "sg-revoke-by-eksguard-itself": Expect("node_sg", dropped=True),
}


def _resolve(account: Account, pairs: frozenset[tuple[int | None, str]]) -> set[tuple[int | None, str]]:
    ids = account.acct.as_dict()
    return {(port, ids.get(src, src)) for port, src in pairs}


def test_every_event_file_has_an_expectation_and_a_demo_scenario() -> None:
    files = {p.stem for p in EVENTS.glob("sg-*.json")}
    assert files == set(EXPECTED)
    assert {s.event_file for s in SCENARIOS} == files


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.event_file)
def test_event_after_its_mistake(account: Account, scenario) -> None:
    expect = EXPECTED[scenario.event_file]
    group_id = getattr(account.acct, expect.group)
    scenario.mistake(account.ec2, account.acct)
    event = json.loads((EVENTS / f"{scenario.event_file}.json").read_text())
    before = account.ingress_sources(group_id)

    routes = matching_rules(account.app(Mode="enforce"), event)
    if expect.dropped:
        assert routes == []
        assert account.ingress_sources(group_id) == before
        return
    assert routes == [("SgGuardFunction", "SecurityGroupChange")]
    result = account.invoke(scenario.event_file)
    assert result.ok, result.error
    after = account.ingress_sources(group_id)
    assert not (_resolve(account, expect.gone) & after), f"still present: {_resolve(account, expect.gone) & after}"
    assert _resolve(account, expect.gone) <= before
    assert _resolve(account, expect.kept) <= after
    assert before - after == _resolve(account, expect.gone), "revoked more than the offending rule"
    alerts = account.alerts()
    assert sorted((a["rule_id"], a["action"]) for a in alerts) == sorted(expect.alerts)


def test_redelivery_changes_once_and_alerts_once(account: Account) -> None:
    SCENARIOS[0].mistake(account.ec2, account.acct)
    first = account.invoke("sg-ingress-ssh-world-grouped-node")
    second = account.invoke("sg-ingress-ssh-world-grouped-node")
    assert first.ok and second.ok
    assert second.response == first.response  # served from the idempotency record
    alerts = account.alerts()
    assert [(a["rule_id"], a["action"]) for a in alerts] == [("SG-002", "revoked")]
    assert len(account.audit_records()) == 1


def test_audit_mode_changes_nothing_and_alerts(account: Account) -> None:
    SCENARIOS[0].mistake(account.ec2, account.acct)
    before = account.rules(account.acct.node_sg)
    result = account.invoke("sg-ingress-ssh-world-grouped-node", Mode="audit")
    assert result.ok
    assert account.rules(account.acct.node_sg) == before
    alerts = account.alerts()
    assert [(a["rule_id"], a["action"], a["mode"]) for a in alerts] == [("SG-002", "alert-only", "audit")]
    assert account.audit_records() == []


def test_alert_follows_the_sns_contract(account: Account) -> None:
    SCENARIOS[0].mistake(account.ec2, account.acct)
    account.invoke("sg-ingress-ssh-world-grouped-node")
    (alert,) = account.alerts()
    assert set(CONTRACT_FIELDS) <= set(alert)
    assert alert["_attributes"] == {"severity": "critical", "rule_id": "SG-002", "action": "revoked"}
    assert alert["event_id"] == "3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f01"
    assert alert["account"] == "123456789012" and alert["region"] == "ap-northeast-2"
    assert alert["actor"] == "arn:aws:sts::123456789012:assumed-role/PlatformAdmin/jane@example.com"
    assert alert["before"]["CidrIpv4"] == "0.0.0.0/0" and alert["before"]["FromPort"] == 22
    assert alert["after"] is None
    assert alert["related_rules"] == ["SG-001"]


def test_audit_record_holds_the_exact_before_image(account: Account) -> None:
    SCENARIOS[0].mistake(account.ec2, account.acct)
    world = next(r for r in account.rules(account.acct.node_sg)
                 if r.get("CidrIpv4") == "0.0.0.0/0" and not r["IsEgress"])
    account.invoke("sg-ingress-ssh-world-grouped-node")
    (record,) = account.audit_records()
    assert record["before_image"] == world
    assert record["outcome"] == "revoked" and record["alerted"] == "true"
    assert record["rule_id"] == "SG-002" and record["resource_id"] == account.acct.node_sg
    assert record["event_id"] == "3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f01"


def test_no_change_without_a_before_image(account: Account) -> None:
    """Audit table gone: nothing is revoked, a `failed` alert goes out, and the error reaches Lambda
    (so EventBridge/Lambda retry and finally dead-letter the event)."""
    SCENARIOS[0].mistake(account.ec2, account.acct)
    table = account.app(Mode="enforce").context.physical["AuditTable"]["Ref"]  # resolve (and provision) first
    account.session.client("dynamodb").delete_table(TableName=table)
    before = account.ingress_sources(account.acct.node_sg)
    result = account.invoke("sg-ingress-ssh-world-grouped-node")
    assert not result.ok and result.error["errorType"] == "RetryableError"
    assert account.ingress_sources(account.acct.node_sg) == before
    assert [(a["rule_id"], a["action"]) for a in account.alerts()] == [("SG-002", "failed")]


def test_group_deleted_before_handling_is_a_quiet_no_op(account: Account) -> None:
    _ingress = SCENARIOS[8]  # the CI runner group: nothing references it
    _ingress.mistake(account.ec2, account.acct)
    account.ec2.delete_security_group(GroupId=account.acct.ci_runner_sg)
    result = account.invoke("sg-ingress-ssh-world-exempt-ci-runner")
    assert result.ok and result.response["status"] == "processed"
    assert result.response["actions"] == []
    assert account.alerts() == []


def test_someone_else_revoked_it_first(account: Account) -> None:
    """Two events race for the same rule: it is revoked once and the loser neither fails nor alerts."""
    SCENARIOS[0].mistake(account.ec2, account.acct)
    first = account.invoke("sg-ingress-ssh-world-grouped-node")
    event = json.loads((EVENTS / "sg-ingress-ssh-world-grouped-node.json").read_text())
    event["detail"]["eventID"] = "another-delivery-of-a-similar-call"
    second = account.invoke(event)
    assert first.ok and second.ok
    assert second.response["actions"] == []  # the re-read no longer shows the rule
    assert len(account.alerts()) == 1


MALFORMED = {
    "not-an-object": [],
    "detail-not-an-object": {"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2", "detail": "x"},
    "no-event-id": {"detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
                    "detail": {"eventName": "AuthorizeSecurityGroupIngress", "eventSource": "ec2.amazonaws.com"}},
    "permissions-a-string": "ipPermissions",
    "port-not-a-number": "fromPort",
    "no-group": "groupId",
}


@pytest.mark.parametrize("case", MALFORMED, ids=str)
def test_malformed_event_is_rejected_and_changes_nothing(account: Account, case: str) -> None:
    SCENARIOS[0].mistake(account.ec2, account.acct)
    base = json.loads((EVENTS / "sg-ingress-ssh-world-grouped-node.json").read_text())
    event = MALFORMED[case]
    if isinstance(event, str):
        event, request = copy.deepcopy(base), base["detail"]["requestParameters"]
        request = event["detail"]["requestParameters"]
        if case == "permissions-a-string":
            request["ipPermissions"] = "tcp 22 0.0.0.0/0"
        elif case == "port-not-a-number":
            request["ipPermissions"]["items"][0]["fromPort"] = "twenty-two"
        else:
            del request["groupId"]
            del event["detail"]["responseElements"]["securityGroupRuleSet"]
    before = account.rules(account.acct.node_sg)
    result = account.invoke(event)
    assert result.ok
    assert result.response["status"] == "rejected" and result.response["reason"]
    assert account.rules(account.acct.node_sg) == before
    assert account.alerts() == []


def test_event_from_another_region_is_rejected(account: Account) -> None:
    """EventBridge delivers CloudTrail events only in their own region: another region is forged."""
    SCENARIOS[0].mistake(account.ec2, account.acct)
    event = json.loads((EVENTS / "sg-ingress-ssh-world-grouped-node.json").read_text())
    event["region"] = event["detail"]["awsRegion"] = "eu-west-1"
    before = account.rules(account.acct.node_sg)
    result = account.invoke(event)
    assert result.ok and result.response["status"] == "rejected"
    assert "eu-west-1" in result.response["reason"]
    assert account.rules(account.acct.node_sg) == before
    assert account.alerts() == []


def _event(name: str) -> dict[str, object]:
    return dict(json.loads((EVENTS / f"{name}.json").read_text()))


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if not EXPECTED[s.event_file].dropped][:6],
                         ids=lambda s: s.event_file)
def test_under_moto_iam_with_exactly_the_template_policy(account: Account, scenario) -> None:
    """moto's own IAM enforcement as a second line: the handler as a role holding only its template policy."""
    expect = EXPECTED[scenario.event_file]
    scenario.mistake(account.ec2, account.acct)
    before = account.ingress_sources(getattr(account.acct, expect.group))
    result = invoke_enforced(account.app(Mode="enforce"), "SgGuardFunction", _event(scenario.event_file),
                             account.session)
    assert result.ok, result.error
    assert before - account.ingress_sources(getattr(account.acct, expect.group)) == _resolve(account, expect.gone)
    assert sorted((a["rule_id"], a["action"]) for a in account.alerts()) == sorted(expect.alerts)


def test_moto_iam_refuses_what_the_policy_leaves_out(account: Account) -> None:
    """The same revoke with the audit-mode policy (no revoke grant): moto refuses it, the guard alerts failed."""
    SCENARIOS[0].mistake(account.ec2, account.acct)
    result = invoke_enforced(account.app(Mode="enforce"), "SgGuardFunction",
                             _event("sg-ingress-ssh-world-grouped-node"), account.session,
                             policy_parameters={"Mode": "audit"})
    assert [(a["action"], a["status"]) for a in result.response["actions"]] == [("failed", "failed")]
    (alert,) = account.alerts()
    assert alert["action"] == "failed" and "AccessDenied" in alert["error"]
