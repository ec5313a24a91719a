"""`make bench`: eksguard against Cloud Custodian, side by side, in one run, on one local AWS stand-in.

    python bench/vs_custodian.py [--quick] [--sam PATH] [--uv PATH] [--python312 PATH]

Runs with the project's virtual environment (eksguard and moto installed). Three parts:

1. Sweep. N security groups (100, 1,000, 3,000) seeded into the stand-in, 20 % with one bad rule; eksguard's
   scheduled sweep (its Lambda handler, Mode=enforce, Scope=all) against `custodian run` with the
   equivalent pull-mode policy, alternating (eksguard, Custodian, eksguard, ...), the account wiped and
   reseeded before every run. Wall time, API calls, peak RSS, and what was left behind.
2. Per event. One AuthorizeSecurityGroupIngress event: eksguard's SgGuardFunction handler and Custodian's
   own Lambda handler (the archive c7n.mu.PolicyLambda builds), each in fresh processes on a stand-in for
   the Lambda runtime: cold start (INIT + first invocation, code without .pyc) and warm invocations.
3. Package. eksguard's `sam build` output and Custodian's Lambda archive, zipped and unzipped.

Writes bench/results.json and docs/benchmarks.md (with --quick: bench/.cache/quick/). See
docs/benchmarks.md for the method.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
import zipfile
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_env as env
import report
import seed_groups

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"  # moto's account
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}
C7N_FUNCTION = "custodian-bench-sg-world-open-rt"
C7N_LAMBDA_OUTPUT = Path("/tmp/bench-sg-world-open-rt")  # c7n's Lambda mode writes under /tmp/<policy>
RUNS = env.CACHE / "runs"
log = env.log
# eksguard as deployed for the comparison: enforce, every group in the region. ReadKubernetes=false: the stand-in
# has no Kubernetes API and Custodian reads none (what the K8 reads cost is measured apart: bench/kube_cost.py).
EKSGUARD_PARAMETERS = {"Mode": "enforce", "Scope": "all", "ReadKubernetes": "false"}
# The latency variant: what every API call costs on top of moto's own time, as AWS's network and service would.
LATENCY_MS = 25.0


# -- the stand-in -------------------------------------------------------------------------------------------

class Standin:
    """bench/standin_server.py in its own process."""

    def __init__(self, python: str) -> None:
        self.log_path = env.CACHE / "standin.log"
        self.proc = subprocess.Popen([python, str(env.BENCH / "standin_server.py"), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=self.log_path.open("w"), text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise SystemExit(f"the stand-in did not start; see {self.log_path}")
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"

    def _post(self, path: str) -> dict[str, Any]:
        request = urllib.request.Request(self.endpoint + path, method="POST", data=b"")
        with urllib.request.urlopen(request, timeout=120) as response:
            return json.loads(response.read())

    def calls(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.endpoint + "/_bench/calls", timeout=60) as response:
            return json.loads(response.read())

    def reset(self) -> None:
        self._post("/_bench/reset")

    def latency(self, ms: float) -> None:
        """Every counted call costs ``ms`` more from now on (0: the plain stand-in)."""
        self._post(f"/_bench/latency?ms={ms:g}")

    def wipe(self, keep: str = "") -> None:
        self._post("/_bench/wipe" + (f"?keep={keep}" if keep else ""))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class XraySink:
    """A UDP socket on loopback where the X-Ray SDK (Powertools Tracer, on as in Lambda with Tracing:
    Active) sends its segments; they are counted and dropped."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.datagrams = 0
        self._stop = False
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        self.sock.settimeout(0.5)
        while not self._stop:
            try:
                self.sock.recv(65536)
                self.datagrams += 1
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop = True
        self.sock.close()


# -- children ------------------------------------------------------------------------------------------------

@dataclass
class Child:
    wall_s: float
    returncode: int
    maxrss_kb: int
    user_s: float
    sys_s: float


def run_child(cmd: Sequence[str], child_env: Mapping[str, str], cwd: Path, stdout: Path, timeout: float) -> Child:
    """Run a process through bench/spawn.py, which reports the process's own wall time and rusage
    (forked from this large process, a child would inherit its peak RSS)."""
    report_path = stdout.with_suffix(".rusage.json")
    report_path.unlink(missing_ok=True)
    with stdout.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-I", "-S", str(env.BENCH / "spawn.py"), str(report_path), *cmd],
                                env=dict(child_env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
            raise SystemExit(f"{' '.join(cmd[:3])}...: still running after {timeout:.0f} s; killed") from None
    if not report_path.exists():
        raise SystemExit(f"{cmd[0]}: could not be started; see {stdout}")
    r = json.loads(report_path.read_text())
    return Child(r["wall_s"], r["returncode"], r["maxrss_kb"], r["user_s"], r["sys_s"])


def base_env() -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    return {k: os.environ[k] for k in keep if k in os.environ}


def lambda_env(standin: Standin, xray: XraySink, function: str, memory: int, task: Path,
               function_env: Mapping[str, str]) -> dict[str, str]:
    """What the Lambda runtime gives a function (plus the stand-in's endpoint and fake credentials)."""
    return {
        **base_env(), **function_env, **CREDS,
        "AWS_ENDPOINT_URL": standin.endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": function, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{function}", "LAMBDA_TASK_ROOT": str(task),
        "AWS_XRAY_DAEMON_ADDRESS": xray.address, "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR", "TZ": ":UTC",
    }


def run_lambda(spec: dict[str, Any], name: str, runtime_python: Path, timeout: float) -> tuple[Child, dict[str, Any]]:
    work = RUNS / name
    work.mkdir(parents=True, exist_ok=True)
    spec_path, out_path = work / "spec.json", work / "result.json"
    spec["log"] = str(work / "function.log")
    out_path.unlink(missing_ok=True)
    Path(spec["log"]).unlink(missing_ok=True)
    spec_path.write_text(json.dumps(spec))
    child = run_child([str(runtime_python), "-I", "-B", str(env.BENCH / "lambda_worker.py"), "--spec",
                       str(spec_path), "--out", str(out_path)], spec["env"], Path(spec["task"]),
                      work / "worker.out", timeout)
    if not out_path.exists():
        raise SystemExit(f"{name}: the Lambda worker wrote no result (exit {child.returncode}); "
                         f"see {work / 'worker.out'}")
    result = json.loads(out_path.read_text())
    if "init_error" in result:
        raise SystemExit(f"{name}: the handler failed to import:\n{result['init_error']}")
    return child, result


# -- setting up an account -----------------------------------------------------------------------------------

class Account:
    """The stand-in as one AWS account: wiped, the template's tables and topics provisioned, seeded."""

    def __init__(self, standin: Standin) -> None:
        import boto3

        self.standin = standin
        for k, v in {**CREDS, "AWS_ENDPOINT_URL": standin.endpoint, "AWS_DEFAULT_REGION": REGION}.items():
            os.environ[k] = v
        os.environ.pop("AWS_PROFILE", None)
        self.session = boto3.session.Session(region_name=REGION)
        self.ec2 = self.session.client("ec2")

    def fresh(self, overrides: Mapping[str, str], keep_ec2: bool = False) -> dict[str, dict[str, str]]:
        """Wipe (everything, or all but EC2), provision the template's stateful resources (tables, topics,
        queues); returns each function's environment as the template gives it."""
        from eksguard.local.invoke import load_app

        self.standin.wipe(keep="ec2" if keep_ec2 else "")
        app = load_app(env.REPO / "template.yaml", dict(overrides), self.session)
        self.prime()
        return {lid: dict(spec.environment) for lid, spec in app.functions.items()}

    def prime(self) -> None:
        """Touch every service either tool calls: moto builds a region's backend on first use (EKS and
        CloudTrail take a few hundred ms), which would otherwise land on whichever tool came first."""
        s = self.session
        s.client("sts").get_caller_identity()
        s.client("eks").list_clusters()
        s.client("cloudtrail").describe_trails()
        s.client("ec2").describe_launch_templates()
        s.client("sns").list_topics()
        s.client("dynamodb").list_tables()


# -- 1. sweep ------------------------------------------------------------------------------------------------

def sweep_event() -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": ACCOUNT, "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "region": REGION,
            "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/eksguard-bench-SweepFunctionSweep"],
            "detail": {}}


def eksguard_sweep(ctx: Context, function_env: Mapping[str, str], name: str) -> dict[str, Any]:
    task = env.fresh_copy(env.SAM_BUILD / "SweepFunction", RUNS / name / "task")
    opt = env.opt_python([env.SAM_BUILD / "EksguardLayer" / "python", env.POWERTOOLS_LAYER,
                          env.SAM_BUILD / "KubernetesLayer" / "python"],
                         RUNS / name / "opt" / "python", ["keep", "keep", "keep"])
    spec = {"task": str(task), "layers": [str(opt)], "handler": "app.lambda_handler",
            "env": lambda_env(ctx.standin, ctx.xray, "SweepFunction", 1024, task, function_env),
            "events": [sweep_event()], "endpoint": ctx.standin.endpoint, "timeout": 900}
    child, result = run_lambda(spec, name, ctx.runtime_python, timeout=900)
    inv = result["invocations"][0]
    response = inv["response"] if isinstance(inv["response"], dict) else {}
    ok = child.returncode == 0 and inv["error"] is None and response.get("status") == "processed"
    return {"ok": ok, "error": inv["error"], "wall_s": child.wall_s, "maxrss_kb": child.maxrss_kb,
            "cpu_s": child.user_s + child.sys_s, "tool_s": (result["init_ms"] + inv["ms"]) / 1000,
            "handler_s": inv["ms"] / 1000, "init_s": result["init_ms"] / 1000,
            "alerts_sent": response.get("alerts_sent"), "counts": response.get("extra")}


def custodian_sweep(ctx: Context, name: str) -> dict[str, Any]:
    work = RUNS / name
    out_dir = work / "output"
    shutil.rmtree(out_dir, ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    child_env = {**base_env(), **CREDS, "AWS_ENDPOINT_URL": ctx.standin.endpoint, "AWS_DEFAULT_REGION": REGION}
    cmd = [str(env.C7N_VENV / "bin" / "custodian"), "run", "--region", REGION, "--cache-period", "0",
           "-s", str(out_dir), str(env.BENCH / "custodian" / "sweep-policy.yml")]
    child = run_child(cmd, child_env, work, work / "custodian.out", timeout=900)
    meta_path = out_dir / "bench-sg-world-open" / "metadata.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return {"ok": child.returncode == 0 and bool(meta), "error": None if child.returncode == 0 else
            (work / "custodian.out").read_text()[-2000:], "wall_s": child.wall_s, "maxrss_kb": child.maxrss_kb,
            "cpu_s": child.user_s + child.sys_s, "tool_s": meta.get("execution", {}).get("duration"),
            "api_stats": meta.get("api-stats")}


@dataclass
class Context:
    standin: Standin
    account: Account
    xray: XraySink
    runtime_python: Path
    quick: bool


def bench_sweep(ctx: Context, sizes: Sequence[int], runs: int,
                latencies: Sequence[float] = (0.0,)) -> dict[str, dict[str, Any]]:
    """Per latency variant (0: plain), per size: ``runs`` runs of each tool, alternating. One seeding per size;
    every run after the first repairs the account to exactly the seeded state."""
    out: dict[str, dict[str, Any]] = {_variant(ms): {} for ms in latencies}
    for n in sizes:
        seeded: seed_groups.Seeded | None = None
        actual: dict[str, set[seed_groups.RuleKey]] = {}
        for ms in latencies:
            per_tool: dict[str, list[dict[str, Any]]] = {"eksguard": [], "custodian": []}
            for r in range(runs):
                for tool in ("eksguard", "custodian"):
                    # The first run of a size seeds a wiped account; every later one wipes all but EC2 (tables,
                    # topics, sweep state, idempotency records) and repairs the groups to exactly the seeded rules.
                    t = time.perf_counter()
                    if seeded is None:
                        functions = ctx.account.fresh(EKSGUARD_PARAMETERS)
                        seeded = seed_groups.seed(ctx.account.ec2, n)
                        restore = "seeded"
                    else:
                        functions = ctx.account.fresh(EKSGUARD_PARAMETERS, keep_ec2=True)
                        before = seed_groups.check(seeded, actual)
                        seed_groups.repair(ctx.account.ec2, seeded, actual)
                        restore = f"repaired ({before['bad_seeded'] - before['bad_left']} bad rules re-added)"
                    seed_s = time.perf_counter() - t
                    ctx.standin.reset()
                    name = f"sweep-{n}-{_variant(ms)}-{tool}-{r}"
                    ctx.standin.latency(ms)
                    try:
                        if tool == "eksguard":
                            run = eksguard_sweep(ctx, functions["SweepFunction"], name)
                        else:
                            run = custodian_sweep(ctx, name)
                    finally:
                        ctx.standin.latency(0)
                    calls = ctx.standin.calls()
                    actual = seed_groups.ingress_rules(ctx.account.ec2)
                    run.update(calls=calls["calls"], total_calls=calls["total"], ec2_calls=_service(calls, "ec2"),
                               ec2_sts_calls=_service(calls, "ec2") + _service(calls, "sts"),
                               server_ms=calls["server_ms"], seed_s=seed_s, restore=restore,
                               check=seed_groups.check(seeded, actual))
                    if tool == "eksguard":
                        table = functions["SweepFunction"]["EKSGUARD_AUDIT_TABLE"]
                        removed = _removed(seeded, actual)
                        run["audit"] = audit_check(ctx.account.session, table, removed)
                    per_tool[tool].append(run)
                    log(f"sweep N={n} {_variant(ms)} {tool} run {r + 1}/{runs}: {run['wall_s']:.2f} s, "
                        f"{calls['total']} calls, bad left {run['check']['bad_left']}, kept lost "
                        f"{run['check']['benign_lost'] + run['check']['near_miss_lost']}"
                        + (f", revokes without before-image {run['audit']['without_image']}" if "audit" in run else "")
                        + ("" if run["ok"] else f"  FAILED: {str(run['error'])[-300:]}"))
            out[_variant(ms)][str(n)] = summarise_sweep(n, per_tool)
    return out


def _variant(latency_ms: float) -> str:
    return "plain" if not latency_ms else f"latency{latency_ms:g}ms"


def _removed(seeded: seed_groups.Seeded,
             after: Mapping[str, set[seed_groups.RuleKey]]) -> set[tuple[str, seed_groups.RuleKey]]:
    """(group, rule) pairs the run removed: every run starts from exactly the seeded state."""
    out = set()
    for group_id, keep in seeded.keep.items():
        had = keep | seeded.bad.get(group_id, set())
        out |= {(group_id, rule) for rule in had - after.get(group_id, set())}
    return out


def audit_check(session: Any, table: str, removed: set[tuple[str, seed_groups.RuleKey]]) -> dict[str, int]:
    """Every rule the sweep removed has its audit record: the exact rule (DescribeSecurityGroupRules' object) as
    before-image, outcome revoked."""
    pages = session.client("dynamodb").get_paginator("scan").paginate(TableName=table)
    images: set[tuple[str, seed_groups.RuleKey]] = set()
    records = 0
    for item in (i for page in pages for i in page.get("Items", [])):
        if not item["pk"]["S"].startswith("remediation#"):
            continue
        records += 1
        before = json.loads(item["before_image"]["S"])
        if item["outcome"]["S"] == "revoked" and before and before.get("SecurityGroupRuleId", "").startswith("sgr-"):
            images.add((before["GroupId"], seed_groups.rule_key(before)))
    return {"removed": len(removed), "records": records, "without_image": len(removed - images)}


def _last_line(error: str | None) -> str:
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    return lines[-1][:400] if lines else "failed (no error text)"


def _service(calls: Mapping[str, Any], service: str) -> int:
    return sum(v for k, v in calls["calls"].items() if k.startswith(service + "."))


def summarise_sweep(n: int, per_tool: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {"groups": n}
    for tool, runs in per_tool.items():
        summary[tool] = {
            "runs": runs,
            "median_wall_s": statistics.median(r["wall_s"] for r in runs),
            "median_tool_s": statistics.median(r["tool_s"] or 0 for r in runs),
            "median_cpu_s": statistics.median(r["cpu_s"] for r in runs),
            "median_calls": statistics.median(r["total_calls"] for r in runs),
            "median_ec2_calls": statistics.median(r["ec2_calls"] for r in runs),
            "median_ec2_sts_calls": statistics.median(r["ec2_sts_calls"] for r in runs),
            "revokes_without_image": max((r["audit"]["without_image"] for r in runs if "audit" in r), default=None),
            "calls_by_action": runs[-1]["calls"],
            "max_rss_mb": max(r["maxrss_kb"] for r in runs) / 1024,
            "all_ok": all(r["ok"] for r in runs),
            "failures": sorted({_last_line(r["error"]) for r in runs if not r["ok"]}),
            "correct": all(r["check"]["correct"] for r in runs),
            "bad_left": max(r["check"]["bad_left"] for r in runs),
            "benign_lost": max(r["check"]["benign_lost"] for r in runs),
            "near_miss_lost": max(r["check"]["near_miss_lost"] for r in runs),
            "bad_seeded": runs[-1]["check"]["bad_seeded"],
            "kept_seeded": runs[-1]["check"]["kept_seeded"],
        }
    e, c = summary["eksguard"], summary["custodian"]
    summary["ratio_wall"] = e["median_wall_s"] / c["median_wall_s"]
    summary["ratio_calls"] = e["median_calls"] / c["median_calls"]
    summary["ratio_ec2_calls"] = e["median_ec2_calls"] / c["median_ec2_calls"]
    summary["ratio_ec2_sts_calls"] = e["median_ec2_sts_calls"] / c["median_ec2_sts_calls"]
    summary["ratio_rss"] = e["max_rss_mb"] / c["max_rss_mb"]
    return summary


# -- 2. per event --------------------------------------------------------------------------------------------

def authorize_event(group_id: str) -> dict[str, Any]:
    """The CloudTrail event of someone opening tcp/22 to the world on group_id (list form)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "version": "0", "id": str(uuid.uuid4()), "detail-type": "AWS API Call via CloudTrail", "source": "aws.ec2",
        "account": ACCOUNT, "time": now, "region": REGION, "resources": [],
        "detail": {
            "eventVersion": "1.10", "eventID": str(uuid.uuid4()), "eventTime": now, "eventType": "AwsApiCall",
            "eventSource": "ec2.amazonaws.com", "eventName": "AuthorizeSecurityGroupIngress", "awsRegion": REGION,
            "sourceIPAddress": "198.51.100.24", "userAgent": "aws-cli/2.15.0", "recipientAccountId": ACCOUNT,
            "userIdentity": {
                "type": "AssumedRole", "principalId": "AROAEXAMPLEADMIN01:jane@example.com",
                "arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/PlatformAdmin/jane@example.com", "accountId": ACCOUNT,
                "sessionContext": {"sessionIssuer": {"type": "Role", "principalId": "AROAEXAMPLEADMIN01",
                                                     "arn": f"arn:aws:iam::{ACCOUNT}:role/PlatformAdmin",
                                                     "accountId": ACCOUNT, "userName": "PlatformAdmin"}}},
            "requestParameters": {"groupId": group_id, "ipPermissions": {"items": [
                {"ipProtocol": "tcp", "fromPort": 22, "toPort": 22, "groups": {},
                 "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0", "description": "temp debug"}]},
                 "ipv6Ranges": {}, "prefixListIds": {}}]}},
            "responseElements": {"requestId": str(uuid.uuid4()), "_return": True},
        },
    }


@dataclass(frozen=True)
class Variant:
    key: str
    tool: str
    label: str
    layer_pyc: bool = True  # the eksguard layer's own byte code, as it ships
    powertools_pyc: bool = True


VARIANTS = (
    Variant("eksguard", "eksguard", "eksguard SgGuardFunction, as built (no .pyc)"),
    Variant("custodian", "custodian", "Cloud Custodian PolicyLambda archive (no .pyc)"),
)
EXTRA_VARIANTS = (
    Variant("eksguard-layer-no-pyc", "eksguard", "eksguard, its layer without the .pyc it ships",
            layer_pyc=False),
    Variant("eksguard-powertools-no-pyc", "eksguard", "eksguard, Powertools layer without .pyc too",
            powertools_pyc=False),
)


def per_event_groups(ec2: Any, vpc_id: str, peer: str, count: int, prefix: str) -> seed_groups.Seeded:
    seeded = seed_groups.Seeded(vpc_id, peer)
    bad = {("tcp", 22, 22, "0.0.0.0/0")}
    for i in range(count):
        keep = {seed_groups.BENIGN_CIDR, ("tcp", 10250, 10250, peer), seed_groups.NEAR_PRIVATE_22}
        gid = ec2.create_security_group(GroupName=f"{prefix}-{i:03d}", Description="per-event benchmark",
                                        VpcId=vpc_id)["GroupId"]
        ec2.authorize_security_group_ingress(GroupId=gid, IpPermissions=seed_groups.permissions(bad | keep))
        seeded.bad[gid], seeded.keep[gid] = set(bad), keep
    return seeded


def bench_per_event(ctx: Context, cold: int, warm: int, extra_cold: int, latency_ms: float = 0.0) -> dict[str, Any]:
    functions = ctx.account.fresh(EKSGUARD_PARAMETERS)
    ec2 = ctx.account.ec2
    vpc_id = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
    peer = ec2.create_security_group(GroupName="per-event-control-plane", Description="peer",
                                     VpcId=vpc_id)["GroupId"]
    c7n_code = env.CACHE / "custodian-archive"
    plan: list[Variant] = []
    for _ in range(cold):
        plan += list(VARIANTS)
    for _ in range(extra_cold):
        plan += list(EXTRA_VARIANTS)
    seeded_all = seed_groups.Seeded(vpc_id, peer)
    results: dict[str, list[dict[str, Any]]] = {v.key: [] for v in (*VARIANTS, *EXTRA_VARIANTS)}
    # One unmeasured process per tool first: moto builds some backends and indexes lazily on first use, and
    # whichever tool came first would pay for it.
    plan = [Variant(f"warmup-{v.key}", v.tool, "stand-in warm-up (not measured)") for v in VARIANTS] + plan
    for i, variant in enumerate(plan):
        seeded = per_event_groups(ec2, vpc_id, peer, 1 + warm, f"ev{i:02d}-{variant.key}")
        seeded_all.bad.update(seeded.bad)
        seeded_all.keep.update(seeded.keep)
        events = [authorize_event(g) for g in seeded.keep]
        name = f"event-{_variant(latency_ms)}-{i:02d}-{variant.key}"
        work = RUNS / name
        if variant.tool == "eksguard":
            task = env.fresh_copy(env.SAM_BUILD / "SgGuardFunction", work / "task")
            opt = env.opt_python([env.SAM_BUILD / "EksguardLayer" / "python", env.POWERTOOLS_LAYER],
                                 work / "opt" / "python", ["keep" if variant.layer_pyc else "strip",
                                                           "keep" if variant.powertools_pyc else "strip"])
            spec = {"task": str(task), "layers": [str(opt)], "handler": "app.lambda_handler",
                    "env": lambda_env(ctx.standin, ctx.xray, "SgGuardFunction", 512, task,
                                      functions["SgGuardFunction"]), "timeout": 60}
        else:
            task = env.unzip_fresh(env.C7N_ARCHIVE, c7n_code)
            spec = {"task": str(task), "layers": [], "handler": "custodian_policy.run",
                    "env": lambda_env(ctx.standin, ctx.xray, C7N_FUNCTION, 512, task, {}), "timeout": 900}
        spec.update(events=events, endpoint=ctx.standin.endpoint, account=ACCOUNT)
        ctx.standin.latency(latency_ms)
        try:
            child, result = run_lambda(spec, name, ctx.runtime_python, timeout=300)
        finally:
            ctx.standin.latency(0)
        invs = result["invocations"]
        errors = [inv["error"] for inv in invs if inv["error"]]
        if variant.key.startswith("warmup-"):
            if errors:
                raise SystemExit(f"{name}: the handler failed:\n{errors[0]}")
            continue
        results[variant.key].append({
            "wall_s": child.wall_s, "maxrss_kb": child.maxrss_kb, "startup_ms": result["startup_ms"],
            "init_ms": result["init_ms"], "init_cpu_ms": result["init_cpu_ms"], "first_ms": invs[0]["ms"],
            "first_cpu_ms": invs[0]["cpu_ms"], "cold_ms": result["init_ms"] + invs[0]["ms"],
            "warm_ms": [inv["ms"] for inv in invs[1:]], "warm_cpu_ms": [inv["cpu_ms"] for inv in invs[1:]],
            "first_calls": invs[0]["calls"], "warm_calls": [inv["calls"] for inv in invs[1:]],
            "warm_calls_distinct": dict(Counter(json.dumps(inv["calls"], sort_keys=True) for inv in invs[1:])),
            "errors": errors[:3], "modules_loaded": result["modules_loaded"],
        })
        log(f"per-event {variant.key} #{len(results[variant.key])}: cold {result['init_ms'] + invs[0]['ms']:.0f} ms "
            f"(init {result['init_ms']:.0f}), warm median "
            f"{statistics.median(inv['ms'] for inv in invs[1:]) if invs[1:] else 0:.0f} ms"
            + (f"  ERRORS: {errors[0][-300:]}" if errors else ""))
    check = seed_groups.check(seeded_all, seed_groups.ingress_rules(ec2))
    shutil.rmtree(C7N_LAMBDA_OUTPUT, ignore_errors=True)
    summary = {k: summarise_event(runs) for k, runs in results.items() if runs}
    for runs in results.values():
        for run in runs:
            del run["warm_calls"]  # summarised; warm_calls_distinct keeps every variation
    return {"variants": {v.key: v.label for v in (*VARIANTS, *EXTRA_VARIANTS)}, "summary": summary,
            "runs": results, "check": check, "xray_datagrams": ctx.xray.datagrams}


def summarise_event(runs: list[dict[str, Any]]) -> dict[str, Any]:
    warm = [ms for r in runs for ms in r["warm_ms"]]
    warm_cpu = [ms for r in runs for ms in r["warm_cpu_ms"]]
    warm_calls = [c for r in runs for c in r["warm_calls"]]
    typical = Counter(json.dumps(c, sort_keys=True) for c in warm_calls).most_common(1)
    typical_calls: dict[str, int] = json.loads(typical[0][0]) if typical else {}
    return {
        "processes": len(runs),
        "cold_ms": statistics.median(r["cold_ms"] for r in runs),
        "init_ms": statistics.median(r["init_ms"] for r in runs),
        "first_ms": statistics.median(r["first_ms"] for r in runs),
        "cold_cpu_ms": statistics.median(r["init_cpu_ms"] + r["first_cpu_ms"] for r in runs),
        "warm_ms": statistics.median(warm) if warm else None,
        "warm_p90_ms": _percentile(warm, 0.9) if warm else None,
        "warm_cpu_ms": statistics.median(warm_cpu) if warm_cpu else None,
        "warm_samples": len(warm),
        "first_calls": runs[0]["first_calls"],
        "warm_calls": typical_calls,
        "warm_ec2_calls": sum(v for k, v in typical_calls.items() if k.startswith("ec2.")),
        "warm_total_calls": sum(typical_calls.values()),
        "warm_ms_by_process": [statistics.median(r["warm_ms"]) for r in runs if r["warm_ms"]],
        "max_rss_mb": max(r["maxrss_kb"] for r in runs) / 1024,
        "modules_loaded": runs[0]["modules_loaded"],
        "errors": sum(len(r["errors"]) for r in runs),
    }


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


# -- 3. package ----------------------------------------------------------------------------------------------

def tree_size(path: Path) -> tuple[int, int, int]:
    """(unzipped bytes, zipped bytes, files) of a directory, zipped the way SAM and c7n zip (deflate)."""
    files = [p for p in sorted(path.rglob("*")) if p.is_file()]
    raw = sum(p.stat().st_size for p in files)
    target = env.CACHE / "size-probe.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as z:
        for p in files:
            z.write(p, p.relative_to(path))
    zipped = target.stat().st_size
    target.unlink()
    return raw, zipped, len(files)


def bench_package(archive_info: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in ("SgGuardFunction", "SweepFunction", "EksguardLayer", "KubernetesLayer"):
        raw, zipped, files = tree_size(env.SAM_BUILD / name)
        out[name] = {"unzipped": raw, "zipped": zipped, "files": files}
    layer_pkg = env.SAM_BUILD / "EksguardLayer" / "python" / "eksguard"
    local_only = [layer_pkg / "local", layer_pkg / "cli"]
    out["EksguardLayer"]["local_and_cli_unzipped"] = sum(
        p.stat().st_size for d in local_only if d.exists() for p in d.rglob("*") if p.is_file())
    raw, zipped, files = tree_size(env.POWERTOOLS_LAYER)
    out["PowertoolsLayerStandIn"] = {"unzipped": raw, "zipped": zipped, "files": files}
    with zipfile.ZipFile(env.C7N_ARCHIVE) as z:
        c_raw = sum(i.file_size for i in z.infolist())
        c_files = len(z.infolist())
    out["CustodianArchive"] = {"unzipped": c_raw, "zipped": env.C7N_ARCHIVE.stat().st_size, "files": c_files,
                               "runtime": archive_info.get("runtime"), "handler": archive_info.get("handler")}
    sg_total = out["SgGuardFunction"]["zipped"] + out["EksguardLayer"]["zipped"]
    out["eksguard_sg_guard_zipped"] = sg_total
    out["eksguard_sg_guard_unzipped"] = out["SgGuardFunction"]["unzipped"] + out["EksguardLayer"]["unzipped"]
    # The sweep (like the other functions that read clusters) carries the Kubernetes client's layer too.
    out["eksguard_sweep_zipped"] = sum(out[n]["zipped"] for n in ("SweepFunction", "EksguardLayer", "KubernetesLayer"))
    out["ratio_zipped"] = sg_total / out["CustodianArchive"]["zipped"]
    return out


# -- main ----------------------------------------------------------------------------------------------------

def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version(), "loadavg_start": list(os.getloadavg())}


def versions(c7n_python: Path) -> dict[str, str]:
    import importlib.metadata as md

    out = {name: md.version(name) for name in ("eksguard", "moto", "boto3")}
    probe = subprocess.run([str(c7n_python), "-c", "import importlib.metadata as m; print(m.version('c7n'))"],
                           capture_output=True, text=True, check=False)
    out["c7n"] = probe.stdout.strip()
    for line in (env.BENCH / "requirements-lambda-runtime.txt").read_text().splitlines():
        if line.startswith("boto3=="):
            out["lambda_runtime_boto3"] = line.split("==", 1)[1]
    for line in (env.BENCH / "requirements-powertools-layer.txt").read_text().splitlines():
        if line.startswith("aws-lambda-powertools=="):
            out["powertools"] = line.split("==", 1)[1]
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=env.REPO, capture_output=True, text=True,
                         check=False)
    out["eksguard_commit"] = rev.stdout.strip()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="eksguard against Cloud Custodian on one local AWS stand-in")
    parser.add_argument("--quick", action="store_true", help="N=100 only, fewer runs; writes under bench/.cache/quick")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")], default=None)
    parser.add_argument("--runs", type=int, default=3, help="sweep runs per tool and size (>= 3)")
    parser.add_argument("--cold", type=int, default=None, help="fresh processes per handler")
    parser.add_argument("--warm", type=int, default=None, help="warm invocations per process")
    parser.add_argument("--latency-ms", type=float, default=LATENCY_MS,
                        help="also run every part with this latency added to each API call (0: plain only)")
    parser.add_argument("--skip-sweep", action="store_true")
    parser.add_argument("--skip-event", action="store_true")
    parser.add_argument("--out-json", type=Path, default=None)
    parser.add_argument("--out-md", type=Path, default=None)
    parser.add_argument("--sam", default=None, help="SAM CLI (default: .venv-sam/bin/sam, then PATH)")
    parser.add_argument("--uv", default=None, help="uv (default: PATH, then beside this python); else pip")
    parser.add_argument("--python312", default=None, help="Python 3.12 for the venvs and sam build")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    sizes = args.sizes or ([100] if args.quick else [100, 1000, 3000])
    cold = args.cold or (3 if args.quick else 5)
    warm = args.warm or (10 if args.quick else 20)
    extra_cold = 2
    quick_dir = env.CACHE / "quick"
    out_json = args.out_json or (quick_dir / "results.json" if args.quick else env.BENCH / "results.json")
    out_md = args.out_md or (quick_dir / "benchmarks.md" if args.quick else env.REPO / "docs" / "benchmarks.md")

    env.CACHE.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(RUNS, ignore_errors=True)
    tools = env.find_tools(args.python312, args.uv, args.sam)
    t = time.perf_counter()
    runtime_python = env.ensure_venv(env.RUNTIME_VENV, env.BENCH / "requirements-lambda-runtime.txt", tools,
                                     compile_bytecode=True)
    env.ensure_layer_dir(env.POWERTOOLS_LAYER, env.BENCH / "requirements-powertools-layer.txt", tools,
                         runtime_python)
    c7n_python = env.ensure_venv(env.C7N_VENV, env.BENCH / "requirements-c7n.txt", tools, compile_bytecode=True)
    env.sam_build(tools)
    _, archive_info = env.custodian_archive(c7n_python, env.BENCH / "custodian" / "event-policy.yml", REGION)
    setup_s = time.perf_counter() - t

    results: dict[str, Any] = {"generated": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "quick": args.quick,
                               "machine": machine(), "versions": versions(c7n_python), "setup_s": setup_s,
                               "settings": {"sizes": sizes, "runs": args.runs, "cold": cold, "warm": warm,
                                            "extra_cold": extra_cold, "region": REGION,
                                            "latency_ms": args.latency_ms,
                                            "eksguard_parameters": EKSGUARD_PARAMETERS}}
    standin = Standin(sys.executable)
    xray = XraySink()
    try:
        ctx = Context(standin, Account(standin), xray, runtime_python, args.quick)
        if not args.skip_sweep:
            swept = bench_sweep(ctx, sizes, max(1, args.runs), (0.0, args.latency_ms) if args.latency_ms else (0.0,))
            results["sweep"] = swept["plain"]
            if args.latency_ms:
                results["sweep_latency"] = swept[_variant(args.latency_ms)]
        if not args.skip_event:
            results["per_event"] = bench_per_event(ctx, cold, warm, extra_cold)
            if args.latency_ms:
                results["per_event_latency"] = bench_per_event(ctx, cold, warm, 0, args.latency_ms)
        results["package"] = bench_package(archive_info)
    finally:
        xray.close()
        standin.stop()
    results["machine"]["loadavg_end"] = list(os.getloadavg())
    results["duration_s"] = time.perf_counter() - started
    results["targets"] = report.targets(results)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps(results, indent=1, sort_keys=True, default=str) + "\n")
    out_md.parent.mkdir(parents=True, exist_ok=True)
    out_md.write_text(report.markdown(results))
    print(report.summary_table(results))
    log(f"done in {results['duration_s']:.0f} s: {out_json}, {out_md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
