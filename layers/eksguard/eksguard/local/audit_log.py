"""What a CloudWatch Logs subscription delivers from an EKS control-plane audit log, built in the real shapes: the
Lambda event ``{"awslogs": {"data": base64(gzip(batch JSON))}}``; the batch (``messageType`` DATA_MESSAGE,
``owner``, ``logGroup`` /aws/eks/<cluster>/cluster, ``logStream`` kube-apiserver-audit-..., ``subscriptionFilters``,
``logEvents`` of ``id``/``timestamp``/``message``); each message one kube-apiserver ``audit.k8s.io/v1`` Event as
EKS writes it (the aws-iam-authenticator's ``user.extra``, RequestResponse bodies for aws-auth writes).

``events/k8s-audit-aws-auth-patch.json`` is ``aws_auth_patch_event("123456789012")``; the demo and the tests build
their batches here too (reads, refused writes, other resources), so every one has the shape CloudWatch Logs gives."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from eksguard.aws.logs import FILTER_NAME, log_group
from eksguard.local.seed_kube import aws_auth

AT = datetime(2026, 11, 20, 9, 10, 0, tzinfo=UTC)  # when the demo's kubectl edit happens (the events/ files' day)
ACTOR_ROLE = "PlatformAdmin"
ACTOR_SESSION = "jane@example.com"
KUBECTL = "kubectl/v1.31.2 (linux/amd64) kubernetes/5864a46"


def _stamp(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _digits(seed: str, n: int) -> str:
    return str(int(hashlib.sha256(seed.encode()).hexdigest(), 16))[:n].rjust(n, "0")


def _hex(seed: str, n: int) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()[:n]


def iam_user(account: str) -> dict[str, Any]:
    """The audit log's ``user`` of someone in the cluster creator's role (CONFIG_MAP clusters map it to
    kubernetes-admin in system:masters), as aws-iam-authenticator fills it."""
    principal = "AROA" + _hex(account + ACTOR_ROLE, 17).upper()
    return {"username": "kubernetes-admin", "uid": f"aws-iam-authenticator:{account}:{principal}",
            "groups": ["system:masters", "system:authenticated"],
            "extra": {"accessKeyId": ["ASIA" + _hex(account + ACTOR_SESSION, 16).upper()],
                      "arn": [f"arn:aws:sts::{account}:assumed-role/{ACTOR_ROLE}/{ACTOR_SESSION}"],
                      "canonicalArn": [f"arn:aws:iam::{account}:role/{ACTOR_ROLE}"],
                      "principalId": [principal], "sessionName": [ACTOR_SESSION]}}


def audit_event(account: str, verb: str, resource: str, *, namespace: str | None = None, name: str | None = None,
                api_group: str = "", code: int = 200, at: datetime = AT, request: Any = None, response: Any = None,
                query: str = "") -> dict[str, Any]:
    """One kube-apiserver audit Event at stage ResponseComplete. A refused request (``code`` >= 400) carries the
    Status the API server answered and the authorizer's decision."""
    version = "v1"
    base = f"/apis/{api_group}/{version}" if api_group else f"/api/{version}"
    path = base + (f"/namespaces/{namespace}" if namespace else "") + f"/{resource}" + (f"/{name}" if name else "")
    ref: dict[str, Any] = {"resource": resource, **({"namespace": namespace} if namespace else {}),
                           **({"name": name} if name else {}), **({"apiGroup": api_group} if api_group else {}),
                           "apiVersion": version}
    status: dict[str, Any] = {"metadata": {}, "code": code}
    if code >= 400:
        status.update(status="Failure", reason="Forbidden" if code == 403 else "Invalid",
                      message=f'{resource} "{name}" is forbidden' if code == 403 else "refused")
    audit_id = "-".join(_hex(f"{verb}{path}{at}{code}", 32)[i:j] for i, j in ((0, 8), (8, 12), (12, 16),
                                                                               (16, 20), (20, 32)))
    event: dict[str, Any] = {
        "kind": "Event", "apiVersion": "audit.k8s.io/v1",
        "level": "RequestResponse" if request is not None or response is not None else "Metadata",
        "auditID": audit_id, "stage": "ResponseComplete", "requestURI": path + (f"?{query}" if query else ""),
        "verb": verb, "user": iam_user(account), "sourceIPs": ["203.0.113.10"], "userAgent": KUBECTL,
        "objectRef": ref, "responseStatus": status,
    }
    if request is not None:
        event["requestObject"] = request
    if response is not None and code < 400:
        event["responseObject"] = response
    event["requestReceivedTimestamp"] = _stamp(at)
    event["stageTimestamp"] = _stamp(at + timedelta(milliseconds=12))
    allowed = code != 403
    event["annotations"] = {"authorization.k8s.io/decision": "allow" if allowed else "forbid",
                            "authorization.k8s.io/reason": 'RBAC: allowed by ClusterRoleBinding "cluster-admin" of '
                            'ClusterRole "cluster-admin" to Group "system:masters"' if allowed else ""}
    return event


def batch(account: str, cluster: str, events: Sequence[Mapping[str, Any]], at: datetime = AT) -> dict[str, Any]:
    """The decoded subscription batch: one log event per audit Event, one line of JSON each."""
    stream = f"kube-apiserver-audit-{_hex(cluster + account, 32)}"
    log_events = []
    for i, event in enumerate(events):
        ms = int((at + timedelta(milliseconds=12 + i)).timestamp() * 1000)
        log_events.append({"id": _digits(f"{stream}{ms}{i}", 56), "timestamp": ms,
                           "message": json.dumps(event, separators=(",", ":"))})
    return {"messageType": "DATA_MESSAGE", "owner": account, "logGroup": log_group(cluster), "logStream": stream,
            "subscriptionFilters": [FILTER_NAME], "logEvents": log_events}


def encode(decoded: Mapping[str, Any]) -> dict[str, Any]:
    """The Lambda event CloudWatch Logs delivers: the batch gzipped (mtime 0: the same bytes each time), base64."""
    data = gzip.compress(json.dumps(decoded, separators=(",", ":")).encode(), mtime=0)
    return {"awslogs": {"data": base64.b64encode(data).decode()}}


def decode(event: Mapping[str, Any]) -> dict[str, Any]:
    return dict(json.loads(gzip.decompress(base64.b64decode(event["awslogs"]["data"]))))


def aws_auth_patch(account: str, before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """``kubectl edit configmap aws-auth -n kube-system`` as the audit log records it: a strategic-merge patch of
    the changed keys, the whole ConfigMap after it in the response (EKS logs aws-auth writes at RequestResponse)."""
    changed = {k: v for k, v in after["data"].items() if before["data"].get(k) != v}
    return audit_event(account, "patch", "configmaps", namespace="kube-system", name="aws-auth",
                       request={"data": changed}, response=after, query="fieldManager=kubectl-edit")


def aws_auth_patch_event(account: str, cluster: str = "demo") -> dict[str, Any]:
    """events/k8s-audit-aws-auth-patch.json: system:masters added to the Karpenter node role's aws-auth mapping."""
    before, after = aws_auth(account, karpenter_masters=False), aws_auth(account, karpenter_masters=True)
    after["metadata"].update(uid="9c1f4e2a-6b3d-4c5e-8f7a-1b2c3d4e5f60", resourceVersion="48213",
                             creationTimestamp="2026-03-02T07:41:19Z")
    return encode(batch(account, cluster, [aws_auth_patch(account, before, after)]))
