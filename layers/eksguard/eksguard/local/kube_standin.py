"""A loopback Kubernetes API stand-in: one HTTP server per cluster, serving the resources the K8 rules read.

No API server can run here, so this one answers as kube-apiserver would for eksguard's calls: list and get in
the real JSON shapes (``kind: XList``, ``apiVersion``, ``metadata.resourceVersion``, ``limit``/``continue``
paging; typed lists without kind/apiVersion in their items, CRD lists with them), a 401 Status for a bearer
token that is not a well-formed EKS token for that cluster (``aws/kube_token.validate``, signature checked with
the local credentials), RBAC as the manifest eksguard ships grants it (a 403 Status for anything else: Secrets,
every write verb, watch), and a 404 Status for missing objects and for Calico's CRDs when Calico is not installed.
Seed each cluster from Python with the objects as dicts. Serves http:// (EKSGUARD_KUBE_ENDPOINTS skips TLS).
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from eksguard.aws.kube_token import InvalidToken, validate
from eksguard.manifests import READER_GROUP, reader_documents

# (group, version, plural) -> (kind, namespaced, custom resource)
RESOURCES: dict[tuple[str, str, str], tuple[str, bool, bool]] = {
    ("", "v1", "namespaces"): ("Namespace", False, False),
    ("", "v1", "serviceaccounts"): ("ServiceAccount", True, False),
    ("", "v1", "configmaps"): ("ConfigMap", True, False),
    ("", "v1", "secrets"): ("Secret", True, False),
    ("", "v1", "pods"): ("Pod", True, False),
    ("networking.k8s.io", "v1", "networkpolicies"): ("NetworkPolicy", True, False),
    ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"): ("ClusterRoleBinding", False, False),
    ("crd.projectcalico.org", "v1", "globalnetworkpolicies"): ("GlobalNetworkPolicy", False, True),
    ("crd.projectcalico.org", "v1", "networkpolicies"): ("NetworkPolicy", True, True),
}
_BY_KIND = {(g, k): (g, v, p) for (g, v, p), (k, _, _) in RESOURCES.items()}
_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def status(code: int, reason: str, message: str, **details: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure", "message": message,
            "reason": reason, **({"details": details} if details else {}), "code": code}


def env_secret(access_key_id: str) -> str | None:
    """The secret of the local credentials (what moto's STS would check the token's signature with)."""
    return os.environ.get("AWS_SECRET_ACCESS_KEY") if access_key_id == os.environ.get("AWS_ACCESS_KEY_ID") else None


def env_local_hosts() -> tuple[str, ...]:
    """The local STS endpoint (AWS_ENDPOINT_URL[_STS]) tokens are presigned against under `eksguard local`."""
    urls = (os.environ.get("AWS_ENDPOINT_URL_STS"), os.environ.get("AWS_ENDPOINT_URL"))
    return tuple(urlsplit(u).netloc for u in urls if u)


class Rbac:
    """What a group may do under the shipped manifest: ClusterRoles bound cluster-wide, Roles in their namespace."""

    def __init__(self, documents: Iterable[Mapping[str, Any]], group: str = READER_GROUP):
        docs = list(documents)
        roles = {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d for d in docs
                 if d["kind"] in ("Role", "ClusterRole")}
        self.grants: list[tuple[str | None, Mapping[str, Any]]] = []
        for b in (d for d in docs if d["kind"] in ("RoleBinding", "ClusterRoleBinding")):
            if not any(s.get("kind") == "Group" and s.get("name") == group for s in b.get("subjects", [])):
                continue
            ns = b["metadata"].get("namespace") if b["kind"] == "RoleBinding" else None
            ref = b["roleRef"]
            role = roles.get((ref["kind"], ns if ref["kind"] == "Role" else None, ref["name"]))
            for rule in (role or {}).get("rules", []):
                self.grants.append((ns, rule))

    def allows(self, verb: str, group: str, resource: str, namespace: str | None, name: str | None) -> bool:
        return any((scope is None or scope == namespace) and verb in r.get("verbs", ())
                   and group in r.get("apiGroups", ()) and resource in r.get("resources", ())
                   and (not r.get("resourceNames") or name in r["resourceNames"]) for scope, r in self.grants)


@dataclass
class ClusterState:
    """One cluster's objects and behaviour, seeded from Python."""

    name: str
    region: str
    calico: bool = True
    access_entry: bool = True  # False: a valid token of an unmapped principal, which EKS answers 401
    # Resources answered 403 whatever the RBAC says: "plural" (any group) or "plural.group" as kubectl names them.
    forbidden: set[str] = field(default_factory=set)
    objects: dict[tuple[str, str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, *objs: Mapping[str, Any]) -> ClusterState:
        for obj in objs:
            group = obj["apiVersion"].rpartition("/")[0]
            key = _BY_KIND.get((group, obj["kind"]))
            if key is None:
                raise ValueError(f"the stand-in does not serve {obj['apiVersion']} {obj['kind']}")
            stored = json.loads(json.dumps(obj))
            meta = stored.setdefault("metadata", {})
            count = sum(len(v) for v in self.objects.values()) + 1
            meta.setdefault("uid", f"00000000-0000-4000-8000-{count:012d}")
            meta.setdefault("resourceVersion", str(1000 + count))
            meta.setdefault("creationTimestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"))
            self.objects.setdefault(key, []).append(stored)
        return self


class KubeStandin:
    """Per-cluster loopback API servers. ``with KubeStandin() as k: k.cluster("prod", "us-east-1").add(...)``;
    ``k.endpoints()`` is the value of EKSGUARD_KUBE_ENDPOINTS."""

    def __init__(self, secret_for: Callable[[str], str | None] | None = env_secret,
                 local_hosts: Callable[[], Iterable[str]] = env_local_hosts, user: str = "eksguard"):
        self.secret_for, self.local_hosts, self.user = secret_for, local_hosts, user
        self.rbac = Rbac(reader_documents())
        self.clusters: dict[str, ClusterState] = {}
        self._servers: dict[str, ThreadingHTTPServer] = {}

    def cluster(self, name: str, region: str = "us-east-1") -> ClusterState:
        if name not in self.clusters:
            self.clusters[name] = ClusterState(name, region)
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, name))
            server.daemon_threads = True
            threading.Thread(target=server.serve_forever, name=f"kube-standin-{name}", daemon=True).start()
            self._servers[name] = server
        return self.clusters[name]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self._servers[name].server_address[1]}"

    def endpoints(self) -> str:
        return json.dumps({name: self.url(name) for name in self.clusters})

    def close(self) -> None:
        for server in self._servers.values():
            server.shutdown()
            server.server_close()
        self._servers.clear()

    def __enter__(self) -> KubeStandin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- one request ------------------------------------------------------------------------------------------

    def answer(self, name: str, method: str, raw_path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        state = self.clusters[name]
        token = (authorization or "").removeprefix("Bearer ").strip()
        try:
            validate(token, name, now=datetime.now(UTC), region=state.region, local_hosts=tuple(self.local_hosts()),
                     secret_for=self.secret_for)
        except InvalidToken:
            return 401, status(401, "Unauthorized", "Unauthorized")
        if not state.access_entry:
            return 401, status(401, "Unauthorized", "Unauthorized")
        url = urlsplit(raw_path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        route = _route(url.path)
        if route is None:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        group, version, plural, namespace, obj_name = route
        verb = _VERBS.get(method, "get" if obj_name else "list")
        verb = "deletecollection" if verb == "delete" and not obj_name else verb
        verb = "watch" if query.get("watch") in ("true", "1") else verb
        refused = {plural, f"{plural}.{group}".rstrip(".")} & state.forbidden
        if refused or not self.rbac.allows(verb, group, plural, namespace, obj_name):
            scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
            return 403, status(403, "Forbidden", f'{plural}{f" {obj_name!r}" if obj_name else ""} is forbidden: User '
                               f'"{self.user}" cannot {verb} resource "{plural}" in API group "{group}" {scope}',
                               kind=plural, **({"name": obj_name} if obj_name else {}))
        kind, _, crd = RESOURCES[(group, version, plural)]
        if crd and not state.calico:
            return 404, status(404, "NotFound", "the server could not find the requested resource")
        items = [o for o in state.objects.get((group, version, plural), [])
                 if namespace is None or o["metadata"].get("namespace") == namespace]
        api_version = f"{group}/{version}" if group else version
        if obj_name:
            found = next((o for o in items if o["metadata"]["name"] == obj_name), None)
            if found is None:
                return 404, status(404, "NotFound", f'{plural} "{obj_name}" not found', name=obj_name, kind=plural)
            return 200, found
        return 200, _page(items, kind, api_version, crd, query)


def _route(path: str) -> tuple[str, str, str, str | None, str | None] | None:
    parts = [p for p in path.split("/") if p]
    if parts[:1] == ["api"] and len(parts) >= 2:
        group, version, rest = "", parts[1], parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces":
        namespace, rest = rest[1], rest[2:]
    if not 1 <= len(rest) <= 2 or (group, version, rest[0]) not in RESOURCES:
        return None
    return group, version, rest[0], namespace, rest[1] if len(rest) == 2 else None


def _page(items: list[dict[str, Any]], kind: str, api_version: str, crd: bool, query: Mapping[str, str]
          ) -> dict[str, Any]:
    items = sorted(items, key=lambda o: (o["metadata"].get("namespace", ""), o["metadata"]["name"]))
    start = int(query.get("continue") or 0)
    limit = int(query.get("limit") or 0) or len(items)
    page = items[start:start + limit]
    if not crd:  # the API server leaves kind/apiVersion out of a typed list's items
        page = [{k: v for k, v in o.items() if k not in ("kind", "apiVersion")} for o in page]
    meta: dict[str, Any] = {"resourceVersion": str(5000 + len(items))}
    if start + limit < len(items):
        meta["continue"] = str(start + limit)
        meta["remainingItemCount"] = len(items) - start - limit
    return {"kind": f"{kind}List", "apiVersion": api_version, "metadata": meta, "items": page}


def _handler(standin: KubeStandin, name: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            code, body = standin.answer(name, self.command, self.path, self.headers.get("Authorization"))
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and `local up` print their own
            pass

    return Handler
