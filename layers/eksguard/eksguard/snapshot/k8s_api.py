"""The Kubernetes API's JSON -> the frozen values of ``snapshot.k8s``: one parser for the reader (``aws.kube``)
and the tests.

Its own module because parsing aws-auth needs PyYAML, which ships in the KubernetesLayer beside lightkube: only
the functions that read a cluster import this (tests/unit/test_layer.py checks it against template.yaml).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from eksguard.snapshot.k8s import (
    ROLE_ARN_ANNOTATION,
    AwsAuth,
    AwsAuthMapping,
    CalicoPolicy,
    CalicoRule,
    Namespace,
    NetworkPolicy,
    ServiceAccount,
)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = obj.get("metadata")
    if not isinstance(meta, Mapping) or not isinstance(meta.get("name"), str):
        raise ValueError(f"object without metadata.name: {str(obj)[:120]}")
    return meta


def aws_auth_from_api(configmap: Mapping[str, Any] | None) -> AwsAuth:
    if configmap is None:
        return AwsAuth(present=False)
    data = configmap.get("data") or {}
    mappings: list[AwsAuthMapping] = []
    errors: list[str] = []
    for key, kind, arn_key in (("mapRoles", "role", "rolearn"), ("mapUsers", "user", "userarn")):
        raw = data.get(key)
        if raw is None or (isinstance(raw, str) and raw.strip() == ""):
            continue
        if not isinstance(raw, str):
            errors.append(f"{key} is not a string: its mappings were not evaluated")
            continue
        try:
            entries = yaml.safe_load(raw)
        except yaml.YAMLError as exc:
            errors.append(f"{key} is not valid YAML ({str(exc).splitlines()[0]}): its mappings were not evaluated")
            continue
        if not isinstance(entries, list):
            errors.append(f"{key} is not a YAML list: its mappings were not evaluated")
            continue
        for i, entry in enumerate(entries):
            arn = entry.get(arn_key) if isinstance(entry, dict) else None
            groups = entry.get("groups", []) if isinstance(entry, dict) else None
            if not isinstance(arn, str) or not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
                errors.append(f"{key}[{i}] has no {arn_key} string or a malformed groups list")
                continue
            mappings.append(AwsAuthMapping(kind, arn.strip(), str(entry.get("username", "")), tuple(groups)))
    return AwsAuth(True, tuple(mappings), tuple(errors))


def namespace_from_api(obj: Mapping[str, Any]) -> Namespace:
    meta = _meta(obj)
    return Namespace(meta["name"], dict(meta.get("labels") or {}))


def service_account_from_api(obj: Mapping[str, Any]) -> ServiceAccount:
    meta = _meta(obj)
    role = (meta.get("annotations") or {}).get(ROLE_ARN_ANNOTATION)
    return ServiceAccount(str(meta.get("namespace", "")), meta["name"], role.strip() if isinstance(role, str) else None)


def network_policy_from_api(obj: Mapping[str, Any]) -> NetworkPolicy:
    meta = _meta(obj)
    return NetworkPolicy(str(meta.get("namespace", "")), meta["name"], dict(obj.get("spec") or {}))


def calico_rule_from_api(raw: Mapping[str, Any]) -> CalicoRule:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("action"), str):
        raise ValueError(f"Calico rule without an action: {str(raw)[:120]}")
    return CalicoRule(raw["action"], raw.get("protocol"), raw.get("source"), raw.get("destination"),
                      raw.get("notProtocol"), raw.get("ipVersion"), tuple(raw))


def calico_policy_from_api(obj: Mapping[str, Any], namespaced: bool) -> CalicoPolicy:
    meta, spec = _meta(obj), obj.get("spec") or {}
    egress = tuple(calico_rule_from_api(r) for r in spec.get("egress") or ())
    types = spec.get("types")
    if not types:  # Calico's default: Ingress, plus Egress when the policy has egress rules
        types = ["Ingress", *(["Egress"] if egress else [])]
    order = spec.get("order")
    return CalicoPolicy(meta["name"], str(meta.get("namespace", "")) if namespaced else None,
                        float(order) if order is not None else None, str(spec.get("selector") or "").strip(),
                        str(spec.get("namespaceSelector") or "").strip(), tuple(types), egress,
                        str(spec.get("tier") or "default"),
                        bool(spec.get("preDNAT") or spec.get("doNotTrack")),
                        str(spec.get("serviceAccountSelector") or "").strip())
