"""The permission check's own parts, on fixed inputs: the policy evaluator, the mapping from a recorded call to
IAM's authorization requests, and the check of recorded invocations against the template."""

from __future__ import annotations

from typing import Any

import pytest
from tests.support.iam_policy import Request, Statement, arn_match, evaluate
from tests.support.iam_requests import NO_AUTH, Scope, UnmappedCall, applicable, requests
from tests.support.permissions_check import check, doc_context, grants

ACCOUNT = "123456789012"


def _allow(**kw: Any) -> Statement:
    return Statement.parse({"Effect": "Allow", **kw})


def _deny(**kw: Any) -> Statement:
    return Statement.parse({"Effect": "Deny", **kw})


# ---- the evaluator -----------------------------------------------------------------------------------------------

TABLE = f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:table/AuditTable"

ALLOWED = {
    "exact": ([_allow(Action="dynamodb:PutItem", Resource=TABLE)], Request("dynamodb:PutItem", TABLE)),
    "action case-insensitive": ([_allow(Action="DynamoDB:putitem", Resource=TABLE)],
                                Request("dynamodb:PutItem", TABLE)),
    "action wildcard": ([_allow(Action="dynamodb:Put*", Resource=TABLE)], Request("dynamodb:PutItem", TABLE)),
    "region wildcard": ([_allow(Action="eks:DescribeCluster", Resource=f"arn:aws:eks:*:{ACCOUNT}:cluster/*")],
                        Request("eks:DescribeCluster", f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/orders")),
    "star resource, action-level request": ([_allow(Action="iam:ListRoles", Resource="*")],
                                            Request("iam:ListRoles", "*")),
    "secret with or without its suffix": (
        [_allow(Action="secretsmanager:GetSecretValue", Resource=["arn:aws:secretsmanager:us-east-1:1:secret:slack",
                                                                  "arn:aws:secretsmanager:us-east-1:1:secret:slack-??????"])],
        Request("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:1:secret:slack-AbCdEf")),
    "not-action": ([_allow(NotAction="iam:*", Resource=TABLE)], Request("dynamodb:PutItem", TABLE)),
    "condition holds": ([_allow(Action="events:PutEvents", Resource="*",
                                Condition={"StringEquals": {"events:source": "eksguard"}})],
                        Request("events:PutEvents", "arn:aws:events:us-east-1:1:event-bus/b",
                                {"events:source": "eksguard"})),
    "StringLike condition": ([_allow(Action="kms:Decrypt", Resource="*", Condition={"StringLike": {
        "kms:EncryptionContext:SecretARN": "arn:aws:secretsmanager:us-east-1:1:secret:slack-??????"}})],
        Request("kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", {
            "kms:EncryptionContext:SecretARN": "arn:aws:secretsmanager:us-east-1:1:secret:slack-AbCdEf"})),
    "deny whose condition fails": ([_allow(Action="iam:GetRole", Resource="*"),
                                    _deny(Action="iam:GetRole", Resource="*", Condition={"Bool": {"aws:X": "true"}})],
                                   Request("iam:GetRole", "arn:aws:iam::1:role/x")),
}

DENIED = {
    "nothing grants it": ([_allow(Action="dynamodb:GetItem", Resource=TABLE)], Request("dynamodb:PutItem", TABLE)),
    "other table": ([_allow(Action="dynamodb:PutItem", Resource=TABLE)],
                    Request("dynamodb:PutItem", TABLE.replace("AuditTable", "IdempotencyTable"))),
    "other region": ([_allow(Action="eks:DescribeCluster", Resource=f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/*")],
                     Request("eks:DescribeCluster", f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/orders")),
    "other account": ([_allow(Action="sns:Publish", Resource=f"arn:aws:sns:*:{ACCOUNT}:AlertTopic")],
                      Request("sns:Publish", "arn:aws:sns:us-east-1:111122223333:AlertTopic")),
    "explicit deny wins": ([_allow(Action="iam:UpdateAssumeRolePolicy", Resource=f"arn:aws:iam::{ACCOUNT}:role/*"),
                            _deny(Action="iam:UpdateAssumeRolePolicy",
                                  Resource=f"arn:aws:iam::{ACCOUNT}:role/eksguard/*")],
                           Request("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/eksguard/x")),
    "not-resource": ([_allow(Action="iam:GetRole", NotResource=f"arn:aws:iam::{ACCOUNT}:role/eksguard/*")],
                     Request("iam:GetRole", f"arn:aws:iam::{ACCOUNT}:role/eksguard/x")),
    "condition key missing": ([_allow(Action="events:PutEvents", Resource="*",
                                      Condition={"StringEquals": {"events:source": "eksguard"}})],
                              Request("events:PutEvents", "arn:aws:events:us-east-1:1:event-bus/b")),
    "condition value differs": ([_allow(Action="events:PutEvents", Resource="*",
                                        Condition={"StringEquals": {"events:source": "eksguard"}})],
                                Request("events:PutEvents", "arn:aws:events:us-east-1:1:event-bus/b",
                                        {"events:source": "aws.ec2"})),
    "bare suffix-less grant misses the real secret": (
        [_allow(Action="secretsmanager:GetSecretValue", Resource="arn:aws:secretsmanager:us-east-1:1:secret:slack")],
        Request("secretsmanager:GetSecretValue", "arn:aws:secretsmanager:us-east-1:1:secret:slack-AbCdEf")),
    "an ARN grant does not cover an action-level request": ([_allow(Action="iam:ListRoles", Resource=TABLE)],
                                                            Request("iam:ListRoles", "*")),
}


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_allowed(name: str) -> None:
    statements, request = ALLOWED[name]
    assert evaluate(statements, request).allowed


@pytest.mark.parametrize("name", sorted(DENIED))
def test_denied(name: str) -> None:
    statements, request = DENIED[name]
    assert not evaluate(statements, request).allowed


def test_an_unknown_condition_operator_is_refused() -> None:
    statement = _allow(Action="kms:Decrypt", Resource="*", Condition={"NumericLessThan": {"kms:X": "1"}})
    with pytest.raises(ValueError, match="NumericLessThan"):
        evaluate([statement], Request("kms:Decrypt", "arn:aws:kms:us-east-1:1:key/k", {"kms:X": "0"}))


def test_arn_parts_match_one_by_one() -> None:
    assert arn_match("arn:aws:iam::*:role/*", f"arn:aws:iam::{ACCOUNT}:role/a/b")
    assert not arn_match("arn:aws:iam::*:role/*", f"arn:aws:iam::{ACCOUNT}:user/a")


# ---- recorded call -> requests -----------------------------------------------------------------------------------

SCOPE = Scope(ACCOUNT, "ap-northeast-2", "aws", frozenset({f"arn:aws:iam::{ACCOUNT}:role/eksguard/eksguard-scan"}))


def _call(service: str, operation: str, params: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"service": service, "operation": operation, "params": params, "arns": [], "error": None, **extra}


def _pairs(call: dict[str, Any], scope: Scope = SCOPE) -> list[tuple[str, str]]:
    return [(r.action, r.resource) for r in requests(call, scope)]


def test_no_resource_type_means_star() -> None:
    assert _pairs(_call("ec2", "DescribeSecurityGroups", {})) == [("ec2:DescribeSecurityGroups", "*")]


def test_caller_identity_needs_no_permission() -> None:
    assert "sts:GetCallerIdentity" in NO_AUTH
    assert requests(_call("sts", "GetCallerIdentity", {}), SCOPE) == []


def test_publish_batch_is_authorized_as_publish() -> None:
    topic = f"arn:aws:sns:ap-northeast-2:{ACCOUNT}:AlertTopic"
    assert _pairs(_call("sns", "PublishBatch", {"TopicArn": topic})) == [("sns:Publish", topic)]


def test_a_transaction_is_authorized_as_the_write_of_each_item() -> None:
    items = [{"Put": {"TableName": "AuditTable", "Item": {}}}, {"Update": {"TableName": "AuditTable", "Key": {}}},
             {"ConditionCheck": {"TableName": "IdempotencyTable", "Key": {}}}]
    table = f"arn:aws:dynamodb:ap-northeast-2:{ACCOUNT}:table"
    assert _pairs(_call("dynamodb", "TransactWriteItems", {"TransactItems": items})) == [
        ("dynamodb:PutItem", f"{table}/AuditTable"), ("dynamodb:UpdateItem", f"{table}/AuditTable"),
        ("dynamodb:ConditionCheckItem", f"{table}/IdempotencyTable")]


def test_table_by_name_in_the_client_region() -> None:
    assert _pairs(_call("dynamodb", "UpdateItem", {"TableName": "IdempotencyTable"})) == [
        ("dynamodb:UpdateItem", f"arn:aws:dynamodb:ap-northeast-2:{ACCOUNT}:table/IdempotencyTable")]


def test_query_of_an_index_is_authorized_on_the_index() -> None:
    assert _pairs(_call("dynamodb", "Query", {"TableName": "AuditTable", "IndexName": "by-resource"})) == [
        ("dynamodb:Query", f"arn:aws:dynamodb:ap-northeast-2:{ACCOUNT}:table/AuditTable/index/by-resource")]


def test_cluster_in_the_region_of_the_client() -> None:
    scope = Scope(ACCOUNT, "eu-west-1", "aws", frozenset())
    assert _pairs(_call("eks", "DescribeCluster", {"name": "orders"}), scope) == [
        ("eks:DescribeCluster", f"arn:aws:eks:eu-west-1:{ACCOUNT}:cluster/orders")]


def test_role_path_comes_from_a_response() -> None:
    assert _pairs(_call("iam", "UpdateAssumeRolePolicy", {"RoleName": "eksguard-scan"})) == [
        ("iam:UpdateAssumeRolePolicy", f"arn:aws:iam::{ACCOUNT}:role/eksguard/eksguard-scan")]


def test_secret_named_without_suffix_is_authorized_on_its_full_arn() -> None:
    partial = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:slack"
    call = _call("secretsmanager", "GetSecretValue", {"SecretId": partial}, arns=[partial + "-AbCdEf"])
    assert _pairs(call) == [("secretsmanager:GetSecretValue", partial + "-AbCdEf")]


def test_customer_managed_key_needs_decrypt_through_secrets_manager() -> None:
    secret = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:slack-AbCdEf"
    key = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    call = _call("secretsmanager", "GetSecretValue", {"SecretId": secret}, arns=[secret], kms_key_arn=key)
    decrypt = requests(call, SCOPE)[1]
    assert (decrypt.action, decrypt.resource) == ("kms:Decrypt", key)
    assert decrypt.context["kms:ViaService"] == "secretsmanager.us-east-1.amazonaws.com"
    assert decrypt.context["kms:EncryptionContext:SecretARN"] == secret


def test_restoring_a_tagged_rule_needs_the_rule_type_and_create_tags() -> None:
    call = _call("ec2", "AuthorizeSecurityGroupIngress", {
        "GroupId": "sg-1", "TagSpecifications": [{"ResourceType": "security-group-rule", "Tags": []}]})
    requested = requests(call, SCOPE)
    rule = f"arn:aws:ec2:ap-northeast-2:{ACCOUNT}:security-group-rule/*"
    assert [(r.action, r.resource) for r in requested] == [
        ("ec2:AuthorizeSecurityGroupIngress", f"arn:aws:ec2:ap-northeast-2:{ACCOUNT}:security-group/sg-1"),
        ("ec2:AuthorizeSecurityGroupIngress", rule), ("ec2:CreateTags", rule)]
    assert requested[2].context == {"ec2:CreateAction": "AuthorizeSecurityGroupIngress"}


def test_tags_are_authorized_on_each_resource_by_its_id() -> None:
    assert _pairs(_call("ec2", "DeleteTags", {"Resources": ["sg-1"]})) == [
        ("ec2:DeleteTags", f"arn:aws:ec2:ap-northeast-2:{ACCOUNT}:security-group/sg-1")]


def test_put_events_carries_the_source_for_conditions() -> None:
    call = _call("events", "PutEvents", {"Entries": [{"EventBusName": "eksguard-findings-outbox",
                                                      "Source": "eksguard", "DetailType": "eksguard Finding"}]})
    (request,) = requests(call, SCOPE)
    assert request.resource == f"arn:aws:events:ap-northeast-2:{ACCOUNT}:event-bus/eksguard-findings-outbox"
    assert request.context["events:source"] == "eksguard"


def test_access_policy_calls_carry_the_policy_and_scope_for_conditions() -> None:
    call = _call("eks", "AssociateAccessPolicy", {
        "clusterName": "legacy", "principalArn": f"arn:aws:iam::{ACCOUNT}:role/ops/contractor-admin",
        "policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
        "accessScope": {"type": "cluster"}})
    (request,) = requests(call, SCOPE)
    assert request.resource.startswith(
        f"arn:aws:eks:ap-northeast-2:{ACCOUNT}:access-entry/legacy/role/{ACCOUNT}/contractor-admin/")
    assert request.context == {"eks:policyArn": "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy",
                               "eks:accessScope": "cluster"}


def test_eks_tags_carry_their_keys() -> None:
    arn = f"arn:aws:eks:ap-northeast-2:{ACCOUNT}:access-entry/legacy/role/{ACCOUNT}/x/1"
    (request,) = requests(_call("eks", "UntagResource", {"resourceArn": arn, "tagKeys": ["eksguard:exempt"]}), SCOPE)
    assert (request.resource, request.context) == (arn, {"aws:TagKeys": ["eksguard:exempt"]})


def test_log_group_actions_are_authorized_on_the_group_with_its_suffix() -> None:
    call = _call("logs", "PutSubscriptionFilter", {"logGroupName": "/aws/eks/legacy/cluster"})
    assert _pairs(call) == [("logs:PutSubscriptionFilter",
                             f"arn:aws:logs:ap-northeast-2:{ACCOUNT}:log-group:/aws/eks/legacy/cluster:*")]


def test_a_call_without_a_rule_is_refused_not_passed() -> None:
    with pytest.raises(UnmappedCall):
        requests(_call("ssm", "GetParameter", {"Name": "/x"}), SCOPE)
    with pytest.raises(UnmappedCall):
        requests(_call("nosuch", "Thing", {}), SCOPE)


@pytest.mark.parametrize(("action", "resource", "expected"), [
    ("eks:DescribeCluster", f"arn:aws:eks:us-east-1:{ACCOUNT}:cluster/*", True),
    ("eks:DescribeCluster", f"arn:aws:eks:us-east-1:{ACCOUNT}:nodegroup/*/*/*", False),
    ("eks:ListAssociatedAccessPolicies", f"arn:aws:eks:us-east-1:{ACCOUNT}:access-entry/*", True),
    ("ec2:DeleteTags", f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group-rule/*", True),
    ("ec2:RevokeSecurityGroupIngress", f"arn:aws:ec2:us-east-1:{ACCOUNT}:security-group-rule/*", False),
    ("iam:ListRoles", "*", True),
])
def test_a_resource_pattern_applies_only_to_the_types_an_action_takes(action: str, resource: str,
                                                                      expected: bool) -> None:
    assert applicable(action, resource) is expected


# ---- invocations against the template ------------------------------------------------------------------------

def _invocation(function: str, calls: list[dict[str, Any]], **parameters: str) -> dict[str, Any]:
    ctx = doc_context(parameters)
    return {"test": "t", "function": function, "template": str(__import__("tests.paths").paths.TEMPLATE),
            "account": ctx.account_id, "region": ctx.region, "partition": ctx.partition,
            "stack_name": ctx.stack_name, "parameters": dict(ctx.parameters),
            "physical": {k: dict(v) for k, v in ctx.physical.items()}, "calls": calls}


def test_a_call_the_template_does_not_grant_fails() -> None:
    result = check([_invocation("SgGuardFunction", [_call("iam", "ListRoles", {})])])
    (violation,) = result.violations
    assert violation.request is not None and violation.request.action == "iam:ListRoles"
    assert "no statement" in violation.reason


def test_revoke_is_granted_only_in_enforce_mode() -> None:
    revoke = _call("ec2", "RevokeSecurityGroupIngress", {"GroupId": "sg-1"}, region="us-east-1")
    assert check([_invocation("SgGuardFunction", [revoke], Mode="enforce")]).violations == []
    assert len(check([_invocation("SgGuardFunction", [revoke], Mode="audit")]).violations) == 1


def test_the_deny_keeps_eksguard_roles_out_of_reach() -> None:
    found = [f"arn:aws:iam::{ACCOUNT}:role/eksguard/SgGuardFunctionRole"]
    rewrite = _call("iam", "UpdateAssumeRolePolicy", {"RoleName": "SgGuardFunctionRole"}, arns=found)
    (violation,) = check([_invocation("IrsaGuardFunction", [rewrite], Mode="enforce")]).violations
    assert "explicitly denied by NeverRewriteOwnRoles" in violation.reason


def test_exercised_grants_are_marked() -> None:
    result = check([_invocation("SgGuardFunction", [_call("eks", "ListClusters", {})])])
    assert ("SgGuardFunction", "ListClusters", "eks:ListClusters", 0) in result.exercised


def test_every_template_statement_has_a_unique_sid_per_function() -> None:
    """The report and docs/permissions.md name grants by Sid."""
    seen: dict[tuple[str, str, str, int], int] = {}
    for grant in grants():
        if not grant.runtime:
            assert grant.sid, f"{grant.function}: a statement without a Sid"
        key = (grant.function, grant.sid, grant.action, grant.resource_index)
        seen[key] = seen.get(key, 0) + 1
    assert [k for k, n in seen.items() if n > 1] == []
