"""The Kubernetes RBAC manifest eksguard ships (eksguard/manifests/eksguard-reader.yaml): read-only, never
Secrets, aws-auth by name only, and exactly the calls aws/kube.py makes (checked with the stand-in's RBAC)."""

from __future__ import annotations

import pytest

from eksguard.local.kube_standin import Rbac
from eksguard.manifests import READER_GROUP, reader_documents, reader_manifest

READ_VERBS = {"get", "list"}


def rules() -> list[tuple[str, dict]]:
    return [(d["kind"], r) for d in reader_documents() if d["kind"] in ("Role", "ClusterRole") for r in d["rules"]]


def test_manifest_parses_into_the_four_objects() -> None:
    docs = reader_documents()
    assert [(d["kind"], d["metadata"].get("namespace")) for d in docs] == [
        ("ClusterRole", None), ("ClusterRoleBinding", None), ("Role", "kube-system"), ("RoleBinding", "kube-system")]
    assert all(d["apiVersion"] == "rbac.authorization.k8s.io/v1" for d in docs)
    for binding in (d for d in docs if d["kind"].endswith("Binding")):
        assert binding["subjects"] == [{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": READER_GROUP}]
    assert "create-access-entry" in reader_manifest()


def test_no_write_verb_no_secret_no_wildcard() -> None:
    for kind, rule in rules():
        assert set(rule["verbs"]) <= READ_VERBS, (kind, rule)
        assert "secrets" not in rule["resources"]
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]


def test_configmaps_only_aws_auth_in_kube_system() -> None:
    for kind, rule in rules():
        if "configmaps" in rule["resources"]:
            assert (kind, rule["resourceNames"], rule["verbs"]) == ("Role", ["aws-auth"], ["get"])


@pytest.mark.parametrize(("call", "allowed"), [
    (("get", "", "configmaps", "kube-system", "aws-auth"), True),
    (("list", "", "namespaces", None, None), True),
    (("list", "", "serviceaccounts", None, None), True),
    (("list", "networking.k8s.io", "networkpolicies", None, None), True),
    (("list", "crd.projectcalico.org", "globalnetworkpolicies", None, None), True),
    (("list", "crd.projectcalico.org", "networkpolicies", None, None), True),
    (("get", "", "configmaps", "kube-system", "coredns"), False),
    (("get", "", "configmaps", "default", "aws-auth"), False),
    (("list", "", "configmaps", "kube-system", None), False),
    (("list", "", "secrets", None, None), False),
    (("get", "", "secrets", "kube-system", "aws-auth"), False),
    (("watch", "", "serviceaccounts", None, None), False),
    (("update", "", "configmaps", "kube-system", "aws-auth"), False),
    (("create", "networking.k8s.io", "networkpolicies", "default", None), False),
    (("list", "", "pods", None, None), False),
])
def test_exactly_the_reads_eksguard_makes(call: tuple, allowed: bool) -> None:
    assert Rbac(reader_documents()).allows(*call) is allowed
    assert Rbac(reader_documents(), group="someone-else").allows(*call) is False
