"""IAM reads (roles, OIDC providers, policies) and the two writes: UpdateAssumeRolePolicy and TagRole.

IAM is global: one client in the home region. boto3 already decodes the URL-encoded policy documents
IAM returns; a document that still arrives as text is decoded here so callers always get a mapping.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from botocore.exceptions import ClientError

from eksguard.aws.clients import Aws, error_code
from eksguard.snapshot.iam_policy import PolicyView
from eksguard.snapshot.irsa import Role, parse_trust

NO_SUCH = "NoSuchEntity"


def document(raw: Any) -> dict[str, Any]:
    doc = json.loads(urllib.parse.unquote(raw)) if isinstance(raw, str) else raw
    if not isinstance(doc, dict):
        raise ValueError(f"IAM returned a policy document that is not a JSON object: {raw!r}")
    return doc


def to_role(raw: Mapping[str, Any]) -> Role:
    tags = {t["Key"]: t.get("Value", "") for t in raw.get("Tags") or []}
    role = Role(raw["RoleName"], raw["Arn"], raw.get("Path", "/"), document(raw["AssumeRolePolicyDocument"]), tags)
    parse_trust(role.document)  # fail here, at the boundary, not inside a rule
    return role


def read_role(aws: Aws, name: str) -> Role | None:
    """GetRole: the trust document and the tags in one call; None when the role is gone."""
    try:
        return to_role(aws.client("iam").get_role(RoleName=name)["Role"])
    except ClientError as exc:
        if error_code(exc) == NO_SUCH:
            return None
        raise


def list_roles(aws: Aws) -> Iterator[Mapping[str, Any]]:
    """ListRoles pages (1000 a page): names, paths and trust documents, but no tags."""
    for page in aws.client("iam").get_paginator("list_roles").paginate(PaginationConfig={"PageSize": 1000}):
        for raw in page.get("Roles", []):
            yield {**raw, "AssumeRolePolicyDocument": document(raw["AssumeRolePolicyDocument"])}


def provider_exists(aws: Aws, arn: str) -> bool:
    try:
        aws.client("iam").get_open_id_connect_provider(OpenIDConnectProviderArn=arn)
        return True
    except ClientError as exc:
        if error_code(exc) == NO_SUCH:
            return False
        raise


def providers(aws: Aws, arns: Iterable[str]) -> dict[str, bool]:
    """Lower-case ARN -> whether IAM has that OIDC provider (one GetOpenIDConnectProvider per ARN)."""
    return {arn.lower(): provider_exists(aws, arn) for arn in dict.fromkeys(arns)}


def update_trust(aws: Aws, role_name: str, document: Mapping[str, Any]) -> None:
    aws.client("iam").update_assume_role_policy(RoleName=role_name, PolicyDocument=json.dumps(document))


def tag_role(aws: Aws, role_name: str, key: str, value: str) -> None:
    aws.client("iam").tag_role(RoleName=role_name, Tags=[{"Key": key, "Value": value}])


def untag_role(aws: Aws, role_name: str, key: str) -> None:
    aws.client("iam").untag_role(RoleName=role_name, TagKeys=[key])


def read_managed_policy(aws: Aws, policy_arn: str) -> PolicyView | None:
    """A managed policy's default version and tags (GetPolicy + GetPolicyVersion); None when it is gone."""
    iam = aws.client("iam")
    try:
        policy = iam.get_policy(PolicyArn=policy_arn)["Policy"]
        version = iam.get_policy_version(PolicyArn=policy_arn, VersionId=policy["DefaultVersionId"])
    except ClientError as exc:
        if error_code(exc) == NO_SUCH:
            return None
        raise
    tags = {t["Key"]: t.get("Value", "") for t in policy.get("Tags") or []}
    return PolicyView(policy_arn, policy["PolicyName"], document(version["PolicyVersion"]["Document"]), tags)


def inline_role_policy(aws: Aws, role_name: str, policy_name: str) -> dict[str, Any] | None:
    try:
        raw = aws.client("iam").get_role_policy(RoleName=role_name, PolicyName=policy_name)["PolicyDocument"]
        return document(raw)
    except ClientError as exc:
        if error_code(exc) == NO_SUCH:
            return None
        raise


def attached_policy_arns(aws: Aws, role_name: str) -> tuple[str, ...]:
    pages = aws.client("iam").get_paginator("list_attached_role_policies").paginate(RoleName=role_name)
    return tuple(p["PolicyArn"] for page in pages for p in page.get("AttachedPolicies", []))


def policy_entities(aws: Aws, policy_arn: str) -> tuple[tuple[str, str], ...]:
    """(kind, name) of every role, user and group a managed policy is attached to (ListEntitiesForPolicy)."""
    out: list[tuple[str, str]] = []
    try:
        pages = list(aws.client("iam").get_paginator("list_entities_for_policy").paginate(PolicyArn=policy_arn))
    except ClientError as exc:
        if error_code(exc) == NO_SUCH:
            return ()
        raise
    for page in pages:
        out += [("role", r["RoleName"]) for r in page.get("PolicyRoles", [])]
        out += [("user", u["UserName"]) for u in page.get("PolicyUsers", [])]
        out += [("group", g["GroupName"]) for g in page.get("PolicyGroups", [])]
    return tuple(out)
