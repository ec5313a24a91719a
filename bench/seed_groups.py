"""Seed N security groups into the stand-in and check, after a run, what each tool left behind.

Every group (in one VPC) gets benign rules that must survive: 10.0.0.0/8 tcp 443, and tcp 10250 from
another security group (the control-plane-to-kubelet shape). Near misses that must survive too:
0.0.0.0/0 tcp 443 on even groups, 10.0.0.0/8 tcp 22 on odd ones. One group in five also gets one bad rule,
in turn 0.0.0.0/0 tcp 22, ::/0 tcp 10250 and 0.0.0.0/0 all traffic. On odd groups a bad tcp 22 shares
its permission with the 10.0.0.0/8 tcp 22 near miss (one grouped permission, two ranges): only the
world half may go.

Seeding uses create_security_group plus one authorize_security_group_ingress per group; it runs before
the counters are reset, so it is never part of a measurement. Between runs of one size, ``repair`` puts
back exactly what the previous run changed (one authorize per group that lost a rule).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

# (protocol, from, to, source): one ingress rule as DescribeSecurityGroupRules reports it.
RuleKey = tuple[str, int, int, str]

BAD_KINDS: tuple[RuleKey, ...] = (("tcp", 22, 22, "0.0.0.0/0"), ("tcp", 10250, 10250, "::/0"),
                                  ("-1", -1, -1, "0.0.0.0/0"))
BENIGN_CIDR: RuleKey = ("tcp", 443, 443, "10.0.0.0/8")
NEAR_WORLD_443: RuleKey = ("tcp", 443, 443, "0.0.0.0/0")
NEAR_PRIVATE_22: RuleKey = ("tcp", 22, 22, "10.0.0.0/8")
BAD_EVERY = 5  # one group in five: 20 %


@dataclass
class Seeded:
    vpc_id: str
    peer_group_id: str
    # group id -> the ingress rules each class expects
    bad: dict[str, set[RuleKey]] = field(default_factory=dict)
    keep: dict[str, set[RuleKey]] = field(default_factory=dict)

    @property
    def groups(self) -> int:
        return len(self.keep)

    @property
    def bad_rules(self) -> int:
        return sum(len(v) for v in self.bad.values())

    @property
    def kept_rules(self) -> int:
        return sum(len(v) for v in self.keep.values())


def plan_group(index: int, peer_group_id: str) -> tuple[set[RuleKey], set[RuleKey]]:
    """(bad, keep) rules of the index-th group."""
    keep = {BENIGN_CIDR, ("tcp", 10250, 10250, peer_group_id),
            NEAR_WORLD_443 if index % 2 == 0 else NEAR_PRIVATE_22}
    bad = {BAD_KINDS[(index // BAD_EVERY) % len(BAD_KINDS)]} if index % BAD_EVERY == 0 else set()
    return bad, keep


def permissions(rules: Iterable[RuleKey]) -> list[dict[str, Any]]:
    """IpPermissions for one authorize call: rules with the same protocol and ports share a permission."""
    grouped: dict[tuple[str, int, int], dict[str, Any]] = {}
    for proto, lo, hi, source in sorted(rules):
        perm = grouped.setdefault((proto, lo, hi), {"IpProtocol": proto})
        if proto != "-1":
            perm["FromPort"], perm["ToPort"] = lo, hi
        if source.startswith("sg-"):
            perm.setdefault("UserIdGroupPairs", []).append({"GroupId": source})
        elif ":" in source:
            perm.setdefault("Ipv6Ranges", []).append({"CidrIpv6": source})
        else:
            perm.setdefault("IpRanges", []).append({"CidrIp": source})
    return list(grouped.values())


def seed(ec2: Any, count: int, prefix: str = "bench", workers: int = 4, vpc_id: str | None = None) -> Seeded:
    if vpc_id is None:
        vpc_id = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    peer = ec2.create_security_group(GroupName=f"{prefix}-control-plane", Description="referenced by every group",
                                     VpcId=vpc_id)["GroupId"]
    seeded = Seeded(vpc_id, peer)

    def one(index: int) -> tuple[str, set[RuleKey], set[RuleKey]]:
        bad, keep = plan_group(index, peer)
        group_id = ec2.create_security_group(GroupName=f"{prefix}-{index:05d}", Description="benchmark group",
                                             VpcId=vpc_id)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions(bad | keep))
        return group_id, bad, keep

    with ThreadPoolExecutor(max_workers=workers) as pool:
        for group_id, bad, keep in pool.map(one, range(count)):
            if bad:
                seeded.bad[group_id] = bad
            seeded.keep[group_id] = keep
    return seeded


def repair(ec2: Any, seeded: Seeded, actual: Mapping[str, set[RuleKey]]) -> int:
    """Bring the groups back to exactly the seeded rules after a run: re-authorize what is missing
    (normally the bad rules the tool removed), revoke anything that was not seeded. Returns the calls made.
    Cheaper than wiping and reseeding N groups, and the same account afterwards."""
    calls = 0
    for group_id, keep in seeded.keep.items():
        want = keep | seeded.bad.get(group_id, set())
        have = actual.get(group_id, set())
        if want - have:
            ec2.authorize_security_group_ingress(GroupId=group_id, IpPermissions=permissions(want - have))
            calls += 1
        if have - want:
            ec2.revoke_security_group_ingress(GroupId=group_id, IpPermissions=permissions(have - want))
            calls += 1
    return calls


def ingress_rules(ec2: Any) -> dict[str, set[RuleKey]]:
    """Every ingress rule of the region, by group (one unpaged read: moto returns everything at once)."""
    out: dict[str, set[RuleKey]] = {}
    for page in ec2.get_paginator("describe_security_group_rules").paginate():
        for rule in page["SecurityGroupRules"]:
            if not rule.get("IsEgress"):
                out.setdefault(rule["GroupId"], set()).add(rule_key(rule))
    return out


def rule_key(rule: Mapping[str, Any]) -> RuleKey:
    """One rule as DescribeSecurityGroupRules returns it, as (protocol, from, to, source)."""
    source = (rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("PrefixListId")
              or (rule.get("ReferencedGroupInfo") or {}).get("GroupId") or "?")
    proto = str(rule.get("IpProtocol"))
    lo = -1 if proto == "-1" else int(rule.get("FromPort", -1))
    hi = -1 if proto == "-1" else int(rule.get("ToPort", -1))
    return proto, lo, hi, source


def check(seeded: Seeded, actual: Mapping[str, set[RuleKey]]) -> dict[str, Any]:
    """What was left: bad rules still there, benign/near-miss rules gone, and anything unexpected."""
    bad_left = sum(len(rules & actual.get(g, set())) for g, rules in seeded.bad.items())
    kept_lost = sum(len(rules - actual.get(g, set())) for g, rules in seeded.keep.items())
    benign_lost = sum(1 for g, rules in seeded.keep.items() for r in rules - actual.get(g, set())
                      if r not in (NEAR_WORLD_443, NEAR_PRIVATE_22))
    near_lost = kept_lost - benign_lost
    return {
        "groups": seeded.groups,
        "bad_seeded": seeded.bad_rules,
        "bad_left": bad_left,
        "kept_seeded": seeded.kept_rules,
        "benign_lost": benign_lost,
        "near_miss_lost": near_lost,
        "correct": bad_left == 0 and kept_lost == 0,
    }
