"""The sweep at scale: its time, API calls and peak memory per N security groups, as a line.

    python bench/sweep_scale.py [--sizes 1000 3000 10000] [--latency-ms 25]

Runs with the project's virtual environment (what it needs is set up as `make bench` sets it up). For each N:
a wiped stand-in (bench/standin_server.py, in its own process) with the template's tables and topic and N
security groups in one VPC, each with HTTPS from 10.0.0.0/8 and SSH from a bastion group, every 20th with SSH
from 0.0.0.0/0 (SG-002, revoked: enforce mode) - with AWS's default egress rule, three rules a group. Then
eksguard's SweepFunction handler, from the `sam build` output, in a fresh process on the Lambda runtime stand-in
(bench/lambda_worker.py: 1024 MB, 900 s as the template gives it), once on the plain stand-in and once with
``--latency-ms`` added to every call; the groups are put back in between. Measured: wall time, the handler's
time, CPU, the process's peak RSS, API calls by service; checked: every world-open SSH rule gone, nothing else
lost, every revoke with its before-image in the audit table. Writes bench/.cache/scale.json and prints the table
docs/sweep.md and docs/scale.md quote.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_env as env
import seed_groups
import vs_custodian as vs

WORLD_EVERY = 20
WORLD_SSH: seed_groups.RuleKey = ("tcp", 22, 22, "0.0.0.0/0")
LAMBDA_MEMORY_MB = 1024
LAMBDA_TIMEOUT_S = 900


def seed(ec2: Any, count: int) -> seed_groups.Seeded:
    """N groups with three rules each (two ingress, the default egress); every WORLD_EVERY-th also world SSH."""
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    bastion = ec2.create_security_group(GroupName="bastion", Description="bastion", VpcId=vpc)["GroupId"]
    seeded = seed_groups.Seeded(vpc, bastion)

    def one(i: int) -> tuple[str, set[seed_groups.RuleKey], set[seed_groups.RuleKey]]:
        group = ec2.create_security_group(GroupName=f"svc-{i:05d}", Description="scale", VpcId=vpc)["GroupId"]
        keep = {("tcp", 443, 443, "10.0.0.0/8"), ("tcp", 22, 22, bastion)}
        bad = {WORLD_SSH} if i % WORLD_EVERY == 0 else set()
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=seed_groups.permissions(keep | bad))
        return group, bad, keep

    with ThreadPoolExecutor(max_workers=4) as pool:
        for group, bad, keep in pool.map(one, range(count)):
            seeded.keep[group] = keep
            if bad:
                seeded.bad[group] = bad
    return seeded


def run(ctx: vs.Context, n: int, latency_ms: float, functions: Mapping[str, Mapping[str, str]],
        seeded: seed_groups.Seeded) -> dict[str, Any]:
    ctx.standin.reset()
    ctx.standin.latency(latency_ms)
    try:
        result = vs.eksguard_sweep(ctx, functions["SweepFunction"], f"scale-{n}-{vs._variant(latency_ms)}")
    finally:
        ctx.standin.latency(0)
    calls = ctx.standin.calls()
    actual = seed_groups.ingress_rules(ctx.account.ec2)
    audit = vs.audit_check(ctx.account.session, functions["SweepFunction"]["EKSGUARD_AUDIT_TABLE"],
                           vs._removed(seeded, actual))
    by_service: dict[str, int] = {}
    for key, value in calls["calls"].items():
        by_service[key.split(".")[0]] = by_service.get(key.split(".")[0], 0) + value
    result.update(groups=n, latency_ms=latency_ms, calls=calls["calls"], total_calls=calls["total"],
                  by_service=by_service, check=seed_groups.check(seeded, actual), audit=audit,
                  stand_in_s=sum(calls["server_ms"].values()) / 1000, actual=actual)
    vs.log(f"N={n:,} {vs._variant(latency_ms)}: wall {result['wall_s']:.1f} s, handler {result['handler_s']:.1f} s, "
           f"{calls['total']:,} calls, peak RSS {result['maxrss_kb'] / 1024:.0f} MB, bad left "
           f"{result['check']['bad_left']}, lost {result['check']['benign_lost']}, revokes without before-image "
           f"{audit['without_image']}" + ("" if result["ok"] else f", FAILED: {str(result['error'])[-300:]}"))
    return result


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| groups (rules) | latency per call | wall | handler | CPU | peak RSS | API calls (EC2, DynamoDB, SNS) "
             "| revoked | per 1,000 groups: handler, calls | left / lost / without before-image |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        s, n = r["by_service"], r["groups"]
        lines.append(
            f"| {n:,} ({r['rules']:,}) | {r['latency_ms']:g} ms | {r['wall_s']:.1f} s | {r['handler_s']:.1f} s | "
            f"{r['cpu_s']:.1f} s | {r['maxrss_kb'] / 1024:,.0f} MB | {r['total_calls']:,} ({s.get('ec2', 0):,}, "
            f"{s.get('dynamodb', 0):,}, {s.get('sns', 0):,}) | {r['audit']['removed']:,} | "
            f"{r['handler_s'] * 1000 / n:.2f} s, {r['total_calls'] * 1000 / n:.0f} | "
            f"{r['check']['bad_left']} / {r['check']['benign_lost'] + r['check']['near_miss_lost']} / "
            f"{r['audit']['without_image']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--latency-ms", type=float, default=vs.LATENCY_MS)
    parser.add_argument("--out", type=Path, default=env.CACHE / "scale.json")
    parser.add_argument("--sam", default=None, help="SAM CLI (default: .venv-sam/bin/sam, then PATH)")
    parser.add_argument("--uv", default=None)
    parser.add_argument("--python312", default=None)
    args = parser.parse_args(argv)
    tools = env.find_tools(args.python312, args.uv, args.sam)
    runtime_python = env.ensure_venv(env.RUNTIME_VENV, env.BENCH / "requirements-lambda-runtime.txt", tools,
                                     compile_bytecode=True)
    env.ensure_layer_dir(env.POWERTOOLS_LAYER, env.BENCH / "requirements-powertools-layer.txt", tools,
                         runtime_python)
    env.sam_build(tools)

    rows: list[dict[str, Any]] = []
    standin = vs.Standin(sys.executable)
    xray = vs.XraySink()
    load = [os.getloadavg()[0]]
    try:
        ctx = vs.Context(standin, vs.Account(standin), xray, runtime_python, False)
        for n in args.sizes:
            t = time.perf_counter()
            functions = ctx.account.fresh(vs.EKSGUARD_PARAMETERS)
            seeded = seed(ctx.account.ec2, n)
            rules = _rules(ctx.account.ec2)
            vs.log(f"N={n:,}: seeded, {rules:,} rules in the region, in {time.perf_counter() - t:.0f} s")
            for latency in (0.0, args.latency_ms) if args.latency_ms else (0.0,):
                if rows and rows[-1]["groups"] == n:  # put back what the previous run revoked
                    functions = ctx.account.fresh(vs.EKSGUARD_PARAMETERS, keep_ec2=True)
                    seed_groups.repair(ctx.account.ec2, seeded, rows[-1].pop("actual"))
                row = run(ctx, n, latency, functions, seeded)
                row["rules"] = rules
                rows.append(row)
                load.append(os.getloadavg()[0])
    finally:
        xray.close()
        standin.stop()
    for r in rows:
        r.pop("actual", None)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "loadavg": load}, indent=1, default=str) + "\n")
    print(f"load average {min(load):.1f}-{max(load):.1f} (2 CPUs shared); Lambda limits: {LAMBDA_MEMORY_MB} MB, "
          f"{LAMBDA_TIMEOUT_S} s")
    print(table(rows))
    return 0


def _rules(ec2: Any) -> int:
    """Every rule of the region, as DescribeSecurityGroupRules counts them (after the repair: the seeded state)."""
    return sum(len(p["SecurityGroupRules"]) for p in ec2.get_paginator("describe_security_group_rules").paginate())


if __name__ == "__main__":
    sys.exit(main())
