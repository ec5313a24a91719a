"""Rolling back a security-group revoke restores the rule exactly and keeps the guard off it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.botocore_hooks import ec2_error, inject
from tests.support.clock import NOW, TODAY
from tests.support.moto_iam import invoke_enforced
from tests.support.permissions_check import this_test, unexercised_in

from eksguard.aws import clients
from eksguard.aws.audit import AuditStore
from eksguard.local.demo import SCENARIOS
from eksguard.local.invoke import invoke
from eksguard.pipeline.rollback import RollbackError, RollbackRequest, rollback


def _comparable(rule: dict) -> dict:  # type: ignore[type-arg]
    return {k: v for k, v in rule.items() if k not in ("SecurityGroupRuleId", "SecurityGroupRuleArn")}


def _revoked(account: Account) -> tuple[str, dict]:  # type: ignore[type-arg]
    """Make the grouped-SSH mistake with a described rule, let the guard revoke it; return its audit id."""
    SCENARIOS[0].mistake(account.ec2, account.acct)
    result = account.invoke("sg-ingress-ssh-world-grouped-node")
    (action,) = result.response["actions"]
    (record,) = account.audit_records()
    assert action["status"] == "revoked" and record["outcome"] == "revoked"
    account.alerts()
    return record["remediation_id"], record["before_image"]


def _request(account: Account, rid: str, **kw: object) -> RollbackRequest:
    topic = account.app().context.physical["AlertTopic"]["Ref"]
    return RollbackRequest(remediation_id=rid, actor="arn:aws:iam::123456789012:user/oncall", today=TODAY,
                           time=NOW.isoformat(), alert_topic_arn=topic,
                           **kw)  # type: ignore[arg-type]


def _store(account: Account) -> AuditStore:
    clients.reset()
    return AuditStore(clients.default(), account.app().context.physical["AuditTable"]["Ref"])


def test_rollback_restores_the_exact_rule_and_exempts_the_group(account: Account) -> None:
    rid, before = _revoked(account)
    result = rollback(clients.default(), _store(account), _request(account, rid))
    assert result.status == "rolled-back", result.error
    restored = [r for r in account.rules(account.acct.node_sg) if r.get("CidrIpv4") == "0.0.0.0/0"
                and not r["IsEgress"]]
    assert [_comparable(r) for r in restored] == [_comparable(before)]
    assert restored[0]["Description"] == "temp debug"
    tags = {t["Key"]: t["Value"] for t in account.ec2.describe_security_groups(
        GroupIds=[account.acct.node_sg])["SecurityGroups"][0].get("Tags", [])}
    assert tags["eksguard:exempt"] == "2026-11-29"
    (alert,) = account.alerts()
    assert alert["action"] == "rolled-back" and alert["after"]["CidrIpv4"] == "0.0.0.0/0"
    records = {r["remediation_id"]: r for r in account.audit_records()}
    assert records[rid]["outcome"] == "rolled-back"
    assert records[result.rollback_id]["action"] == "rolled-back"


def test_the_guard_leaves_the_restored_rule_alone(account: Account) -> None:
    rid, _ = _revoked(account)
    rollback(clients.default(), _store(account), _request(account, rid))
    account.alerts()
    event = json.loads((EVENTS / "sg-ingress-ssh-world-grouped-node.json").read_text())
    event["detail"]["eventID"] = "the-event-the-restore-produced"
    result = account.invoke(event)
    assert [a["action"] for a in result.response["actions"]] == ["exempt"]
    assert (22, "0.0.0.0/0") in account.ingress_sources(account.acct.node_sg)


def test_dry_run_changes_nothing(account: Account) -> None:
    rid, before = _revoked(account)
    rules_before = account.rules(account.acct.node_sg)
    result = rollback(clients.default(), _store(account), _request(account, rid, dry_run=True))
    assert result.status == "would-roll-back" and result.restored == before
    assert account.rules(account.acct.node_sg) == rules_before
    assert account.alerts() == []


def test_rollback_twice_is_refused(account: Account) -> None:
    rid, _ = _revoked(account)
    rollback(clients.default(), _store(account), _request(account, rid))
    with pytest.raises(RollbackError, match="already rolled back"):
        rollback(clients.default(), _store(account), _request(account, rid))


def test_unknown_remediation_is_a_clear_error(account: Account) -> None:
    with pytest.raises(RollbackError, match="no remediation"):
        rollback(clients.default(), _store(account), _request(account, "00000000-0000-0000-0000-000000000000"))


def test_rollback_function_restores_on_demand(account: Account) -> None:
    """The RollbackFunction of the template: same restore, invoked with a payload."""
    rid, _ = _revoked(account)
    app = account.app(Mode="enforce")
    dry = invoke(app, "RollbackFunction", {"remediation_id": rid, "dry_run": True})
    assert dry.ok and dry.response["status"] == "would-roll-back"
    assert (22, "0.0.0.0/0") not in account.ingress_sources(account.acct.node_sg)
    done = invoke(app, "RollbackFunction", {"remediation_id": rid})
    assert done.ok and done.response["status"] == "rolled-back", done.response
    assert (22, "0.0.0.0/0") in account.ingress_sources(account.acct.node_sg)
    assert [a["action"] for a in account.alerts()] == ["rolled-back"]
    refused = invoke(app, "RollbackFunction", {"remediation_id": rid})
    assert refused.ok and refused.response["status"] == "refused" and "already" in refused.response["reason"]
    assert invoke(app, "RollbackFunction", {"nothing": 1}).response["status"] == "rejected"
    # The rollback alert is a change: never collapsed, but it restarts its key's storm window (the function's own).
    assert [r for f, r, _ in this_test().checked if f == "RollbackFunction" and r.action == "dynamodb:UpdateItem"
            and r.resource.endswith(":table/IdempotencyTable")]


def _revoked_tagged_rule(account: Account) -> dict[str, Any]:
    """World-open SSH on the node group, the rule tagged ticket=OPS-1, revoked by the guard: its audit record."""
    account.ec2.authorize_security_group_ingress(
        GroupId=account.acct.node_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                                      "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}],
        TagSpecifications=[{"ResourceType": "security-group-rule", "Tags": [{"Key": "ticket", "Value": "OPS-1"}]}])
    assert account.invoke("sg-ingress-ssh-world-grouped-node").ok
    (record,) = account.audit_records()
    return record


def test_rollback_function_uses_every_ec2_grant_it_has(account: Account) -> None:
    """A failed restore puts the group's tag back (DeleteTags on the group); the retry restores a rule that had
    tags of its own (authorized and tagged on create). Together they need each EC2 grant of RollbackFunction,
    and nothing it is not granted."""
    record = _revoked_tagged_rule(account)
    assert record["before_image"]["Tags"] == [{"Key": "ticket", "Value": "OPS-1"}]
    app = account.app(Mode="enforce")
    with inject("ec2.AuthorizeSecurityGroupIngress", lambda: ec2_error("UnauthorizedOperation", 403)):
        failed = invoke(app, "RollbackFunction", {"remediation_id": record["remediation_id"]})
    assert failed.ok and failed.response["status"] == "failed", failed.response
    tags = account.ec2.describe_security_groups(GroupIds=[account.acct.node_sg])["SecurityGroups"][0].get("Tags", [])
    assert "eksguard:exempt" not in {t["Key"] for t in tags}  # put back as it was: absent
    done = invoke(app, "RollbackFunction", {"remediation_id": record["remediation_id"]})
    assert done.ok and done.response["status"] == "rolled-back", done.response
    restored = next(r for r in account.rules(account.acct.node_sg)
                    if r.get("CidrIpv4") == "0.0.0.0/0" and not r["IsEgress"])
    assert restored["Tags"] == [{"Key": "ticket", "Value": "OPS-1"}]
    checked = this_test()
    assert checked.violations == []
    assert unexercised_in(checked, "RollbackFunction", "ec2:") == []


def test_rollback_function_under_moto_iam_with_exactly_the_template_policy(account: Account) -> None:
    """moto's own IAM enforcement as a second line: the restore of a tagged rule as a role holding only its
    template policy."""
    record = _revoked_tagged_rule(account)
    done = invoke_enforced(account.app(Mode="enforce"), "RollbackFunction",
                           {"remediation_id": record["remediation_id"]}, account.session)
    assert done.ok and done.response["status"] == "rolled-back", done.response
    assert (22, "0.0.0.0/0") in account.ingress_sources(account.acct.node_sg)
