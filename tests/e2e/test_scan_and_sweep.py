"""`eksguard scan` (every format, --fail-on) and the sweep through `eksguard local invoke`, as a user runs
them against a stand-in process."""

from __future__ import annotations

import json
import os

import boto3
import pytest
from tests.e2e.conftest import Cli

from eksguard.local.seed import DEMO_REGION, POSTURE_RANDOM_SEED, DemoAccount, PostureAccount, seed_cluster_posture
from eksguard.local.standin import seed_random

ADMIN_POLICY = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
# The K8 family is not these tests' subject (tests/e2e/test_local_commands.py reads the `local up` Kubernetes API
# stand-in): this stand-in serves no Kubernetes API, so scans and sweeps leave the family out explicitly.
NO_K8 = "--no-kubernetes"


@pytest.fixture
def posture(cli: Cli, demo: DemoAccount) -> PostureAccount:
    os.environ["AWS_ENDPOINT_URL"] = cli.endpoint
    seed_random(cli.endpoint, POSTURE_RANDOM_SEED)
    try:
        seeded = seed_cluster_posture(boto3.session.Session(region_name=DEMO_REGION), demo)
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
    eks = cli.client("eks")
    eks.create_access_entry(clusterName="legacy", principalArn=seeded.contractor_role_arn)
    eks.associate_access_policy(clusterName="legacy", principalArn=seeded.contractor_role_arn, policyArn=ADMIN_POLICY,
                                accessScope={"type": "cluster"})
    return seeded


def test_scan_json(cli: Cli, posture: PostureAccount) -> None:
    result = cli("scan", "--format", "json", NO_K8)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # not a terminal: no progress display
    report = json.loads(result.stdout)
    found = {(f["rule_id"], f["resource_id"], f["target_id"]) for f in report["findings"]}
    assert ("EK-006", "legacy", posture.contractor_role_arn) in found
    assert ("EK-004", "lt-b9985a7598e0f171b", "1") in found  # the id the events/ files name
    assert ("CT-001", f"cloudtrail:{DEMO_REGION}", None) in found
    assert {"EK-001", "EK-002", "EK-003", "SG-005"} <= {f["rule_id"] for f in report["findings"]}


def test_scan_table_and_markdown(cli: Cli, posture: PostureAccount) -> None:
    table = cli("scan", NO_K8)
    assert table.returncode == 0, table.stderr
    assert table.stdout.startswith(f"eksguard scan of account 123456789012, {DEMO_REGION}:")
    assert "SEVERITY" in table.stdout and "EK-004" in table.stdout
    markdown = cli("scan", "--format", "markdown", "--region", DEMO_REGION, NO_K8)
    assert markdown.returncode == 0
    assert markdown.stdout.startswith("## eksguard scan of account")
    assert "| critical | CT-001 |" in markdown.stdout


def test_scan_fail_on_and_bad_arguments(cli: Cli, posture: PostureAccount) -> None:
    assert cli("scan", "--fail-on", "critical", NO_K8).returncode == 1
    assert cli("scan", "--fail-on", "catastrophic").returncode == 2  # argparse: bad value
    env_without_region = {k: v for k, v in cli.env.items() if k not in ("AWS_DEFAULT_REGION", "AWS_REGION")}
    cli.env, saved = env_without_region, cli.env
    try:
        result = cli("scan")
    finally:
        cli.env = saved
    assert result.returncode == 2 and "no region" in result.stderr


def test_sweep_through_local_invoke(cli: Cli, posture: PostureAccount) -> None:
    first = cli("local", "invoke", "SweepFunction", "-e", "events/scheduled-sweep.json",
                "--parameter-overrides", "Mode=enforce", "TrustedCidrs=203.0.113.0/24", "EnforceImdsv2=true",
                "ReadKubernetes=false")
    assert first.returncode == 0, first.stderr
    response = json.loads(first.stdout)
    assert response["status"] == "processed"
    actions = {(a["rule_id"], a["resource_id"]): a["action"] for a in response["actions"]}
    assert actions[("EK-001", "legacy")] == "restricted-endpoint"
    assert actions[("EK-004", posture.launch_template_id)] == "new-launch-template-version"
    assert actions[("EK-006", "legacy")] == "alert-only"
    assert '"service":"sweep"' in first.stderr
    eks = cli.client("eks")
    assert eks.describe_cluster(name="legacy")["cluster"]["resourcesVpcConfig"]["publicAccessCidrs"] == [
        "203.0.113.0/24"]
    # After the sweep the posture report shows what is left: no EK-001, EK-002 or EK-004 any more.
    after = json.loads(cli("scan", "--format", "json", NO_K8).stdout)
    assert not {"EK-001", "EK-002", "EK-004"} & {f["rule_id"] for f in after["findings"]}


def test_demo_cluster_chapter_ends_with_the_posture_left(cli: Cli) -> None:
    import subprocess
    import sys

    from tests.paths import ROOT

    env = {k: v for k, v in cli.env.items() if k != "AWS_ENDPOINT_URL"}
    result = subprocess.run([sys.executable, "-m", "eksguard.cli.main", "local", "demo"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    chapter = result.stdout[result.stdout.index("== Cluster posture"):]
    assert "EK-001 high     restricted-endpoint" in chapter
    assert "EK-004 high     new-launch-template-version" in chapter
    assert "dropped by the rule pattern" in chapter
    posture = chapter[chapter.index("Posture after remediation (eksguard scan):"):chapter.index("\n== ")]
    rows = [line.split() for line in posture.splitlines() if line.split()[:1] in (["critical"], ["high"], ["medium"])]
    assert rows, posture
    assert not {"EK-001", "EK-002"} & {row[1] for row in rows if len(row) > 1}
    # EK-004 is left only where eksguard never writes: a node (alert only) and a version no node group uses.
    left = [line for line in posture.splitlines() if line.split()[:2] == ["high", "EK-004"]]
    assert left and all(" i-" in line or "used by no node group yet" in line for line in left), left
    assert any(row[:2] == ["critical", "CT-001"] for row in rows)


def test_cluster_guard_through_local_invoke(cli: Cli, demo: DemoAccount) -> None:
    """The README's example on a stand-in seeded like `eksguard local up` seeds it (cluster demo only)."""
    result = cli("local", "invoke", "ClusterGuardFunction", "-e",
                 "events/eks-update-cluster-config-endpoint-world.json",
                 "--parameter-overrides", "Mode=enforce", "TrustedCidrs=203.0.113.0/24")
    assert result.returncode == 0, result.stderr
    actions = {a["rule_id"]: a["action"] for a in json.loads(result.stdout)["actions"]}
    assert actions == {"EK-001": "restricted-endpoint", "EK-002": "enabled-logging", "EK-006": "alert-only"}
    assert '"service":"cluster-guard"' in result.stderr
    vpc = cli.client("eks").describe_cluster(name="demo")["cluster"]["resourcesVpcConfig"]
    assert vpc["publicAccessCidrs"] == ["203.0.113.0/24"] and vpc["endpointPrivateAccess"] is True
