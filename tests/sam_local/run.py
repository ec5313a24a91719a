"""`make sam-local`: the functions in Lambda containers, for real, against the stand-in.

Starts the stand-in (`eksguard local up --host 0.0.0.0`, the demo account and its IRSA roles seeded; the
`legacy` cluster seeded as `make demo` seeds it, so the files in events/ name real resources), then runs
`sam local invoke --skip-pull-image` for each case below in the image `make sam-image` built, and checks
what the invoke did to the stand-in: a rule revoked, a trust policy rewritten, an endpoint restricted, an
audit record written, a finding imported. SAM exits 0 even when the handler fails, so the response body
is read too. Exit status 1 when any invoke failed or had no effect.

    run.py --sam .venv-sam/bin/sam --template .aws-sam/local/template.yaml --architecture x86_64
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from eksguard.local.demo_slack import lambda_sns_event
from eksguard.local.invoke import load_app
from eksguard.local.seed import (
    DEMO_REGION,
    IAM_REGION,
    OFFICE_CIDR,
    POSTURE_RANDOM_SEED,
    DemoAccount,
    seed_cluster_posture,
)
from eksguard.local.standin import endpoint_env, free_port, seed_random

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
ACCOUNT = "123456789012"  # the stand-in's account, which the events name
# The containers reach the stand-in on the host through the name sam's --add-host gives the host.
HOST_IN_CONTAINER = "host.docker.internal"


@dataclass
class Invoke:
    response: Any
    logs: str
    seconds: float

    @property
    def error(self) -> str | None:
        if isinstance(self.response, dict) and "errorMessage" in self.response:
            return f"{self.response.get('errorType')}: {self.response['errorMessage']}"
        return None


@dataclass
class Local:
    """The stand-in, the seeded ids and how to run `sam local invoke` against them."""

    sam: str
    template: Path
    architecture: str
    endpoint: str  # as the host reaches it
    port: int
    acct: DemoAccount
    workdir: Path
    failures: list[str] = field(default_factory=list)
    timings: list[tuple[str, str, float]] = field(default_factory=list)  # function, event, seconds

    def client(self, service: str, region: str = DEMO_REGION) -> Any:
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint)

    def env_vars(self, region: str) -> Path:
        """The --env-vars file: SAM applies only variables the template declares, so EKSGUARD_ENDPOINT_URL."""
        path = self.workdir / f"env-{region}.json"
        path.write_text(json.dumps({"Parameters": {
            "EKSGUARD_ENDPOINT_URL": f"http://{HOST_IN_CONTAINER}:{self.port}",
            # SAM resolves !Ref AlertTopic to the logical id; the stand-in's topic has this ARN.
            "EKSGUARD_ALERT_TOPIC_ARN": f"arn:aws:sns:{region}:{ACCOUNT}:AlertTopic",
        }}, indent=2))
        return path

    def invoke(self, function: str, event: Path | dict[str, Any], region: str, parameters: dict[str, str],
               env_vars: bool = True) -> Invoke:
        if isinstance(event, dict):
            path = self.workdir / f"{function}-event.json"
            path.write_text(json.dumps(event))
            event = path
        overrides = {"Architecture": self.architecture, "PowertoolsLayer": "none", **parameters}
        command = [self.sam, "local", "invoke", function, "-t", str(self.template), "-e", str(event),
                   "--region", region, "--skip-pull-image",
                   "--parameter-overrides", " ".join(f"{k}={v}" for k, v in overrides.items()),
                   "--add-host", f"{HOST_IN_CONTAINER}:host-gateway",
                   # No name resolution in the container: nothing but the stand-in (by --add-host) is reachable.
                   "--container-dns", "127.0.0.1"]
        if env_vars:
            command += ["--env-vars", str(self.env_vars(region))]
        print("  $ " + shlex.join(_short(c) for c in command), flush=True)
        started = time.monotonic()
        done = subprocess.run(command, cwd=ROOT, env=_sam_env(), capture_output=True, text=True, timeout=600,
                              check=False)
        seconds = time.monotonic() - started
        self.timings.append((function, _short(str(event)), seconds))
        if done.returncode != 0:
            raise RuntimeError(f"sam local invoke exited {done.returncode}:\n{done.stderr[-3000:]}")
        try:
            response = json.loads(done.stdout)
        except ValueError:
            raise RuntimeError(f"sam printed no JSON response:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}") from None
        return Invoke(response, done.stderr, seconds)

    def check(self, case: str, ok: bool, what: str) -> None:
        print(f"    {'ok  ' if ok else 'FAIL'} {what}", flush=True)
        if not ok:
            self.failures.append(f"{case}: {what}")

    # -- reading the stand-in ------------------------------------------------------------------------------

    def rules(self, group: str) -> list[dict[str, Any]]:
        return list(self.client("ec2").describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [group]}])["SecurityGroupRules"])

    def remediations(self, region: str, resource: str) -> list[dict[str, Any]]:
        items = self.client("dynamodb", region).scan(TableName="AuditTable")["Items"]
        return [{k: next(iter(v.values())) for k, v in i.items()} for i in items
                if i["pk"]["S"].startswith("remediation#") and i.get("resource_id", {}).get("S") == resource]

    def subscribe(self, region: str) -> str:
        sqs = self.client("sqs", region)
        url = sqs.create_queue(QueueName="sam-local-alerts")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self.client("sns", region).subscribe(TopicArn=f"arn:aws:sns:{region}:{ACCOUNT}:AlertTopic", Protocol="sqs",
                                             Endpoint=arn)
        return str(url)

    def drain(self, url: str, region: str) -> list[dict[str, Any]]:
        sqs, out = self.client("sqs", region), []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            for message in batch:
                out.append(json.loads(message["Body"]))  # the SNS notification, as SNS delivers it
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return out


def _sam_env() -> dict[str, str]:
    """The developer's environment without any AWS profile or endpoint: fake credentials only."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "SAM_CLI_TELEMETRY": "0"}


def _short(arg: str) -> str:
    try:
        return str(Path(arg).relative_to(ROOT)) if arg.startswith("/") else arg
    except ValueError:
        return arg


# -- the cases ---------------------------------------------------------------------------------------------


def sg_guard(local: Local) -> None:
    """SSH opened to the world on the node group: revoked, audited, alerted; the alert feeds the notifier."""
    case, node = "SgGuardFunction", local.acct.node_sg
    local.client("ec2").authorize_security_group_ingress(GroupId=node, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    opened = [r["SecurityGroupRuleId"] for r in local.rules(node) if r.get("CidrIpv4") == "0.0.0.0/0"
              and r.get("FromPort") == 22]
    alerts = local.subscribe(DEMO_REGION)
    result = local.invoke(case, EVENTS / "sg-ingress-ssh-world-grouped-node.json", DEMO_REGION, {"Mode": "enforce"})
    report(local, case, result)
    actions = {(a["rule_id"], a["action"], a["target_id"]) for a in (result.response or {}).get("actions", [])}
    local.check(case, len(opened) == 1 and ("SG-002", "revoked", opened[0]) in actions,
                f"the response reports SG-002 revoked for {opened}")
    left = [r["SecurityGroupRuleId"] for r in local.rules(node)]
    local.check(case, bool(opened) and opened[0] not in left, f"rule {opened} is gone from {node}")
    audited = local.remediations(DEMO_REGION, node)
    local.check(case, any(r.get("rule_id") == "SG-002" for r in audited), "an SG-002 remediation record is audited")
    published = local.drain(alerts, DEMO_REGION)
    local.check(case, [json.loads(n["Message"])["rule_id"] for n in published] == ["SG-002"],
                "one SG-002 alert is on the alert topic")
    if published:
        notifier(local, published[0])


def notifier(local: Local, notification: dict[str, Any]) -> None:
    """The SG guard's alert, as SNS delivers it: imported into Security Hub (SecurityHubExport=true)."""
    case = "NotifierFunction"
    local.client("securityhub").enable_security_hub()
    event = lambda_sns_event(notification, f"arn:aws:sns:{DEMO_REGION}:{ACCOUNT}:AlertTopic:sam-local")
    result = local.invoke(case, event, DEMO_REGION, {"SecurityHubExport": "true"})
    report(local, case, result)
    results = (result.response or {}).get("results", []) if result.error is None else []
    local.check(case, [(r["status"], r["rule_id"], r["security_hub"]) for r in results]
                == [("delivered", "SG-002", True)], "the response: delivered, exported to Security Hub")
    findings = local.client("securityhub").get_findings()["Findings"]
    local.check(case, any(local.acct.node_sg in json.dumps(f["Resources"]) for f in findings),
                f"Security Hub holds a finding on {local.acct.node_sg}")


def irsa_guard(local: Local) -> None:
    """The aws-node role with the aud typo (sts.amazon.com): its trust rewritten, audited (in us-east-1)."""
    case, role = "IrsaGuardFunction", "demo-aws-node"
    iam = local.client("iam", IAM_REGION)
    before = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    result = local.invoke(case, EVENTS / "iam-create-role-aws-node-aud-typo.json", IAM_REGION, {"Mode": "enforce"})
    report(local, case, result)
    actions = {(a["rule_id"], a["action"]) for a in (result.response or {}).get("actions", [])}
    local.check(case, ("IR-001", "rewrote-trust") in actions, "the response reports IR-001 rewrote-trust")
    after = iam.get_role(RoleName=role)["Role"]["AssumeRolePolicyDocument"]
    auds = [v for c in after["Statement"][0]["Condition"].values() for k, v in c.items() if k.endswith(":aud")]
    local.check(case, after != before and auds == ["sts.amazonaws.com"], f"{role} now trusts aud sts.amazonaws.com")
    local.check(case, any(r.get("rule_id") == "IR-001" for r in local.remediations(IAM_REGION, role)),
                "an IR-001 remediation record is audited (us-east-1)")


def cluster_guard(local: Local) -> None:
    """Cluster legacy, public to the world with logging off: endpoint restricted, logging on, both audited."""
    case = "ClusterGuardFunction"
    eks = local.client("eks")
    result = local.invoke(case, EVENTS / "eks-create-cluster-public-no-logging.json", DEMO_REGION,
                          {"Mode": "enforce", "TrustedCidrs": OFFICE_CIDR})
    report(local, case, result)
    actions = {(a["rule_id"], a["action"]) for a in (result.response or {}).get("actions", [])}
    local.check(case, {("EK-001", "restricted-endpoint"), ("EK-002", "enabled-logging")} <= actions,
                "the response reports EK-001 restricted-endpoint and EK-002 enabled-logging")
    cluster = eks.describe_cluster(name="legacy")["cluster"]
    vpc = cluster["resourcesVpcConfig"]
    local.check(case, vpc.get("publicAccessCidrs") == [OFFICE_CIDR] and vpc.get("endpointPrivateAccess") is True,
                f"legacy's public endpoint is limited to {OFFICE_CIDR}, private access on")
    enabled = {t for e in cluster["logging"]["clusterLogging"] if e["enabled"] for t in e["types"]}
    local.check(case, {"api", "audit", "authenticator"} <= enabled, "legacy's api/audit/authenticator logs are on")
    rules = {r.get("rule_id") for r in local.remediations(DEMO_REGION, "legacy")}
    local.check(case, {"EK-001", "EK-002"} <= rules, "EK-001 and EK-002 remediation records are audited")


def refuses_real_aws(local: Local) -> None:
    """The recipe without --env-vars: the function would talk to real AWS. It refuses; nothing changes."""
    case, node = "SgGuardFunction without --env-vars", local.acct.node_sg
    local.client("ec2").authorize_security_group_ingress(GroupId=node, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    before = sorted(r["SecurityGroupRuleId"] for r in local.rules(node))
    result = local.invoke("SgGuardFunction", EVENTS / "sg-ingress-ssh-world-grouped-node.json", DEMO_REGION,
                          {"Mode": "enforce"}, env_vars=False)
    report(local, case, result, expect_error=True)
    local.check(case, (result.response or {}).get("errorType") == "RealAwsRefused",
                "the response is the RealAwsRefused error")
    local.check(case, sorted(r["SecurityGroupRuleId"] for r in local.rules(node)) == before,
                "the world-open SSH rule is still there (nothing was changed)")


CASES: tuple[Callable[[Local], None], ...] = (sg_guard, irsa_guard, cluster_guard, refuses_real_aws)


def report(local: Local, case: str, result: Invoke, expect_error: bool = False) -> None:
    summary = result.error or json.dumps(result.response)[:160]
    print(f"    {case}: {result.seconds:.1f} s -> {summary}", flush=True)
    if result.error and not expect_error:
        local.check(case, False, f"the handler failed: {result.error}\n{result.logs[-2000:]}")


# -- the stand-in ------------------------------------------------------------------------------------------


@contextmanager
def stand_in(port: int) -> Iterator[tuple[str, DemoAccount]]:
    """`eksguard local up --host 0.0.0.0` (containers reach it through the host), the demo account seeded."""
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION=DEMO_REGION)
    command = [sys.executable, "-m", "eksguard.cli.main", "local", "up", "--host", "0.0.0.0", "--port", str(port)]
    print("$ " + shlex.join(["eksguard", *command[3:]]), flush=True)
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    seen: list[str] = []
    acct = None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        seen.append(proc.stdout.readline())  # type: ignore[union-attr]
        if found := re.search(r"seeded the demo account .*?: (\{.*\})$", seen[-1].strip()):
            seeded = json.loads(found.group(1))  # the security-group account, its IRSA roles and K8 cases
            acct = DemoAccount(**{f.name: seeded[f.name] for f in dataclasses.fields(DemoAccount)})
        if "export AWS_ENDPOINT_URL" in seen[-1]:
            break
    if acct is None:
        proc.kill()
        raise RuntimeError("the stand-in did not start:\n" + "".join(seen))
    try:
        yield f"http://127.0.0.1:{port}", acct
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


def seed_more(endpoint: str, acct: DemoAccount) -> None:
    """What the demo seeds after the SG chapter that `local up --seed demo` does not (it seeds the IRSA roles):
    the stack in us-east-1 (where IAM events arrive), then the `legacy` cluster."""
    with endpoint_env(endpoint):
        load_app(ROOT / "template.yaml", {}, boto3.session.Session(region_name=IAM_REGION))
        seed_random(endpoint, POSTURE_RANDOM_SEED)
        seed_cluster_posture(boto3.session.Session(region_name=DEMO_REGION), acct)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sam", required=True)
    parser.add_argument("--template", required=True, type=Path, help="the template sam build wrote")
    parser.add_argument("--architecture", required=True, choices=("x86_64", "arm64"))
    args = parser.parse_args(argv)
    for key in [k for k in os.environ if k.startswith("AWS_")]:
        del os.environ[key]  # this process only talks to the stand-in, with fake credentials
    os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")
    started = time.monotonic()
    port = free_port()
    with stand_in(port) as (endpoint, acct), tempfile.TemporaryDirectory(prefix="sam-local-") as workdir:
        seed_more(endpoint, acct)
        local = Local(args.sam, args.template.resolve(), args.architecture, endpoint, port, acct, Path(workdir))
        for case in CASES:
            print(f"\n== {case.__doc__}", flush=True)
            try:
                case(local)
            except Exception as exc:  # noqa: BLE001 - a case that cannot run is a failure, reported, not a crash
                local.check(case.__name__, False, f"could not run: {type(exc).__name__}: {exc}")
    print(f"\nsam-local: {len(local.timings)} invokes, {len(local.failures)} failure(s), "
          f"{time.monotonic() - started:.0f} s")
    for function, event, seconds in local.timings:
        print(f"  {seconds:5.1f} s  {function:<22} {event}")
    for failure in local.failures:
        print(f"  - {failure}")
    return 1 if local.failures else 0


if __name__ == "__main__":
    sys.exit(main())
