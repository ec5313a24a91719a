"""The in-cluster event path: a CloudWatch Logs subscription delivers the control-plane audit log of a cluster
(``/aws/eks/<cluster>/cluster``, streams ``kube-apiserver-audit-*``). Only *where* to look is taken from it: which
cluster, and that someone wrote aws-auth, a NetworkPolicy, a Calico policy, a ServiceAccount or a Namespace. The
guard re-reads the cluster; the log line's object is never trusted."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from eksguard.parse.envelope import EventError

LOG_GROUP = re.compile(r"^/aws/eks/([0-9A-Za-z][A-Za-z0-9_-]{0,99})/cluster$")
WRITE_VERBS = frozenset({"create", "update", "patch", "delete", "deletecollection"})
# (API group, resource) the K8 rules read; aws-auth only among ConfigMaps.
WATCHED = frozenset({("", "configmaps"), ("", "serviceaccounts"), ("", "namespaces"),
                     ("networking.k8s.io", "networkpolicies"), ("crd.projectcalico.org", "networkpolicies"),
                     ("crd.projectcalico.org", "globalnetworkpolicies")})
MAX_DECODED = 2 * 1024 * 1024  # a subscription batch is at most 1 MB compressed-and-encoded; refuse a bomb


@dataclass(frozen=True)
class KubeWrite:
    verb: str
    resource: str
    namespace: str | None
    name: str | None
    user: str

    def describe(self) -> str:
        where = "/".join(p for p in (self.namespace, self.name) if p)
        return f"{self.user} {self.verb} {self.resource}{' ' + where if where else ''}"


@dataclass(frozen=True)
class AuditBatch:
    cluster: str
    account: str
    log_group: str
    first_event_id: str
    writes: tuple[KubeWrite, ...]  # the writes to what the K8 rules read; empty: nothing to re-check


def parse_audit_batch(raw: object) -> AuditBatch:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("awslogs"), Mapping):
        raise EventError("not a CloudWatch Logs subscription event (no awslogs object)")
    data = raw["awslogs"].get("data")
    if not isinstance(data, str):
        raise EventError("awslogs.data must be a base64 string")
    try:
        packed = base64.b64decode(data, validate=True)
        text = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS).decompress(packed, MAX_DECODED)
        batch = json.loads(text)
    except (binascii.Error, zlib.error, gzip.BadGzipFile, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EventError(f"awslogs.data is not base64 gzip JSON: {exc}") from None
    if not isinstance(batch, Mapping):
        raise EventError("the decoded log batch must be an object")
    if batch.get("messageType") == "CONTROL_MESSAGE":
        raise EventError("a CloudWatch Logs control message (the subscription's own check), not audit events")
    group = batch.get("logGroup")
    match = LOG_GROUP.match(group) if isinstance(group, str) else None
    if match is None:
        raise EventError(f"log group {group!r} is not an EKS control-plane log group (/aws/eks/<cluster>/cluster)")
    owner = batch.get("owner")
    if not isinstance(owner, str) or not re.fullmatch(r"[0-9]{12}", owner):
        raise EventError(f"owner {owner!r} is not an AWS account id")
    events = batch.get("logEvents")
    if not isinstance(events, list) or not events:
        raise EventError("logEvents must be a non-empty list")
    writes = tuple(w for e in events if (w := _write(e)) is not None)
    first = events[0].get("id") if isinstance(events[0], Mapping) else None
    return AuditBatch(match.group(1), owner, str(group), str(first or ""), writes)


def _write(entry: Any) -> KubeWrite | None:
    """The watched write an audit log line records, or None (a read, another resource, a refused request)."""
    if not isinstance(entry, Mapping) or not isinstance(entry.get("message"), str):
        return None
    try:
        event = json.loads(entry["message"])
    except json.JSONDecodeError:
        return None  # not an audit event line (the stream also carries other control-plane lines)
    if not isinstance(event, Mapping) or event.get("kind") != "Event" or event.get("stage") != "ResponseComplete":
        return None
    ref, status = event.get("objectRef"), event.get("responseStatus") or {}
    verb = event.get("verb")
    if not isinstance(ref, Mapping) or verb not in WRITE_VERBS or not isinstance(status, Mapping):
        return None
    if isinstance(status.get("code"), int) and status["code"] >= 400:
        return None  # refused: nothing changed
    key = (str(ref.get("apiGroup") or ""), str(ref.get("resource") or ""))
    if key not in WATCHED or (key[1] == "configmaps" and (ref.get("namespace"), ref.get("name")) !=
                              ("kube-system", "aws-auth")):
        return None
    user = (event.get("user") or {}).get("username") if isinstance(event.get("user"), Mapping) else None
    return KubeWrite(str(verb), key[1] if not key[0] else f"{key[1]}.{key[0]}", _opt(ref.get("namespace")),
                     _opt(ref.get("name")), str(user or "?"))


def _opt(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
