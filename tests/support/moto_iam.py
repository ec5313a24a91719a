"""A second line behind the permission check: run a function's handler under moto's own IAM enforcement, with
the credentials of an assumed role that holds exactly the function's template policy.

``enforced(app, function)`` creates that role in moto (under /eksguard/, as SAM names it), assumes it and returns
the app with those credentials; ``moto_iam()`` switches moto's authentication and authorization on (moto's
``enable_iam_authentication``, i.e. ``INITIAL_NO_AUTH_ACTION_COUNT`` = 0) for the block -- the handler call only,
the test's own set-up and assertions run without it.

moto 5.2.5 evaluates identity policies only partly, so the role's policy is the template's adapted to it (what
this line can then not see, the recorded-call check does -- tests/support/permissions_check.py):

- Resources: moto passes the request's resource ARN only for IAM calls naming a role (and SQS queues, STS
  AssumeRole); every other call is checked against ``*``, which an ARN pattern never matches. Statements keep
  their ARNs only when every action in them is a role-targeted IAM action (so ``role/*`` and the Deny on
  ``role/eksguard/*`` are enforced); others get ``Resource: "*"``: here actions are checked, not resources.
- Conditions: moto evaluates none for identity policies (an Allow with one becomes an explicit deny): they
  are dropped from Allow statements; a Deny with a condition is left out.
- Action names: moto checks the operation's own name, so ``sns:PublishBatch`` (which AWS authorizes as
  ``sns:Publish``) is added wherever ``sns:Publish`` is granted, and ``dynamodb:TransactWriteItems`` (which AWS
  authorizes as the PutItem, UpdateItem, ... of its items: no IAM action of its own) wherever
  ``dynamodb:PutItem`` is. ``sts:GetCallerIdentity`` is always allowed.
- Calls AWS services make for the caller (Secrets Manager's kms:Decrypt) are not checked at all.
- EKS's REST-JSON requests fail moto's re-computation of their SigV4 signature under authentication (every
  one is refused with SignatureDoesNotMatch): for EKS alone the signature check is skipped, the access key
  and the authorization are still checked.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
from moto.core import enable_iam_authentication
from moto.iam.access_control import IAMRequestBase
from tests.support.effective_policy import function_role
from tests.support.iam_policy import Statement

from eksguard.local.invoke import LocalApp

# IAM actions whose request names a role (RoleName): moto authorizes them on the role's ARN.
_ROLE_ACTIONS = frozenset({"iam:GetRole", "iam:UpdateAssumeRolePolicy", "iam:TagRole", "iam:UntagRole",
                           "iam:ListAttachedRolePolicies", "iam:GetRolePolicy", "iam:ListRolePolicies"})


def moto_policy(statements: tuple[Statement, ...]) -> dict[str, Any]:
    out = []
    for s in statements:
        if s.effect == "Deny" and s.condition:
            continue
        actions = list(s.actions)
        if any(a.lower() == "sns:publish" for a in actions):
            actions.append("sns:PublishBatch")
        if any(a.lower() == "dynamodb:putitem" for a in actions):
            actions.append("dynamodb:TransactWriteItems")
        keep = bool(s.resources) and all(a in _ROLE_ACTIONS for a in s.actions)
        statement: dict[str, Any] = {"Effect": s.effect, "Action": actions,
                                     "Resource": list(s.resources) if keep else "*"}
        if s.not_actions:
            statement = {"Effect": s.effect, "NotAction": list(s.not_actions), "Resource": statement["Resource"]}
        out.append(statement)
    return {"Version": "2012-10-17", "Statement": out}


def enforced(app: LocalApp, function: str, session: boto3.session.Session,
             policy_parameters: dict[str, str] | None = None) -> LocalApp:
    """``app`` with the credentials of a role holding ``function``'s policy (resolved for ``app``'s parameters,
    or for ``policy_parameters`` instead: a test can hand the handler a narrower policy than its mode needs)."""
    ctx = app.context if policy_parameters is None else replace(app.context, parameters=policy_parameters)
    role = function_role(app.template_path, ctx, function)
    document = json.dumps(moto_policy(role.statements), sort_keys=True)
    name = f"{function}Role-{hashlib.sha1(document.encode()).hexdigest()[:8]}"
    iam = session.client("iam", region_name=app.context.region)
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                     "Principal": {"Service": "lambda.amazonaws.com"}}]}
    try:
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    except iam.exceptions.NoSuchEntityException:
        arn = iam.create_role(RoleName=name, Path="/eksguard/",
                              AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        iam.put_role_policy(RoleName=name, PolicyName="template", PolicyDocument=document)
    creds = session.client("sts", region_name=app.context.region).assume_role(
        RoleArn=arn, RoleSessionName=function)["Credentials"]
    # AWS_SECURITY_TOKEN too: botocore reads it before AWS_SESSION_TOKEN, and tests/conftest.py sets it.
    return replace(app, credentials={"AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
                                     "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
                                     "AWS_SESSION_TOKEN": creds["SessionToken"],
                                     "AWS_SECURITY_TOKEN": creds["SessionToken"]})


@contextlib.contextmanager
def moto_iam() -> Iterator[None]:
    """moto authenticates and authorizes every request inside the block (and none outside it)."""
    check = IAMRequestBase.check_signature

    def check_except_eks(self: Any) -> None:
        if getattr(self, "_service", "") != "eks":  # moto gap: see the module's docstring
            check(self)

    IAMRequestBase.check_signature = check_except_eks  # type: ignore[method-assign]
    try:
        with enable_iam_authentication():
            yield
    finally:
        IAMRequestBase.check_signature = check  # type: ignore[method-assign]


def invoke_enforced(app: LocalApp, function: str, event: Any, session: boto3.session.Session,
                    policy_parameters: dict[str, str] | None = None) -> Any:
    """``invoke`` under moto's IAM enforcement, as a role holding exactly the function's template policy."""
    from eksguard.local.invoke import invoke

    as_role = enforced(app, function, session, policy_parameters)
    with moto_iam():
        return invoke(as_role, function, event)
