"""EK-006 in enforce mode on moto, through the real handlers: a cluster-scope AmazonEKSClusterAdminPolicy granted
to a principal outside AdminPrincipals is disassociated (RevokeClusterAdmin=true), before-image first, alerted
`revoked`; the lock-out guard, audit mode and a namespace-scoped grant only alert; `eksguard rollback`
re-associates it exactly and the guard then leaves it alone."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto.moto_api._internal import mock_random
from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.botocore_hooks import inject, json_error
from tests.support.clock import NOW, TODAY

from eksguard.alert.messages import CONTRACT_FIELDS
from eksguard.aws import clients
from eksguard.aws.audit import AuditStore
from eksguard.local.invoke import Invocation, invoke
from eksguard.local.seed import POSTURE_RANDOM_SEED, PostureAccount, seed_cluster_posture
from eksguard.pipeline.rollback import RollbackError, RollbackRequest, RollbackResult, rollback

EVENT = "eks-associate-access-policy-cluster-admin"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
BREAK_GLASS = "arn:aws:iam::123456789012:role/break-glass"
REVOKE = {"Mode": "enforce", "RevokeClusterAdmin": "true", "AdminPrincipals": BREAK_GLASS}


@dataclass
class Cluster:
    account: Account
    p: PostureAccount

    @property
    def eks(self) -> Any:
        return self.account.session.client("eks")

    def invoke(self, event: dict[str, Any] | str = EVENT, **overrides: str) -> Invocation:
        body = json.loads((EVENTS / f"{event}.json").read_text()) if isinstance(event, str) else event
        return invoke(self.account.app(**overrides), "ClusterGuardFunction", body)

    def grant(self, scope: dict[str, Any] | None = None) -> None:
        """The mistake the event records: the contractor's access entry, then cluster admin on it."""
        self.eks.create_access_entry(clusterName="legacy", principalArn=self.p.contractor_role_arn)
        self.eks.associate_access_policy(clusterName="legacy", principalArn=self.p.contractor_role_arn,
                                         policyArn=ADMIN_POLICY, accessScope=scope or {"type": "cluster"})

    def policies(self) -> list[dict[str, Any]]:
        return list(self.eks.list_associated_access_policies(
            clusterName="legacy", principalArn=self.p.contractor_role_arn)["associatedAccessPolicies"])

    def entry(self) -> dict[str, Any]:
        return dict(self.eks.describe_access_entry(clusterName="legacy",
                                                   principalArn=self.p.contractor_role_arn)["accessEntry"])

    def revoked(self) -> tuple[str, dict[str, Any]]:
        """Grant, let the guard disassociate it; the remediation id and its audit record."""
        self.grant()
        result = self.invoke(**REVOKE)
        assert result.ok, result.error
        (action,) = result.response["actions"]
        assert (action["action"], action["status"]) == ("revoked", "applied"), action
        (record,) = [r for r in self.account.audit_records() if r.get("rule_id") == "EK-006"]
        self.account.alerts()
        return str(record["remediation_id"]), record

    def rollback(self, rid: str, **kw: Any) -> RollbackResult:
        clients.reset()
        physical = self.account.app().context.physical
        request = RollbackRequest(remediation_id=rid, actor="arn:aws:iam::123456789012:user/oncall", today=TODAY,
                                  time=NOW.isoformat(), alert_topic_arn=physical["AlertTopic"]["Ref"], **kw)
        return rollback(clients.default(), AuditStore(clients.default(), physical["AuditTable"]["Ref"]), request)


@pytest.fixture
def cluster(account: Account) -> Iterator[Cluster]:
    mock_random.seed(POSTURE_RANDOM_SEED)  # as the demo seeds it: the ids events/ names
    yield Cluster(account, seed_cluster_posture(account.session, account.acct))


def _scope(policy: dict[str, Any]) -> dict[str, Any]:
    return {"type": policy["accessScope"]["type"], "namespaces": policy["accessScope"].get("namespaces", [])}


def test_enforce_disassociates_with_the_before_image_first_and_alerts_revoked(cluster: Cluster) -> None:
    cluster.grant()
    (granted,) = cluster.policies()
    entry_arn = cluster.entry()["accessEntryArn"]
    result = cluster.invoke(**REVOKE)
    assert result.ok, result.error
    (action,) = result.response["actions"]
    assert (action["rule_id"], action["action"], action["status"]) == ("EK-006", "revoked", "applied")
    assert cluster.policies() == []
    assert cluster.entry()["accessEntryArn"] == entry_arn  # the entry stays: only the policy is taken off
    (record,) = [r for r in cluster.account.audit_records() if r.get("rule_id") == "EK-006"]
    assert record["resource_type"] == "eks-access-policy" and record["outcome"] == "applied"
    assert record["resource_id"] == "legacy" and record["resource_arn"] == entry_arn
    before = record["before_image"]
    assert before["clusterName"] == "legacy" and before["principalArn"] == cluster.p.contractor_role_arn
    assert before["accessEntryArn"] == entry_arn
    association = before["associatedAccessPolicy"]
    assert association["policyArn"] == ADMIN_POLICY and association["accessScope"] == {"type": "cluster",
                                                                                       "namespaces": []}
    assert association["associatedAt"] == granted["associatedAt"].isoformat()
    assert record["after_image"]["associatedAccessPolicy"] is None
    (alert,) = cluster.account.alerts()
    assert set(CONTRACT_FIELDS) <= set(alert)
    assert alert["action"] == "revoked" and alert["_attributes"]["action"] == "revoked"
    assert alert["rule_id"] == "EK-006" and alert["target_id"] == cluster.p.contractor_role_arn
    assert alert["before"] == before and alert["after"]["associatedAccessPolicy"] is None
    assert f"eksguard rollback {alert['remediation_id']}" in alert["summary"]
    assert alert["remediation_id"] == record["remediation_id"]
    assert entry_arn in alert["how_to_exempt"]


def test_no_before_image_no_disassociation(cluster: Cluster) -> None:
    cluster.grant()
    table = cluster.account.app(**REVOKE).context.physical["AuditTable"]["Ref"]
    cluster.account.session.client("dynamodb").delete_table(TableName=table)
    result = cluster.invoke(**REVOKE)
    assert not result.ok and result.error["errorType"] == "RetryableError"
    assert [p["policyArn"] for p in cluster.policies()] == [ADMIN_POLICY]
    assert [(a["rule_id"], a["action"]) for a in cluster.account.alerts()] == [("EK-006", "failed")]


def test_access_denied_is_alerted_as_failed_not_swallowed(cluster: Cluster) -> None:
    cluster.grant()
    cluster.account.app(**REVOKE)
    with inject("eks.DisassociateAccessPolicy", lambda: json_error("AccessDeniedException", 403)):
        result = cluster.invoke(**REVOKE)
    assert result.ok, result.error  # a retry cannot help: alerted, not dead-lettered
    assert [(a["action"], a["status"]) for a in result.response["actions"]] == [("failed", "failed")]
    assert [p["policyArn"] for p in cluster.policies()] == [ADMIN_POLICY]
    (alert,) = cluster.account.alerts()
    assert alert["action"] == "failed" and "AccessDeniedException" in alert["error"]
    (record,) = [r for r in cluster.account.audit_records() if r.get("rule_id") == "EK-006"]
    assert record["outcome"] == "failed" and record["before_image"]["associatedAccessPolicy"]["policyArn"]


def test_already_gone_when_someone_else_disassociated_it_first(cluster: Cluster) -> None:
    cluster.grant()
    cluster.account.app(**REVOKE)
    with inject("eks.DisassociateAccessPolicy", lambda: json_error("ResourceNotFoundException", 404)):
        result = cluster.invoke(**REVOKE)
    assert result.ok, result.error
    assert [(a["action"], a["status"]) for a in result.response["actions"]] == [("revoked", "already-gone")]
    assert cluster.account.alerts() == []  # not eksguard's change to report
    (record,) = [r for r in cluster.account.audit_records() if r.get("rule_id") == "EK-006"]
    assert record["outcome"] == "already-gone"


def test_redelivery_disassociates_once_and_alerts_once(cluster: Cluster) -> None:
    cluster.grant()
    first, second = cluster.invoke(**REVOKE), cluster.invoke(**REVOKE)
    assert first.ok and second.ok and second.response == first.response
    assert [a["action"] for a in cluster.account.alerts()] == ["revoked"]


@pytest.mark.parametrize(("overrides", "note"), [
    ({**REVOKE, "AdminPrincipals": ""}, "lock-out guard"),
    ({**REVOKE, "Mode": "audit"}, "audit mode"),
    ({**REVOKE, "RevokeClusterAdmin": "false"}, "RevokeClusterAdmin is off"),
], ids=["admin-principals-empty", "audit-mode", "switch-off"])
def test_alert_only_and_the_grant_stays(cluster: Cluster, overrides: dict[str, str], note: str) -> None:
    cluster.grant()
    result = cluster.invoke(**overrides)
    assert result.ok, result.error
    (action,) = result.response["actions"]
    assert (action["action"], action["status"]) == ("alert-only", "unchanged") and note in action["detail"]
    assert [p["policyArn"] for p in cluster.policies()] == [ADMIN_POLICY]
    assert [r for r in cluster.account.audit_records() if r.get("rule_id") == "EK-006"] == []
    (alert,) = cluster.account.alerts()
    assert alert["action"] == "alert-only" and note in alert["summary"]


def test_a_principal_in_admin_principals_is_no_finding(cluster: Cluster) -> None:
    cluster.grant()
    result = cluster.invoke(**{**REVOKE, "AdminPrincipals": f"{BREAK_GLASS},{cluster.p.contractor_role_arn}"})
    assert result.ok and result.response["actions"] == []
    assert [p["policyArn"] for p in cluster.policies()] == [ADMIN_POLICY]
    assert cluster.account.alerts() == []


def test_namespace_scoped_grant_is_alert_only_whatever_the_event_claims(cluster: Cluster) -> None:
    # The event says cluster scope; AWS now says namespace scope: eksguard believes AWS.
    cluster.grant({"type": "namespace", "namespaces": ["payments"]})
    result = cluster.invoke(**REVOKE)
    (action,) = result.response["actions"]
    assert action["action"] == "alert-only" and "namespace-scoped (payments)" in action["detail"]
    assert [_scope(p) for p in cluster.policies()] == [{"type": "namespace", "namespaces": ["payments"]}]


def test_an_exempt_access_entry_is_left_alone(cluster: Cluster) -> None:
    cluster.grant()
    cluster.eks.tag_resource(resourceArn=cluster.entry()["accessEntryArn"], tags={"eksguard:exempt": "true"})
    result = cluster.invoke(**REVOKE)
    assert [a["action"] for a in result.response["actions"]] == ["exempt"]
    assert [p["policyArn"] for p in cluster.policies()] == [ADMIN_POLICY]


def test_rollback_reassociates_exactly_and_the_guard_then_leaves_it_alone(cluster: Cluster) -> None:
    rid, record = cluster.revoked()
    result = cluster.rollback(rid)
    assert result.status == "rolled-back", result.error
    (restored,) = cluster.policies()
    before = record["before_image"]["associatedAccessPolicy"]
    assert restored["policyArn"] == before["policyArn"] == ADMIN_POLICY
    assert _scope(restored) == before["accessScope"] == {"type": "cluster", "namespaces": []}
    assert cluster.entry()["tags"]["eksguard:exempt"] == "2026-11-29"
    (alert,) = cluster.account.alerts()
    assert alert["action"] == "rolled-back" and alert["after"]["associatedAccessPolicy"]["policyArn"] == ADMIN_POLICY
    records = {r["remediation_id"]: r for r in cluster.account.audit_records() if r.get("remediation_id")}
    assert records[rid]["outcome"] == "rolled-back" and records[result.rollback_id]["action"] == "rolled-back"
    # The AssociateAccessPolicy the restore made (by the operator, so it reaches the guard) finds the entry exempt.
    event = copy.deepcopy(json.loads((EVENTS / f"{EVENT}.json").read_text()))
    event["detail"]["eventID"] = "the-event-the-restore-produced"
    again = cluster.invoke(event, **REVOKE)
    assert [a["action"] for a in again.response["actions"]] == ["exempt"]
    assert [p["policyArn"] for p in cluster.policies()] == [ADMIN_POLICY]
    with pytest.raises(RollbackError, match="already rolled back"):
        cluster.rollback(rid)


def test_rollback_refuses_a_reassociation_made_meanwhile_unless_forced(cluster: Cluster) -> None:
    rid, _ = cluster.revoked()
    cluster.eks.associate_access_policy(clusterName="legacy", principalArn=cluster.p.contractor_role_arn,
                                        policyArn=ADMIN_POLICY,
                                        accessScope={"type": "namespace", "namespaces": ["payments"]})
    with pytest.raises(RollbackError, match="associated again"):
        cluster.rollback(rid)
    dry = cluster.rollback(rid, dry_run=True, force=True)
    assert dry.status == "would-roll-back" and dry.replaced is not None
    assert dry.replaced["associatedAccessPolicy"]["accessScope"]["namespaces"] == ["payments"]
    assert cluster.account.alerts() == []
    forced = cluster.rollback(rid, force=True)
    assert forced.status == "rolled-back", forced.error
    assert [_scope(p) for p in cluster.policies()] == [{"type": "cluster", "namespaces": []}]


def test_rollback_refuses_when_the_access_entry_is_gone(cluster: Cluster) -> None:
    rid, _ = cluster.revoked()
    cluster.eks.delete_access_entry(clusterName="legacy", principalArn=cluster.p.contractor_role_arn)
    with pytest.raises(RollbackError, match="no longer exists"):
        cluster.rollback(rid)


def test_rollback_refuses_a_recreated_access_entry_unless_forced(cluster: Cluster) -> None:
    rid, record = cluster.revoked()
    cluster.eks.delete_access_entry(clusterName="legacy", principalArn=cluster.p.contractor_role_arn)
    cluster.eks.create_access_entry(clusterName="legacy", principalArn=cluster.p.contractor_role_arn)
    assert cluster.entry()["accessEntryArn"] != record["before_image"]["accessEntryArn"]
    with pytest.raises(RollbackError, match="deleted and re-created"):
        cluster.rollback(rid)
    assert cluster.policies() == []
    assert cluster.rollback(rid, force=True).status == "rolled-back"
    assert [p["policyArn"] for p in cluster.policies()] == [ADMIN_POLICY]


def test_rollback_function_restores_on_demand(cluster: Cluster) -> None:
    rid, _ = cluster.revoked()
    app = cluster.account.app(**REVOKE)
    done = invoke(app, "RollbackFunction", {"remediation_id": rid})
    assert done.ok and done.response["status"] == "rolled-back", done.response
    assert [p["policyArn"] for p in cluster.policies()] == [ADMIN_POLICY]
    refused = invoke(app, "RollbackFunction", {"remediation_id": rid})
    assert refused.response["status"] == "refused" and "already rolled back" in refused.response["reason"]


def test_rollback_function_puts_the_tag_back_when_eks_refuses_the_restore(cluster: Cluster) -> None:
    """The exemption tag goes on the access entry first; when EKS refuses the association, it comes off again
    (UntagResource), so a failed restore leaves no exemption behind."""
    rid, _ = cluster.revoked()
    app = cluster.account.app(**REVOKE)
    with inject("eks.AssociateAccessPolicy", lambda: json_error("AccessDeniedException", 403)):
        failed = invoke(app, "RollbackFunction", {"remediation_id": rid})
    assert failed.ok and failed.response["status"] == "failed", failed.response
    assert cluster.policies() == []
    assert "eksguard:exempt" not in cluster.eks.list_tags_for_resource(
        resourceArn=cluster.entry()["accessEntryArn"]).get("tags", {})


def test_the_sweep_disassociates_too(cluster: Cluster) -> None:
    cluster.grant()
    sweep = json.loads((EVENTS / "scheduled-sweep.json").read_text())
    # ReadKubernetes=false: the K8 family is not this test's subject (no Kubernetes API stand-in here).
    result = invoke(cluster.account.app(**REVOKE, ReadKubernetes="false"), "SweepFunction", sweep)
    assert result.ok, result.error
    ek006 = [a for a in result.response["actions"] if a["rule_id"] == "EK-006" and a.get("target_id")]
    assert [(a["action"], a["status"]) for a in ek006] == [("revoked", "applied")]
    assert cluster.policies() == []
