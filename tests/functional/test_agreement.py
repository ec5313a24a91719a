"""One seeded account with a case of every catalog rule, seen through the three doors of the one posture engine:
``eksguard scan`` (in-process, the region plus the account's IAM), the scheduled sweep in audit mode (its alerts,
read from a subscriber on the alert topic) and the guards fed the event that made each case (routed through the
template's own EventBridge patterns, audit mode; the in-cluster guard invoked with the control-plane audit-log
batch the subscription would deliver). They must name the same findings: (rule, resource, target) triples, with
the same exemption verdicts.

Every mistake is made first, then every door looks: audit mode changes nothing, so the scan, the sweep and each
guard read the same account."""

from __future__ import annotations

import base64
import copy
import gzip
import json
import urllib.parse
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.moto_api._internal import mock_random
from tests.paths import EVENTS, TEMPLATE
from tests.support.clock import NOW

from eksguard import clock
from eksguard.aws import clients
from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.detect.catalog import CATALOG, is_global, rule, rules_for
from eksguard.detect.k8s import EVENTS as K8_EVENTS
from eksguard.detect.rule import Family
from eksguard.local import demo, demo_cluster, demo_irsa
from eksguard.local.invoke import LocalApp, invoke, load_app, reset_warm
from eksguard.local.kube_standin import KubeStandin
from eksguard.local.replay import replay
from eksguard.local.seed import (
    DEMO_REGION,
    IAM_REGION,
    IRSA_RANDOM_SEED,
    POSTURE_RANDOM_SEED,
    RANDOM_SEED,
    seed_cluster_posture,
    seed_demo,
    seed_irsa,
)
from eksguard.local.standin import apply_moto_patches
from eksguard.pipeline.scan import ScanFinding, scan
from eksguard.snapshot.k8s import ROLE_ARN_ANNOTATION

Triple = tuple[str, str, str]  # (rule id, resource id, target id or "")
K8_EVENT = K8_EVENTS[0]  # what the in-cluster guard's audit-log writes are re-checked as
# The events/ files of the demo's chapters, each after its mistake.
RECORDED = tuple(s.event_file for s in (*demo.SCENARIOS, *demo_irsa.SCENARIOS, *demo_cluster.SCENARIOS))
# The cases no events/ file records (made in _more_cases), and the clusters whose audit log reports a write.
BUILT = ("iam-create-role-batch-star-in-string-equals", "iam-create-role-vendor-no-condition",
         "iam-create-role-partner-anyone",
         "sg-ingress-default-group-cluster-vpc", "ec2-create-launch-template-unused-node-template")
AUDIT_WRITES: dict[str, list[dict[str, Any]]] = {
    "demo": [{"verb": "update", "resource": "configmaps", "namespace": "kube-system", "name": "aws-auth",
              "apiVersion": "v1", "uri": "/api/v1/namespaces/kube-system/configmaps/aws-auth"},
             {"verb": "create", "resource": "serviceaccounts", "namespace": "reports", "name": "exporter",
              "apiVersion": "v1", "uri": "/api/v1/namespaces/reports/serviceaccounts"}],
    "legacy": [{"verb": "create", "resource": "namespaces", "name": "default", "apiVersion": "v1",
                "uri": "/api/v1/namespaces"}],
    "payments": [{"verb": "delete", "resource": "networkpolicies", "apiGroup": "networking.k8s.io",
                  "namespace": "payments", "name": "deny-imds", "apiVersion": "v1",
                  "uri": "/apis/networking.k8s.io/v1/namespaces/payments/networkpolicies/deny-imds"}],
}


def load(name: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / f"{name}.json").read_text()))


# -- cases no events/ file records: the call made for real, its event built from a real one of the same call ---

def _ids(event: dict[str, Any], event_id: str) -> dict[str, Any]:
    event = copy.deepcopy(event)
    event["id"] = f"agreement-{event_id}"
    event["detail"]["eventID"] = f"agreement-{event_id}"
    return event


def create_role_event(event_id: str, role: Mapping[str, Any], trust: Mapping[str, Any]) -> dict[str, Any]:
    """CreateRole as CloudTrail records it: the trust as a JSON string, URL-encoded in the response."""
    event = _ids(load("iam-create-role-reports-no-sub"), event_id)
    text = json.dumps(trust)
    event["detail"]["requestParameters"] = {"roleName": role["RoleName"], "assumeRolePolicyDocument": text}
    made = event["detail"]["responseElements"]["role"]
    made.update(roleName=role["RoleName"], roleId=role["RoleId"], arn=role["Arn"],
                assumeRolePolicyDocument=urllib.parse.quote(text))
    return event


def authorize_ingress_event(event_id: str, group_id: str, rule_id: str, cidr: str, port: int) -> dict[str, Any]:
    """AuthorizeSecurityGroupIngress in the flat form (``cidrIp`` at the top, ``ipPermissions: {}``)."""
    event = _ids(load("sg-ingress-api-world-flat-control-plane"), event_id)
    request = event["detail"]["requestParameters"]
    request.update(groupId=group_id, cidrIp=cidr, fromPort=str(port), toPort=str(port))
    (item,) = event["detail"]["responseElements"]["securityGroupRuleSet"]["items"]
    item.update(groupId=group_id, securityGroupRuleId=rule_id, fromPort=port, toPort=port, cidrIpv4=cidr)
    return event


def create_launch_template_event(event_id: str, template: Mapping[str, Any], group_id: str,
                                 metadata: Mapping[str, Any]) -> dict[str, Any]:
    event = _ids(load("ec2-create-launch-template-imdsv1"), event_id)
    request = event["detail"]["requestParameters"]["CreateLaunchTemplateRequest"]
    request["LaunchTemplateName"] = template["LaunchTemplateName"]
    request["LaunchTemplateData"].update(SecurityGroupId={"tag": 1, "content": group_id},
                                         MetadataOptions=dict(metadata))
    made = event["detail"]["responseElements"]["CreateLaunchTemplateResponse"]["launchTemplate"]
    made.update(launchTemplateId=template["LaunchTemplateId"], launchTemplateName=template["LaunchTemplateName"])
    return event


def audit_batch(account: str, cluster: str, writes: list[Mapping[str, Any]], first_id: int) -> dict[str, Any]:
    """What a CloudWatch Logs subscription on /aws/eks/<cluster>/cluster delivers: base64 of gzip of the batch,
    each log event one kube-apiserver audit event (audit.k8s.io/v1, stage ResponseComplete)."""
    events = []
    for n, ref in enumerate(writes):
        audit = {
            "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
            "auditID": f"6f0c2a1e-8d4b-4c3a-9e2f-{first_id + n:012d}", "stage": "ResponseComplete",
            "requestURI": ref["uri"], "verb": ref["verb"],
            "user": {"username": "kubernetes-admin", "uid": "aws-iam-authenticator:123456789012:AROAEXAMPLEJANE",
                     "groups": ["system:masters", "system:authenticated"],
                     "extra": {"arn": ["arn:aws:iam::123456789012:role/PlatformAdmin"],
                               "canonicalArn": ["arn:aws:iam::123456789012:role/PlatformAdmin"],
                               "sessionName": ["jane@example.com"]}},
            "sourceIPs": ["198.51.100.24"], "userAgent": "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46",
            "objectRef": {k: v for k, v in ref.items() if k in ("resource", "namespace", "name", "apiGroup",
                                                                "apiVersion")},
            "responseStatus": {"metadata": {}, "code": ref.get("code", 200)},
            "requestReceivedTimestamp": "2026-11-20T09:30:00.000000Z", "stageTimestamp": "2026-11-20T09:30:00.012345Z",
            "annotations": {"authorization.k8s.io/decision": "allow", "authorization.k8s.io/reason": ""},
        }
        events.append({"id": f"{38000000000000000000000000000000000000000000000000000000 + first_id + n}",
                       "timestamp": 1795167000000 + n, "message": json.dumps(audit)})
    batch = {"messageType": "DATA_MESSAGE", "owner": account, "logGroup": f"/aws/eks/{cluster}/cluster",
             "logStream": "kube-apiserver-audit-0f1e2d3c4b5a69788796a5b4c3d2e1f0",
             "subscriptionFilters": ["eksguard-k8s-audit"], "logEvents": events}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(batch).encode())).decode()}}


# -- the seeded account ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GuardRun:
    name: str  # the events/ file or the case's name
    event_name: str  # what rules_for() is asked with
    function: str
    response: Mapping[str, Any]


@dataclass(frozen=True)
class World:
    account: str
    scan: tuple[ScanFinding, ...]
    sweep: tuple[Mapping[str, Any], ...]  # its alerts, without the SWEEP summary
    guards: tuple[GuardRun, ...]
    events: Mapping[str, Mapping[str, Any]]  # what each guard was fed, by case name


def _subscribe(session: boto3.session.Session, app: LocalApp, name: str) -> str:
    region = app.context.region
    sqs = session.client("sqs", region_name=region)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    session.client("sns", region_name=region).subscribe(TopicArn=app.context.physical["AlertTopic"]["Ref"],
                                                        Protocol="sqs", Endpoint=arn)
    return str(url)


def _drain(session: boto3.session.Session, region: str, url: str) -> list[dict[str, Any]]:
    sqs, out = session.client("sqs", region_name=region), []
    while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
        for m in batch:
            out.append(json.loads(json.loads(m["Body"])["Message"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return out


def _kubernetes(kube: KubeStandin, account: str) -> None:
    """The clusters' Kubernetes APIs: demo and legacy readable, payments refusing eksguard (no access entry)."""
    role = f"arn:aws:iam::{account}:role"
    namespaces = ({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in
                  ("default", "kube-system", "app", "reports"))
    deny_imds = {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                 "metadata": {"name": "deny-imds", "namespace": "app"},
                 "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                          "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}]}}
    map_roles = (f"- rolearn: {role}/demo-node-role\n  username: system:node:{{{{EC2PrivateDNSName}}}}\n"
                 "  groups:\n    - system:bootstrappers\n    - system:nodes\n"
                 f"- rolearn: {role}/demo-ci-deployer\n  username: ci\n  groups:\n    - system:masters\n"
                 f"- rolearn: {role}/old-platform-admin\n  username: platform\n  groups:\n    - platform-admins\n")
    kube.cluster("demo", DEMO_REGION).add(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
         "data": {"mapRoles": map_roles}},
        *namespaces, deny_imds,
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
            "name": "aws-node", "namespace": "kube-system",
            "annotations": {ROLE_ARN_ANNOTATION: f"{role}/demo-aws-node"}}},
        # The reports exporter annotated with the aws-node role, whose trust names kube-system:aws-node only.
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
            "name": "exporter", "namespace": "reports", "annotations": {ROLE_ARN_ANNOTATION: f"{role}/demo-aws-node"}}},
    )
    kube.cluster("legacy", DEMO_REGION).add(
        *({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}} for n in ("default", "kube-system")))
    kube.cluster("payments", DEMO_REGION).access_entry = False


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    apply_moto_patches()
    with mock_aws(), KubeStandin() as kube, pytest.MonkeyPatch.context() as env, clock.frozen(NOW):
        clients.reset()
        reset_warm()
        session = boto3.session.Session(region_name=DEMO_REGION)
        app = load_app(TEMPLATE, {"Mode": "audit"}, session)
        iam_app = load_app(TEMPLATE, {"Mode": "audit"}, boto3.session.Session(region_name=IAM_REGION))
        queue = _subscribe(session, app, "agreement-alerts")
        # The demo's chapters in order, each with its own id seed: the ids the events/ files name.
        mock_random.seed(RANDOM_SEED)
        acct = seed_demo(session)
        ec2, iam = session.client("ec2"), session.client("iam", region_name=IAM_REGION)
        for scenario in demo.SCENARIOS:
            scenario.mistake(ec2, acct)
        mock_random.seed(IRSA_RANDOM_SEED)
        irsa = seed_irsa(session)
        for irsa_scenario in demo_irsa.SCENARIOS:
            irsa_scenario.mistake(iam, irsa)
        mock_random.seed(POSTURE_RANDOM_SEED)
        posture = seed_cluster_posture(session, acct)
        for cluster_scenario in demo_cluster.SCENARIOS:
            cluster_scenario.mistake(session, posture, SimpleNamespace(acct=acct))
        built = _more_cases(session, acct, irsa.account, irsa.demo_issuer)
        assert tuple(name for name, _ in built) == BUILT
        _kubernetes(kube, irsa.account)
        env.setenv("EKSGUARD_KUBE_ENDPOINTS", kube.endpoints())

        runs: list[GuardRun] = []
        events = [(name, load(name)) for name in RECORDED] + built
        previous = None
        for name, event in events:
            target = iam_app if event["region"] == IAM_REGION else app
            if target is not previous:
                reset_warm()  # another region is another Lambda environment
            previous = target
            for delivery in replay(target, name, event).deliveries:
                assert delivery.invocation.ok, (name, delivery.rule, delivery.invocation.error)
                runs.append(GuardRun(name, event["detail"]["eventName"], delivery.rule.split(".")[0],
                                     delivery.invocation.response))
        reset_warm()
        for n, (cluster, writes) in enumerate(AUDIT_WRITES.items()):
            batch = audit_batch(irsa.account, cluster, writes, 100 * n)
            events.append((f"k8s-audit-{cluster}", batch))
            result = invoke(app, "KubeGuardFunction", batch)
            assert result.ok, result.error
            runs.append(GuardRun(f"k8s-audit-{cluster}", K8_EVENT, "KubeGuardFunction", result.response))

        report = scan(Aws(DEMO_REGION, session), [DEMO_REGION], Config.from_env({}), EksConfig.from_env({}),
                      clock.today())
        _drain(session, DEMO_REGION, queue)  # the guards' alerts: the sweep's are what is compared
        sweep_event = {**load("scheduled-sweep"), "id": "agreement-sweep"}
        swept = invoke(load_app(TEMPLATE, {"Mode": "audit", "DeployIamRules": "always"}, session), "SweepFunction",
                       sweep_event)
        assert swept.ok, swept.error
        alerts = [a for a in _drain(session, DEMO_REGION, queue) if a["rule_id"] != "SWEEP"]
        yield World(irsa.account, report.findings, tuple(alerts), tuple(runs), dict(events))
        reset_warm()
        clients.reset()


def _more_cases(session: boto3.session.Session, acct: Any, account: str, issuer: str
                ) -> list[tuple[str, dict[str, Any]]]:
    """The rules no events/ file records a case of, each made for real, with the event of the call that made it."""
    iam, ec2 = session.client("iam", region_name=IAM_REGION), session.client("ec2")
    provider = f"arn:aws:iam::{account}:oidc-provider/{issuer}"
    out: list[tuple[str, dict[str, Any]]] = []
    # IR-004: `*` inside StringEquals never matches: a broken role.
    star = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {f"{issuer}:aud": "sts.amazonaws.com",
                                       f"{issuer}:sub": "system:serviceaccount:batch:*"}}}]}
    role = iam.create_role(RoleName="demo-batch-jobs", AssumeRolePolicyDocument=json.dumps(star))["Role"]
    out.append(("iam-create-role-batch-star-in-string-equals", create_role_event("ir004", role, star)))
    # IR-007: web identity on the cluster's provider with no condition at all (exempt: a known vendor test).
    bare = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity"}]}
    role = iam.create_role(RoleName="demo-vendor-sandbox", AssumeRolePolicyDocument=json.dumps(bare),
                           Tags=[{"Key": "eksguard:exempt", "Value": "true"}])["Role"]
    out.append(("iam-create-role-vendor-no-condition", create_role_event("ir007", role, bare)))
    # IR-007 on a role that is no IRSA role at all: anyone may assume it.
    anyone = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]}
    role = iam.create_role(RoleName="demo-partner-access", AssumeRolePolicyDocument=json.dumps(anyone))["Role"]
    out.append(("iam-create-role-partner-anyone", create_role_event("ir007-anyone", role, anyone)))
    # Exempt, so that exemption verdicts are compared in every family: the inline * policy's role, a cluster.
    iam.tag_role(RoleName="demo-ci-deployer", Tags=[{"Key": "eksguard:exempt", "Value": "true"}])
    eks = session.client("eks")
    eks.tag_resource(resourceArn=eks.describe_cluster(name="payments")["cluster"]["arn"],
                     tags={"eksguard:exempt": "true"})
    # SG-007: a rule added to the default group of the cluster's VPC.
    default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [acct.vpc_id]},
                                                    {"Name": "group-name", "Values": ["default"]}])
    group_id = default["SecurityGroups"][0]["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/16"}]}])
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group_id]}])
    added = next(r for r in rules["SecurityGroupRules"] if r.get("CidrIpv4") == "10.0.0.0/16")
    out.append(("sg-ingress-default-group-cluster-vpc",
                authorize_ingress_event("sg007", group_id, added["SecurityGroupRuleId"], "10.0.0.0/16", 443)))
    # EK-004 on a template no node group uses yet, carrying the node security group (issue 13, item 2).
    metadata = {"HttpTokens": "optional", "HttpPutResponseHopLimit": 2, "HttpEndpoint": "enabled"}
    template = ec2.create_launch_template(LaunchTemplateName="demo-batch-nodes", LaunchTemplateData={
        "SecurityGroupIds": [acct.node_sg], "InstanceType": "m5.large", "MetadataOptions": metadata})["LaunchTemplate"]
    out.append(("ec2-create-launch-template-unused-node-template",
                create_launch_template_event("ek004", template, acct.node_sg, metadata)))
    return out


# -- the triples ---------------------------------------------------------------------------------------------

def scan_triples(world: World) -> dict[Triple, bool]:
    """Each scan finding's triple, with its exemption verdict."""
    return {(f.rule_id, f.resource_id, f.target_id or ""): f.exempt for f in world.scan}


def reported(entries: Any) -> dict[Triple, bool]:
    """Alerts or guard actions: the finding each names, and the findings folded into it (same resource and
    target: security-group findings on one rule, IRSA findings of one rule on one role), with "exempt"."""
    out: dict[Triple, bool] = {}
    for e in entries:
        for rule_id in (e["rule_id"], *e.get("related_rules", ())):
            out[(rule_id, e["resource_id"], e.get("target_id") or "")] = e["action"] == "exempt"
    return out


def named(runs: list[GuardRun], event: Mapping[str, Any], scanned: Mapping[Triple, bool]) -> set[str]:
    """What an event names, as resource ids findings use: what its guards' responses name (their findings' resources,
    the roles they evaluated, the cluster whose Kubernetes API they read) and every resource of the scan that the
    call's own request or response names (a group id, a cluster, a template id, an instance, a role, a policy)."""
    ids = {a["resource_id"] for r in runs for a in r.response.get("actions", [])}
    ids |= {role for r in runs for role in r.response.get("extra", {}).get("roles", [])}
    known = {t[1] for t in scanned}
    for r in runs:
        if r.function == "KubeGuardFunction":
            cluster = r.response["extra"]["cluster"]
            ids |= {cluster} | {i for i in known if i.startswith(f"{cluster}/")}
    detail = event.get("detail", {})
    return ids | (_tokens([detail.get("requestParameters"), detail.get("responseElements")]) & known)


# Where a security-group call names the source of a rule (another group), not the group it changes.
SOURCES = frozenset({"groups", "referencedGroupInfo", "ReferencedGroupId", "userIdGroupPairs"})


def _tokens(value: Any) -> set[str]:
    """Every string of a CloudTrail request or response, URL-decoded, and the name at the end of an ARN."""
    if isinstance(value, Mapping):
        return {t for k, v in value.items() if k not in SOURCES for t in _tokens(v)}
    if isinstance(value, list):
        return {t for v in value for t in _tokens(v)}
    if not isinstance(value, str):
        return set()
    text = urllib.parse.unquote(value)
    return {text, text.rsplit("/", 1)[-1]}


EVENT_CASES = (*RECORDED, *BUILT, *(f"k8s-audit-{c}" for c in AUDIT_WRITES))


def test_scan_and_audit_sweep_agree_on_the_whole_account(world: World) -> None:
    scanned, swept = scan_triples(world), reported(world.sweep)
    assert sorted(set(scanned) - set(swept)) == [], "found by the scan, not alerted by the sweep"
    assert sorted(set(swept) - set(scanned)) == [], "alerted by the sweep, not found by the scan"
    assert swept == scanned, "exemption verdicts differ"
    # One alert per finding: nothing folded away that the triples above could hide.
    assert len(world.sweep) + sum(len(a.get("related_rules", ())) for a in world.sweep) == len(scanned)
    # IAM is global: its findings once, labelled so, whatever region was scanned.
    regions = {(f.rule_id, f.resource_id, f.target_id or ""): f.region for f in world.scan}
    assert {t for t, r in regions.items() if r == "global"} == {t for t in regions if is_global(t[0])}


@pytest.mark.parametrize("name", EVENT_CASES)
def test_each_guard_agrees_with_the_scan_on_what_its_event_names(world: World, name: str) -> None:
    runs = [r for r in world.guards if r.name == name]
    event = world.events[name]
    if not runs:  # dropped by every pattern: a call that failed, or eksguard's own
        detail = event["detail"]
        own = detail["userIdentity"].get("sessionContext", {}).get("sessionIssuer", {}).get("arn", "")
        assert "errorCode" in detail or ":role/eksguard/" in own, f"{name} reached no guard"
        return
    scanned = scan_triples(world)
    names = named(runs, event, scanned)
    rules = rules_for(runs[0].event_name)
    guard = reported(a for r in runs for a in r.response.get("actions", []))
    scan_part = {t: exempt for t, exempt in scanned.items() if t[1] in names and t[0] in rules}
    assert sorted(set(scan_part) - set(guard)) == [], f"the scan finds it on what {name} names; its guard does not"
    assert sorted(set(guard) - set(scan_part)) == [], f"the guard of {name} finds it; the scan does not"
    assert guard == scan_part, "exemption verdicts differ"


def test_every_rule_has_a_case_and_every_evented_rule_is_caught_by_a_guard(world: World) -> None:
    scanned = scan_triples(world)
    assert {t[0] for t in scanned} == {r.rule_id for r in CATALOG}
    caught = {t[0] for r in world.guards for t in reported(r.response.get("actions", []))}
    assert {r.rule_id for r in CATALOG if r.events} <= caught
    # Exemptions are compared in every family that has them here, not vacuously.
    exempt = {rule(t[0]).family for t, is_exempt in scanned.items() if is_exempt}
    assert exempt == {Family.SECURITY_GROUP, Family.IRSA, Family.IAM, Family.CLUSTER, Family.KUBERNETES}
