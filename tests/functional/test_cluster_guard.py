"""The cluster guard end to end on moto: each eks-*/ec2-* events/ file after the mistake it records,
run by the real handler with the template's environment (Powertools, idempotency, alert topic)."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from moto.moto_api._internal import mock_random
from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.botocore_hooks import inject, json_error
from tests.support.moto_iam import invoke_enforced
from tests.support.permissions_check import this_test

from eksguard.local.invoke import Invocation, invoke
from eksguard.local.replay import matching_rules
from eksguard.local.seed import POSTURE_RANDOM_SEED, PostureAccount, seed_cluster_posture

OFFICE = "203.0.113.0/24"
ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
ENFORCE_ALL = {"Mode": "enforce", "TrustedCidrs": OFFICE, "EnforceImdsv2": "true"}


@dataclass
class Posture:
    account: Account
    p: PostureAccount

    @property
    def eks(self) -> Any:
        return self.account.session.client("eks")

    @property
    def ec2(self) -> Any:
        return self.account.session.client("ec2")

    def invoke(self, event: dict[str, Any] | str, **overrides: str) -> Invocation:
        body = json.loads((EVENTS / f"{event}.json").read_text()) if isinstance(event, str) else event
        return invoke(self.account.app(**overrides), "ClusterGuardFunction", body)

    def cluster(self, name: str) -> dict[str, Any]:
        return dict(self.eks.describe_cluster(name=name)["cluster"])

    def versions(self, template_id: str) -> list[dict[str, Any]]:
        return list(self.ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"])

    def default_version(self, template_id: str) -> int:
        lts = self.ec2.describe_launch_templates(LaunchTemplateIds=[template_id])["LaunchTemplates"]
        return int(lts[0]["DefaultVersionNumber"])


@pytest.fixture
def posture(account: Account) -> Posture:
    # Seeded with its own random seed, as the demo and `eksguard local up` seed it: the ids events/ names.
    mock_random.seed(POSTURE_RANDOM_SEED)
    return Posture(account, seed_cluster_posture(account.session, account.acct))


def _contractor_admin(pt: Posture) -> None:
    pt.eks.create_access_entry(clusterName="legacy", principalArn=pt.p.contractor_role_arn)
    pt.eks.associate_access_policy(clusterName="legacy", principalArn=pt.p.contractor_role_arn,
                                   policyArn=ADMIN_POLICY, accessScope={"type": "cluster"})


def _hop_limit_2_version(pt: Posture) -> None:
    pt.ec2.create_launch_template_version(LaunchTemplateId=pt.account.acct.launch_template_id, SourceVersion="1",
                                          VersionDescription="pods need IMDS", LaunchTemplateData={
                                              "MetadataOptions": {"HttpTokens": "required",
                                                                  "HttpPutResponseHopLimit": 2}})


def _node_imds_optional(pt: Posture) -> None:
    pt.ec2.modify_instance_metadata_options(InstanceId=pt.p.node_instance_id, HttpTokens="optional",
                                            HttpPutResponseHopLimit=2)


def _nothing(pt: Posture) -> None:
    """The state the event describes is already in the seeded account (or the call failed)."""


@dataclass(frozen=True)
class Case:
    mistake: Callable[[Posture], None]
    # (rule id, action) of every action the guard reports, in any order; None: dropped by the pattern
    actions: tuple[tuple[str, str], ...] | None
    rule: str = "ClusterChange"


CASES = {
    "eks-create-cluster-public-no-logging": Case(_nothing, (
        ("EK-001", "restricted-endpoint"), ("EK-002", "enabled-logging"), ("EK-003", "alert-only"))),
    "eks-update-cluster-config-endpoint-world": Case(_nothing, (
        ("EK-001", "restricted-endpoint"), ("EK-002", "enabled-logging"), ("EK-006", "alert-only"))),
    "eks-update-cluster-config-logging-off": Case(_nothing, (
        ("EK-001", "restricted-endpoint"), ("EK-002", "enabled-logging"), ("EK-006", "alert-only"))),
    "eks-create-nodegroup-imdsv1-template": Case(_nothing, (("EK-004", "new-launch-template-version"),)),
    "eks-create-access-entry-contractor": Case(_contractor_admin, (("EK-006", "alert-only"),)),
    "eks-associate-access-policy-cluster-admin": Case(_contractor_admin, (("EK-006", "alert-only"),)),
    "eks-delete-cluster": Case(_nothing, ()),
    "eks-create-cluster-failed-access-denied": Case(_nothing, None),
    "eks-update-cluster-config-by-eksguard-itself": Case(_nothing, None),
    "ec2-create-launch-template-imdsv1": Case(_nothing, (("EK-004", "new-launch-template-version"),),
                                              "NodeLaunchTemplateChange"),
    "ec2-create-launch-template-version-hop-limit-2": Case(_hop_limit_2_version, (("EK-004", "alert-only"),),
                                                           "NodeLaunchTemplateChange"),
    "ec2-modify-instance-metadata-options-node-optional": Case(_node_imds_optional, (("EK-004", "alert-only"),),
                                                               "NodeLaunchTemplateChange"),
    "ec2-modify-instance-metadata-options-failed": Case(_nothing, None),
}


def test_every_cluster_event_file_has_a_case() -> None:
    files = {p.stem for p in EVENTS.glob("eks-*.json")} | {p.stem for p in EVENTS.glob("ec2-*.json")}
    assert files == set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_event_after_its_mistake(posture: Posture, name: str) -> None:
    case = CASES[name]
    case.mistake(posture)
    event = json.loads((EVENTS / f"{name}.json").read_text())
    routes = matching_rules(posture.account.app(**ENFORCE_ALL), event)
    if case.actions is None:
        assert routes == []
        return
    # CreateCluster also reaches the IRSA issuer refresh (its own rule); everything else only the cluster guard.
    assert [r for r in routes if r[0] != "IrsaRefreshFunction"] == [("ClusterGuardFunction", case.rule)]
    result = posture.invoke(name, **ENFORCE_ALL)
    assert result.ok, result.error
    assert result.response["status"] == "processed"
    got = sorted((a["rule_id"], a["action"]) for a in result.response["actions"])
    assert got == sorted(case.actions)
    assert all(a["status"] in ("applied", "unchanged") for a in result.response["actions"])
    alerts = posture.account.alerts()
    assert sorted((a["rule_id"], a["action"]) for a in alerts) == sorted(case.actions)


@pytest.mark.parametrize("name", [n for n, c in CASES.items() if c.actions and n != "eks-delete-cluster"])
def test_under_moto_iam_with_exactly_the_template_policy(posture: Posture, name: str) -> None:
    """moto's own IAM enforcement as a second line: the handler as a role holding only its template policy."""
    case = CASES[name]
    case.mistake(posture)
    event = json.loads((EVENTS / f"{name}.json").read_text())
    result = invoke_enforced(posture.account.app(**ENFORCE_ALL), "ClusterGuardFunction", event,
                             posture.account.session)
    assert result.ok, result.error
    assert sorted((a["rule_id"], a["action"]) for a in result.response["actions"]) == sorted(case.actions)
    assert all(a["status"] in ("applied", "unchanged") for a in result.response["actions"])


def test_endpoint_restricted_to_trusted_cidrs_with_private_access_and_subnets_kept(posture: Posture) -> None:
    before = posture.cluster("legacy")["resourcesVpcConfig"]
    posture.invoke("eks-create-cluster-public-no-logging", **ENFORCE_ALL)
    vpc = posture.cluster("legacy")["resourcesVpcConfig"]
    assert vpc["publicAccessCidrs"] == [OFFICE]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is True
    assert vpc["subnetIds"] == before["subnetIds"] and vpc["vpcId"] == before["vpcId"]
    logging = posture.cluster("legacy")["logging"]["clusterLogging"]
    enabled = {t for e in logging if e["enabled"] for t in e["types"]}
    assert enabled == {"api", "audit", "authenticator"}


def test_endpoint_alert_only_without_trusted_cidrs(posture: Posture) -> None:
    result = posture.invoke("eks-create-cluster-public-no-logging", Mode="enforce")
    actions = {a["rule_id"]: a for a in result.response["actions"]}
    assert actions["EK-001"]["action"] == "alert-only"
    assert posture.cluster("legacy")["resourcesVpcConfig"].get("publicAccessCidrs") in (None, [], ["0.0.0.0/0"])
    (alert,) = [a for a in posture.account.alerts() if a["rule_id"] == "EK-001"]
    assert "TrustedCidrs is not set" in alert["summary"]


def test_audit_mode_changes_nothing(posture: Posture) -> None:
    before = posture.cluster("legacy")
    result = posture.invoke("eks-create-cluster-public-no-logging", Mode="audit", TrustedCidrs=OFFICE)
    assert result.ok
    assert {a["action"] for a in result.response["actions"]} == {"alert-only"}
    after = posture.cluster("legacy")
    assert after["resourcesVpcConfig"] == before["resourcesVpcConfig"] and after["logging"] == before["logging"]
    assert [r for r in posture.account.audit_records() if r.get("remediation_id")] == []


def test_before_images_are_audited_and_alerts_keep_the_contract(posture: Posture) -> None:
    from eksguard.alert.messages import CONTRACT_FIELDS

    before = posture.cluster("legacy")
    posture.invoke("eks-create-cluster-public-no-logging", **ENFORCE_ALL)
    records = {r["rule_id"]: r for r in posture.account.audit_records() if r.get("remediation_id")}
    assert set(records) == {"EK-001", "EK-002"}
    assert records["EK-001"]["resource_type"] == "eks-cluster-endpoint"
    assert records["EK-001"]["before_image"]["resourcesVpcConfig"]["endpointPrivateAccess"] is False
    assert records["EK-002"]["before_image"] == {"logging": before["logging"]}
    assert {r["outcome"] for r in records.values()} == {"applied"}
    alerts = {a["rule_id"]: a for a in posture.account.alerts()}
    for alert in alerts.values():
        assert set(CONTRACT_FIELDS) <= set(alert)
    assert alerts["EK-001"]["resource_arn"] == before["arn"]
    assert alerts["EK-001"]["after"]["resourcesVpcConfig"]["publicAccessCidrs"] == [OFFICE]


def test_create_cluster_records_the_issuer(posture: Posture) -> None:
    result = posture.invoke("eks-create-cluster-public-no-logging", Mode="audit")
    issuer = posture.cluster("legacy")["identity"]["oidc"]["issuer"]
    assert issuer in result.response["extra"]["issuer"]
    items = posture.account.session.client("dynamodb").scan(
        TableName=posture.account.app().context.physical["AuditTable"]["Ref"])["Items"]
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in items}
    assert ("cluster#ap-northeast-2#legacy", f"issuer#{issuer}") in keys


def test_redelivery_changes_once_and_alerts_once(posture: Posture) -> None:
    first = posture.invoke("eks-create-cluster-public-no-logging", **ENFORCE_ALL)
    second = posture.invoke("eks-create-cluster-public-no-logging", **ENFORCE_ALL)
    assert first.ok and second.ok and second.response == first.response
    assert len(posture.account.alerts()) == 3


def test_update_refused_while_another_runs_is_finished_by_the_retry(posture: Posture) -> None:
    """EKS takes one update at a time: refused now, the event fails for Lambda to retry, and the retry carries on
    from the before-images already in the audit table (GetItem) instead of recording them twice."""
    with inject("eks.UpdateClusterConfig", lambda: json_error("ResourceInUseException", 409)):
        first = posture.invoke("eks-create-cluster-public-no-logging", **ENFORCE_ALL)
    assert not first.ok and first.error is not None and first.error["errorType"] == "RetryableError"
    again = posture.invoke("eks-create-cluster-public-no-logging", **ENFORCE_ALL)
    assert again.ok, again.error
    assert posture.cluster("legacy")["resourcesVpcConfig"]["publicAccessCidrs"] == [OFFICE]
    records = [r for r in posture.account.audit_records() if r.get("remediation_id")]
    assert sorted(r["outcome"] for r in records) == ["applied", "applied"]
    reads = [r.resource for _, r, _ in this_test().checked if r.action == "dynamodb:GetItem"]
    assert any(r.endswith(":table/AuditTable") for r in reads)


def test_imdsv2_new_default_version_keeps_the_rest_of_the_template(posture: Posture) -> None:
    lt = posture.p.launch_template_id
    result = posture.invoke("eks-create-nodegroup-imdsv1-template", **ENFORCE_ALL)
    assert result.ok
    versions = {int(v["VersionNumber"]): v for v in posture.versions(lt)}
    assert sorted(versions) == [1, 2] and posture.default_version(lt) == 2
    data = versions[2]["LaunchTemplateData"]
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert int(data["MetadataOptions"]["HttpPutResponseHopLimit"]) == 1
    assert data["InstanceType"] == "m5.large" and data["SecurityGroupIds"] == [posture.account.acct.node_sg]
    # The launch-template event that follows finds the fixed default: no second version.
    again = posture.invoke("ec2-create-launch-template-imdsv1", **ENFORCE_ALL)
    assert again.ok and again.response["actions"] == []
    assert len(posture.versions(lt)) == 2


def test_imdsv2_pinned_version_gets_a_version_but_not_the_default(posture: Posture) -> None:
    lt = posture.p.launch_template_id
    posture.eks.delete_nodegroup(clusterName="legacy", nodegroupName="legacy-ng")
    posture.eks.create_nodegroup(clusterName="legacy", nodegroupName="legacy-ng", subnets=["subnet-6ccc518e3e7bacecc"],
                                 nodeRole="arn:aws:iam::123456789012:role/demo-node-role",
                                 launchTemplate={"id": lt, "version": "1"})
    result = posture.invoke("eks-create-nodegroup-imdsv1-template", **ENFORCE_ALL)
    (action,) = result.response["actions"]
    assert action["action"] == "new-launch-template-version"
    assert posture.default_version(lt) == 1 and len(posture.versions(lt)) == 2
    assert "aws eks update-nodegroup-version --cluster-name legacy --nodegroup-name legacy-ng" in action["detail"]


def test_imdsv2_without_the_opt_in_only_alerts_with_the_command(posture: Posture) -> None:
    result = posture.invoke("eks-create-nodegroup-imdsv1-template", Mode="enforce")
    (action,) = result.response["actions"]
    assert action["action"] == "alert-only"
    assert len(posture.versions(posture.p.launch_template_id)) == 1
    (alert,) = posture.account.alerts()
    assert "create-launch-template-version" in alert["summary"]


def test_admin_principals_are_allowed(posture: Posture) -> None:
    _contractor_admin(posture)
    result = posture.invoke("eks-associate-access-policy-cluster-admin", AdminPrincipals=posture.p.contractor_role_arn)
    assert result.ok and result.response["actions"] == []


def test_access_entry_deleted_before_handling_is_quiet(posture: Posture) -> None:
    _contractor_admin(posture)
    posture.eks.delete_access_entry(clusterName="legacy", principalArn=posture.p.contractor_role_arn)
    result = posture.invoke("eks-associate-access-policy-cluster-admin")
    assert result.ok and result.response["actions"] == []


def test_no_change_without_a_before_image(posture: Posture) -> None:
    table = posture.account.app(**ENFORCE_ALL).context.physical["AuditTable"]["Ref"]
    posture.account.session.client("dynamodb").delete_table(TableName=table)
    before = posture.cluster("legacy")
    result = posture.invoke("eks-create-cluster-public-no-logging", **ENFORCE_ALL)
    assert not result.ok and result.error["errorType"] == "RetryableError"
    after = posture.cluster("legacy")
    assert after["resourcesVpcConfig"] == before["resourcesVpcConfig"] and after["logging"] == before["logging"]
    actions = sorted((a["rule_id"], a["action"]) for a in posture.account.alerts())
    assert ("EK-001", "failed") in actions and ("EK-002", "failed") in actions


MALFORMED: dict[str, Callable[[dict[str, Any]], None]] = {
    "no-cluster-name": lambda d: d["requestParameters"].pop("name"),
    "cluster-name-not-a-string": lambda d: d["requestParameters"].update(name=["legacy"]),
    "principal-not-an-arn": lambda d: d["requestParameters"].update(principalArn="contractor-admin"),
}


@pytest.mark.parametrize("case", MALFORMED)
def test_malformed_event_is_rejected_and_changes_nothing(posture: Posture, case: str) -> None:
    _contractor_admin(posture)
    event = copy.deepcopy(json.loads((EVENTS / "eks-associate-access-policy-cluster-admin.json").read_text()))
    event["detail"]["responseElements"] = None
    MALFORMED[case](event["detail"])
    result = posture.invoke(event, **ENFORCE_ALL)
    assert result.ok and result.response["status"] == "rejected" and result.response["reason"]
    assert posture.account.alerts() == []
