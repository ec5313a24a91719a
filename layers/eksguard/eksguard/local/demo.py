"""``eksguard local demo``: the security-group story on the embedded stand-in, start to finish.

A moto server starts on loopback; the template's tables, topic and queues are provisioned into it;
the demo EKS account is seeded; then each mistake is made for real against the stand-in and the
CloudTrail event it would produce (``events/``) is routed through the template's own patterns.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import boto3

from eksguard.local.demo_cluster import cluster_chapter
from eksguard.local.demo_context import DemoContext, Scenario, print_alerts, print_routed, published, related, subscribe
from eksguard.local.demo_irsa import irsa_chapter
from eksguard.local.demo_org import org_chapter
from eksguard.local.demo_slack import slack_chapter
from eksguard.local.invoke import load_app
from eksguard.local.replay import Routed, replay
from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, DemoAccount, seed_demo
from eksguard.local.standin import endpoint_env, moto_server, seed_random
from eksguard.pipeline.scan import ScanReport

Mistake = Callable[[Any, DemoAccount], None]


def _ingress(group: str, port: int | None, cidr: str, protocol: str = "tcp", description: str = "") -> Mistake:
    def call(ec2: Any, acct: DemoAccount) -> None:
        perm: dict[str, Any] = {"IpProtocol": protocol}
        if port is not None:
            perm.update(FromPort=port, ToPort=port)
        key, item = ("Ipv6Ranges", {"CidrIpv6": cidr}) if ":" in cidr else ("IpRanges", {"CidrIp": cidr})
        if description:
            item["Description"] = description
        perm[key] = [item]
        ec2.authorize_security_group_ingress(GroupId=getattr(acct, group), IpPermissions=[perm])
    return call


def _grouped_ssh(ec2: Any, acct: DemoAccount) -> None:
    ec2.authorize_security_group_ingress(GroupId=acct.node_sg, IpPermissions=[{
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
        "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "VPN"},
                     {"CidrIp": "0.0.0.0/0", "Description": "temp debug"}]}])


def _modify_office_ssh(ec2: Any, acct: DemoAccount) -> None:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [acct.bastion_sg]}])
    office = next(r for r in rules["SecurityGroupRules"] if r.get("FromPort") == 22 and not r["IsEgress"])
    ec2.modify_security_group_rules(GroupId=acct.bastion_sg, SecurityGroupRules=[{
        "SecurityGroupRuleId": office["SecurityGroupRuleId"],
        "SecurityGroupRule": {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIpv4": "0.0.0.0/0",
                              "Description": "office SSH"}}])


def _legacy_by_name(ec2: Any, acct: DemoAccount) -> None:
    ec2.authorize_security_group_ingress(GroupName="legacy-web", IpProtocol="tcp", FromPort=22, ToPort=22,
                                         CidrIp="0.0.0.0/0")


def _revoke_cluster_self(ec2: Any, acct: DemoAccount) -> None:
    rules = ec2.describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [acct.cluster_sg]}])
    self_rule = next(r for r in rules["SecurityGroupRules"] if r.get("ReferencedGroupInfo"))
    ec2.revoke_security_group_ingress(GroupId=acct.cluster_sg, SecurityGroupRuleIds=[self_rule["SecurityGroupRuleId"]])


def _nothing(ec2: Any, acct: DemoAccount) -> None:
    """The state the event describes is already in the seeded account (or the call failed)."""


SCENARIOS: tuple[Scenario[Mistake], ...] = (
    Scenario("sg-ingress-ssh-world-grouped-node", "SSH from 10.0.0.0/8 and 0.0.0.0/0 in one permission on the "
             "node SG", _grouped_ssh),
    Scenario("sg-ingress-kubelet-ipv6-world-node", "kubelet 10250 from ::/0 on the node SG",
             _ingress("node_sg", 10250, "::/0")),
    Scenario("sg-ingress-api-world-flat-control-plane", "API 443 from 0.0.0.0/0 on the control-plane SG (flat form)",
             _ingress("control_plane_sg", 443, "0.0.0.0/0")),
    Scenario("sg-ingress-lb-8080-world", "8080 from the world on the load balancer (443/80 stay)",
             _ingress("lb_sg", 8080, "0.0.0.0/0", description="admin UI")),
    Scenario("sg-ingress-rdp-world-flat-bastion", "RDP 3389 from the world on the bastion",
             _ingress("bastion_sg", 3389, "0.0.0.0/0")),
    Scenario("sg-modify-bastion-ssh-to-world", "the bastion's office SSH rule modified to 0.0.0.0/0",
             _modify_office_ssh),
    Scenario("sg-ingress-wide-public-cidr-node", "30443 from public 8.0.0.0/8 on the node SG",
             _ingress("node_sg", 30443, "8.0.0.0/8", description="partner range")),
    Scenario("sg-ingress-referenced-group-control-plane", "443 from the bastion SG (SG reference)", _nothing),
    Scenario("sg-ingress-ssh-world-exempt-ci-runner", "SSH from the world on an exempt CI runner SG",
             _ingress("ci_runner_sg", 22, "0.0.0.0/0", description="runner debug")),
    Scenario("sg-ingress-ssh-world-expired-exemption", "SSH from the world on a SG whose exemption expired",
             _ingress("batch_sg", 22, "0.0.0.0/0")),
    Scenario("sg-ingress-groupname-only-default-vpc", "SSH from the world by group name in the default VPC "
             "(no cluster there: out of scope)", _legacy_by_name),
    Scenario("sg-egress-all-traffic-world-bastion", "all-traffic egress on the bastion", _nothing),
    Scenario("sg-revoke-cluster-self-rule", "the cluster SG's self rule revoked", _revoke_cluster_self),
    Scenario("sg-ingress-failed-unauthorized", "a failed call (errorCode): nothing changed", _nothing),
    Scenario("sg-revoke-by-eksguard-itself", "eksguard's own revoke coming back as an event", _nothing),
)


def security_group_chapter(demo: DemoContext) -> bool:
    ec2 = demo.session.client("ec2")
    before = _rules(ec2, demo.acct)
    routed: list[tuple[Scenario[Mistake], Routed]] = []
    for scenario in SCENARIOS:
        scenario.mistake(ec2, demo.acct)
        event = json.loads((demo.events / f"{scenario.event_file}.json").read_text())
        routed.append((scenario, replay(demo.app, scenario.event_file, event)))
    print("== Security groups", file=demo.out)
    _print_rules(demo.out, before, _rules(ec2, demo.acct), demo.acct)
    _print_actions(demo.out, routed)
    return all(d.invocation.ok for _, r in routed for d in r.deliveries)


# The demo's chapters, in order. Each prints its own before/after and returns False on a failure.
# slack_chapter stays last: it delivers every alert the chapters before it published.
# org_chapter comes after it: its alerts travel to the central stream instead.
CHAPTERS: tuple[Callable[[DemoContext], bool], ...] = (security_group_chapter, irsa_chapter, cluster_chapter,
                                                      slack_chapter, org_chapter)


def run_demo(root: Path, out: TextIO, render_scan: Callable[[ScanReport], str], mode: str = "enforce") -> int:
    """The whole story; ``render_scan`` prints the posture table as `eksguard scan` does (cli/report.py)."""
    template, events = root / "template.yaml", root / "events"
    with moto_server() as endpoint, endpoint_env(endpoint):
        session = boto3.session.Session(region_name=DEMO_REGION)
        print(f"eksguard demo: AWS stand-in (moto server) at {endpoint}, region {DEMO_REGION}, Mode={mode}\n",
              file=out)
        app = load_app(template, {"Mode": mode}, session)
        alerts_queue = subscribe(session, app.context.physical["AlertTopic"]["Ref"], "demo-alert-subscriber")
        seed_random(endpoint, RANDOM_SEED)
        demo = DemoContext(session, app, seed_demo(session), events, out, render_scan)
        ok = [chapter(demo) for chapter in CHAPTERS]
        print_alerts(out, "Alerts published on the SNS topic", published(session, alerts_queue))
        return 0 if all(ok) else 1


def _rules(ec2: Any, acct: DemoAccount) -> dict[tuple[str, str, str], str]:
    names = {v: k.removesuffix("_sg") for k, v in acct.as_dict().items() if k.endswith("_sg")}
    out: dict[tuple[str, str, str], str] = {}
    pages = ec2.get_paginator("describe_security_group_rules").paginate(
        Filters=[{"Name": "group-id", "Values": list(names)}])
    for rule in (r for p in pages for r in p["SecurityGroupRules"] if not r["IsEgress"]):
        ports = "all" if rule["IpProtocol"] == "-1" else f"{rule['IpProtocol']}/{rule['FromPort']}"
        source = rule.get("CidrIpv4") or rule.get("CidrIpv6") or rule.get("ReferencedGroupInfo", {}).get("GroupId", "?")
        source = names.get(source, source)
        out[(names[rule["GroupId"]], ports, source)] = rule["SecurityGroupRuleId"]
    return out


def _print_rules(out: TextIO, before: dict[Any, str], after: dict[Any, str], acct: DemoAccount) -> None:
    print("Ingress rules, seeded and added by the mistakes, and what is left of them:", file=out)
    print(f"  {'group':<14} {'rule':<10} {'source':<16} {'origin':<18} now", file=out)
    for key in sorted(set(before) | set(after)):
        origin = "seeded" if key in before else "added by a mistake"
        now = "present" if key in after else "gone"
        print(f"  {key[0]:<14} {key[1]:<10} {key[2]:<16} {origin:<18} {now}", file=out)
    print(file=out)


def _print_actions(out: TextIO, routed: list[tuple[Scenario[Mistake], Routed]]) -> None:
    print("Events replayed through the template's EventBridge patterns:", file=out)
    print_routed(out, routed,
                 lambda a: f"{a['rule_id']}{related(a)} {a['severity']:<8} {a['action']:<10} {a['detail']}")
    print(file=out)
