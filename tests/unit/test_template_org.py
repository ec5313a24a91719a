"""The organization switches of template.yaml, resolved as CloudFormation would: which resources each
combination deploys (member forwarding, the central stack, reserved concurrency)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.paths import ROOT, TEMPLATE

from eksguard.local.patterns import matches, validate_pattern
from eksguard.local.template import LocalContext, TemplateResolver, functions, load_template

CENTRAL_BUS = "arn:aws:events:us-east-1:111122223333:event-bus/eksguard-findings"
SLACK = "arn:aws:secretsmanager:us-east-1:111122223333:secret:slack-AbCdEf"
ORG_RESOURCES = ("FindingsBus", "FindingsBusPolicy", "FindingsForwardRule", "FindingsForwardRole",
                 "CentralStreamRule", "CentralStreamPermission", "NotifierDeadLetterQueuePolicy", "NotifierFunction")
GUARDS = ("SgGuardFunction", "IrsaGuardFunction", "IrsaRefreshFunction", "ClusterGuardFunction")


def resolved(**parameters: str) -> tuple[dict[str, Any], TemplateResolver]:
    template = load_template(TEMPLATE)
    physical = {lid: {"Ref": lid, "Arn": f"arn:aws:test:::{lid}"} for lid in template["Resources"]}
    ctx = LocalContext(account_id="123456789012", region="us-east-1", parameters=parameters, physical=physical)
    return template, TemplateResolver(template, ctx)


def deployed(**parameters: str) -> set[str]:
    template, resolver = resolved(**parameters)
    conditions = {lid: template["Resources"][lid].get("Condition") for lid in ORG_RESOURCES}
    return {lid for lid, condition in conditions.items() if condition is None or resolver.condition(condition)}


@pytest.mark.parametrize(("name", "parameters", "expected"), [
    ("stand-alone", {}, set()),
    ("member", {"CentralEventBusArn": CENTRAL_BUS},
     {"FindingsBus", "FindingsForwardRule", "FindingsForwardRole", "NotifierFunction"}),
    ("central-with-slack", {"CentralOrganizationId": "o-abcdef1234", "SlackWebhookSecretArn": SLACK},
     {"FindingsBus", "FindingsBusPolicy", "CentralStreamRule", "CentralStreamPermission",
      "NotifierDeadLetterQueuePolicy", "NotifierFunction"}),
    ("central-without-slack", {"CentralOrganizationId": "o-abcdef1234"}, {"FindingsBus", "FindingsBusPolicy"}),
    # A central stack told to forward as well would post its own findings twice: it does not forward.
    ("central-and-forward", {"CentralOrganizationId": "o-abcdef1234", "SlackWebhookSecretArn": SLACK,
                             "CentralEventBusArn": CENTRAL_BUS},
     {"FindingsBus", "FindingsBusPolicy", "CentralStreamRule", "CentralStreamPermission",
      "NotifierDeadLetterQueuePolicy", "NotifierFunction"}),
])
def test_what_each_role_deploys(name: str, parameters: dict[str, str], expected: set[str]) -> None:
    assert deployed(**parameters) == expected


def test_the_central_bus_accepts_only_the_organization() -> None:
    template, resolver = resolved(CentralOrganizationId="o-abcdef1234")
    statement = resolver.resolve(template["Resources"]["FindingsBusPolicy"]["Properties"]["Statement"])
    assert statement["Action"] == "events:PutEvents"
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234"}}


def test_member_forwards_only_findings_to_the_central_bus() -> None:
    template, resolver = resolved(CentralEventBusArn=CENTRAL_BUS)
    rule = resolver.resolve(template["Resources"]["FindingsForwardRule"]["Properties"])
    assert rule["EventPattern"] == {"source": ["eksguard"], "detail-type": ["eksguard Finding"]}
    (target,) = rule["Targets"]
    assert target["Arn"] == CENTRAL_BUS and target["RoleArn"] and target["DeadLetterConfig"]["Arn"]
    notifier = functions(template, resolver)["NotifierFunction"]
    assert notifier.environment["EKSGUARD_FINDINGS_BUS"] == "FindingsBus"


@pytest.mark.parametrize(("value", "expected"), [("0", None), ("5", "5")])
def test_reserved_concurrency_is_a_parameter(value: str, expected: str | None) -> None:
    template, resolver = resolved(GuardReservedConcurrency=value, DeployIamRules="always")
    for lid in GUARDS:
        props = resolver.resolve(template["Resources"][lid]["Properties"])
        assert props.get("ReservedConcurrentExecutions") == expected, lid
    sweep = resolver.resolve(template["Resources"]["SweepFunction"]["Properties"])
    assert "ReservedConcurrentExecutions" not in sweep


def scan_role_actions() -> set[str]:
    """Every action the member template's read-only scan role allows (one role per account: us-east-1)."""
    template, resolver = resolved(ScanRoleTrustedAccountId="111122223333")
    assert resolver.condition("HasScanRole")
    policy = resolver.resolve(template["Resources"]["ScanRole"]["Properties"]["Policies"][0]["PolicyDocument"])
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        actions |= set(statement["Action"])
    return actions


def test_the_scan_role_allows_exactly_what_docs_scan_md_lists() -> None:
    text = (ROOT / "docs" / "scan.md").read_text()
    block = text.split("```json", 1)[1].split("```", 1)[0]
    (documented,) = json.loads(block)["Statement"]
    assert scan_role_actions() == set(documented["Action"])
    assert all(not a.split(":")[1].startswith(("Put", "Update", "Create", "Delete", "Revoke")) for a in
               scan_role_actions())


def test_the_scan_role_is_made_once_per_account() -> None:
    _, resolver = resolved(ScanRoleTrustedAccountId="111122223333")
    assert resolver.condition("HasScanRole")
    template = load_template(TEMPLATE)
    ctx = LocalContext(account_id="123456789012", region="eu-west-1",
                       parameters={"ScanRoleTrustedAccountId": "111122223333"}, physical={})
    assert not TemplateResolver(template, ctx).condition("HasScanRole")  # IAM is global: only in us-east-1
    trust = template["Resources"]["ScanRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert TemplateResolver(template, ctx).resolve(trust["Principal"]) == {"AWS": "arn:aws:iam::111122223333:root"}


def test_the_central_stream_leaves_sweep_summaries_on_the_bus() -> None:
    template, resolver = resolved(CentralOrganizationId="o-abcdef1234", SlackWebhookSecretArn=SLACK)
    pattern = resolver.resolve(template["Resources"]["CentralStreamRule"]["Properties"]["EventPattern"])
    validate_pattern(pattern)

    def forwarded(rule_id: str) -> dict[str, Any]:
        return {"source": "eksguard", "detail-type": "eksguard Finding", "account": "333344445555",
                "region": "eu-west-1", "detail": {"alert": {"rule_id": rule_id}, "account_alias": ""}}

    assert matches(pattern, forwarded("SG-002")) and matches(pattern, forwarded("IR-005"))
    assert not matches(pattern, forwarded("SWEEP"))
    assert not matches(pattern, {**forwarded("SG-002"), "source": "aws.ec2"})
