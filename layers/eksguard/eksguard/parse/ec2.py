"""Security-group calls: every request form CloudTrail logs, reduced to where to look.

The requested permissions are kept for the record (what the actor asked for, and which rules a
revoke removed), never as the state to act on: the snapshot re-reads that.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from eksguard.parse.envelope import CloudTrailEvent, EventError

SG_EVENTS = frozenset(
    {
        "AuthorizeSecurityGroupIngress",
        "AuthorizeSecurityGroupEgress",
        "RevokeSecurityGroupIngress",
        "RevokeSecurityGroupEgress",
        "ModifySecurityGroupRules",
    }
)
PROTOCOL_NAMES = {"6": "tcp", "17": "udp", "1": "icmp", "58": "icmpv6", "all": "-1"}
# Guard against a hostile or corrupted payload that lists absurd numbers of permissions.
MAX_ITEMS = 1000


@dataclass(frozen=True)
class Permission:
    """One source of one requested rule: AWS stores each CIDR/source as its own rule."""

    is_egress: bool
    protocol: str
    from_port: int | None
    to_port: int | None
    source_kind: str  # "ipv4" | "ipv6" | "prefix-list" | "group"
    source: str
    description: str | None = None


@dataclass(frozen=True)
class SgChange:
    event_name: str
    group_ids: tuple[str, ...]
    group_names: tuple[str, ...]
    rule_ids: tuple[str, ...]
    permissions: tuple[Permission, ...]

    @property
    def is_revoke(self) -> bool:
        return self.event_name.startswith("Revoke")


def normalize_protocol(raw: Any) -> str:
    text = str(raw).strip().lower() if raw is not None else "-1"
    return PROTOCOL_NAMES.get(text, text)


def parse_port(raw: Any, name: str) -> int | None:
    """Ports arrive as ints or strings; -1 and absence both mean "no port" (protocol -1, ICMP any)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool) or (isinstance(raw, float) and not raw.is_integer()):
        raise EventError(f"{name} must be a port number, got {raw!r}")
    try:
        port = int(raw)
    except (TypeError, ValueError, OverflowError):
        raise EventError(f"{name} must be a port number, got {raw!r}") from None
    if not -1 <= port <= 65535:
        raise EventError(f"{name} {port} is out of range")
    return None if port == -1 else port


def parse_sg_change(event: CloudTrailEvent) -> SgChange:
    name = event.context.event_name
    if name not in SG_EVENTS:
        raise EventError(f"{name} is not a security-group rule call")
    request, response = event.request, event.response
    if name == "ModifySecurityGroupRules":
        group_ids, rule_ids, permissions = _modify(request)
    else:
        is_egress = name.endswith("Egress")
        group_ids = _str_list([request.get("groupId")])
        permissions = tuple(_flat(request, is_egress)) + tuple(_listed(request, is_egress))
        rule_ids = _request_rule_ids(request)
    response_rules = _items(response.get("securityGroupRuleSet"), "responseElements.securityGroupRuleSet")
    group_ids += _str_list(item.get("groupId") for item in response_rules)
    rule_ids += _str_list(item.get("securityGroupRuleId") for item in response_rules)
    group_names = () if group_ids else _str_list([request.get("groupName")])
    if not group_ids and not group_names:
        raise EventError(f"{name}: neither a groupId nor a groupName says which security group changed")
    return SgChange(name, _unique(group_ids), group_names, _unique(rule_ids), permissions)


def _flat(request: Mapping[str, Any], is_egress: bool) -> Iterator[Permission]:
    """The flat form: cidrIp/ipProtocol/fromPort/toPort at the top, ``ipPermissions: {}``."""
    if not any(k in request for k in ("cidrIp", "cidrIpv6", "sourceSecurityGroupName")):
        return
    protocol = normalize_protocol(request.get("ipProtocol"))
    ports = parse_port(request.get("fromPort"), "fromPort"), parse_port(request.get("toPort"), "toPort")
    for key, kind in (("cidrIp", "ipv4"), ("cidrIpv6", "ipv6"), ("sourceSecurityGroupName", "group")):
        value = request.get(key)
        if value is not None:
            yield Permission(is_egress, protocol, *ports, kind, _string(value, key))


def _listed(request: Mapping[str, Any], is_egress: bool) -> Iterator[Permission]:
    for perm in _items(request.get("ipPermissions"), "ipPermissions"):
        protocol = normalize_protocol(perm.get("ipProtocol"))
        ports = parse_port(perm.get("fromPort"), "fromPort"), parse_port(perm.get("toPort"), "toPort")
        sources = (
            ("ipRanges", "cidrIp", "ipv4"),
            ("ipv6Ranges", "cidrIpv6", "ipv6"),
            ("prefixListIds", "prefixListId", "prefix-list"),
            ("groups", "groupId", "group"),
        )
        for container, key, kind in sources:
            for item in _items(perm.get(container), f"ipPermissions.{container}"):
                value = item.get(key) or (item.get("groupName") if kind == "group" else None)
                if value is not None:
                    description = item.get("description")
                    yield Permission(
                        is_egress, protocol, *ports, kind, _string(value, key),
                        description if isinstance(description, str) else None,
                    )


def _modify(request: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...], tuple[Permission, ...]]:
    """``ModifySecurityGroupRulesRequest``: a wrapped, PascalCase form with one or many rules."""
    wrapped = request.get("ModifySecurityGroupRulesRequest", request)
    if not isinstance(wrapped, Mapping):
        raise EventError("ModifySecurityGroupRulesRequest must be an object")
    entries = wrapped.get("SecurityGroupRule") or wrapped.get("SecurityGroupRules") or []
    entries = [entries] if isinstance(entries, Mapping) else entries
    if not isinstance(entries, list) or len(entries) > MAX_ITEMS:
        raise EventError("SecurityGroupRule must be an object or a list of objects")
    rule_ids: list[Any] = []
    permissions: list[Permission] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise EventError("SecurityGroupRule entries must be objects")
        rule_ids.append(entry.get("SecurityGroupRuleId"))
        spec = entry.get("SecurityGroupRule") or {}
        if not isinstance(spec, Mapping):
            raise EventError("SecurityGroupRule.SecurityGroupRule must be an object")
        for key, kind in (("CidrIpv4", "ipv4"), ("CidrIpv6", "ipv6"), ("PrefixListId", "prefix-list"),
                          ("ReferencedGroupId", "group")):
            if spec.get(key) is not None:
                permissions.append(Permission(
                    False,  # the call does not say; the re-read does
                    normalize_protocol(spec.get("IpProtocol")),
                    parse_port(spec.get("FromPort"), "FromPort"),
                    parse_port(spec.get("ToPort"), "ToPort"),
                    kind, _string(spec[key], key),
                ))
    return _str_list([wrapped.get("GroupId")]), _str_list(rule_ids), tuple(permissions)


def _request_rule_ids(request: Mapping[str, Any]) -> tuple[str, ...]:
    """Revoke by rule id: ``securityGroupRuleIds`` holds ``{securityGroupRuleId}`` items (or bare strings)."""
    raw = request.get("securityGroupRuleIds")
    if raw is None or raw == {}:
        return ()
    if isinstance(raw, Mapping):
        items = raw.get("items")
        if not isinstance(items, list):
            raise EventError("securityGroupRuleIds.items must be a list")
    elif isinstance(raw, list):
        items = raw
    else:
        raise EventError("securityGroupRuleIds must be an object with an items list")
    if len(items) > MAX_ITEMS:
        raise EventError(f"securityGroupRuleIds lists more than {MAX_ITEMS} rules")
    return _str_list(item.get("securityGroupRuleId") if isinstance(item, Mapping) else item for item in items)


def _items(container: Any, where: str) -> list[Mapping[str, Any]]:
    """EC2 lists are ``{"items": [...]}``, or ``{}`` when empty; absent means empty."""
    if container is None or container == {} or container == "":
        return []
    if not isinstance(container, Mapping):
        raise EventError(f"{where} must be an object with an items list")
    items = container.get("items", [])
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise EventError(f"{where}.items must be a list of at most {MAX_ITEMS} objects")
    if not all(isinstance(item, Mapping) for item in items):
        raise EventError(f"{where}.items must hold objects")
    return items


def _string(value: Any, key: str) -> str:
    if not isinstance(value, str) or not value:
        raise EventError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _str_list(values: Any) -> tuple[str, ...]:
    out = []
    for value in values:
        if value is None:
            continue
        out.append(_string(value, "identifier"))
    return tuple(out)


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(values))
