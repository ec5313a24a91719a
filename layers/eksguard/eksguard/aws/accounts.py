"""Reaching other accounts for a multi-account ``eksguard scan``: who the caller is, which accounts the
organization has, and a session in a member account through STS AssumeRole. Besides reads, sts:AssumeRole
is the only call made here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

SESSION_NAME = "eksguard-scan"  # shows in the member accounts' CloudTrail as the assumed-role session


@dataclass(frozen=True)
class Caller:
    account: str
    partition: str  # aws, aws-cn, aws-us-gov: role ARNs must use the caller's own


def caller(sts: Any) -> Caller:
    identity = sts.get_caller_identity()
    return Caller(identity["Account"], identity["Arn"].split(":")[1])


def role_arn(partition: str, account: str, role_name: str) -> str:
    return f"arn:{partition}:iam::{account}:role/{role_name}"


def assume_session(sts: Any, arn: str, region: str | None, external_id: str | None = None) -> boto3.session.Session:
    """A new session on the role's temporary credentials. A new one per account and thread: boto3 sessions
    are not thread-safe, and ``sts`` (a client) is."""
    params = {"RoleArn": arn, "RoleSessionName": SESSION_NAME}
    if external_id:
        params["ExternalId"] = external_id
    creds = sts.assume_role(**params)["Credentials"]
    return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                 aws_session_token=creds["SessionToken"], region_name=region)


def organization_accounts(organizations: Any) -> list[str]:
    """Ids of the organization's ACTIVE accounts, the management account included, in ListAccounts order."""
    ids: list[str] = []
    for page in organizations.get_paginator("list_accounts").paginate():
        for account in page.get("Accounts", []):
            # State replaces Status (retired 2026-09-09); endpoints that predate State only send Status.
            if account.get("State", account.get("Status")) == "ACTIVE":
                ids.append(account["Id"])
    return ids
