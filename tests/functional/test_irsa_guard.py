"""The IRSA guard end to end on moto: each IAM events/ file after the mistake it records, run by the real
handler with the template's environment (IrsaGuardFunction as deployed in us-east-1, IrsaRefreshFunction in
the cluster's region), asserting the roles' trust policies, the audit table and the SNS messages."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from moto import mock_aws
from moto.core.botocore_stubber import MockRawResponse
from moto.moto_api._internal import mock_random
from tests.paths import EVENTS, TEMPLATE
from tests.support.botocore_hooks import CallLog, inject, record_calls
from tests.support.clock import NOW, TODAY
from tests.support.moto_iam import invoke_enforced
from tests.support.permissions_check import this_test, unexercised_in

from eksguard.alert.messages import CONTRACT_FIELDS, AlertMessage
from eksguard.aws import clients
from eksguard.aws.audit import AuditStore, from_item
from eksguard.local.demo_irsa import SCENARIOS, IrsaScenario
from eksguard.local.invoke import Invocation, LocalApp, invoke, load_app, reset_warm
from eksguard.local.kube_standin import KubeStandin
from eksguard.local.replay import matching_rules
from eksguard.local.seed import (
    DEMO_REGION,
    EKS_CA_THUMBPRINT,
    IAM_REGION,
    IRSA_RANDOM_SEED,
    RANDOM_SEED,
    IrsaAccount,
    irsa_trust,
    seed_demo,
    seed_irsa,
)
from eksguard.local.standin import apply_moto_patches
from eksguard.pipeline.rollback import RollbackError, RollbackRequest, rollback
from eksguard.snapshot.k8s import ROLE_ARN_ANNOTATION

ACTOR = "arn:aws:sts::123456789012:assumed-role/PlatformAdmin/jane@example.com"


@dataclass
class Irsa:
    """The seeded demo account with its IRSA roles, both regions' apps, and a subscriber per alert topic."""

    ids: IrsaAccount
    session: boto3.session.Session
    make_app: Callable[[str, dict[str, str]], LocalApp]
    queues: dict[str, str]
    last_region: list[str]

    def queue(self, region: str) -> str:
        """An SQS subscriber on the region's alert topic (the cluster's region only when a test goes there)."""
        if region not in self.queues:
            topic = self.app(region).context.physical["AlertTopic"]["Ref"]
            sqs = self.session.client("sqs", region_name=region)
            url = sqs.create_queue(QueueName="test-irsa-alert-subscriber")["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            self.session.client("sns", region_name=region).subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
            self.queues[region] = str(url)
        return self.queues[region]

    @property
    def iam(self) -> Any:
        return self.session.client("iam", region_name=IAM_REGION)

    def app(self, region: str = IAM_REGION, **overrides: str) -> LocalApp:
        return self.make_app(region, overrides)

    def invoke(self, event: dict[str, Any] | str, **overrides: str) -> Invocation:
        body = json.loads((EVENTS / f"{event}.json").read_text()) if isinstance(event, str) else event
        region = body["region"]
        if self.last_region and self.last_region[-1] != region:
            reset_warm()  # another region is another Lambda environment (in-process invokes share clients)
        self.last_region.append(region)
        function = "IrsaGuardFunction" if body["source"] == "aws.iam" else "IrsaRefreshFunction"
        self.queue(region)
        return invoke(self.app(region, **{"Mode": "enforce", **overrides}), function, body)

    def trust(self, role: str) -> dict[str, Any]:
        return dict(self.iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])

    def tags(self, role: str) -> dict[str, str]:
        return {t["Key"]: t["Value"] for t in self.iam.get_role(RoleName=role)["Role"].get("Tags", [])}

    def alerts(self, region: str = IAM_REGION) -> list[dict[str, Any]]:
        sqs, out = self.session.client("sqs", region_name=region), []
        while batch := sqs.receive_message(QueueUrl=self.queue(region), MaxNumberOfMessages=10,
                                           MessageAttributeNames=["All"]).get("Messages", []):
            for m in batch:
                body = json.loads(m["Body"])
                message = json.loads(body["Message"])
                message["_attributes"] = {k: v["Value"] for k, v in body.get("MessageAttributes", {}).items()}
                out.append(message)
                sqs.delete_message(QueueUrl=self.queues[region], ReceiptHandle=m["ReceiptHandle"])
        return out

    def aws(self, region: str = IAM_REGION) -> clients.Aws:
        """What `eksguard rollback` runs with: the operator's credentials in the IAM region."""
        return clients.Aws(home_region=region, session=boto3.session.Session(region_name=region))

    def store(self, region: str = IAM_REGION) -> AuditStore:
        return AuditStore(self.aws(region), self.app(region).context.physical["AuditTable"]["Ref"])

    def audit_records(self, region: str = IAM_REGION) -> list[dict[str, Any]]:
        table = self.app(region).context.physical["AuditTable"]["Ref"]
        items = self.session.client("dynamodb", region_name=region).scan(TableName=table)["Items"]
        return [from_item(i) for i in items if i["pk"]["S"].startswith("remediation#")]


@pytest.fixture
def irsa() -> Iterator[Irsa]:
    apply_moto_patches()
    with mock_aws():
        clients.reset()
        reset_warm()
        session = boto3.session.Session(region_name=DEMO_REGION)
        apps: dict[tuple[str, tuple[tuple[str, str], ...]], LocalApp] = {}

        def make_app(region: str, overrides: dict[str, str]) -> LocalApp:
            key = (region, tuple(sorted(overrides.items())))
            if key not in apps:
                apps[key] = load_app(TEMPLATE, overrides, boto3.session.Session(region_name=region))
            return apps[key]

        make_app(IAM_REGION, {})  # provisioned before seeding, as `local up` and the demo do
        mock_random.seed(RANDOM_SEED)
        seed_demo(session)
        mock_random.seed(IRSA_RANDOM_SEED)
        ids = seed_irsa(session)
        state = Irsa(ids, session, make_app, {}, [])
        state.queue(IAM_REGION)
        yield state
        reset_warm()
        clients.reset()


# -- every events/ file after its mistake ---------------------------------------------------------------------

@dataclass(frozen=True)
class Expect:
    route: str | None  # "Function.Rule", or None: the pattern drops it
    actions: tuple[tuple[str, str], ...] = ()  # (rule id, action) of the response, any order
    changed: tuple[str, ...] = ()  # roles whose trust changed
    alert_region: str = IAM_REGION


EXPECTED = {
    "iam-create-role-aws-node-aud-typo": Expect("IrsaGuardFunction.IamChange", (("IR-001", "rewrote-trust"),),
                                                ("demo-aws-node",)),
    "iam-update-trust-wildcard-sub-app-api": Expect("IrsaGuardFunction.IamChange", (("IR-003", "rewrote-trust"),),
                                                    ("demo-app-api",)),
    "iam-create-role-reports-no-sub": Expect("IrsaGuardFunction.IamChange", (("IR-002", "alert-only"),)),
    "irsa-eks-create-cluster-payments-recreated": Expect("IrsaRefreshFunction.ClusterCreated",
                                                         (("IR-005", "alert-only"),), alert_region=DEMO_REGION),
    "iam-delete-oidc-provider-payments-old": Expect("IrsaGuardFunction.IamChange",
                                                    (("IR-005", "alert-only"), ("IR-006", "alert-only"))),
    "iam-create-oidc-provider-payments": Expect("IrsaGuardFunction.IamChange", (("IR-005", "rewrote-trust"),),
                                                ("payments-api",)),
    "iam-attach-role-policy-cni-node-role": Expect("IrsaGuardFunction.IamChange", (("EK-005", "alert-only"),)),
    "iam-create-policy-version-hmj-eks-user": Expect("IrsaGuardFunction.IamChange", (("EK-007", "alert-only"),)),
    "iam-put-role-policy-star-ci-deployer": Expect("IrsaGuardFunction.IamChange", (("EK-007", "alert-only"),)),
    "iam-update-trust-failed-access-denied": Expect(None),
    "iam-update-trust-by-eksguard-itself": Expect(None),
}
ROLES = ("demo-aws-node", "demo-app-api", "demo-reports", "payments-api")


def test_every_irsa_event_file_has_an_expectation_and_a_demo_scenario() -> None:
    files = {p.stem for p in EVENTS.glob("iam-*.json")} | {p.stem for p in EVENTS.glob("irsa-*.json")}
    assert files == set(EXPECTED) == {s.event_file for s in SCENARIOS}


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.event_file)
def test_event_after_its_mistake(irsa: Irsa, scenario: IrsaScenario) -> None:
    expect = EXPECTED[scenario.event_file]
    scenario.mistake(irsa.iam, irsa.ids)
    event = json.loads((EVENTS / f"{scenario.event_file}.json").read_text())
    before = {r: irsa.trust(r) for r in ROLES}
    routes = matching_rules(irsa.app(event["region"], Mode="enforce"), event)
    mine = [f"{fn}.{rule}" for fn, rule in routes if fn.startswith("Irsa")]
    if expect.route is None:
        assert routes == []
        return
    assert mine == [expect.route]
    result = irsa.invoke(event)
    assert result.ok, result.error
    assert result.response["status"] == "processed"
    assert sorted((a["rule_id"], a["action"]) for a in result.response["actions"]) == sorted(expect.actions)
    after = {r: irsa.trust(r) for r in ROLES}
    assert {r for r in ROLES if after[r] != before[r]} == set(expect.changed)
    alerts = irsa.alerts(expect.alert_region)
    assert sorted((a["rule_id"], a["action"]) for a in alerts) == sorted(expect.actions)
    for alert in alerts:
        assert set(CONTRACT_FIELDS) <= set(alert)
        AlertMessage.from_dict({k: v for k, v in alert.items() if k != "_attributes"})  # validates the contract


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if EXPECTED[s.event_file].route],
                         ids=lambda s: s.event_file)
def test_under_moto_iam_with_exactly_the_template_policy(irsa: Irsa, scenario: IrsaScenario) -> None:
    """moto's own IAM enforcement as a second line: each function as a role holding only its template policy."""
    expect = EXPECTED[scenario.event_file]
    scenario.mistake(irsa.iam, irsa.ids)
    event = json.loads((EVENTS / f"{scenario.event_file}.json").read_text())
    function = expect.route.split(".")[0] if expect.route else ""
    irsa.queue(event["region"])
    result = invoke_enforced(irsa.app(event["region"], Mode="enforce"), function, event, irsa.session)
    assert result.ok, result.error
    assert sorted((a["rule_id"], a["action"]) for a in result.response["actions"]) == sorted(expect.actions)
    assert all(a.get("status") != "failed" for a in result.response["actions"])


def test_refresh_of_a_multi_region_role_under_moto_iam(irsa: Irsa) -> None:
    orders = _orders_and_reports(irsa)
    irsa.queue(IAM_REGION)
    result = invoke_enforced(irsa.app(IAM_REGION, Mode="enforce"), "IrsaRefreshFunction", orders.event, irsa.session)
    assert result.ok, result.error
    assert [(a["rule_id"], a["action"]) for a in result.response["actions"]] == [("IR-005", "rewrote-trust")]


def test_aud_typo_rewrite_is_exact_and_audited(irsa: Irsa) -> None:
    original = irsa.trust("demo-aws-node")
    result = irsa.invoke("iam-create-role-aws-node-aud-typo")
    assert result.ok, result.error
    now = irsa.trust("demo-aws-node")
    expected = copy.deepcopy(original)
    expected["Statement"][0]["Condition"]["StringEquals"][f"{irsa.ids.demo_issuer}:aud"] = "sts.amazonaws.com"
    assert now == expected
    (record,) = irsa.audit_records()
    assert record["resource_type"] == "iam-role-trust" and record["resource_id"] == "demo-aws-node"
    assert record["before_image"] == original and record["after_image"] == now
    assert record["outcome"] == "rewrote-trust" and record["alerted"] == "true"
    assert record["event_id"] == "7a1c0e52-4b9d-4f0e-9c11-2d4e6f8a0b01"
    (alert,) = irsa.alerts()
    assert alert["_attributes"] == {"severity": "medium", "rule_id": "IR-001", "action": "rewrote-trust"}
    assert alert["before"] == original and alert["after"] == now
    assert alert["actor"] == ACTOR and alert["account"] == "123456789012" and alert["region"] == "us-east-1"
    assert alert["resource_arn"] == "arn:aws:iam::123456789012:role/demo-aws-node"


def test_create_provider_alert_carries_the_commands(irsa: Irsa) -> None:
    irsa.invoke("irsa-eks-create-cluster-payments-recreated")
    (alert,) = irsa.alerts(DEMO_REGION)
    assert alert["extra"]["commands"] == [
        "eksctl utils associate-iam-oidc-provider --cluster payments --region ap-northeast-2 --approve",
        f"aws iam create-open-id-connect-provider --url https://{irsa.ids.payments_issuer} "
        "--client-id-list sts.amazonaws.com"]
    assert "create the IAM OIDC provider for cluster payments" in alert["summary"]


def test_refresh_moves_principal_and_keys_and_keeps_values(irsa: Irsa) -> None:
    before = irsa.trust("payments-api")
    _create_payments_provider(irsa)
    result = irsa.invoke("iam-create-oidc-provider-payments")
    assert result.ok, result.error
    after = irsa.trust("payments-api")
    text = json.dumps(before).replace(irsa.ids.payments_old_issuer, irsa.ids.payments_issuer)
    assert after == json.loads(text)


def _create_payments_provider(irsa: Irsa) -> None:
    irsa.iam.create_open_id_connect_provider(Url=f"https://{irsa.ids.payments_issuer}",
                                             ClientIDList=["sts.amazonaws.com"], ThumbprintList=[EKS_CA_THUMBPRINT])


def test_refresh_through_the_issuer_history(irsa: Irsa) -> None:
    """No tag: eksguard saw the role trust cluster orders' issuer, so after orders is recreated it knows."""
    eks = irsa.session.client("eks", region_name=DEMO_REGION)
    demo = eks.describe_cluster(name="demo")["cluster"]
    vpc = {"subnetIds": demo["resourcesVpcConfig"]["subnetIds"]}
    first = eks.create_cluster(name="orders", roleArn=demo["roleArn"], resourcesVpcConfig=vpc)["cluster"]
    old = first["identity"]["oidc"]["issuer"].removeprefix("https://")
    irsa.iam.create_open_id_connect_provider(Url=f"https://{old}", ClientIDList=["sts.amazonaws.com"],
                                             ThumbprintList=[EKS_CA_THUMBPRINT])
    irsa.iam.create_role(RoleName="orders-api", AssumeRolePolicyDocument=irsa_trust(
        irsa.ids.account, old, "sts.amazonaws.com", "system:serviceaccount:orders:api"))
    created = _event("iam-create-role-reports-no-sub", "history-1", roleName="orders-api")
    assert irsa.invoke(created).response["actions"] == []  # compliant; its issuer is now in the history
    eks.delete_cluster(name="orders")
    new = eks.create_cluster(name="orders", roleArn=demo["roleArn"], resourcesVpcConfig=vpc)["cluster"][
        "identity"]["oidc"]["issuer"].removeprefix("https://")
    assert new != old
    irsa.iam.create_open_id_connect_provider(Url=f"https://{new}", ClientIDList=["sts.amazonaws.com"],
                                             ThumbprintList=[EKS_CA_THUMBPRINT])
    provider = _event("iam-create-oidc-provider-payments", "history-2", url=f"https://{new}")
    result = irsa.invoke(provider)
    assert result.ok, result.error
    assert [(a["resource_id"], a["rule_id"], a["action"]) for a in result.response["actions"]] == [
        ("orders-api", "IR-005", "rewrote-trust")]
    assert new in json.dumps(irsa.trust("orders-api")) and old not in json.dumps(irsa.trust("orders-api"))
    assert result.response["extra"]["roles"] == ["orders-api"]  # payments-api belongs to another cluster


def _issuer(cluster: dict[str, Any]) -> str:
    return str(cluster["identity"]["oidc"]["issuer"]).removeprefix("https://")


@dataclass(frozen=True)
class Orders:
    old: str  # the issuer of orders (us-east-1) before it was recreated
    new: str
    reports: str  # the issuer of reports (eu-west-1)
    event: dict[str, Any]  # CreateCluster of the new orders, as the us-east-1 stack receives it


def _orders_and_reports(irsa: Irsa) -> Orders:
    """orders-api serves two clusters: orders (us-east-1, just recreated) and reports (eu-west-1)."""
    role_arn = irsa.session.client("eks", region_name=DEMO_REGION).describe_cluster(name="demo")["cluster"]["roleArn"]

    def cluster(region: str, name: str) -> str:
        ec2 = irsa.session.client("ec2", region_name=region)
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.1.1.0/24")["Subnet"]["SubnetId"]
        created = irsa.session.client("eks", region_name=region).create_cluster(
            name=name, roleArn=role_arn, resourcesVpcConfig={"subnetIds": [subnet]})
        return _issuer(created["cluster"])

    old = cluster(IAM_REGION, "orders")
    irsa.session.client("eks", region_name=IAM_REGION).delete_cluster(name="orders")
    new = cluster(IAM_REGION, "orders")
    reports = cluster("eu-west-1", "reports")
    for issuer in (new, reports):
        irsa.iam.create_open_id_connect_provider(Url=f"https://{issuer}", ClientIDList=["sts.amazonaws.com"],
                                                 ThumbprintList=[EKS_CA_THUMBPRINT])
    statements = [json.loads(irsa_trust(irsa.ids.account, issuer, "sts.amazonaws.com",
                                        "system:serviceaccount:orders:api"))["Statement"][0]
                  for issuer in (old, reports)]
    irsa.iam.create_role(RoleName="orders-api", Tags=[{"Key": "eksguard:cluster", "Value": "orders"}],
                         AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": statements}))
    event = _event("irsa-eks-create-cluster-payments-recreated", "orders-recreated")
    event["detail"]["requestParameters"]["name"] = "orders"
    event["region"] = event["detail"]["awsRegion"] = IAM_REGION
    return Orders(old, new, reports, event)


def test_refresh_in_us_east_1_reads_every_region_its_roles_trust(irsa: Irsa) -> None:
    """The us-east-1 stack's refresh moves orders-api to orders' new issuer and judges reports' issuer live:
    DescribeCluster in eu-west-1."""
    orders = _orders_and_reports(irsa)
    result = irsa.invoke(orders.event)
    assert result.ok, result.error
    assert [(a["resource_id"], a["rule_id"], a["action"]) for a in result.response["actions"]] == [
        ("orders-api", "IR-005", "rewrote-trust")]
    assert "unreadable_regions" not in result.response["extra"]
    trust = json.dumps(irsa.trust("orders-api"))
    assert orders.new in trust and orders.reports in trust and orders.old not in trust
    checked = this_test()
    assert ("IrsaRefreshFunction", f"arn:aws:eks:eu-west-1:{irsa.ids.account}:cluster/reports") in {
        (f, r.resource) for f, r, _ in checked.checked if r.action == "eks:DescribeCluster"}
    assert checked.violations == []


def _audit_reads(function: str) -> list[str]:
    return [r.resource for f, r, _ in this_test().checked
            if f == function and r.action == "dynamodb:GetItem" and r.resource.endswith(":table/AuditTable")]


def test_refresh_that_iam_fails_is_finished_by_the_retry(irsa: Irsa) -> None:
    """IAM fails the rewrite (5xx, after botocore's retries): the event fails for Lambda to retry, and the retry
    carries on from the before-image already audited."""
    orders = _orders_and_reports(irsa)
    with inject("iam.UpdateAssumeRolePolicy", lambda: iam_error("ServiceFailure", 500)):
        first = irsa.invoke(orders.event)
    assert not first.ok and first.error is not None and first.error["errorType"] == "RetryableError"
    again = irsa.invoke(orders.event)
    assert again.ok, again.error
    assert orders.new in json.dumps(irsa.trust("orders-api"))
    (record,) = irsa.audit_records()
    assert record["outcome"] == "rewrote-trust"
    assert _audit_reads("IrsaRefreshFunction")


def _event(name: str, event_id: str, **request: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / f"{name}.json").read_text())
    event["detail"]["eventID"] = event_id
    event["detail"]["requestParameters"].update(request)
    return event


# -- rollback ---------------------------------------------------------------------------------------------------

def _request(irsa: Irsa, rid: str, **kw: Any) -> RollbackRequest:
    return RollbackRequest(rid, "arn:aws:iam::123456789012:user/oncall", TODAY, NOW.isoformat(),
                           alert_topic_arn=irsa.app().context.physical["AlertTopic"]["Ref"], **kw)


def _rewritten(irsa: Irsa, event: str = "iam-create-role-aws-node-aud-typo", role: str = "demo-aws-node"
               ) -> tuple[str, dict[str, Any]]:
    original = irsa.trust(role)
    assert irsa.invoke(event).ok
    (record,) = irsa.audit_records()
    irsa.alerts()
    return str(record["remediation_id"]), original


@pytest.mark.parametrize(("event", "role"), [("iam-create-role-aws-node-aud-typo", "demo-aws-node"),
                                             ("iam-update-trust-wildcard-sub-app-api", "demo-app-api")])
def test_rollback_restores_the_original_document_exactly(irsa: Irsa, event: str, role: str) -> None:
    rid, original = _rewritten(irsa, event, role)
    assert irsa.trust(role) != original
    result = rollback(irsa.aws(), irsa.store(), _request(irsa, rid))
    assert result.status == "rolled-back", result.error
    assert irsa.trust(role) == original  # parsed JSON equal to the before-image
    assert irsa.tags(role)["eksguard:exempt"] == (TODAY + timedelta(days=7)).isoformat()
    records = {r["remediation_id"]: r for r in irsa.audit_records()}
    assert records[rid]["outcome"] == "rolled-back"
    assert records[result.rollback_id or ""]["action"] == "rolled-back"
    assert records[result.rollback_id or ""]["after_image"] == original
    (alert,) = irsa.alerts()
    assert alert["action"] == "rolled-back" and alert["after"] == original
    AlertMessage.from_dict({k: v for k, v in alert.items() if k != "_attributes"})


def test_guard_leaves_the_restored_trust_alone(irsa: Irsa) -> None:
    rid, original = _rewritten(irsa)
    rollback(irsa.aws(), irsa.store(), _request(irsa, rid))
    irsa.alerts()
    restore_event = _event("iam-update-trust-wildcard-sub-app-api", "the-restore-itself", roleName="demo-aws-node",
                           policyDocument=json.dumps(original))
    result = irsa.invoke(restore_event)
    assert [a["action"] for a in result.response["actions"]] == ["exempt"]
    assert irsa.trust("demo-aws-node") == original


def test_rollback_dry_run_twice_and_unknown(irsa: Irsa) -> None:
    rid, original = _rewritten(irsa)
    rewritten = irsa.trust("demo-aws-node")
    dry = rollback(irsa.aws(), irsa.store(), _request(irsa, rid, dry_run=True))
    assert dry.status == "would-roll-back" and dry.restored == original and dry.replaced == rewritten
    assert irsa.trust("demo-aws-node") == rewritten and irsa.alerts() == []
    rollback(irsa.aws(), irsa.store(), _request(irsa, rid))
    with pytest.raises(RollbackError, match="already rolled back"):
        rollback(irsa.aws(), irsa.store(), _request(irsa, rid))
    with pytest.raises(RollbackError, match="no remediation"):
        rollback(irsa.aws(), irsa.store(), _request(irsa, "00000000-0000-0000-0000-000000000000"))


def test_rollback_function_restores_a_trust_with_exactly_its_iam_grants(irsa: Irsa) -> None:
    """The RollbackFunction of the us-east-1 stack: a restore IAM refuses puts the exemption tag back (UntagRole),
    the retry restores the document; together they use each IAM grant of the function."""
    rid, original = _rewritten(irsa)
    app = irsa.app(IAM_REGION, Mode="enforce")
    with inject("iam.UpdateAssumeRolePolicy", lambda: iam_error("AccessDenied")):
        failed = invoke(app, "RollbackFunction", {"remediation_id": rid})
    assert failed.ok and failed.response["status"] == "failed", failed.response
    assert "eksguard:exempt" not in irsa.tags("demo-aws-node")
    done = invoke(app, "RollbackFunction", {"remediation_id": rid})
    assert done.ok and done.response["status"] == "rolled-back", done.response
    assert irsa.trust("demo-aws-node") == original
    checked = this_test()
    assert checked.violations == []
    assert unexercised_in(checked, "RollbackFunction", "iam:") == []


def test_rollback_refuses_to_clobber_a_later_change(irsa: Irsa) -> None:
    rid, original = _rewritten(irsa)
    later = irsa.trust("demo-aws-node")
    later["Statement"][0]["Sid"] = "EditedByHand"
    irsa.iam.update_assume_role_policy(RoleName="demo-aws-node", PolicyDocument=json.dumps(later))
    with pytest.raises(RollbackError, match="changed after eksguard rewrote it"):
        rollback(irsa.aws(), irsa.store(), _request(irsa, rid))
    assert irsa.trust("demo-aws-node") == later
    forced = rollback(irsa.aws(), irsa.store(), _request(irsa, rid, force=True))
    assert forced.status == "rolled-back" and irsa.trust("demo-aws-node") == original


def test_rollback_of_a_failed_remediation_is_refused(irsa: Irsa) -> None:
    with inject("iam.UpdateAssumeRolePolicy", lambda: iam_error("AccessDenied")):
        irsa.invoke("iam-create-role-aws-node-aud-typo")
    (record,) = irsa.audit_records()
    before = irsa.trust("demo-aws-node")
    with pytest.raises(RollbackError, match="did not change the trust policy"):
        rollback(irsa.aws(), irsa.store(), _request(irsa, str(record["remediation_id"])))
    assert irsa.trust("demo-aws-node") == before and "eksguard:exempt" not in irsa.tags("demo-aws-node")


# -- mode, redelivery, failure paths ----------------------------------------------------------------------------

def test_audit_mode_changes_nothing(irsa: Irsa) -> None:
    before = {r: irsa.trust(r) for r in ROLES}
    for scenario in SCENARIOS:
        scenario.mistake(irsa.iam, irsa.ids)
        if EXPECTED[scenario.event_file].route is not None:
            result = irsa.invoke(scenario.event_file, Mode="audit")
            assert result.ok, result.error
            assert all(a["action"] == "alert-only" for a in result.response["actions"])
    assert {r: irsa.trust(r) for r in ROLES} == before
    assert irsa.audit_records() == [] and irsa.audit_records(DEMO_REGION) == []
    alerts = irsa.alerts() + irsa.alerts(DEMO_REGION)
    assert alerts and {a["action"] for a in alerts} == {"alert-only"} and {a["mode"] for a in alerts} == {"audit"}
    proposal = next(a for a in alerts if a["rule_id"] == "IR-001")["extra"]["proposed_trust"]
    assert "sts.amazonaws.com" in json.dumps(proposal)


def test_redelivery_changes_once_and_alerts_once(irsa: Irsa) -> None:
    first = irsa.invoke("iam-create-role-aws-node-aud-typo")
    second = irsa.invoke("iam-create-role-aws-node-aud-typo")
    assert first.ok and second.ok and second.response == first.response  # the idempotency record
    # Redelivered after the idempotency record expired: the audit record stops a second change and alert.
    table = irsa.app().context.physical["IdempotencyTable"]["Ref"]
    ddb = irsa.session.client("dynamodb", region_name=IAM_REGION)
    for item in ddb.scan(TableName=table)["Items"]:
        ddb.delete_item(TableName=table, Key={"id": item["id"]})
    third = irsa.invoke("iam-create-role-aws-node-aud-typo")
    assert third.ok and third.response["actions"] == []  # the re-read finds the trust fixed
    assert [(a["rule_id"], a["action"]) for a in irsa.alerts()] == [("IR-001", "rewrote-trust")]
    assert len(irsa.audit_records()) == 1


def test_no_change_without_a_before_image(irsa: Irsa) -> None:
    before = irsa.trust("demo-aws-node")
    table = irsa.app(IAM_REGION, Mode="enforce").context.physical["AuditTable"]["Ref"]
    irsa.session.client("dynamodb", region_name=IAM_REGION).delete_table(TableName=table)
    result = irsa.invoke("iam-create-role-aws-node-aud-typo")
    assert not result.ok and result.error is not None and result.error["errorType"] == "RetryableError"
    assert irsa.trust("demo-aws-node") == before
    assert [(a["rule_id"], a["action"]) for a in irsa.alerts()] == [("IR-001", "failed")]


def iam_error(code: str, status: int = 403) -> AWSResponse:
    body = (f"<ErrorResponse><Error><Type>Sender</Type><Code>{code}</Code><Message>injected</Message></Error>"
            "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>").encode()
    return AWSResponse("https://iam.amazonaws.com/", status, {}, MockRawResponse(body))


def test_access_denied_on_the_rewrite_is_a_failed_alert(irsa: Irsa) -> None:
    before = irsa.trust("demo-aws-node")
    with inject("iam.UpdateAssumeRolePolicy", lambda: iam_error("AccessDenied")):
        result = irsa.invoke("iam-create-role-aws-node-aud-typo")
    assert result.ok, result.error  # not retryable: alerted, recorded, not re-raised
    assert [(a["action"], a["status"]) for a in result.response["actions"]] == [("failed", "failed")]
    assert irsa.trust("demo-aws-node") == before
    (alert,) = irsa.alerts()
    assert alert["action"] == "failed" and "AccessDenied" in alert["error"]
    (record,) = irsa.audit_records()
    assert record["outcome"] == "failed" and record["before_image"] == before


def test_rewrite_that_iam_fails_is_finished_by_the_retry(irsa: Irsa) -> None:
    with inject("iam.UpdateAssumeRolePolicy", lambda: iam_error("ServiceFailure", 500)):
        first = irsa.invoke("iam-create-role-aws-node-aud-typo")
    assert not first.ok and first.error is not None and first.error["errorType"] == "RetryableError"
    again = irsa.invoke("iam-create-role-aws-node-aud-typo")
    assert again.ok, again.error
    assert [(a["rule_id"], a["action"]) for a in again.response["actions"]] == [("IR-001", "rewrote-trust")]
    (record,) = irsa.audit_records()
    assert record["outcome"] == "rewrote-trust"
    assert _audit_reads("IrsaGuardFunction")


def test_customer_policy_attached_to_a_role_is_checked_if_still_attached(irsa: Irsa) -> None:
    """AttachRolePolicy of a customer policy: the policy is read, and the attachment re-read (it may be gone)."""
    arn = irsa.iam.create_policy(PolicyName="eks-everything", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "eks:*", "Resource": "*"}]}))[
        "Policy"]["Arn"]
    irsa.iam.attach_role_policy(RoleName="demo-app-api", PolicyArn=arn)
    event = _event("iam-attach-role-policy-cni-node-role", "attach-eks-everything", roleName="demo-app-api",
                   policyArn=arn)
    result = irsa.invoke(event)
    assert result.ok, result.error
    assert [(a["rule_id"], a["resource_id"]) for a in result.response["actions"]] == [("EK-007", "eks-everything")]
    irsa.iam.detach_role_policy(RoleName="demo-app-api", PolicyArn=arn)
    event["detail"]["eventID"] = "attach-eks-everything-detached-since"
    assert irsa.invoke(event).response["actions"] == []


def test_trust_changed_between_read_and_write_is_left_alone(irsa: Irsa, monkeypatch: pytest.MonkeyPatch) -> None:
    from eksguard.aws import iam as iam_api

    real, reads = iam_api.read_role, []

    def racing(aws: Any, name: str) -> Any:
        reads.append(name)
        if len(reads) == 2:  # the re-read right before the write: someone edited the trust meanwhile
            doc = irsa.trust(name)
            doc["Statement"][0]["Sid"] = "SomeoneElse"
            irsa.iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(doc))
        return real(aws, name)

    monkeypatch.setattr(iam_api, "read_role", racing)
    result = irsa.invoke("iam-create-role-aws-node-aud-typo")
    assert result.ok, result.error
    assert [a["status"] for a in result.response["actions"]] == ["changed-meanwhile"]
    assert irsa.trust("demo-aws-node")["Statement"][0]["Sid"] == "SomeoneElse"
    assert irsa.alerts() == []


def test_role_deleted_before_handling_is_a_quiet_no_op(irsa: Irsa) -> None:
    irsa.iam.delete_role(RoleName="demo-reports")
    result = irsa.invoke("iam-create-role-reports-no-sub")
    assert result.ok and result.response["reason"] == "role no longer exists: nothing to do"
    assert irsa.alerts() == []


def test_own_call_forced_through_is_skipped_in_code(irsa: Irsa) -> None:
    before = irsa.trust("demo-aws-node")
    result = irsa.invoke("iam-update-trust-by-eksguard-itself")
    assert result.ok and result.response["status"] == "skipped" and "loop guard" in result.response["reason"]
    assert irsa.trust("demo-aws-node") == before and irsa.alerts() == []


MALFORMED = {
    "role-name-a-list": ("roleName", ["demo-aws-node"]),
    "document-not-json": ("assumeRolePolicyDocument", "{oops"),
    "no-role-name": ("roleName", None),
}


def test_malformed_events_are_rejected_and_change_nothing(irsa: Irsa) -> None:
    before = irsa.trust("demo-aws-node")
    for case, (key, value) in MALFORMED.items():
        event = json.loads((EVENTS / "iam-create-role-aws-node-aud-typo.json").read_text())
        event["detail"]["eventID"] = case
        if value is None:
            del event["detail"]["requestParameters"][key]
        else:
            event["detail"]["requestParameters"][key] = value
        result = irsa.invoke(event)
        assert result.ok and result.response["status"] == "rejected" and result.response["reason"], case
    assert irsa.trust("demo-aws-node") == before and irsa.alerts() == []


# -- cost: IAM calls per event (the closing note's numbers come from here) -------------------------------------

CALL_BUDGET = {  # IAM calls per event, upper bounds (ListRoles pages count once per 1000 roles)
    "iam-create-role-aws-node-aud-typo": 4,  # GetRole, GetOpenIDConnectProvider, GetRole (re-read), Update
    "iam-update-trust-wildcard-sub-app-api": 4,
    "iam-create-role-reports-no-sub": 2,  # GetRole, GetOpenIDConnectProvider
    "irsa-eks-create-cluster-payments-recreated": 4,  # ListRoles, GetRole, 2 x GetOpenIDConnectProvider
    "iam-delete-oidc-provider-payments-old": 4,
    "iam-create-oidc-provider-payments": 6,  # ListRoles, GetRole, 2 x GetOpenIDConnectProvider, GetRole, Update
    "iam-attach-role-policy-cni-node-role": 3,  # ListEntitiesForPolicy, GetRole per holder of the CNI policy
    "iam-create-policy-version-hmj-eks-user": 3,  # GetPolicy, GetPolicyVersion, ListEntitiesForPolicy
    "iam-put-role-policy-star-ci-deployer": 2,  # GetRole, GetRolePolicy
}


@contextmanager
def calls_of_a_warm_handler() -> Iterator[CallLog]:
    """record_calls() sees sessions made from now on; a warm handler reuses the clients it already has, so
    hook those (and their session, for clients it makes later) too."""
    with record_calls() as log:
        aws = clients._default  # the warm handler's process-wide clients, as Lambda keeps them

        def on_call(model: Any, **_: Any) -> None:
            log.calls.append(f"{model.service_model.service_name}.{model.name}")

        def emitters() -> list[Any]:
            return [c.meta.events for c in aws._clients.values()] + [aws.session._session] if aws else []

        for emitter in emitters():
            emitter.register("before-call", on_call, unique_id="irsa-call-count")
        try:
            yield log
        finally:
            for emitter in emitters():  # including clients made meanwhile, which copied the session's hook
                emitter.unregister("before-call", unique_id="irsa-call-count")


def test_iam_calls_and_warm_time_per_event(irsa: Irsa) -> None:
    """The demo's sequence, each event on a warm handler (warmed by a skipped event): IAM calls within budget,
    no IAM write but UpdateAssumeRolePolicy. ``pytest -s`` prints the table the closing note quotes."""
    for region in (IAM_REGION, DEMO_REGION):
        irsa.app(region, Mode="enforce")
    rows = []
    for scenario in (s for s in SCENARIOS if s.event_file in CALL_BUDGET):
        scenario.mistake(irsa.iam, irsa.ids)
        event = json.loads((EVENTS / f"{scenario.event_file}.json").read_text())
        warm_up = json.loads((EVENTS / "iam-update-trust-by-eksguard-itself.json").read_text())
        warm_up.update(region=event["region"], source=event["source"])
        warm_up["detail"]["eventID"] = f"warm-up-{scenario.event_file}"
        assert irsa.invoke(warm_up).ok  # skipped or rejected: either way the handler is now warm
        with calls_of_a_warm_handler() as log:
            result = irsa.invoke(event)
        assert result.ok and not result.cold, result.error
        iam_calls = log.names("iam")
        rows.append((scenario.event_file, len(iam_calls), len(log.calls), result.duration_ms))
        assert len(iam_calls) <= CALL_BUDGET[scenario.event_file], iam_calls
        assert not [c for c in log.writes() if c.startswith("iam.") and c != "iam.UpdateAssumeRolePolicy"]
    print("\nevent                                           IAM calls  all calls  warm ms")
    for name, iam_n, all_n, ms in rows:
        print(f"{name:<48}{iam_n:>9}{all_n:>11}{ms:>9.0f}")


# -- the cluster's own ServiceAccounts as the third source of the service account (DESIGN section 5) ----------

def _serve_accounts(monkeypatch: pytest.MonkeyPatch, kube: KubeStandin, role_arn: str, *names: str) -> None:
    """The demo cluster's Kubernetes API (the stand-in), with ServiceAccounts annotated with ``role_arn``."""
    kube.cluster("demo", DEMO_REGION).add(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "reports"}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "other", "namespace": "reports"}},
        *({"apiVersion": "v1", "kind": "ServiceAccount",
           "metadata": {"name": n, "namespace": "reports", "annotations": {ROLE_ARN_ANNOTATION: role_arn}}}
          for n in names))
    monkeypatch.setenv("EKSGUARD_KUBE_ENDPOINTS", kube.endpoints())


def test_the_only_annotated_service_account_pins_the_sub(irsa: Irsa, monkeypatch: pytest.MonkeyPatch) -> None:
    role_arn = irsa.iam.get_role(RoleName="demo-reports")["Role"]["Arn"]
    with KubeStandin() as kube:
        _serve_accounts(monkeypatch, kube, role_arn, "reporter")
        result = irsa.invoke("iam-create-role-reports-no-sub")
    assert result.ok, result.error
    assert [(a["rule_id"], a["action"]) for a in result.response["actions"]] == [("IR-002", "rewrote-trust")]
    (statement,) = irsa.trust("demo-reports")["Statement"]
    subs = [v for op in statement["Condition"].values() for k, v in op.items() if k.endswith(":sub")]
    assert subs == ["system:serviceaccount:reports:reporter"]
    assert "the only ServiceAccount of the cluster annotated with the role" in result.response["actions"][0]["detail"]


def test_two_annotated_service_accounts_are_never_a_guess(irsa: Irsa, monkeypatch: pytest.MonkeyPatch) -> None:
    before = irsa.trust("demo-reports")
    role_arn = irsa.iam.get_role(RoleName="demo-reports")["Role"]["Arn"]
    with KubeStandin() as kube:
        _serve_accounts(monkeypatch, kube, role_arn, "reporter", "exporter")
        result = irsa.invoke("iam-create-role-reports-no-sub")
    assert [(a["rule_id"], a["action"]) for a in result.response["actions"]] == [("IR-002", "alert-only")]
    assert "2 ServiceAccounts are annotated with the role" in result.response["actions"][0]["detail"]
    assert irsa.trust("demo-reports") == before


def test_an_unreadable_cluster_leaves_the_role_alone(irsa: Irsa, monkeypatch: pytest.MonkeyPatch) -> None:
    """No Kubernetes API answers (moto's endpoint, a certificate that is not PEM): alert only, as before."""
    before = irsa.trust("demo-reports")
    result = irsa.invoke("iam-create-role-reports-no-sub")
    assert [(a["rule_id"], a["action"]) for a in result.response["actions"]] == [("IR-002", "alert-only")]
    assert irsa.trust("demo-reports") == before
