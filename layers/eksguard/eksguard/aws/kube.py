"""Read-only reads of one cluster's Kubernetes API (DESIGN section 9), through lightkube.

Exactly these calls, and no other: GET ConfigMap kube-system/aws-auth; LIST Namespaces, ServiceAccounts (all
namespaces), networking.k8s.io/v1 NetworkPolicies, and Calico's crd.projectcalico.org/v1 GlobalNetworkPolicies
and NetworkPolicies (a 404 there means Calico is not installed). Never Secrets, never a write.

The endpoint and CA come from DescribeCluster; ``EKSGUARD_KUBE_ENDPOINTS`` (JSON: cluster name -> base URL,
``http://`` skips TLS) overrides the endpoint for the local stand-in. Whatever stops the read (401, connection
refused, timeout, TLS) makes the snapshot unreadable with the reason (K8-000); a 403 or a server error on one
resource leaves that resource unread, named in ``gaps``. Never an empty, clean-looking snapshot.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx2
import msgspec
from lightkube import ApiError, Client, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.generic_resource import create_global_resource, create_namespaced_resource

from eksguard.aws.clients import Aws
from eksguard.aws.kube_token import InvalidToken, eks_token
from eksguard.snapshot.k8s import ClusterK8sSnapshot
from eksguard.snapshot.k8s_api import (
    aws_auth_from_api,
    calico_policy_from_api,
    namespace_from_api,
    network_policy_from_api,
    service_account_from_api,
)

ENDPOINTS_ENV = "EKSGUARD_KUBE_ENDPOINTS"
# Short: a Lambda reads many clusters inside its time limit, and an unreachable one must not eat it.
TIMEOUT = httpx2.Timeout(5.0, connect=3.0)
PAGE = 500  # list in pages (limit/continue), as kubectl does, so big clusters stay light on the API server


class Unreadable(Exception):
    """Nothing more can be read from this cluster: the reason is K8-000's."""


@dataclass(frozen=True)
class ClusterEndpoint:
    """What DescribeCluster says about reaching the API: ``endpoint`` and ``certificateAuthority.data``."""

    name: str
    region: str
    endpoint: str | None
    ca_data: str | None = None


def endpoint_overrides(raw: str | None) -> dict[str, str]:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{ENDPOINTS_ENV} is not JSON: {exc}") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError(f"{ENDPOINTS_ENV} must be a JSON object of cluster name -> base URL")
    return value


@cache
def _kinds() -> dict[str, Any]:
    """lightkube's generic (plain dict) resources; created on first use, not at import."""
    return {
        "configmaps": create_namespaced_resource("", "v1", "ConfigMap", "configmaps"),
        "namespaces": create_global_resource("", "v1", "Namespace", "namespaces"),
        "serviceaccounts": create_namespaced_resource("", "v1", "ServiceAccount", "serviceaccounts"),
        "networkpolicies": create_namespaced_resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies"),
        "globalnetworkpolicies": create_global_resource("crd.projectcalico.org", "v1", "GlobalNetworkPolicy",
                                                        "globalnetworkpolicies"),
        "networkpolicies.crd.projectcalico.org": create_namespaced_resource(
            "crd.projectcalico.org", "v1", "NetworkPolicy", "networkpolicies"),
    }


def _transport(url: str, ca_data: str | None) -> httpx2.HTTPTransport:
    if url.startswith("http://"):
        return httpx2.HTTPTransport(verify=False, trust_env=False, retries=0)
    if not ca_data:
        raise Unreadable("DescribeCluster returned no certificate authority: the endpoint cannot be verified")
    try:
        pem = base64.b64decode(ca_data, validate=True).decode()
        context = ssl.create_default_context(cadata=pem)
    except (binascii.Error, UnicodeDecodeError, ssl.SSLError) as exc:
        raise Unreadable(f"the cluster's certificate authority data is not a PEM certificate ({exc})") from None
    return httpx2.HTTPTransport(verify=context, trust_env=False, retries=0)


def _client(aws: Aws, target: ClusterEndpoint, url: str) -> Client:
    try:
        token = eks_token(aws, target.name, target.region)
    except InvalidToken as exc:
        raise Unreadable(str(exc)) from None
    config = KubeConfig.from_one(cluster=Cluster(server=url), user=User(token=token))
    return Client(config, timeout=TIMEOUT, trust_env=False, transport=_transport(url, target.ca_data))


def _call(fn: Callable[[], Any], resource: str) -> Any:
    """Run one read; a failure that ends the whole read raises Unreadable, others come back as ApiError."""
    try:
        return fn()
    except httpx2.TimeoutException as exc:
        raise Unreadable(f"endpoint timed out ({type(exc).__name__}) reading {resource}") from None
    except httpx2.TransportError as exc:  # connection refused, DNS, TLS verification
        raise Unreadable(f"endpoint unreachable reading {resource}: {exc}") from None
    except ApiError as exc:
        if exc.status.code == 401:
            raise Unreadable("401 Unauthorized: the API server rejected the token (no access entry or aws-auth "
                             "mapping for the reading role?)") from None
        raise
    except httpx2.HTTPStatusError as exc:  # an error without a Kubernetes Status: a proxy's or balancer's page
        raise Unreadable(f"the endpoint answered {resource} with HTTP {exc.response.status_code} and no "
                         "Kubernetes Status: not a Kubernetes API server") from None
    except (msgspec.DecodeError, json.JSONDecodeError) as exc:
        raise Unreadable(f"the endpoint's answer to {resource} is not Kubernetes JSON ({exc})") from None


def _why(exc: ApiError) -> str:
    return f"{exc.status.code} {exc.status.reason}: {exc.status.message}"


def read_cluster(aws: Aws, target: ClusterEndpoint, endpoints: Mapping[str, str] | None = None) -> ClusterK8sSnapshot:
    """Everything the K8 rules read from ``target``; unreadable (with the reason) rather than empty."""
    overrides = endpoint_overrides(os.environ.get(ENDPOINTS_ENV)) if endpoints is None else endpoints
    url = overrides.get(target.name) or target.endpoint
    if not url:
        return ClusterK8sSnapshot.unreadable(target.name, target.region, "DescribeCluster returned no endpoint")
    try:
        client = _client(aws, target, url)
        try:
            return _read(client, target)
        finally:
            client.close()
    except Unreadable as exc:
        return ClusterK8sSnapshot.unreadable(target.name, target.region, str(exc))


def _read(client: Client, target: ClusterEndpoint) -> ClusterK8sSnapshot:
    kinds, gaps = _kinds(), []
    out: dict[str, Any] = {}

    def listed(key: str, parse: Callable[[Any], Any], **kw: Any) -> tuple[Any, ...] | None:
        try:
            items = _call(lambda: list(client.list(kinds[key], chunk_size=PAGE, **kw)), key)
            return tuple(parse(dict(i)) for i in items)
        except ApiError as exc:
            gaps.append((key, _why(exc)))
        except ValueError as exc:
            gaps.append((key, f"malformed object: {exc}"))
        return None

    out["namespaces"] = listed("namespaces", namespace_from_api)
    try:
        aws_auth = _call(lambda: client.get(kinds["configmaps"], "aws-auth", namespace="kube-system"), "aws-auth")
        out["aws_auth"] = aws_auth_from_api(dict(aws_auth))
    except ApiError as exc:
        if exc.status.code == 404:
            out["aws_auth"] = aws_auth_from_api(None)
        else:
            gaps.append(("configmaps/kube-system/aws-auth", _why(exc)))
    out["service_accounts"] = listed("serviceaccounts", service_account_from_api, namespace="*")
    out["network_policies"] = listed("networkpolicies", network_policy_from_api, namespace="*")
    try:
        globals_ = [dict(i) for i in _call(lambda: list(client.list(kinds["globalnetworkpolicies"], chunk_size=PAGE)),
                                           "globalnetworkpolicies")]
        out["calico_installed"] = True
        namespaced = listed("networkpolicies.crd.projectcalico.org", lambda o: calico_policy_from_api(o, True),
                            namespace="*")
        if namespaced is not None:
            out["calico_policies"] = tuple(calico_policy_from_api(o, False) for o in globals_) + namespaced
    except ApiError as exc:
        if exc.status.code == 404:  # the CRD does not exist: Calico is not installed, nothing to read
            out["calico_installed"], out["calico_policies"] = False, ()
        else:
            gaps.append(("globalnetworkpolicies.crd.projectcalico.org", _why(exc)))
    except ValueError as exc:
        gaps.append(("globalnetworkpolicies.crd.projectcalico.org", f"malformed object: {exc}"))
    return ClusterK8sSnapshot(target.name, target.region, gaps=tuple(gaps), **out)
