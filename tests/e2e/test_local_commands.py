"""`eksguard local provision|invoke|replay|up|demo` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.e2e.conftest import Cli, start_local_up, stop_local_up
from tests.paths import EVENTS, ROOT

from eksguard.local.seed import DemoAccount


def _ingress(cli: Cli, group: str) -> set[tuple[int, str]]:
    rules = cli.client("ec2").describe_security_group_rules(Filters=[{"Name": "group-id", "Values": [group]}])
    return {(r["FromPort"], r.get("CidrIpv4") or r.get("CidrIpv6") or "sg") for r in rules["SecurityGroupRules"]
            if not r["IsEgress"]}


def test_provision_is_idempotent(cli: Cli) -> None:
    first, second = cli("local", "provision"), cli("local", "provision")
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout) == json.loads(second.stdout)
    physical = json.loads(first.stdout)
    assert {"AuditTable", "IdempotencyTable", "AlertTopic", "OperationsTopic", "GuardDeadLetterQueue"} <= set(physical)
    tables = cli.client("dynamodb").list_tables()["TableNames"]
    assert sorted(tables) == sorted([physical["AuditTable"]["Ref"], physical["IdempotencyTable"]["Ref"]])


def test_invoke_like_sam_local_invoke(cli: Cli, demo: DemoAccount) -> None:
    cli.client("ec2").authorize_security_group_ingress(
        GroupId=demo.node_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 10250, "ToPort": 10250,
                                              "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    result = cli("local", "invoke", "SgGuardFunction", "-e", "events/sg-ingress-kubelet-ipv6-world-node.json",
                 "--parameter-overrides", "Mode=enforce")
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)  # stdout is the response alone; logs go to stderr
    assert response["status"] == "processed"
    assert [(a["rule_id"], a["action"]) for a in response["actions"]] == [("SG-002", "revoked")]
    assert '"service":"sg-guard"' in result.stderr
    assert (10250, "::/0") not in _ingress(cli, demo.node_sg)


def test_invoke_the_central_notifier_with_a_forwarded_finding(cli: Cli) -> None:
    """events/central-finding-*.json is what the central stack's notifier gets from the findings bus."""
    result = cli("local", "invoke", "NotifierFunction", "-e", "events/central-finding-sg-002-team-b.json",
                 "--parameter-overrides", "CentralOrganizationId=o-eksguarddemo", "SecurityHubExport=true")
    assert result.returncode == 0, result.stderr
    (delivered,) = json.loads(result.stdout)["results"]
    assert (delivered["status"], delivered["rule_id"], delivered["origin"]) == (
        "delivered", "SG-002", "team-b-prod (333344445555) / ap-northeast-2")
    assert delivered["security_hub"] is False  # a member's finding is not imported into the central account


def test_invoke_in_audit_mode_by_default(cli: Cli, demo: DemoAccount) -> None:
    cli.client("ec2").authorize_security_group_ingress(
        GroupId=demo.node_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 10250, "ToPort": 10250,
                                              "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    result = cli("local", "invoke", "SgGuardFunction", "-e", "events/sg-ingress-kubelet-ipv6-world-node.json")
    assert result.returncode == 0, result.stderr
    assert [a["action"] for a in json.loads(result.stdout)["actions"]] == ["alert-only"]
    assert (10250, "::/0") in _ingress(cli, demo.node_sg)


def test_invoke_unknown_function_and_bad_override(cli: Cli) -> None:
    unknown = cli("local", "invoke", "NoSuchFunction", "-e", "events/sg-ingress-kubelet-ipv6-world-node.json")
    assert unknown.returncode != 0 and "NoSuchFunction" in unknown.stderr
    bad = cli("local", "invoke", "SgGuardFunction", "-e", "events/sg-ingress-kubelet-ipv6-world-node.json",
              "--parameter-overrides", "Mood=enforce")
    assert bad.returncode != 0 and "Mood" in bad.stderr


def test_replay_routes_by_the_template_patterns(cli: Cli, demo: DemoAccount) -> None:
    cli.client("ec2").authorize_security_group_ingress(
        GroupId=demo.lb_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 8080, "ToPort": 8080,
                                            "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    result = cli("local", "replay", "events/sg-ingress-lb-8080-world.json", "--json",
                 "--parameter-overrides", "Mode=enforce")
    assert result.returncode == 0, result.stderr
    (line,) = [json.loads(x) for x in result.stdout.splitlines()]
    assert line["matched"] and line["deliveries"][0]["rule"] == "SgGuardFunction.SecurityGroupChange"
    assert [a["rule_id"] for a in line["deliveries"][0]["response"]["actions"]] == ["SG-004"]
    assert _ingress(cli, demo.lb_sg) >= {(443, "0.0.0.0/0"), (80, "0.0.0.0/0")}
    assert (8080, "0.0.0.0/0") not in _ingress(cli, demo.lb_sg)


def test_replay_reports_unmatched_events_with_non_zero_exit(cli: Cli, demo: DemoAccount) -> None:
    for name in ("sg-ingress-failed-unauthorized", "sg-revoke-by-eksguard-itself"):
        result = cli("local", "replay", str(EVENTS / f"{name}.json"))
        assert result.returncode == 1
        assert "no rule matches" in result.stdout


def test_replay_of_a_non_cloudtrail_event_matches_nothing(cli: Cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other = tmp_path / "instance-state.json"
    other.write_text((ROOT.parent / "shared" / "reference-events" /
                      "_envelope.EC2InstanceStateChange.awsdocs-eventbridge.json").read_text()
                     if (ROOT.parent / "shared").exists() else json.dumps(
                         {"source": "aws.ec2", "detail-type": "EC2 Instance State-change Notification", "detail": {}}))
    result = cli("local", "replay", str(other))
    assert result.returncode == 1 and "no rule matches" in result.stdout


def test_commands_refuse_without_an_endpoint(cli: Cli) -> None:
    env = {k: v for k, v in cli.env.items() if k != "AWS_ENDPOINT_URL"}
    result = subprocess.run([sys.executable, "-m", "eksguard.cli.main", "local", "provision"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0 and "AWS_ENDPOINT_URL" in result.stderr


def test_local_up_serves_a_seeded_account_until_stopped(cli: Cli, tmp_path: Path) -> None:
    """`local up` seeds the demo account and serves its clusters' Kubernetes APIs; with the exports it prints, the
    scan and the in-cluster guard read them (the README's commands)."""
    import shlex

    up = start_local_up(tmp_path, cli.env)
    try:
        lines = up.log.read_text().splitlines()
        assert any(f"127.0.0.1:{up.port}" in line for line in lines), "\n".join(lines)
        import boto3

        eks = boto3.client("eks", region_name="ap-northeast-2", endpoint_url=up.endpoint)
        assert eks.list_clusters()["clusters"] == ["demo", "payments"]
        exported = next(line for line in lines if "export AWS_ENDPOINT_URL" in line)
        exports = dict(item.split("=", 1) for item in shlex.split(exported)[1:])
        assert set(json.loads(exports["EKSGUARD_KUBE_ENDPOINTS"])) == {"demo", "payments"}
        user = Cli({**cli.env, **exports}, exports["AWS_ENDPOINT_URL"])
        scan = user("scan", "--format", "json")
        assert scan.returncode == 0, scan.stderr
        k8 = {(f["rule_id"], f["resource_id"]) for f in json.loads(scan.stdout)["findings"] if f["rule_id"][:2] == "K8"}
        assert k8 == {("K8-001", "demo"), ("K8-002", "demo"), ("K8-003", "demo/ci-runners"),
                      ("K8-004", "demo/app/worker"), ("K8-004", "payments/payments/api")}
        guard = user("local", "invoke", "KubeGuardFunction", "-e", "events/k8s-audit-aws-auth-patch.json")
        assert guard.returncode == 0, guard.stderr
        response = json.loads(guard.stdout)
        assert response["status"] == "processed" and response["extra"]["cluster"] == "demo"
        assert {a["rule_id"] for a in response["actions"]} == {"K8-001", "K8-002", "K8-003", "K8-004"}
    finally:
        assert stop_local_up(up) in (0, None)  # None: killed after it stopped serving (libfaketimeMT only)


def test_demo_runs_the_story_and_exits_zero(cli: Cli) -> None:
    env = {k: v for k, v in cli.env.items() if k != "AWS_ENDPOINT_URL"}
    result = subprocess.run([sys.executable, "-m", "eksguard.cli.main", "local", "demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    assert "revoked" in out and "dropped by the rule pattern" in out
    assert "node           tcp/22     10.0.0.0/8       added by a mistake present" in out
    assert "lb             tcp/443    0.0.0.0/0        seeded             present" in out
    assert "Alerts published on the SNS topic" in out
    # The organization chapter: two members' findings in one central stream, each labelled by its origin.
    assert "2 finding(s) arrived on the central bus; the central notifier posted 2 Slack message(s)" in out
    assert "| :red_circle: [platform-demo (123456789012) / ap-northeast-2] CRITICAL SG-002" in out
    assert "| :red_circle: [team-b-prod (333344445555) / ap-northeast-2] CRITICAL SG-002" in out
    # The Kubernetes chapter: the cases found by the sweep, the aws-auth edit arriving through the audit log.
    k8 = out[out.index("== Inside the clusters"):out.index("== Slack")]
    assert "open K8: K8-001 1, K8-002 1, K8-003 4, K8-004 2" in k8
    assert "audit log /aws/eks/demo/cluster -> KubeGuardFunction: subscribed now" in k8
    # legacy's node answers IMDSv1 and no policy stops its pods; payments' nodes come from no unrelated template.
    assert "pods of namespace default in cluster legacy can reach IMDS" in k8 and "in cluster payments" not in k8
    assert "KubeGuardFunction: processed, 6 finding(s) (writes: kubernetes-admin patch configmaps " \
        "kube-system/aws-auth)" in k8
    assert "aws-auth maps role arn:aws:iam::123456789012:role/KarpenterNodeRole-demo" in k8
    assert "KubeGuardFunction: skipped, 0 finding(s) - no write to what the K8 rules read" in k8
    assert " writes." in k8 and "; 0 writes." in k8
