"""aws/kube.py against the loopback Kubernetes API stand-in, with a real EKS token signed under moto: what is
read, and every way a read fails (401, 403, refused, timeout, TLS) ending as "unreadable", never as clean."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2
import pytest
from moto import mock_aws

from eksguard.aws import clients, kube
from eksguard.aws.clients import Aws
from eksguard.aws.kube import ClusterEndpoint, read_cluster
from eksguard.aws.kube_token import eks_token
from eksguard.detect.k8s import K8Inputs, detect
from eksguard.local.kube_standin import KubeStandin

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
KARPENTER = f"arn:aws:iam::{ACCOUNT}:role/KarpenterNodeRole-prod"
AWS_NODE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/prod-aws-node"
MAP_ROLES = f"""- rolearn: arn:aws:iam::{ACCOUNT}:role/prod-node-role
  username: system:node:{{{{EC2PrivateDNSName}}}}
  groups:
    - system:bootstrappers
    - system:nodes
- rolearn: {KARPENTER}
  username: system:node:{{{{EC2PrivateDNSName}}}}
  groups:
    - system:bootstrappers
    - system:nodes
    - system:masters
"""


def seed(cluster: Any) -> None:
    cluster.add(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
         "data": {"mapRoles": MAP_ROLES}},
        # Another ConfigMap in kube-system: the Role allows aws-auth only, by name.
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "coredns", "namespace": "kube-system"},
         "data": {"Corefile": ".:53 {}"}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "payments"},
         "data": {"password": "c2VjcmV0"}},
        *({"apiVersion": "v1", "kind": "Namespace",
           "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}}
          for n in ("default", "kube-system", "payments")),
        {"apiVersion": "v1", "kind": "ServiceAccount",
         "metadata": {"name": "aws-node", "namespace": "kube-system",
                      "annotations": {"eks.amazonaws.com/role-arn": AWS_NODE_ROLE}}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": "payments"}},
        {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "egress", "namespace": "payments"},
         "spec": {"podSelector": {}, "policyTypes": ["Egress"],
                  "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}]}},
        {"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy", "metadata": {"name": "allow-all"},
         "spec": {"order": 1, "selector": "all()", "types": ["Egress"], "egress": [{"action": "Allow"}]}},
        {"apiVersion": "crd.projectcalico.org/v1", "kind": "NetworkPolicy",
         "metadata": {"name": "deny-imds", "namespace": "default"},
         "spec": {"order": 0.5, "selector": "all()", "types": ["Egress"],
                  "egress": [{"action": "Deny", "destination": {"nets": ["169.254.169.254/32"]}}]}},
    )


@pytest.fixture
def standin() -> Iterator[KubeStandin]:
    with mock_aws(), KubeStandin() as k:
        clients.reset()
        seed(k.cluster("prod", REGION))
        seed(k.cluster("dev", REGION))
        yield k
    clients.reset()


def read(k: KubeStandin, name: str = "prod", endpoints: dict[str, str] | None = None, **target: Any) -> Any:
    return read_cluster(Aws(REGION), ClusterEndpoint(name, REGION, **{"endpoint": None, **target}),
                        endpoints if endpoints is not None else json.loads(k.endpoints()))


def raw(k: KubeStandin, method: str, path: str, token: str | None = None, name: str = "prod") -> httpx2.Response:
    """One request as a client would send it; ``token=""`` sends no Authorization header."""
    token = eks_token(Aws(REGION), name, REGION) if token is None else token
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx2.request(method, k.url(name) + path, headers=headers, json={} if method != "GET" else None)


def test_reads_the_seeded_cluster(standin: KubeStandin) -> None:
    snap = read(standin)
    assert snap.readable and snap.error is None
    assert [n.name for n in snap.namespaces] == ["default", "kube-system", "payments"]
    assert [(m.name, m.groups[-1]) for m in snap.aws_auth.mappings] == [("prod-node-role", "system:nodes"),
                                                                        ("KarpenterNodeRole-prod", "system:masters")]
    assert [(s.sub, s.role_arn) for s in snap.service_accounts] == [
        ("system:serviceaccount:kube-system:aws-node", AWS_NODE_ROLE), ("system:serviceaccount:payments:default", None)]
    assert [(p.namespace, p.name) for p in snap.network_policies] == [("payments", "egress")]
    assert snap.calico_installed and [(p.name, p.namespace, p.order) for p in snap.calico_policies] == [
        ("allow-all", None, 1.0), ("deny-imds", "default", 0.5)]
    found = detect(snap, K8Inputs(ACCOUNT, node_imds_open=("hop limit 2",)))
    # payments' NetworkPolicy (order 1000 for Calico) comes after the allow-all GlobalNetworkPolicy (order 1).
    assert sorted((f.rule_id, f.target_id) for f in found) == [("K8-001", KARPENTER), ("K8-003", "payments")]


def test_endpoint_from_env_variable(standin: KubeStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(kube.ENDPOINTS_ENV, standin.endpoints())
    snap = read_cluster(Aws(REGION), ClusterEndpoint("prod", REGION, "https://ABCD.gr7.ap-northeast-2.eks.amazonaws.com"))
    assert snap.readable
    monkeypatch.setenv(kube.ENDPOINTS_ENV, "[1, 2]")
    with pytest.raises(ValueError, match="EKSGUARD_KUBE_ENDPOINTS must be a JSON object"):
        read_cluster(Aws(REGION), ClusterEndpoint("prod", REGION, None))


def test_token_for_another_cluster_is_401(standin: KubeStandin) -> None:
    snap = read(standin, "prod", {"prod": standin.url("dev")})  # a prod token sent to dev's API
    assert not snap.readable and snap.error.startswith("401 Unauthorized") and snap.namespaces is None
    assert [f.rule_id for f in detect(snap, K8Inputs(ACCOUNT))] == ["K8-000"]


@pytest.mark.parametrize("token", ["k8s-aws-v1.bm90IGEgdXJs", "not-a-token", ""],
                         ids=["not-a-url", "no-prefix", "none"])
def test_malformed_token_is_401_status(standin: KubeStandin, token: str) -> None:
    response = raw(standin, "GET", "/api/v1/namespaces", token=token)
    assert response.status_code == 401
    assert response.json() == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                               "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_token_signed_with_other_credentials_is_401(standin: KubeStandin) -> None:
    standin.secret_for = lambda key: "not-the-secret"
    assert read(standin).error.startswith("401 Unauthorized")


def test_no_access_entry_is_401(standin: KubeStandin) -> None:
    standin.clusters["prod"].access_entry = False
    assert "no access entry" in read(standin).error


def test_forbidden_resource_is_a_gap_not_clean(standin: KubeStandin) -> None:
    standin.clusters["prod"].forbidden.add("networkpolicies.networking.k8s.io")
    snap = read(standin)
    assert snap.error is None and not snap.readable and snap.network_policies is None
    assert snap.gaps == (("networkpolicies", '403 Forbidden: networkpolicies is forbidden: User "eksguard" cannot '
                          'list resource "networkpolicies" in API group "networking.k8s.io" at the cluster scope'),)
    found = detect(snap, K8Inputs(ACCOUNT, node_imds_open=("hop limit 2",)))
    assert {f.rule_id for f in found} == {"K8-000", "K8-001"}  # K8-003 not evaluated without the policies


def test_connection_refused_is_unreadable(standin: KubeStandin) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # bound, not listening: refused
        snap = read(standin, endpoints={"prod": f"http://127.0.0.1:{port}"})
    assert snap.error.startswith("endpoint unreachable reading namespaces") and "refused" in snap.error


def test_timeout_is_unreadable(standin: KubeStandin, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kube, "TIMEOUT", httpx2.Timeout(0.3))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)  # accepts the connection into the backlog, never answers
        snap = read(standin, endpoints={"prod": f"http://127.0.0.1:{s.getsockname()[1]}"})
    assert snap.error.startswith("endpoint timed out")


def test_not_a_kubernetes_api_is_unreadable(standin: KubeStandin) -> None:
    class Gateway(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(502)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(b"<html>502 Bad Gateway</html>")

        def log_message(self, *args: Any) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Gateway) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        snap = read(standin, endpoints={"prod": f"http://127.0.0.1:{server.server_address[1]}"})
        server.shutdown()
    assert snap.error == ("the endpoint answered namespaces with HTTP 502 and no Kubernetes Status: not a Kubernetes "
                          "API server")


def test_tls_without_or_with_a_wrong_ca_is_unreadable(standin: KubeStandin) -> None:
    https = {"prod": standin.url("prod").replace("http://", "https://")}
    assert "no certificate authority" in read(standin, endpoints=https).error
    assert "not a PEM certificate" in read(standin, endpoints=https, ca_data="bm90IGEgY2VydA==").error
    assert read(standin, endpoints=https, ca_data=_self_signed_ca()).error.startswith("endpoint unreachable")


def test_calico_not_installed_is_fine(standin: KubeStandin) -> None:
    standin.clusters["prod"].calico = False
    snap = read(standin)
    assert snap.readable and snap.calico_installed is False and snap.calico_policies == ()


def test_aws_auth_absent_is_fine(standin: KubeStandin) -> None:
    state = standin.clusters["prod"]
    state.objects[("", "v1", "configmaps")] = []
    snap = read(standin)
    assert snap.readable and snap.aws_auth is not None and not snap.aws_auth.present


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/v1/secrets"),
    ("GET", "/api/v1/namespaces/payments/secrets/db"),
    ("GET", "/api/v1/namespaces/kube-system/configmaps"),
    ("GET", "/api/v1/namespaces/kube-system/configmaps/coredns"),
    ("GET", "/api/v1/namespaces?watch=true"),
    ("POST", "/api/v1/namespaces/kube-system/configmaps"),
    ("PUT", "/api/v1/namespaces/kube-system/configmaps/aws-auth"),
    ("PATCH", "/api/v1/namespaces/kube-system/configmaps/aws-auth"),
    ("DELETE", "/apis/networking.k8s.io/v1/namespaces/payments/networkpolicies/egress"),
    ("GET", "/api/v1/pods"),
])
def test_what_the_cluster_role_does_not_allow_is_403(standin: KubeStandin, method: str, path: str) -> None:
    response = raw(standin, method, path)
    assert response.status_code == 403
    body = response.json()
    assert (body["kind"], body["reason"], body["code"]) == ("Status", "Forbidden", 403)


def test_list_and_get_shapes(standin: KubeStandin) -> None:
    page = raw(standin, "GET", "/api/v1/serviceaccounts?limit=1").json()
    assert (page["kind"], page["apiVersion"], page["metadata"]["continue"]) == ("ServiceAccountList", "v1", "1")
    assert "kind" not in page["items"][0] and page["items"][0]["metadata"]["resourceVersion"]
    rest = raw(standin, "GET", "/api/v1/serviceaccounts?limit=1&continue=1").json()
    assert [i["metadata"]["name"] for i in rest["items"]] == ["default"] and "continue" not in rest["metadata"]
    gnps = raw(standin, "GET", "/apis/crd.projectcalico.org/v1/globalnetworkpolicies").json()
    assert gnps["kind"] == "GlobalNetworkPolicyList" and gnps["items"][0]["kind"] == "GlobalNetworkPolicy"
    cm = raw(standin, "GET", "/api/v1/namespaces/kube-system/configmaps/aws-auth").json()
    assert (cm["kind"], cm["metadata"]["name"]) == ("ConfigMap", "aws-auth")
    standin.clusters["prod"].calico = False
    missing = raw(standin, "GET", "/apis/crd.projectcalico.org/v1/globalnetworkpolicies")
    assert missing.status_code == 404 and missing.json()["reason"] == "NotFound"


def _self_signed_ca() -> str:
    """A CA certificate (base64 PEM, as DescribeCluster gives it) that the plain-http stand-in cannot match."""
    import base64
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kubernetes")])
    start = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(start).not_valid_after(start + datetime.timedelta(days=36500))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True).sign(key, hashes.SHA256()))
    return base64.b64encode(cert.public_bytes(serialization.Encoding.PEM)).decode()
