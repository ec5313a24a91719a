"""The whole account's IAM side in one paged read (GetAccountAuthorizationDetails): every role with its trust,
tags, inline and attached policies, every user's and group's attached policies, and every customer managed
policy's default version. IAM is global: the scan and the sweep read it once per account, whatever region
they run in, and judge it once."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from eksguard.aws.clients import Aws
from eksguard.aws.iam import document, to_role
from eksguard.snapshot.iam_policy import CNI_POLICY, IamPostureSnapshot, PolicyView
from eksguard.snapshot.irsa import Role, TrustPolicyError

log = logging.getLogger(__name__)
FILTER = ["Role", "User", "Group", "LocalManagedPolicy"]


@dataclass(frozen=True)
class AccountIam:
    roles: tuple[Role, ...]
    posture: IamPostureSnapshot
    user_names: frozenset[str] = frozenset()
    # Roles whose trust eksguard cannot read (IAM accepted it): named, never silently judged compliant.
    unreadable_roles: tuple[tuple[str, str], ...] = ()

    @property
    def role_names(self) -> frozenset[str]:
        return frozenset(r.name for r in self.roles) | frozenset(name for name, _ in self.unreadable_roles)

    @property
    def irsa_roles(self) -> tuple[Role, ...]:
        return tuple(r for r in self.roles if r.trust.irsa_statements)


def read_account_iam(aws: Aws, account: str) -> AccountIam:
    pages = aws.client("iam").get_paginator("get_account_authorization_details").paginate(Filter=FILTER)
    details: dict[str, list[Mapping[str, Any]]] = {"RoleDetailList": [], "UserDetailList": [],
                                                     "GroupDetailList": [], "Policies": []}
    for page in pages:
        for key, items in details.items():
            items += page.get(key, [])
    roles, unreadable = _roles(details["RoleDetailList"])
    attached: dict[str, list[tuple[str, str]]] = {}
    for kind, key, name_key in (("role", "RoleDetailList", "RoleName"), ("user", "UserDetailList", "UserName"),
                                ("group", "GroupDetailList", "GroupName")):
        for entity in details[key]:
            for policy in entity.get("AttachedManagedPolicies") or []:
                attached.setdefault(policy["PolicyArn"], []).append((kind, entity[name_key]))
    policies = [*_managed(details["Policies"], attached), *_inline(details["RoleDetailList"])]
    cni_roles = tuple(r for r in roles if any(kind == "role" and name == r.name for arn, entities in attached.items()
                                              if arn.rsplit("/", 1)[-1] == CNI_POLICY for kind, name in entities))
    users = frozenset(str(u["UserName"]) for u in details["UserDetailList"])
    return AccountIam(tuple(roles), IamPostureSnapshot(account, tuple(policies), cni_roles), users, tuple(unreadable))


def _roles(raw_roles: list[Mapping[str, Any]]) -> tuple[list[Role], list[tuple[str, str]]]:
    roles, unreadable = [], []
    for raw in raw_roles:
        try:
            roles.append(to_role(raw))
        except (TrustPolicyError, ValueError) as exc:
            log.warning("role %s: trust policy not understood: %s", raw.get("RoleName"), exc)
            unreadable.append((str(raw.get("RoleName")), str(exc)))
    return roles, unreadable


def _managed(raw_policies: list[Mapping[str, Any]],
             attached: Mapping[str, list[tuple[str, str]]]) -> Iterator[PolicyView]:
    for policy in raw_policies:
        default = next((v for v in policy.get("PolicyVersionList") or [] if v.get("IsDefaultVersion")), None)
        if default is None:
            continue
        yield PolicyView(policy["Arn"], policy["PolicyName"], document(default["Document"]),
                         attached_to=tuple(attached.get(policy["Arn"], ())))


def _inline(raw_roles: list[Mapping[str, Any]]) -> Iterator[PolicyView]:
    for role in raw_roles:
        tags = {t["Key"]: t.get("Value", "") for t in role.get("Tags") or []}
        for inline in role.get("RolePolicyList") or []:
            yield PolicyView(role["Arn"], inline["PolicyName"], document(inline["PolicyDocument"]), tags,
                             inline_of=role["RoleName"])
