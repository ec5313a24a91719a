"""eksguard's own IAM must be least privilege: checked on the template, for every function, with
every optional feature switched on (the widest policy the template can produce)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from tests.paths import TEMPLATE

from eksguard.local.template import LocalContext, TemplateResolver, load_template

READ_PREFIXES = ("Describe", "List", "Get", "BatchGet", "Lookup", "Query", "Scan")
# Actions AWS offers no resource-level permission for, and where "*" is therefore the only form.
# Each is allowed on "*" only because AWS says so; anything else on "*" needs a Condition.
NO_RESOURCE_LEVEL = frozenset({
    "ec2:DescribeSecurityGroups", "ec2:DescribeSecurityGroupRules", "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates", "ec2:DescribeInstances", "ec2:DescribeVpcs", "eks:ListClusters",
    "iam:ListRoles", "iam:ListOpenIDConnectProviders", "iam:ListPolicies", "cloudtrail:DescribeTrails",
    "sts:GetCallerIdentity", "iam:ListAccountAliases", "iam:GetAccountAuthorizationDetails",
})


def _widest_parameters(template: dict[str, Any]) -> dict[str, str]:
    """Every switch that can only add permissions, turned on."""
    widest = {"Mode": "enforce", "DeployIamRules": "always", "EnforceImdsv2": "true", "SecurityHubExport": "true",
              "SlackWebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-AbCdEf",
              "TrustedCidrs": "203.0.113.0/24",
              # EK-006 disassociation is granted only with both (the lock-out guard, in IAM too).
              "RevokeClusterAdmin": "true", "AdminPrincipals": "arn:aws:iam::123456789012:role/break-glass",
              # A member that forwards findings (the central stack adds a bus policy, no function permission).
              "CentralEventBusArn": "arn:aws:events:us-east-1:111122223333:event-bus/eksguard-findings",
              "ScanRoleTrustedAccountId": "111122223333"}
    return {k: v for k, v in widest.items() if k in template.get("Parameters", {})}


ARN_PATTERNS = {
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:us-east-1:123456789012:table/{}",
    "AWS::SNS::Topic": "arn:aws:sns:us-east-1:123456789012:{}",
    "AWS::SQS::Queue": "arn:aws:sqs:us-east-1:123456789012:{}",
    "AWS::SecretsManager::Secret": "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-AbCdEf",
    "AWS::Serverless::Function": "arn:aws:lambda:us-east-1:123456789012:function:{}",
    "AWS::Events::EventBus": "arn:aws:events:us-east-1:123456789012:event-bus/{}",
    "AWS::IAM::Role": "arn:aws:iam::123456789012:role/eksguard/{}",
}


def _physical(template: dict[str, Any]) -> dict[str, dict[str, str]]:
    """Deployed-looking ids for every resource, so Ref and GetAtt resolve as CloudFormation would."""
    out = {}
    for lid, resource in template["Resources"].items():
        arn = ARN_PATTERNS.get(resource["Type"], "arn:aws:cloudformation:us-east-1:123456789012:{}").format(lid)
        ref = arn if resource["Type"] in ("AWS::SNS::Topic", "AWS::SecretsManager::Secret") else lid
        out[lid] = {"Ref": ref, "Arn": arn, "QueueName": lid, "TopicName": lid, "Name": lid,
                    "StreamArn": arn + "/stream/1"}
    return out


def _policies() -> Iterator[tuple[str, dict[str, Any]]]:
    template = load_template(TEMPLATE)
    ctx = LocalContext(account_id="123456789012", region="us-east-1", parameters=_widest_parameters(template),
                       physical=_physical(template))
    resolver = TemplateResolver(template, ctx)
    for logical_id, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function":
            for index, policy in enumerate(resolver.resolve(props.get("Policies", []))):
                assert isinstance(policy, dict) and "Statement" in policy, (
                    f"{logical_id}.Policies[{index}]: only inline statements are allowed (SAM policy templates "
                    "and managed policies grant more than eksguard needs)")
                yield f"{logical_id}.Policies[{index}]", policy
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            yield logical_id, resolver.resolve(props["PolicyDocument"])
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in resolver.resolve(props.get("Policies", [])):
                yield f"{logical_id}.{policy['PolicyName']}", policy["PolicyDocument"]


POLICIES = dict(_policies())


def _statements(doc: dict[str, Any]) -> list[dict[str, Any]]:
    statements = doc["Statement"]
    return statements if isinstance(statements, list) else [statements]


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_there_are_policies_to_check() -> None:
    assert any(name.startswith("SgGuardFunction") for name in POLICIES)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_no_wildcard_actions(name: str) -> None:
    for statement in _statements(POLICIES[name]):
        assert "NotAction" not in statement, f"{name}: NotAction grants everything else"
        for action in _as_list(statement["Action"]):
            assert "*" not in action, f"{name}: wildcard action {action!r}"


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_no_write_on_every_resource_without_a_condition(name: str) -> None:
    for statement in _statements(POLICIES[name]):
        if statement.get("Effect") != "Allow" or "*" not in _as_list(statement.get("Resource", [])):
            continue
        for action in _as_list(statement["Action"]):
            verb = action.split(":", 1)[1]
            if action in NO_RESOURCE_LEVEL or verb.startswith(READ_PREFIXES):
                assert action in NO_RESOURCE_LEVEL, (
                    f"{name}: {action} on '*' - it supports resource-level permissions; name the resources")
                continue
            assert "Condition" in statement, f"{name}: write action {action} on '*' without a condition"


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_parliament_finds_nothing(name: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # parliament imports pkg_resources
        from parliament import analyze_policy_string

    policy = analyze_policy_string(json.dumps(POLICIES[name]))
    findings = [(f.issue, f.detail) for f in policy.findings]
    assert findings == [], f"{name}: {findings}"


def test_every_function_role_lives_under_the_eksguard_path() -> None:
    """The loop guard recognises eksguard's own calls by this path (template pattern and code)."""
    template = load_template(TEMPLATE)
    functions = {k: v for k, v in template["Resources"].items() if v["Type"] == "AWS::Serverless::Function"}
    assert functions
    for logical_id, resource in functions.items():
        props = resource["Properties"]
        assert props.get("RolePath") == "/eksguard/" or "Role" in props, f"{logical_id} has no /eksguard/ role path"
