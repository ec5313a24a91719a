"""The K8 family end to end on moto and the Kubernetes API stand-in, through the real handlers: the sweep, `eksguard
scan`, KubeGuardFunction on real-shaped CloudWatch Logs subscription batches, and the audit-log subscription the
sweep keeps. The demo account is seeded as `eksguard local up` seeds it (local/seed_kube.py: each K8 case beside
its near miss); the clusters' APIs are served by local/kube_standin.py, which enforces the shipped RBAC manifest."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from moto.moto_api._internal import mock_random
from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.botocore_hooks import record_calls

from eksguard.aws.kube import ENDPOINTS_ENV
from eksguard.aws.logs import FILTER_NAME, FILTER_PATTERN, log_group
from eksguard.cli.main import main
from eksguard.local import audit_log
from eksguard.local.invoke import Invocation, invoke, reset_warm
from eksguard.local.kube_standin import KubeStandin
from eksguard.local.seed import DEMO_CLUSTER, IRSA_RANDOM_SEED, PAYMENTS_CLUSTER, seed_irsa
from eksguard.local.seed_kube import (
    KUBE_RANDOM_SEED,
    aws_auth,
    seed_imds_node_group,
    seed_kube_principals,
    serve_clusters,
)

ACCOUNT = "123456789012"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/"
KARPENTER = ROLE + "KarpenterNodeRole-demo"
ALICE = f"arn:aws:iam::{ACCOUNT}:user/alice"
# Every K8 case the seed carries, as (rule, resource, target); nothing else may be reported.
EXPECTED = {
    ("K8-001", "demo", KARPENTER),
    ("K8-001", "demo", ALICE),
    ("K8-002", "demo", ROLE + "platform-oncall"),
    ("K8-003", "demo/ci-runners", "ci-runners"),
    ("K8-004", "demo/app/worker", ROLE + "demo-aws-node"),
    # payments was recreated: payments-api still trusts the old issuer, so payments/api gets no credentials.
    ("K8-004", "payments/payments/api", ROLE + "payments-api"),
}
# The six reads of aws/kube.py, and no other path.
READ_PATHS = {"/api/v1/namespaces", "/api/v1/namespaces/kube-system/configmaps/aws-auth", "/api/v1/serviceaccounts",
              "/apis/networking.k8s.io/v1/networkpolicies", "/apis/crd.projectcalico.org/v1/globalnetworkpolicies",
              "/apis/crd.projectcalico.org/v1/networkpolicies"}


@dataclass
class K8s:
    account: Account
    kube: KubeStandin
    monkeypatch: pytest.MonkeyPatch

    def sweep(self, event_id: str = "k8-sweep", **overrides: str) -> Invocation:
        event = {**json.loads((EVENTS / "scheduled-sweep.json").read_text()), "id": event_id}
        result = invoke(self.account.app(**overrides), "SweepFunction", event)
        assert result.ok, result.error
        return result

    def guard(self, event: dict[str, Any], **overrides: str) -> Invocation:
        result = invoke(self.account.app(**overrides), "KubeGuardFunction", event)
        assert result.ok, result.error
        return result

    def k8_alerts(self) -> set[tuple[str, str, str]]:
        return {(a["rule_id"], a["resource_id"], a["target_id"]) for a in self.account.alerts()
                if a["rule_id"].startswith("K8")}

    def serve_only(self, *clusters: str) -> None:
        self.monkeypatch.setenv(ENDPOINTS_ENV, json.dumps({c: self.kube.url(c) for c in clusters}))

    def reads(self) -> list[Any]:
        return list(self.kube.requests)


@pytest.fixture
def k8s(account: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[K8s]:
    seed_kube_principals(account.session)
    mock_random.seed(IRSA_RANDOM_SEED)
    seed_irsa(account.session)
    mock_random.seed(KUBE_RANDOM_SEED)
    seed_imds_node_group(account.session, account.acct)
    with KubeStandin() as kube:
        serve_clusters(kube, ACCOUNT, (DEMO_CLUSTER, PAYMENTS_CLUSTER))
        monkeypatch.setenv(ENDPOINTS_ENV, kube.endpoints())
        yield K8s(account, kube, monkeypatch)


def test_the_sweep_reports_every_case_and_no_near_miss(k8s: K8s) -> None:
    result = k8s.sweep()
    assert k8s.k8_alerts() == EXPECTED
    # The near misses, by name: node-role mappings, the allowed and the covered namespaces, aws-node's annotation
    # (demo-app-api's wildcard sub allows it), payments' namespaces (no node lets pods reach IMDS there).
    k8 = {a["rule_id"] + " " + a["resource_id"] for a in result.response["actions"] if a["rule_id"].startswith("K8")}
    assert not {"K8-003 demo/kube-system", "K8-003 demo/app", "K8-003 demo/default", "K8-004 demo/kube-system/aws-node",
                "K8-003 payments/payments"} & k8
    assert result.response["extra"]["by_rule"]["K8-001"] == 2 and "K8-000" not in result.response["extra"]["by_rule"]
    # Alert only: the K8 family never changes anything.
    assert {a["action"] for a in result.response["actions"] if a["rule_id"].startswith("K8")} == {"alert-only"}
    again = k8s.sweep("k8-sweep-2")
    assert again.response["extra"]["new"] == 0 and k8s.k8_alerts() == set()


def test_imds_allowed_namespaces_is_the_parameter(k8s: K8s) -> None:
    k8s.sweep(ImdsAllowedNamespaces="kube-system,amazon-cloudwatch,external-dns,ci-runners")
    assert not {a for a in k8s.k8_alerts() if a[0] == "K8-003"}
    k8s.sweep("k8-sweep-none-allowed", ImdsAllowedNamespaces="")
    # The practice's policy lets exactly its three exceptions (and ci-runners) through: now each is a finding.
    assert {a[1] for a in k8s.k8_alerts() if a[0] == "K8-003"} == {
        f"demo/{n}" for n in ("kube-system", "amazon-cloudwatch", "external-dns", "ci-runners")}


def test_the_sweep_reads_only_with_get(k8s: K8s) -> None:
    k8s.sweep()
    requests = k8s.reads()
    assert {r.cluster for r in requests} == {DEMO_CLUSTER, PAYMENTS_CLUSTER}
    assert {r.method for r in requests} == {"GET"}
    assert {r.path.split("?")[0] for r in requests} == READ_PATHS
    assert all(r.status in (200, 404) for r in requests)  # 404: payments has no aws-auth and no Calico
    assert not any("watch" in r.path or "secrets" in r.path for r in requests)


@pytest.mark.parametrize("how", ["no-endpoint-override", "token-for-another-cluster", "no-access-entry"])
def test_an_unreadable_cluster_is_k8_000_never_clean(k8s: K8s, how: str) -> None:
    if how == "no-endpoint-override":
        k8s.serve_only(DEMO_CLUSTER)  # payments: DescribeCluster's endpoint, whose CA (moto's) is no certificate
        reason = "certificate authority data is not a PEM certificate"
    elif how == "token-for-another-cluster":
        k8s.monkeypatch.setenv(ENDPOINTS_ENV, json.dumps({DEMO_CLUSTER: k8s.kube.url(DEMO_CLUSTER),
                                                          PAYMENTS_CLUSTER: k8s.kube.url(DEMO_CLUSTER)}))
        reason = "401 Unauthorized"
    else:
        k8s.kube.clusters[PAYMENTS_CLUSTER].access_entry = False
        reason = "401 Unauthorized: the API server rejected the token (no access entry"
    k8s.sweep()
    alerts = [a for a in k8s.account.alerts() if a["rule_id"].startswith("K8")]
    payments = [a for a in alerts if a["resource_id"].startswith(PAYMENTS_CLUSTER)]
    assert [(a["rule_id"], a["resource_id"]) for a in payments] == [("K8-000", PAYMENTS_CLUSTER)]
    assert reason in payments[0]["detail"] and "was not evaluated" in payments[0]["detail"]
    # The other cluster is read as before.
    assert {(a["rule_id"], a["resource_id"], a["target_id"]) for a in alerts if a["resource_id"].startswith("demo")} \
        == {e for e in EXPECTED if e[1].startswith("demo")}


def test_a_forbidden_resource_is_named_and_only_its_rules_skip(k8s: K8s) -> None:
    k8s.kube.clusters[DEMO_CLUSTER].forbidden.add("serviceaccounts")
    k8s.sweep()
    demo = {(a["rule_id"], a["resource_id"], a["target_id"]): a for a in k8s.account.alerts()
            if a["rule_id"].startswith("K8") and a["resource_id"].startswith("demo")}
    (gap,) = [a for key, a in demo.items() if key[0] == "K8-000"]
    assert "partly not evaluated" in gap["detail"] and "serviceaccounts: 403 Forbidden" in gap["detail"]
    # K8-004 needs the ServiceAccounts: not evaluated, not "clean"; the rest still is.
    assert {k for k in demo if k[0] != "K8-000"} == {e for e in EXPECTED if e[1].startswith("demo")
                                                     and e[0] != "K8-004"}


def _scan(capsys: pytest.CaptureFixture[str], *flags: str) -> dict[str, Any]:
    assert main(["scan", "--format", "json", "--region", "ap-northeast-2", *flags]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_scan_reports_the_family_and_no_kubernetes_drops_it(k8s: K8s, capsys: pytest.CaptureFixture[str]) -> None:
    report = _scan(capsys)
    found = {(f["rule_id"], f["resource_id"], f["target_id"]) for f in report["findings"] if f["rule_id"][:2] == "K8"}
    assert found == EXPECTED
    assert {f["region"] for f in report["findings"] if f["rule_id"][:2] == "K8"} == {"ap-northeast-2"}
    requests = len(k8s.reads())
    without = _scan(capsys, "--no-kubernetes")
    assert not [f for f in without["findings"] if f["rule_id"].startswith("K8")]
    assert len(k8s.reads()) == requests  # not even read
    # Everything else is the same report.
    assert [f for f in report["findings"] if not f["rule_id"].startswith("K8")] == without["findings"]


# --- the in-cluster event path: KubeGuardFunction on the audit log's subscription batches -----------------


def test_an_aws_auth_patch_re_reads_the_cluster_and_alerts(k8s: K8s) -> None:
    event = json.loads((EVENTS / "k8s-audit-aws-auth-patch.json").read_text())
    result = k8s.guard(event)
    assert result.response["status"] == "processed"
    assert result.response["extra"]["writes"] == ["kubernetes-admin patch configmaps kube-system/aws-auth"]
    assert k8s.k8_alerts() == {e for e in EXPECTED if e[1].startswith("demo")}
    # Re-read: the demo cluster's API was asked, read-only; payments (not named by the log group) was not.
    assert {(r.cluster, r.method) for r in k8s.reads()} == {(DEMO_CLUSTER, "GET")}
    assert {r.path.split("?")[0] for r in k8s.reads()} == READ_PATHS
    redelivered = k8s.guard(event)  # CloudWatch Logs retries: one run per batch
    assert redelivered.response == result.response and k8s.account.alerts() == []


def test_the_log_line_is_never_trusted(k8s: K8s) -> None:
    """The batch says system:masters was added to Karpenter's mapping; the cluster says it was not (put back, or
    never applied): the guard reports the cluster as it is."""
    k8s.kube.clusters[DEMO_CLUSTER].apply(aws_auth(ACCOUNT, karpenter_masters=False))
    k8s.guard(json.loads((EVENTS / "k8s-audit-aws-auth-patch.json").read_text()))
    found = k8s.k8_alerts()
    assert ("K8-001", "demo", ALICE) in found and ("K8-001", "demo", KARPENTER) not in found


def _batch(*events: dict[str, Any], account: str = ACCOUNT, cluster: str = DEMO_CLUSTER) -> dict[str, Any]:
    return audit_log.encode(audit_log.batch(account, cluster, list(events)))


@pytest.mark.parametrize("events", [
    [audit_log.audit_event(ACCOUNT, "get", "configmaps", namespace="kube-system", name="aws-auth")],
    [audit_log.audit_event(ACCOUNT, "list", "serviceaccounts")],
    [audit_log.audit_event(ACCOUNT, "patch", "configmaps", namespace="kube-system", name="aws-auth", code=403,
                           request={"data": {"mapUsers": "[]"}})],
    [audit_log.audit_event(ACCOUNT, "update", "configmaps", namespace="kube-system", name="coredns")],
    [audit_log.audit_event(ACCOUNT, "create", "pods", namespace="app"),
     audit_log.audit_event(ACCOUNT, "delete", "secrets", namespace="app", name="db")],
], ids=["read-aws-auth", "list", "refused-patch", "other-configmap", "other-resources"])
def test_reads_refused_writes_and_other_resources_are_skipped(k8s: K8s, events: list[dict[str, Any]]) -> None:
    result = k8s.guard(_batch(*events))
    assert result.response["status"] == "skipped"
    assert result.response["reason"] == "no write to what the K8 rules read"
    assert k8s.reads() == [] and k8s.account.alerts() == []


@pytest.mark.parametrize(("event", "reason"), [
    ({"awslogs": {"data": "not base64 !"}}, "awslogs.data is not base64 gzip JSON"),
    ({"awslogs": {"data": "aGVsbG8="}}, "awslogs.data is not base64 gzip JSON"),
    ({"detail-type": "Scheduled Event"}, "not a CloudWatch Logs subscription event"),
    (audit_log.encode({"messageType": "CONTROL_MESSAGE", "owner": "CloudwatchLogs", "logGroup": "", "logStream": "",
                       "subscriptionFilters": [], "logEvents": [{"id": "", "timestamp": 0, "message":
                       "CWL CONTROL MESSAGE: Checking health of destination Lambda function."}]}),
     "a CloudWatch Logs control message"),
    (audit_log.encode({**audit_log.batch(ACCOUNT, DEMO_CLUSTER, []), "logGroup": "/aws/lambda/other"}),
     "is not an EKS control-plane log group"),
], ids=["not-base64", "not-gzip", "eventbridge-event", "control-message", "other-log-group"])
def test_a_malformed_payload_is_rejected_and_nothing_is_read(k8s: K8s, event: dict[str, Any], reason: str) -> None:
    reset_warm()  # cold: the call recorder must see the clients being made
    with record_calls() as calls:
        result = k8s.guard(event)
    assert result.response["status"] == "rejected" and reason in result.response["reason"]
    assert [c for c in calls.calls if not c.startswith("dynamodb.")] == []  # only the idempotency record
    assert k8s.reads() == [] and k8s.account.alerts() == []


def test_another_accounts_batch_is_rejected(k8s: K8s) -> None:
    event = _batch(audit_log.aws_auth_patch(ACCOUNT, aws_auth(ACCOUNT, False), aws_auth(ACCOUNT)),
                   account="210987654321")
    result = k8s.guard(event)
    assert result.response["status"] == "rejected" and "210987654321" in result.response["reason"]
    assert k8s.reads() == [] and k8s.account.alerts() == []


# --- the subscription the sweep keeps on every cluster with audit logging ---------------------------------


def _logging(k8s: K8s, cluster: str, *types: str) -> None:
    k8s.account.session.client("eks").update_cluster_config(name=cluster, logging={"clusterLogging": [
        {"types": list(types), "enabled": True}]})


def _filters(k8s: K8s, cluster: str) -> list[dict[str, Any]]:
    logs = k8s.account.session.client("logs")
    return list(logs.describe_subscription_filters(logGroupName=log_group(cluster))["subscriptionFilters"])


def test_the_sweep_subscribes_every_cluster_with_audit_logging(k8s: K8s) -> None:
    _logging(k8s, DEMO_CLUSTER, "api", "audit", "authenticator")
    _logging(k8s, PAYMENTS_CLUSTER, "api")  # a log group, but no audit stream: nothing to subscribe
    first = k8s.sweep()
    assert first.response["extra"]["audit_subscriptions"] == {DEMO_CLUSTER: "subscribed now"}
    app = k8s.account.app()
    guard_arn = f"arn:aws:lambda:ap-northeast-2:{ACCOUNT}:function:KubeGuardFunction"
    assert app.functions["SweepFunction"].environment["EKSGUARD_KUBE_GUARD_ARN"] == guard_arn
    (mine,) = _filters(k8s, DEMO_CLUSTER)
    assert (mine["filterName"], mine["destinationArn"], mine["filterPattern"]) == (FILTER_NAME, guard_arn,
                                                                                   FILTER_PATTERN)
    assert _filters(k8s, PAYMENTS_CLUSTER) == []
    # A cluster whose audit logging is turned on later gets it at the next sweep; the first keeps its one filter.
    _logging(k8s, PAYMENTS_CLUSTER, "audit")
    second = k8s.sweep("k8-sweep-2")
    assert second.response["extra"]["audit_subscriptions"] == {DEMO_CLUSTER: "subscribed",
                                                               PAYMENTS_CLUSTER: "subscribed now"}
    assert len(_filters(k8s, DEMO_CLUSTER)) == 1


def test_a_log_group_at_its_filter_quota_is_reported_and_left_alone(k8s: K8s) -> None:
    _logging(k8s, DEMO_CLUSTER, "audit")
    kinesis, logs = k8s.account.session.client("kinesis"), k8s.account.session.client("logs")
    role = k8s.account.session.client("iam").create_role(RoleName="cwl-to-kinesis", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    for name in ("siem-forwarder", "archive"):
        kinesis.create_stream(StreamName=name, ShardCount=1)
        stream = kinesis.describe_stream(StreamName=name)["StreamDescription"]["StreamARN"]
        logs.put_subscription_filter(logGroupName=log_group(DEMO_CLUSTER), filterName=name, filterPattern="",
                                     destinationArn=stream, roleArn=role)
    result = k8s.sweep()
    assert result.response["extra"]["audit_subscriptions"] == {
        DEMO_CLUSTER: "not subscribed: the log group already has 2 subscription filters (the quota)"}
    assert sorted(f["filterName"] for f in _filters(k8s, DEMO_CLUSTER)) == ["archive", "siem-forwarder"]


def test_no_subscription_without_watch_kubernetes_audit(k8s: K8s) -> None:
    _logging(k8s, DEMO_CLUSTER, "audit")
    result = k8s.sweep(WatchKubernetesAudit="false")
    assert "audit_subscriptions" not in result.response["extra"] and _filters(k8s, DEMO_CLUSTER) == []
    assert k8s.account.app(WatchKubernetesAudit="false").functions["SweepFunction"].environment[
        "EKSGUARD_KUBE_GUARD_ARN"] == ""
