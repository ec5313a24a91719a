"""Security-group calls: every request form CloudTrail logs (real reference payloads, the project's own
events and synthetic edge cases) reduced to group ids, rule ids and permissions; hostile payloads only
ever raise EventError."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from eksguard.parse.ec2 import (
    MAX_ITEMS,
    SG_EVENTS,
    Permission,
    SgChange,
    normalize_protocol,
    parse_port,
    parse_sg_change,
)
from eksguard.parse.envelope import EventError, parse_envelope

REFERENCE_DIR = Path(__file__).parents[3] / "shared" / "reference-events"
EVENTS_DIR = Path(__file__).parents[2] / "events"
NO_REFERENCE = f"reference events not found at {REFERENCE_DIR}: clone the shared/ folder beside the repo"

INGRESS, EGRESS = "AuthorizeSecurityGroupIngress", "AuthorizeSecurityGroupEgress"
REVOKE_IN, MODIFY = "RevokeSecurityGroupIngress", "ModifySecurityGroupRules"


def reference(name: str) -> Any:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(NO_REFERENCE)
    return json.loads((REFERENCE_DIR / name).read_text())


def change_of(raw: Any) -> SgChange:
    return parse_sg_change(parse_envelope(raw))


def call(name: str, request: Any, response: Any = None) -> dict[str, Any]:
    """A bare CloudTrail record of one EC2 call."""
    return {"eventID": "e-1", "eventName": name, "eventSource": "ec2.amazonaws.com",
            "requestParameters": request, "responseElements": response}


def items(*entries: Any) -> dict[str, Any]:
    return {"items": list(entries)}


def perm(protocol: str = "tcp", ports: tuple[Any, Any] | None = (22, 22),
         **containers: Any) -> dict[str, Any]:
    """One ``ipPermissions`` item; empty containers are ``{}`` as CloudTrail logs them."""
    item: dict[str, Any] = {"ipProtocol": protocol, "groups": {}, "ipRanges": {}, "ipv6Ranges": {},
                            "prefixListIds": {}}
    if ports is not None:
        item["fromPort"], item["toPort"] = ports
    item.update(containers)
    return item


def rule_set(*rules: tuple[str, str]) -> dict[str, Any]:
    """``responseElements`` with a securityGroupRuleSet of (group id, rule id)."""
    return {"_return": True, "securityGroupRuleSet": items(
        *({"groupId": g, "securityGroupRuleId": r, "isEgress": False} for g, r in rules))}


def ingress(protocol: str, low: int | None, high: int | None, kind: str, source: str,
            description: str | None = None) -> Permission:
    return Permission(False, protocol, low, high, kind, source, description)


def egress(protocol: str, low: int | None, high: int | None, kind: str, source: str,
           description: str | None = None) -> Permission:
    return Permission(True, protocol, low, high, kind, source, description)


# -- real reference payloads ---------------------------------------------------------------------------------

# name -> (group ids, rule ids, permissions). Envelopes EventBridge could not have sent (source aws.sqs
# on an EC2 call) are rejected by parse_envelope; their CloudTrail record is checked here on its own.
REFERENCE_SG: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[Permission, ...]]] = {
    "AuthorizeSecurityGroupEgress.elastic-assumedrole-ec2-ruleset.json": (
        ("sg-038ccc3a1f7b05f42",), ("sgr-02bdc373eac599585",),
        (egress("tcp", 4444, 4444, "ipv4", "73.21.4.36/32"),)),
    "AuthorizeSecurityGroupEgress.panther-terraform-all-traffic-noports.json": (
        ("sg-03eee825d6bb78f54",), (),
        (egress("-1", None, None, "ipv4", "0.0.0.0/0", "Allow egress to the internet. Required for now until "
                "we land ECS/ECR endpoints in the VPC"),)),
    "AuthorizeSecurityGroupIngress.elastic-ipv4-ruleset-arn.json": (
        ("sg-0f63fecfa17ef4fee",), ("sgr-027eb7c59241731e0",),
        (ingress("tcp", 22, 22, "ipv4", "203.0.113.0/24"),)),
    "AuthorizeSecurityGroupIngress.envelope-referenced-group-ruleset.json": (
        ("sg-01f414f5313452cd1",), ("sgr-02e2ca7d55820dc26",),
        (ingress("tcp", 1521, 1521, "group", "sg-000537769a1c2d858", "Allows ingress to an rds instance "
                 "created in another stack from application ec2 instances created in this stack."),)),
    "AuthorizeSecurityGroupIngress.flatiron-envelope-443-world.json": (
        ("sg-abcd",), (), (ingress("tcp", 443, 443, "ipv4", "0.0.0.0/0"),)),
    "AuthorizeSecurityGroupIngress.panther-sdk-go-ssh-world.json": (
        ("sg-0d921df5d84f7270a",), (), (ingress("tcp", 22, 22, "ipv4", "0.0.0.0/0"),)),
    "AuthorizeSecurityGroupIngress.reflex-envelope-ipv4-ipv6-multi-items.json": (
        ("sg-00000bd0bf00f0000",), (),
        (ingress("tcp", 55, 55, "ipv4", "0.0.0.0/0"), ingress("tcp", 55, 55, "ipv6", "::/0"))),
    "AuthorizeSecurityGroupIngress.stratus-flat-cidr-ruleset.json": (
        ("sg-003dc7f1f1c686164",), ("sgr-09b3e3d2ca1edf2a2",),
        (ingress("tcp", 22, 22, "ipv4", "208.236.235.254/0"),)),
}
REJECTED_ENVELOPES = {"AuthorizeSecurityGroupIngress.flatiron-envelope-443-world.json"}
NOT_SG_CALLS = [
    "CreateSecurityGroup.reflex-envelope-console.json",
    "RunInstances.elastic-metadataoptions-response.json",
    "RunInstances.stratus-error-unauthorized.json",
]


@pytest.mark.parametrize("name", sorted(REFERENCE_SG), ids=lambda n: n.removesuffix(".json"))
def test_reference_sg_call(name: str) -> None:
    raw = reference(name)
    if name in REJECTED_ENVELOPES:
        with pytest.raises(EventError, match="contradicts eventSource"):
            parse_envelope(raw)
        raw = raw["detail"]
    groups, rules, permissions = REFERENCE_SG[name]
    change = change_of(raw)
    assert (change.group_ids, change.rule_ids, change.permissions) == (groups, rules, permissions)
    assert change.group_names == ()


def test_every_reference_sg_call_has_an_expectation() -> None:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(NO_REFERENCE)
    present = {p.name for p in REFERENCE_DIR.glob("*.json") if p.name.split(".", 1)[0] in SG_EVENTS}
    assert present == set(REFERENCE_SG)


@pytest.mark.parametrize("name", NOT_SG_CALLS, ids=lambda n: n.removesuffix(".json"))
def test_reference_non_sg_call_is_refused(name: str) -> None:
    event = parse_envelope(reference(name))
    with pytest.raises(EventError, match="is not a security-group rule call"):
        parse_sg_change(event)


# -- the project's own sample events -------------------------------------------------------------------------

BASTION, NODE, CONTROL_PLANE = "sg-45c655b3a7de4b157", "sg-4f8afd854e888ded2", "sg-9cf949909987b9725"
WORLD = "0.0.0.0/0"
PROJECT_SG: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[Permission, ...]]] = {
    "sg-egress-all-traffic-world-bastion.json": (
        (BASTION,), ("sgr-010a7c1e5b9d3f2468",),
        (egress("-1", None, None, "ipv4", WORLD, "fetch kubeconfig and packages"),)),
    # flat form, ports as strings
    "sg-ingress-api-world-flat-control-plane.json": (
        (CONTROL_PLANE,), ("sgr-004a7c1e5b9d3f2468",), (ingress("tcp", 443, 443, "ipv4", WORLD),)),
    "sg-ingress-failed-unauthorized.json": ((NODE,), (), (ingress("tcp", 22, 22, "ipv4", WORLD),)),
    # groupName only: the id comes from responseElements.securityGroupRuleSet
    "sg-ingress-groupname-only-default-vpc.json": (
        ("sg-03c8232a20adfd009",), ("sgr-007a7c1e5b9d3f2468",), (ingress("tcp", 22, 22, "ipv4", WORLD),)),
    "sg-ingress-kubelet-ipv6-world-node.json": (
        (NODE,), ("sgr-003a7c1e5b9d3f2468",), (ingress("tcp", 10250, 10250, "ipv6", "::/0"),)),
    "sg-ingress-lb-8080-world.json": (
        ("sg-874771809f66dadb9",), ("sgr-005a7c1e5b9d3f2468",),
        (ingress("tcp", 8080, 8080, "ipv4", WORLD, "admin UI"),)),
    "sg-ingress-rdp-world-flat-bastion.json": (
        (BASTION,), ("sgr-006a7c1e5b9d3f2468",), (ingress("tcp", 3389, 3389, "ipv4", WORLD),)),
    "sg-ingress-referenced-group-control-plane.json": (
        (CONTROL_PLANE,), ("sgr-012a7c1e5b9d3f2468",),
        (ingress("tcp", 443, 443, "group", BASTION, "kubectl from the bastion"),)),
    "sg-ingress-ssh-world-exempt-ci-runner.json": (
        ("sg-45ce112da3f9cf041",), ("sgr-008a7c1e5b9d3f2468",),
        (ingress("tcp", 22, 22, "ipv4", WORLD, "runner debug"),)),
    "sg-ingress-ssh-world-expired-exemption.json": (
        ("sg-cd403a6d448fa3327",), ("sgr-009a7c1e5b9d3f2468",), (ingress("tcp", 22, 22, "ipv4", WORLD),)),
    # one grouped permission, two CIDRs: two rules
    "sg-ingress-ssh-world-grouped-node.json": (
        (NODE,), ("sgr-001a7c1e5b9d3f2468", "sgr-002a7c1e5b9d3f2468"),
        (ingress("tcp", 22, 22, "ipv4", "10.0.0.0/8", "VPN"),
         ingress("tcp", 22, 22, "ipv4", WORLD, "temp debug"))),
    "sg-ingress-wide-public-cidr-node.json": (
        (NODE,), ("sgr-011a7c1e5b9d3f2468",),
        (ingress("tcp", 30443, 30443, "ipv4", "8.0.0.0/8", "partner range"),)),
    # the wrapped, PascalCase ModifySecurityGroupRulesRequest
    "sg-modify-bastion-ssh-to-world.json": (
        (BASTION,), ("sgr-0b5f1e2d3c4a59687",), (ingress("tcp", 22, 22, "ipv4", WORLD),)),
    # revoke by securityGroupRuleIds
    "sg-revoke-by-eksguard-itself.json": ((NODE,), ("sgr-0e1d2c3b4a5968778",), ()),
    "sg-revoke-cluster-self-rule.json": (
        ("sg-3ba64e38bd73aab59",), (), (ingress("-1", None, None, "group", "sg-3ba64e38bd73aab59"),)),
}


@pytest.mark.parametrize("name", sorted(PROJECT_SG), ids=lambda n: n.removesuffix(".json"))
def test_project_sg_event(name: str) -> None:
    groups, rules, permissions = PROJECT_SG[name]
    change = change_of(json.loads((EVENTS_DIR / name).read_text()))
    assert (change.group_ids, change.rule_ids, change.permissions) == (groups, rules, permissions)
    assert change.is_revoke is name.startswith("sg-revoke")


def test_every_project_sg_event_parses_or_is_rejected_cleanly() -> None:
    seen = 0
    for path in sorted(EVENTS_DIR.glob("*.json")):
        try:
            event = parse_envelope(json.loads(path.read_text()))
            if event.context.event_name not in SG_EVENTS:
                continue
            change = parse_sg_change(event)
        except EventError as exc:
            assert str(exc), path.name
            continue
        seen += 1
        assert change.group_ids or change.group_names, path.name
    assert seen, f"no security-group events in {EVENTS_DIR}"


# -- request forms -------------------------------------------------------------------------------------------

FORMS: list[tuple[str, dict[str, Any], SgChange]] = [
    ("flat-ports-as-strings",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": {}, "cidrIp": WORLD, "ipProtocol": "tcp",
                    "fromPort": "22", "toPort": "22"}),
     SgChange(INGRESS, ("sg-1",), (), (), (ingress("tcp", 22, 22, "ipv4", WORLD),))),
    ("flat-ipv6",
     call(INGRESS, {"groupId": "sg-1", "cidrIpv6": "::/0", "ipProtocol": "udp",
                    "fromPort": 53, "toPort": 53}),
     SgChange(INGRESS, ("sg-1",), (), (), (ingress("udp", 53, 53, "ipv6", "::/0"),))),
    ("flat-source-group-name",
     call(INGRESS, {"groupName": "web", "sourceSecurityGroupName": "lb", "ipProtocol": "tcp",
                    "fromPort": 80, "toPort": 80}),
     SgChange(INGRESS, (), ("web",), (), (ingress("tcp", 80, 80, "group", "lb"),))),
    ("flat-all-traffic-no-ports",
     call(EGRESS, {"groupId": "sg-1", "cidrIp": WORLD, "ipProtocol": "-1"}),
     SgChange(EGRESS, ("sg-1",), (), (), (egress("-1", None, None, "ipv4", WORLD),))),
    ("flat-and-listed-together",
     call(INGRESS, {"groupId": "sg-1", "cidrIp": WORLD, "ipProtocol": "tcp", "fromPort": 22, "toPort": 22,
                    "ipPermissions": items(perm(ports=(443, 443),
                                                ipRanges=items({"cidrIp": "1.2.3.4/32"})))}),
     SgChange(INGRESS, ("sg-1",), (), (), (ingress("tcp", 22, 22, "ipv4", WORLD),
                                          ingress("tcp", 443, 443, "ipv4", "1.2.3.4/32")))),
    ("list-several-items-all-source-kinds",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(
         perm(ipRanges=items({"cidrIp": "10.0.0.0/8", "description": "vpn"}, {"cidrIp": WORLD})),
         perm("udp", (53, 53), ipv6Ranges=items({"cidrIpv6": "2001:db8::/32"})),
         perm(ports=(443, 443), prefixListIds=items({"prefixListId": "pl-123"}),
              groups=items({"groupId": "sg-2", "userId": "123456789012"})),
     )}),
     SgChange(INGRESS, ("sg-1",), (), (), (
         ingress("tcp", 22, 22, "ipv4", "10.0.0.0/8", "vpn"), ingress("tcp", 22, 22, "ipv4", WORLD),
         ingress("udp", 53, 53, "ipv6", "2001:db8::/32"),
         ingress("tcp", 443, 443, "prefix-list", "pl-123"), ingress("tcp", 443, 443, "group", "sg-2"),
     ))),
    ("list-group-by-name-only",
     call(INGRESS, {"groupName": "web", "ipPermissions": items(perm(groups=items({"groupName": "lb"})))}),
     SgChange(INGRESS, (), ("web",), (), (ingress("tcp", 22, 22, "group", "lb"),))),
    ("list-numeric-protocol-and-minus-one-ports",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(
         perm("6", ("22", "23"), ipRanges=items({"cidrIp": WORLD})),
         perm("1", (-1, -1), ipRanges=items({"cidrIp": WORLD})),
         perm("all", None, ipRanges=items({"cidrIp": WORLD})),
     )}),
     SgChange(INGRESS, ("sg-1",), (), (), (
         ingress("tcp", 22, 23, "ipv4", WORLD), ingress("icmp", None, None, "ipv4", WORLD),
         ingress("-1", None, None, "ipv4", WORLD)))),
    ("group-name-only-resolved-from-response",
     call(INGRESS, {"groupName": "legacy", "ipPermissions": items(perm(ipRanges=items({"cidrIp": WORLD})))},
          rule_set(("sg-9", "sgr-1"))),
     SgChange(INGRESS, ("sg-9",), (), ("sgr-1",), (ingress("tcp", 22, 22, "ipv4", WORLD),))),
    ("group-name-only-unresolved",
     call(INGRESS, {"groupName": "legacy", "ipPermissions": items(perm(ipRanges=items({"cidrIp": WORLD})))}),
     SgChange(INGRESS, (), ("legacy",), (), (ingress("tcp", 22, 22, "ipv4", WORLD),))),
    ("response-duplicates-collapsed",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": {}},
          rule_set(("sg-1", "sgr-1"), ("sg-1", "sgr-2"), ("sg-1", "sgr-1"))),
     SgChange(INGRESS, ("sg-1",), (), ("sgr-1", "sgr-2"), ())),
    ("revoke-by-rule-id-items",
     call(REVOKE_IN, {"groupId": "sg-1", "securityGroupRuleIds": items(
         {"securityGroupRuleId": "sgr-a"}, {"securityGroupRuleId": "sgr-b"})}),
     SgChange(REVOKE_IN, ("sg-1",), (), ("sgr-a", "sgr-b"), ())),
    ("revoke-by-rule-id-plain-list",
     call(REVOKE_IN, {"groupId": "sg-1", "securityGroupRuleIds": ["sgr-a", "sgr-b"]}),
     SgChange(REVOKE_IN, ("sg-1",), (), ("sgr-a", "sgr-b"), ())),
    ("revoke-egress-listed",
     call("RevokeSecurityGroupEgress", {"groupId": "sg-1", "ipPermissions": items(
         perm("-1", None, ipRanges=items({"cidrIp": WORLD})))}),
     SgChange("RevokeSecurityGroupEgress", ("sg-1",), (), (), (egress("-1", None, None, "ipv4", WORLD),))),
    ("modify-wrapped-single",
     call(MODIFY, {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": {
         "SecurityGroupRuleId": "sgr-a", "SecurityGroupRule": {
             "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": WORLD}}}}),
     SgChange(MODIFY, ("sg-1",), (), ("sgr-a",), (ingress("tcp", 22, 22, "ipv4", WORLD),))),
    ("modify-wrapped-list-all-source-kinds",
     call(MODIFY, {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": [
         {"SecurityGroupRuleId": "sgr-a", "SecurityGroupRule": {
             "IpProtocol": "-1", "CidrIpv6": "::/0"}},
         {"SecurityGroupRuleId": "sgr-b", "SecurityGroupRule": {
             "IpProtocol": "tcp", "FromPort": "443", "ToPort": "443", "ReferencedGroupId": "sg-2"}},
         {"SecurityGroupRuleId": "sgr-c", "SecurityGroupRule": {
             "IpProtocol": "udp", "FromPort": 53, "ToPort": 53, "PrefixListId": "pl-1"}},
     ]}}),
     SgChange(MODIFY, ("sg-1",), (), ("sgr-a", "sgr-b", "sgr-c"), (
         ingress("-1", None, None, "ipv6", "::/0"), ingress("tcp", 443, 443, "group", "sg-2"),
         ingress("udp", 53, 53, "prefix-list", "pl-1")))),
    ("modify-unwrapped",
     call(MODIFY, {"GroupId": "sg-1", "SecurityGroupRules": [{"SecurityGroupRuleId": "sgr-a"}]}),
     SgChange(MODIFY, ("sg-1",), (), ("sgr-a",), ())),
]


@pytest.mark.parametrize(("raw", "expected"), [(r, e) for _, r, e in FORMS], ids=[n for n, _, _ in FORMS])
def test_request_form(raw: dict[str, Any], expected: SgChange) -> None:
    assert change_of(raw) == expected


@pytest.mark.parametrize(("name", "revoke"), [
    (INGRESS, False), (EGRESS, False), (MODIFY, False), (REVOKE_IN, True),
    ("RevokeSecurityGroupEgress", True),
])
def test_is_revoke(name: str, revoke: bool) -> None:
    assert change_of(call(name, {"groupId": "sg-1", "GroupId": "sg-1"})).is_revoke is revoke


# -- ports and protocols -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("raw", "expected"), [
    (22, 22), ("22", 22), (" 443 ", 443), (0, 0), (65535, 65535), (-1, None), ("-1", None), (None, None),
    ("", None),
], ids=["int", "string", "padded-string", "zero", "max", "minus-one", "minus-one-string", "none", "empty"])
def test_parse_port_accepts(raw: Any, expected: int | None) -> None:
    assert parse_port(raw, "fromPort") == expected


@pytest.mark.parametrize(("raw", "message"), [
    ("abc", "fromPort must be a port number, got 'abc'"),
    (70000, "fromPort 70000 is out of range"),
    (65536, "fromPort 65536 is out of range"),
    (-2, "fromPort -2 is out of range"),
    (True, "must be a port number, got True"),
    (False, "must be a port number, got False"),
    ([22], "must be a port number"),
    ({"port": 22}, "must be a port number"),
    ("22.5", "must be a port number"),
    (float("nan"), "must be a port number"),
    (float("inf"), "fromPort"),
    (22.5, "fromPort"),
], ids=["letters", "70000", "65536", "minus-two", "true", "false", "list", "object", "decimal-string", "nan",
        "infinity", "fractional-float"])
def test_parse_port_rejects(raw: Any, message: str) -> None:
    with pytest.raises(EventError) as exc:
        parse_port(raw, "fromPort")
    assert message in str(exc.value)


@pytest.mark.parametrize(("raw", "expected"), [
    ("tcp", "tcp"), ("TCP", "tcp"), ("6", "tcp"), (6, "tcp"), ("17", "udp"), ("1", "icmp"), ("58", "icmpv6"),
    ("-1", "-1"), (-1, "-1"), ("all", "-1"), (None, "-1"), ("50", "50"),
])
def test_normalize_protocol(raw: Any, expected: str) -> None:
    assert normalize_protocol(raw) == expected


# -- malformed payloads: EventError, never anything else -----------------------------------------------------

def _huge(n: int = MAX_ITEMS + 1) -> list[dict[str, Any]]:
    return [{"cidrIp": f"10.0.{i // 256}.{i % 256}/32"} for i in range(n)]


MALFORMED: list[tuple[str, dict[str, Any], str]] = [
    ("not-an-sg-call", call("CreateSecurityGroup", {"groupName": "x"}), "is not a security-group rule call"),
    ("no-group-at-all", call(INGRESS, {"ipPermissions": items(perm(ipRanges=items({"cidrIp": WORLD})))}),
     "neither a groupId nor a groupName"),
    ("all-nulls", call(INGRESS, {"groupId": None, "groupName": None, "ipPermissions": None}, None),
     "neither a groupId nor a groupName"),
    ("empty-containers-only", call(INGRESS, {"ipPermissions": {}}, {}), "neither a groupId nor a groupName"),
    ("group-id-int", call(INGRESS, {"groupId": 5}), "must be a non-empty string"),
    ("group-id-empty", call(INGRESS, {"groupId": ""}), "must be a non-empty string"),
    ("ip-permissions-string", call(INGRESS, {"groupId": "sg-1", "ipPermissions": "tcp:22:0.0.0.0/0"}),
     "ipPermissions must be an object with an items list"),
    ("ip-permissions-list", call(INGRESS, {"groupId": "sg-1", "ipPermissions": [perm()]}),
     "ipPermissions must be an object"),
    ("items-not-a-list", call(INGRESS, {"groupId": "sg-1", "ipPermissions": {"items": perm()}}),
     "ipPermissions.items must be a list"),
    ("items-null", call(INGRESS, {"groupId": "sg-1", "ipPermissions": {"items": None}}),
     "ipPermissions.items must be a list"),
    ("items-of-strings", call(INGRESS, {"groupId": "sg-1", "ipPermissions": items("tcp")}),
     "ipPermissions.items must hold objects"),
    ("items-of-nulls", call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(None)}),
     "ipPermissions.items must hold objects"),
    ("ip-ranges-string", call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm(ipRanges=WORLD))}),
     "ipPermissions.ipRanges must be an object"),
    ("ip-ranges-items-not-list",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm(ipRanges={"items": {"cidrIp": WORLD}}))}),
     "ipPermissions.ipRanges.items must be a list"),
    ("cidr-not-string",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm(ipRanges=items({"cidrIp": 0x0A000000})))}),
     "cidrIp must be a non-empty string"),
    ("port-letters",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm(ports=("abc", 22)))}),
     "fromPort must be a port number"),
    ("port-70000", call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm(ports=(22, 70000)))}),
     "toPort 70000 is out of range"),
    ("port-boolean", call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm(ports=(True, True)))}),
     "fromPort must be a port number"),
    ("flat-port-letters",
     call(INGRESS, {"groupId": "sg-1", "cidrIp": WORLD, "ipProtocol": "tcp", "fromPort": "ssh"}),
     "fromPort must be a port number"),
    ("flat-cidr-list", call(INGRESS, {"groupId": "sg-1", "cidrIp": [WORLD], "ipProtocol": "tcp"}),
     "cidrIp must be a non-empty string"),
    ("huge-permission-list",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": {"items": [perm()] * (MAX_ITEMS + 1)}}),
     f"at most {MAX_ITEMS}"),
    ("huge-ip-range-list",
     call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm(ipRanges={"items": _huge()}))}),
     f"at most {MAX_ITEMS}"),
    ("huge-response-rule-set",
     call(INGRESS, {"groupId": "sg-1"}, {"securityGroupRuleSet": {"items": [{"groupId": "sg-1"}] * 1001}}),
     f"at most {MAX_ITEMS}"),
    ("response-rule-set-string", call(INGRESS, {"groupId": "sg-1"}, {"securityGroupRuleSet": "sgr-1"}),
     "securityGroupRuleSet must be an object"),
    ("response-rule-id-int",
     call(INGRESS, {"groupId": "sg-1"}, {"securityGroupRuleSet": items({"securityGroupRuleId": 7})}),
     "must be a non-empty string"),
    ("modify-wrapper-string", call(MODIFY, {"ModifySecurityGroupRulesRequest": "sg-1"}),
     "ModifySecurityGroupRulesRequest must be an object"),
    ("modify-wrapper-null", call(MODIFY, {"ModifySecurityGroupRulesRequest": None}),
     "ModifySecurityGroupRulesRequest must be an object"),
    ("modify-rule-string",
     call(MODIFY, {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": "sgr-1"}}),
     "SecurityGroupRule must be an object or a list"),
    ("modify-rule-list-of-strings",
     call(MODIFY, {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": ["sgr-1"]}}),
     "SecurityGroupRule entries must be objects"),
    ("modify-inner-rule-string",
     call(MODIFY, {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": {
         "SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": "tcp/22"}}}),
     "SecurityGroupRule.SecurityGroupRule must be an object"),
    ("modify-huge",
     call(MODIFY, {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": [
         {"SecurityGroupRuleId": f"sgr-{i}"} for i in range(MAX_ITEMS + 1)]}}),
     "SecurityGroupRule must be an object or a list"),
    ("modify-port-70000",
     call(MODIFY, {"ModifySecurityGroupRulesRequest": {"GroupId": "sg-1", "SecurityGroupRule": {
         "SecurityGroupRuleId": "sgr-1", "SecurityGroupRule": {
             "IpProtocol": "tcp", "FromPort": 70000, "ToPort": 70000, "CidrIpv4": WORLD}}}}),
     "FromPort 70000 is out of range"),
    ("modify-no-group", call(MODIFY, {"ModifySecurityGroupRulesRequest": {}}),
     "neither a groupId nor a groupName"),
    ("revoke-rule-id-int", call(REVOKE_IN, {"groupId": "sg-1", "securityGroupRuleIds": items(
        {"securityGroupRuleId": 12})}), "must be a non-empty string"),
    # The rule-id list is a container like any other: the same rules apply to it.
    ("revoke-rule-ids-items-null",
     call(REVOKE_IN, {"groupId": "sg-1", "securityGroupRuleIds": {"items": None}}), "securityGroupRuleIds"),
    ("revoke-rule-ids-items-int",
     call(REVOKE_IN, {"groupId": "sg-1", "securityGroupRuleIds": {"items": 5}}), "securityGroupRuleIds"),
    ("revoke-rule-ids-items-string",
     call(REVOKE_IN, {"groupId": "sg-1", "securityGroupRuleIds": {"items": "sgr-1"}}),
     "securityGroupRuleIds"),
    ("revoke-rule-ids-huge",
     call(REVOKE_IN, {"groupId": "sg-1", "securityGroupRuleIds": items(
         *({"securityGroupRuleId": f"sgr-{i}"} for i in range(MAX_ITEMS + 1)))}), f"{MAX_ITEMS}"),
    ("port-infinity",  # json.loads("1e400") is float("inf")
     call(INGRESS, json.loads('{"groupId": "sg-1", "cidrIp": "0.0.0.0/0", "ipProtocol": "tcp", '
                              '"fromPort": 1e400, "toPort": 22}')), "fromPort"),
]


@pytest.mark.parametrize(("raw", "message"), [pytest.param(r, m, id=n) for n, r, m in MALFORMED])
def test_malformed_sg_call_raises_event_error(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(EventError) as exc:
        change_of(raw)
    assert message in str(exc.value)


def test_empty_containers_are_empty_not_errors() -> None:
    raw = call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm()), "securityGroupRuleIds": {}},
               {"securityGroupRuleSet": {}})
    assert change_of(raw) == SgChange(INGRESS, ("sg-1",), (), (), ())


def test_exactly_max_items_is_accepted() -> None:
    ranges = {"items": _huge(MAX_ITEMS)}
    raw = call(INGRESS, {"groupId": "sg-1", "ipPermissions": items(perm(ipRanges=ranges))})
    assert len(change_of(raw).permissions) == MAX_ITEMS


HOSTILE_VALUES: list[Any] = [
    None, {}, [], "", "x", 0, -1, 70000, True, 1.5, float("nan"), float("inf"), [None], [{}], ["x"],
    {"items": None}, {"items": "x"}, {"items": 5}, {"items": [None]}, {"items": [{}]},
]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    elif isinstance(value, list):
        for i, child in enumerate(value):
            out += _paths(child, (*prefix, i))
    return out


def _set(raw: Any, path: tuple[Any, ...], value: Any) -> Any:
    raw = copy.deepcopy(raw)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return raw


FORM = {name: raw for name, raw, _ in FORMS}
FUZZ_BASES = {name: FORM[name] for name in (
    "list-several-items-all-source-kinds", "flat-ports-as-strings", "modify-wrapped-list-all-source-kinds",
    "revoke-by-rule-id-items", "group-name-only-resolved-from-response")}


@pytest.mark.parametrize("base", list(FUZZ_BASES.values()), ids=list(FUZZ_BASES))
def test_any_hostile_value_anywhere_raises_only_event_error(base: dict[str, Any]) -> None:
    """Replace every node of a valid payload, one at a time, with each hostile value."""
    escaped = []
    for path in _paths(base["requestParameters"], ("requestParameters",)) + \
            _paths(base["responseElements"] or {}, ("responseElements",)):
        for value in HOSTILE_VALUES:
            try:
                change = change_of(_set(base, path, value))
            except EventError:
                continue
            except Exception as exc:  # noqa: BLE001 - the point of the test
                escaped.append(f"{'.'.join(map(str, path))} = {value!r}: {type(exc).__name__}: {exc}")
                continue
            # Whatever is accepted must still be well-typed.
            names = change.group_ids + change.rule_ids + change.group_names
            assert all(isinstance(v, str) and v for v in names)
            assert all(p.from_port is None or 0 <= p.from_port <= 65535 for p in change.permissions)
    assert not escaped, "\n".join(escaped)
