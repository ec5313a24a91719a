"""The in-cluster guard (KubeGuardFunction) on moto and the Kubernetes API stand-in: a write to aws-auth in the
demo cluster's audit log (as CloudWatch Logs delivers it) re-reads the cluster and alerts K8-001; run as the
template deploys it, then as a role holding only its template policy under moto's IAM enforcement."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from typing import Any

import pytest
from tests.functional.conftest import Account
from tests.support.botocore_hooks import inject, json_error
from tests.support.moto_iam import invoke_enforced
from tests.support.permissions_check import this_test

from eksguard.local.invoke import invoke
from eksguard.local.kube_standin import KubeStandin
from eksguard.local.seed import DEMO_REGION

ACCOUNT = "123456789012"
ADMIN_ROLE = f"arn:aws:iam::{ACCOUNT}:role/contractor"


def _audit_batch(cluster: str) -> dict[str, Any]:
    """A CloudWatch Logs subscription delivery of one audit line: someone patched kube-system/aws-auth."""
    line = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "stage": "ResponseComplete", "verb": "patch",
            "user": {"username": "kubernetes-admin"}, "responseStatus": {"code": 200},
            "objectRef": {"resource": "configmaps", "namespace": "kube-system", "name": "aws-auth",
                          "apiVersion": "v1"}}
    batch = {"messageType": "DATA_MESSAGE", "owner": ACCOUNT, "logGroup": f"/aws/eks/{cluster}/cluster",
             "logStream": "kube-apiserver-audit-0123456789abcdef", "subscriptionFilters": ["eksguard-k8s-audit"],
             "logEvents": [{"id": "38000000000000000000000000000000000000000000000000000001",
                            "timestamp": 1795000000000, "message": json.dumps(line)}]}
    return {"awslogs": {"data": base64.b64encode(gzip.compress(json.dumps(batch).encode())).decode()}}


@pytest.fixture
def kube(account: Account, monkeypatch: pytest.MonkeyPatch) -> Iterator[KubeStandin]:
    with KubeStandin() as standin:
        standin.cluster("demo", DEMO_REGION).add({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
            "data": {"mapRoles": f"- rolearn: {ADMIN_ROLE}\n  username: contractor\n  groups: [system:masters]\n"}})
        monkeypatch.setenv("EKSGUARD_KUBE_ENDPOINTS", standin.endpoints())
        yield standin


def _k8_001(result: Any) -> list[tuple[str, str]]:
    return [(a["rule_id"], a["action"]) for a in result.response["actions"] if a["rule_id"] == "K8-001"]


def test_an_aws_auth_write_is_re_read_and_alerted(account: Account, kube: KubeStandin) -> None:
    result = invoke(account.app(), "KubeGuardFunction", _audit_batch("demo"))
    assert result.ok, result.error
    assert _k8_001(result) == [("K8-001", "alert-only")]
    assert [a["rule_id"] for a in account.alerts() if a["rule_id"] == "K8-001"] == ["K8-001"]
    assert this_test().violations == []


def test_a_failed_run_is_retried_whole(account: Account, kube: KubeStandin) -> None:
    """EKS fails the re-read (5xx, after botocore's retries): the run fails and its idempotency record is
    removed, so CloudWatch Logs' retry of the batch runs again instead of getting the failure back."""
    with inject("eks.DescribeCluster", lambda: json_error("ServerException", 500)):
        failed = invoke(account.app(), "KubeGuardFunction", _audit_batch("demo"))
    assert not failed.ok
    again = invoke(account.app(), "KubeGuardFunction", _audit_batch("demo"))
    assert again.ok, again.error
    assert _k8_001(again) == [("K8-001", "alert-only")]


def test_under_moto_iam_with_exactly_the_template_policy(account: Account, kube: KubeStandin) -> None:
    result = invoke_enforced(account.app(), "KubeGuardFunction", _audit_batch("demo"), account.session)
    assert result.ok, result.error
    assert _k8_001(result) == [("K8-001", "alert-only")]
