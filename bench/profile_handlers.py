"""Where the per-event time goes: cProfile of both handlers' INIT, first (cold) and second (warm)
invocation, on the same stand-in and runtime as `make bench` (run that, or --quick, once first: it
builds bench/.cache).

    python bench/profile_handlers.py [--top 25] [--tool eksguard|custodian|both]
    python bench/profile_handlers.py --sweep 1000     # eksguard's SweepFunction over 1,000 seeded groups

Prints, per phase, the functions with the most cumulative time, boto3 client creation and the stand-in
round trips singled out; the .prof files stay under bench/.cache/profile/ for snakeviz or pstats.
"""

from __future__ import annotations

import argparse
import io
import pstats
import re
import shutil
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_env as env
import seed_groups
import vs_custodian as vs

MARKERS = {
    "boto3 client creation": r"boto3/session\.py:\d+\(client\)",
    "botocore model loading": r"botocore/loaders\.py:\d+\(load_service_model\)",
    "HTTP round trips": r"botocore/httpsession\.py:\d+\(send\)",
    "imports (in this phase)": r"_bootstrap>:\d+\(_find_and_load\)",
    "  of which boto3 + botocore": r"boto3/__init__\.py:\d+\(<module>\)",
    "  of which the X-Ray SDK": r"aws_xray_sdk/core/__init__\.py:\d+\(<module>\)",
    "  of which Powertools idempotency": r"utilities/idempotency/__init__\.py:\d+\(<module>\)",
    "  of which the eksguard pipeline": r"eksguard/pipeline/sg_guard\.py:\d+\(<module>\)",
    "  of which c7n's handler": r"c7n/handler\.py:\d+\(<module>\)",
    "  of which c7n's resource registry": r"c7n/resources/__init__\.py:\d+\(load_resources\)",
}


def summarise(path: Path, top: int) -> str:
    stats = pstats.Stats(str(path))
    entries = stats.stats  # type: ignore[attr-defined]  # {(file, line, name): (cc, nc, tt, ct, callers)}
    total = stats.total_tt  # type: ignore[attr-defined]
    out = io.StringIO()
    out.write(f"  total {total * 1000:.0f} ms (profiled; cProfile inflates pure-Python time)\n")
    for label, pattern in MARKERS.items():
        regex = re.compile(pattern)
        cum = max((v[3] for (f, line, name), v in entries.items() if regex.search(f"{f}:{line}({name})")),
                  default=0.0)
        out.write(f"  {label}: {cum * 1000:.0f} ms\n")
    buf = io.StringIO()
    pstats.Stats(str(path), stream=buf).sort_stats("cumulative").print_stats(top)
    out.write("\n".join("    " + line for line in buf.getvalue().splitlines()[-top - 2:]) + "\n")
    return out.getvalue()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--tool", choices=("eksguard", "custodian", "both"), default="both")
    parser.add_argument("--sweep", type=int, default=0, help="profile eksguard's sweep over N groups instead")
    args = parser.parse_args()
    if not (env.SAM_BUILD.exists() and env.C7N_ARCHIVE.exists() and env.RUNTIME_VENV.exists()):
        raise SystemExit("run `python bench/vs_custodian.py --quick` first (it builds bench/.cache)")
    runtime_python = env.RUNTIME_VENV / "bin" / "python"
    profile_root = env.CACHE / "profile"
    shutil.rmtree(profile_root, ignore_errors=True)
    standin = vs.Standin(sys.executable)
    xray = vs.XraySink()
    try:
        account = vs.Account(standin)
        functions = account.fresh({"Mode": "enforce", "Scope": "all"})
        ec2 = account.ec2
        if args.sweep:
            return profile_sweep(standin, xray, account, functions, runtime_python, profile_root, args)
        vpc = ec2.create_vpc(CidrBlock="10.1.0.0/16")["Vpc"]["VpcId"]
        peer = ec2.create_security_group(GroupName="peer", Description="peer", VpcId=vpc)["GroupId"]
        tools = ("eksguard", "custodian") if args.tool == "both" else (args.tool,)
        for tool in tools:
            seeded = vs.per_event_groups(ec2, vpc, peer, 3, f"profile-{tool}")
            events = [vs.authorize_event(g) for g in seeded.keep]
            work = vs.RUNS / f"profile-{tool}"
            prof = profile_root / tool
            prof.mkdir(parents=True)
            if tool == "eksguard":
                task = env.fresh_copy(env.SAM_BUILD / "SgGuardFunction", work / "task")
                opt = env.opt_python([env.SAM_BUILD / "EksguardLayer" / "python", env.POWERTOOLS_LAYER],
                                     work / "opt" / "python", ["keep", "keep"])
                spec = {"task": str(task), "layers": [str(opt)],
                        "handler": "app.lambda_handler", "timeout": 60,
                        "env": vs.lambda_env(standin, xray, "SgGuardFunction", 512, task,
                                             functions["SgGuardFunction"])}
            else:
                task = env.unzip_fresh(env.C7N_ARCHIVE, env.CACHE / "custodian-archive")
                spec = {"task": str(task), "layers": [], "handler": "custodian_policy.run", "timeout": 900,
                        "env": vs.lambda_env(standin, xray, vs.C7N_FUNCTION, 512, task, {})}
            spec.update(events=events, endpoint=standin.endpoint, account=vs.ACCOUNT, profile=str(prof))
            _, result = vs.run_lambda(spec, f"profile-{tool}", runtime_python, timeout=300)
            print(f"== {tool}: INIT {result['init_ms']:.0f} ms, 1st {result['invocations'][0]['ms']:.0f} ms, "
                  f"2nd {result['invocations'][1]['ms']:.0f} ms (unprofiled numbers are in results.json)")
            for phase in ("init", "first", "warm"):
                print(f"-- {tool} {phase}")
                print(summarise(prof / f"{phase}.prof", args.top))
    finally:
        xray.close()
        standin.stop()
        shutil.rmtree(vs.C7N_LAMBDA_OUTPUT, ignore_errors=True)
    return 0


def profile_sweep(standin: vs.Standin, xray: vs.XraySink, account: vs.Account, functions: dict[str, Any],
                  runtime_python: Path, profile_root: Path, args: argparse.Namespace) -> int:
    seed_groups.seed(account.ec2, args.sweep)
    standin.reset()
    work = vs.RUNS / "profile-sweep"
    prof = profile_root / "sweep"
    prof.mkdir(parents=True)
    task = env.fresh_copy(env.SAM_BUILD / "SweepFunction", work / "task")
    opt = env.opt_python([env.SAM_BUILD / "EksguardLayer" / "python", env.POWERTOOLS_LAYER,
                          env.SAM_BUILD / "KubernetesLayer" / "python"],
                         work / "opt" / "python", ["keep", "keep", "keep"])
    spec = {"task": str(task), "layers": [str(opt)], "handler": "app.lambda_handler",
            "timeout": 900, "events": [vs.sweep_event()], "endpoint": standin.endpoint, "account": vs.ACCOUNT,
            "profile": str(prof),
            "env": vs.lambda_env(standin, xray, "SweepFunction", 1024, task, functions["SweepFunction"])}
    _, result = vs.run_lambda(spec, "profile-sweep", runtime_python, timeout=900)
    inv = result["invocations"][0]
    print(f"== eksguard sweep over {args.sweep:,} groups: INIT {result['init_ms']:.0f} ms, handler {inv['ms']:.0f} ms "
          f"(CPU {inv['cpu_ms']:.0f} ms), {sum(inv['calls'].values()):,} calls; stand-in time "
          f"{sum(standin.calls()['server_ms'].values()) / 1000:.1f} s")
    print(summarise(prof / "first.prof", args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
