"""IAM calls (and EKS CreateCluster) reduced to where to look.

Policy documents arrive as JSON strings in requests; CreateRole's response echoes the trust URL-encoded.
They are decoded for the record only: the guard re-reads the role, never acts on the payload's copy.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eksguard.parse.envelope import CloudTrailEvent, EventError

IAM_EVENTS = frozenset({
    "CreateRole", "UpdateAssumeRolePolicy", "CreateOpenIDConnectProvider", "DeleteOpenIDConnectProvider",
    "AttachRolePolicy", "PutRolePolicy", "CreatePolicyVersion",
})
CLUSTER_EVENTS = frozenset({"CreateCluster"})
ROLE_EVENTS = frozenset({"CreateRole", "UpdateAssumeRolePolicy", "AttachRolePolicy", "PutRolePolicy"})
MAX_DOCUMENT = 131072  # CloudTrail truncates parameters past 100 KB anyway
# IAM's own patterns: a name AWS would have refused cannot come from a successful call.
_ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$", re.ASCII)
_POLICY_NAME = re.compile(r"^[\w+=,.@-]{1,128}$", re.ASCII)
_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
_POLICY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}|aws):policy/[\w+=,.@/-]{1,512}$", re.ASCII)
_PROVIDER_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:oidc-provider/[\w.:/-]{1,255}$", re.ASCII)


@dataclass(frozen=True)
class IamChange:
    event_name: str
    role_name: str | None = None
    policy_arn: str | None = None
    policy_name: str | None = None  # PutRolePolicy: the inline policy's name
    provider_url: str | None = None  # CreateOpenIDConnectProvider
    provider_arn: str | None = None  # Create... (response) / DeleteOpenIDConnectProvider (request)
    # The document the actor sent, decoded; for the record, never the state to act on.
    document: Mapping[str, Any] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class ClusterChange:
    event_name: str
    cluster_name: str


def parse_iam_change(event: CloudTrailEvent) -> IamChange:
    name = event.context.event_name
    if name not in IAM_EVENTS:
        raise EventError(f"{name} is not an IAM call the IRSA guard handles")
    req, resp = event.request, event.response
    if name in ROLE_EVENTS:
        role = _name(req.get("roleName"), "roleName", _ROLE_NAME)
        if name == "CreateRole":
            return IamChange(name, role, document=_create_role_document(req, resp))
        if name == "UpdateAssumeRolePolicy":
            return IamChange(name, role, document=_json_document(req.get("policyDocument"), "policyDocument"))
        if name == "AttachRolePolicy":
            return IamChange(name, role, policy_arn=_arn(req.get("policyArn"), "policyArn", _POLICY_ARN))
        return IamChange(name, role, policy_name=_name(req.get("policyName"), "policyName", _POLICY_NAME),
                         document=_json_document(req.get("policyDocument"), "policyDocument"))
    if name == "CreatePolicyVersion":
        return IamChange(name, policy_arn=_arn(req.get("policyArn"), "policyArn", _POLICY_ARN),
                         document=_json_document(req.get("policyDocument"), "policyDocument"))
    if name == "CreateOpenIDConnectProvider":
        url = req.get("url")
        if not isinstance(url, str) or not url.startswith("https://") or len(url) > 255:
            raise EventError("CreateOpenIDConnectProvider: requestParameters.url must be an https URL of at most "
                             "255 characters")
        arn = resp.get("openIDConnectProviderArn")
        return IamChange(name, provider_url=url,
                         provider_arn=_arn(arn, "openIDConnectProviderArn", _PROVIDER_ARN) if arn else None)
    return IamChange(name, provider_arn=_arn(req.get("openIDConnectProviderArn"), "openIDConnectProviderArn",
                                             _PROVIDER_ARN))


def parse_cluster_change(event: CloudTrailEvent) -> ClusterChange:
    """The cluster's name: ``requestParameters.name`` (REST path) or ``clusterName`` (older logs), else the
    response's ``cluster.name`` / ``cluster.clusterName``."""
    name = event.context.event_name
    if name not in CLUSTER_EVENTS:
        raise EventError(f"{name} is not a cluster call the IRSA refresh handles")
    cluster = event.response.get("cluster")
    cluster = cluster if isinstance(cluster, Mapping) else {}
    for raw in (event.request.get("name"), event.request.get("clusterName"), cluster.get("name"),
                cluster.get("clusterName")):
        if raw is not None:
            return ClusterChange(name, _name(raw, "cluster name", _CLUSTER_NAME))
    raise EventError(f"{name}: no cluster name in requestParameters (name, clusterName) or the response")


def _name(raw: Any, key: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(raw, str) or not pattern.fullmatch(raw):
        raise EventError(f"{key} is not a name AWS accepts: {str(raw)[:80]!r}")
    return raw


def _arn(raw: Any, key: str, pattern: re.Pattern[str]) -> str:
    if not isinstance(raw, str) or not pattern.fullmatch(raw):
        raise EventError(f"{key} is not an ARN of the kind expected: {str(raw)[:120]!r}")
    return raw


def _json_document(raw: Any, key: str) -> Mapping[str, Any]:
    if isinstance(raw, Mapping):  # a hand-made or re-serialised record: accept the object as is
        return raw
    if not isinstance(raw, str) or len(raw) > MAX_DOCUMENT:
        raise EventError(f"{key} must be a JSON string")
    try:
        doc = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise EventError(f"{key} is not valid JSON: {exc}") from None
    if not isinstance(doc, Mapping):
        raise EventError(f"{key} must hold a JSON object")
    return doc


def _create_role_document(req: Mapping[str, Any], resp: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if req.get("assumeRolePolicyDocument") is not None:
        return _json_document(req["assumeRolePolicyDocument"], "assumeRolePolicyDocument")
    role = resp.get("role")
    encoded = role.get("assumeRolePolicyDocument") if isinstance(role, Mapping) else None
    if encoded is None:
        return None
    if not isinstance(encoded, str):
        raise EventError("responseElements.role.assumeRolePolicyDocument must be a URL-encoded string")
    return _json_document(urllib.parse.unquote(encoded), "responseElements.role.assumeRolePolicyDocument")
