"""The IRSA guard end to end: `eksguard local replay` and `eksguard rollback` in subprocesses against a
stand-in process (`eksguard local up`), the demo account seeded with its IRSA roles. IAM events replay
against the stack as deployed in us-east-1; the EKS CreateCluster event against the cluster's region."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from tests.e2e.conftest import start_local_up, stop_local_up
from tests.paths import EVENTS, ROOT, TEMPLATE

from eksguard.local.demo_irsa import SCENARIOS
from eksguard.local.seed import (
    DEMO_REGION,
    IAM_REGION,
    IRSA_RANDOM_SEED,
    RANDOM_SEED,
    IrsaAccount,
    seed_demo,
    seed_irsa,
)
from eksguard.local.standin import seed_random
from eksguard.local.template import LocalContext, TemplateResolver, functions, load_template

ROLES = ("demo-aws-node", "demo-app-api", "demo-reports", "payments-api")


@dataclass
class Stand:
    endpoint: str
    ids: IrsaAccount
    physical: dict[str, dict[str, Any]]  # region -> provisioned resources

    def env(self, region: str) -> dict[str, str]:
        return {**os.environ, "AWS_ENDPOINT_URL": self.endpoint, "AWS_DEFAULT_REGION": region, "AWS_REGION": region}

    def cli(self, *args: str, region: str = IAM_REGION) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "eksguard.cli.main", *args], cwd=ROOT, env=self.env(region),
                              capture_output=True, text=True, timeout=300, check=False)

    def replay(self, *names: str, mode: str | None = "enforce", region: str | None = None) -> list[dict[str, Any]]:
        lines = []
        for name in names:
            where = region or json.loads((EVENTS / f"{name}.json").read_text())["region"]
            extra = ["--parameter-overrides", f"Mode={mode}"] if mode else []
            result = self.cli("local", "replay", str(EVENTS / f"{name}.json"), "--json", *extra, region=where)
            assert result.returncode in (0, 1), result.stderr[-3000:]
            lines += [json.loads(line) for line in result.stdout.splitlines()]
        return lines

    def client(self, service: str, region: str = IAM_REGION) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint)

    def trust(self, role: str) -> dict[str, Any]:
        return dict(self.client("iam").get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"])

    def subscribe(self, region: str = IAM_REGION) -> str:
        sqs = self.client("sqs", region)
        url = sqs.create_queue(QueueName="e2e-irsa-alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns", region).subscribe(TopicArn=self.physical[region]["AlertTopic"]["Ref"], Protocol="sqs",
                                             Endpoint=arn)
        return str(url)

    def drain(self, url: str, region: str = IAM_REGION) -> list[dict[str, Any]]:
        sqs, out = self.client("sqs", region), []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for m in batch:
                out.append(json.loads(json.loads(m["Body"])["Message"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return out

    def audit(self) -> list[dict[str, Any]]:
        table = self.physical[IAM_REGION]["AuditTable"]["Ref"]
        items = self.client("dynamodb").scan(TableName=table)["Items"]
        return [{k: v.get("S") for k, v in i.items()} for i in items if i["pk"]["S"].startswith("remediation#")]


@pytest.fixture
def stand(tmp_path: Path) -> Iterator[Stand]:
    """A fresh stand-in process (as `eksguard local up --seed none` starts it), the template provisioned in
    both regions, then the demo account and its IRSA roles seeded with deterministic ids."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    up = start_local_up(tmp_path, env, "--seed", "none")
    endpoint = up.endpoint
    try:
        physical = {}
        for region in (IAM_REGION, DEMO_REGION):
            out = subprocess.run([sys.executable, "-m", "eksguard.cli.main", "local", "provision"], cwd=ROOT,
                                 env={**env, "AWS_ENDPOINT_URL": endpoint, "AWS_DEFAULT_REGION": region},
                                 capture_output=True, text=True, timeout=120, check=True)
            physical[region] = json.loads(out.stdout)
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        try:
            seed_random(endpoint, RANDOM_SEED)
            seed_demo(boto3.session.Session(region_name=DEMO_REGION))
            seed_random(endpoint, IRSA_RANDOM_SEED)
            ids = seed_irsa(boto3.session.Session(region_name=DEMO_REGION))
        finally:
            del os.environ["AWS_ENDPOINT_URL"]
        yield Stand(endpoint, ids, physical)
    finally:
        stop_local_up(up)


def test_every_irsa_scenario_through_replay(stand: Stand) -> None:
    """The demo's sequence, each mistake made for real, each event routed by the template's own patterns;
    the first event is then delivered again (EventBridge retries): one change, one alert."""
    alerts = stand.subscribe()
    before = {r: stand.trust(r) for r in ROLES}
    iam = stand.client("iam")
    got: dict[str, list[tuple[str, str]]] = {}
    responses: dict[str, Any] = {}
    for scenario in SCENARIOS:
        scenario.mistake(iam, stand.ids)
        (line,) = stand.replay(scenario.event_file)
        responses[scenario.event_file] = line["deliveries"][0]["response"] if line["deliveries"] else None
        mine = [d for d in line["deliveries"] if d["rule"].startswith("Irsa")]
        assert all(d["error"] is None for d in mine), mine
        got[scenario.event_file] = sorted((a["rule_id"], a["action"]) for d in mine for a in d["response"]["actions"])
        if not line["matched"]:
            got[scenario.event_file] = [("dropped", "")]
    assert got == {
        "iam-create-role-aws-node-aud-typo": [("IR-001", "rewrote-trust")],
        "iam-update-trust-wildcard-sub-app-api": [("IR-003", "rewrote-trust")],
        "iam-create-role-reports-no-sub": [("IR-002", "alert-only")],
        "irsa-eks-create-cluster-payments-recreated": [("IR-005", "alert-only")],
        "iam-delete-oidc-provider-payments-old": [("IR-005", "alert-only"), ("IR-006", "alert-only")],
        "iam-create-oidc-provider-payments": [("IR-005", "rewrote-trust")],
        "iam-attach-role-policy-cni-node-role": [("EK-005", "alert-only")],
        "iam-create-policy-version-hmj-eks-user": [("EK-007", "alert-only")],
        "iam-put-role-policy-star-ci-deployer": [("EK-007", "alert-only")],
        "iam-update-trust-failed-access-denied": [("dropped", "")],
        "iam-update-trust-by-eksguard-itself": [("dropped", "")],
    }
    after = {r: stand.trust(r) for r in ROLES}
    aud = f"{stand.ids.demo_issuer}:aud"
    assert after["demo-aws-node"]["Statement"][0]["Condition"]["StringEquals"][aud] == "sts.amazonaws.com"
    assert after["demo-app-api"]["Statement"][0]["Condition"] == {"StringEquals": {
        aud: "sts.amazonaws.com", f"{stand.ids.demo_issuer}:sub": "system:serviceaccount:app:api"}}
    assert after["demo-reports"] == before["demo-reports"]  # unknown service account: alert only
    assert after["payments-api"] == json.loads(json.dumps(before["payments-api"]).replace(
        stand.ids.payments_old_issuer, stand.ids.payments_issuer))
    sent = stand.drain(alerts)
    assert len(sent) == 9  # every us-east-1 action above (the CreateCluster one goes to its region's topic)

    trust_after = stand.trust("demo-aws-node")
    (again,) = stand.replay("iam-create-role-aws-node-aud-typo")
    # Redelivery in a new process (a cold start): answered from the idempotency record, nothing redone.
    assert responses["iam-create-role-aws-node-aud-typo"]["actions"]
    assert again["deliveries"][0]["response"] == responses["iam-create-role-aws-node-aud-typo"]
    assert stand.trust("demo-aws-node") == trust_after
    assert stand.drain(alerts) == []
    assert len([r for r in stand.audit() if r["resource_id"] == "demo-aws-node"]) == 1


def test_rollback_restores_the_trust_exactly(stand: Stand) -> None:
    original = stand.trust("demo-aws-node")
    stand.replay("iam-create-role-aws-node-aud-typo")
    assert stand.trust("demo-aws-node") != original
    (record,) = stand.audit()
    rid = str(record["remediation_id"])

    dry = stand.cli("rollback", rid, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["status"] == "would-roll-back"
    assert stand.trust("demo-aws-node") != original

    done = stand.cli("rollback", rid)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "rolled-back" and result["restored"] == original
    assert stand.trust("demo-aws-node") == original  # parsed JSON equal to the before-image
    tags = {t["Key"]: t["Value"] for t in stand.client("iam").get_role(RoleName="demo-aws-node")["Role"]["Tags"]}
    assert tags["eksguard:exempt"] == result["exempt_until"]

    again = stand.cli("rollback", rid)
    assert again.returncode == 2 and "already rolled back" in again.stderr
    unknown = stand.cli("rollback", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 2 and "no remediation" in unknown.stderr


def test_audit_mode_replay_changes_nothing(stand: Stand) -> None:
    before = {r: stand.trust(r) for r in ROLES}
    lines = stand.replay("iam-create-role-aws-node-aud-typo", "iam-update-trust-wildcard-sub-app-api", mode=None)
    actions = [a for line in lines for d in line["deliveries"] for a in d["response"]["actions"]]
    assert [(a["rule_id"], a["action"]) for a in actions] == [("IR-001", "alert-only"), ("IR-003", "alert-only")]
    assert {r: stand.trust(r) for r in ROLES} == before
    assert stand.audit() == []


def test_iam_event_outside_us_east_1_matches_no_rule(stand: Stand) -> None:
    result = stand.cli("local", "replay", str(EVENTS / "iam-create-role-aws-node-aud-typo.json"),
                       "--parameter-overrides", "Mode=enforce", region=DEMO_REGION)
    assert result.returncode == 1 and "no rule matches" in result.stdout
    assert stand.trust("demo-aws-node")["Statement"][0]["Condition"]["StringEquals"][
        f"{stand.ids.demo_issuer}:aud"] == "sts.amazon.com"


PHYSICAL = {lid: {"Ref": lid, "Arn": f"arn:aws:sqs:us-east-1:123456789012:{lid}"}
            for lid in ("GuardDeadLetterQueue", "NotifierDeadLetterQueue", "AuditTable", "IdempotencyTable",
                        "AlertTopic", "OperationsTopic")}


@pytest.mark.parametrize(("region", "deploy", "deployed"), [
    ("us-east-1", "auto", True), ("ap-northeast-2", "auto", False), ("eu-west-1", "auto", False),
    ("us-gov-west-1", "auto", True), ("ap-northeast-2", "always", True), ("us-east-1", "never", False),
])
def test_iam_rule_exists_only_where_iam_events_arrive(region: str, deploy: str, deployed: bool) -> None:
    template = load_template(TEMPLATE)
    ctx = LocalContext("123456789012", region, parameters={"DeployIamRules": deploy}, physical=PHYSICAL)
    specs = functions(template, TemplateResolver(template, ctx))
    assert specs["IrsaGuardFunction"].deployed is deployed
    assert specs["IrsaRefreshFunction"].deployed  # CreateCluster happens in every region
    assert [r.name for r in specs["IrsaRefreshFunction"].event_rules] == ["ClusterCreated"]
