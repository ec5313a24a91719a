"""Events per second one account's stack absorbs: a burst replayed through K concurrent security-group guard
containers (separate processes, as Lambda runs them) against the local stand-in, with an assumed AWS latency.

    .venv/bin/python org/measure_burst.py                                   # 600 events; K = 1, 2, 5, 10; 0 and 25 ms
    .venv/bin/python org/measure_burst.py --events 300 --containers 1 5 --latency-ms 25

Each run starts bench/standin_server.py (moto server, counting calls; ``--latency-ms`` makes every call wait that
long after moto answered it, outside moto's lock, as the network and the AWS service would), provisions the
template's tables and topic into it and seeds the demo account, then splits N copies of
events/sg-ingress-referenced-group-control-plane.json (distinct eventIDs: Powertools idempotency lets every one
through) over K processes of bench/lambda_worker.py, each a warm SgGuardFunction container that handles its share
one event at a time, all started together. Throughput = N / (last invocation's end - first invocation's start);
imports (cold starts) are not inside that window. The stand-in serves one call at a time (moto is not
thread-safe), so on this machine its CPU, not eksguard, is the ceiling once K is large: the table shows where.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import urllib.request
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
TEMPLATE = ROOT / "template.yaml"
EVENT = ROOT / "events" / "sg-ingress-referenced-group-control-plane.json"
FUNCTION = "SgGuardFunction"
REGION = "ap-northeast-2"
CREDS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing"}


class Standin:
    def __init__(self, latency_ms: float, log: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, str(BENCH / "standin_server.py"), "--latency-ms",
                                      str(latency_ms)], stdout=subprocess.PIPE, stderr=log.open("w"), text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise SystemExit(f"the stand-in did not start; see {log}")
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"

    def calls(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.endpoint + "/_bench/calls", timeout=60) as response:
            return dict(json.loads(response.read()))

    def reset(self) -> None:
        request = urllib.request.Request(self.endpoint + "/_bench/reset", method="POST", data=b"")
        urllib.request.urlopen(request, timeout=60).close()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)


def prepare(endpoint: str) -> dict[str, str]:
    """Provision the template into the stand-in and seed the demo account; the function's environment."""
    os.environ.update({**CREDS, "AWS_ENDPOINT_URL": endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION})
    import boto3

    from eksguard.local.invoke import load_app
    from eksguard.local.seed import RANDOM_SEED, seed_demo
    from eksguard.local.standin import seed_random

    session = boto3.session.Session(region_name=REGION)
    app = load_app(TEMPLATE, {"Mode": "enforce"}, session)
    seed_random(endpoint, RANDOM_SEED)  # the group ids events/ refer to
    seed_demo(session)
    return dict(app.functions[FUNCTION].environment)


def burst(n: int) -> list[dict[str, Any]]:
    base = json.loads(EVENT.read_text())
    events = []
    for _ in range(n):
        event = json.loads(json.dumps(base))
        event["id"], event["detail"]["eventID"] = str(uuid.uuid4()), str(uuid.uuid4())
        events.append(event)
    return events


def run(n: int, containers: int, latency_ms: float, work: Path) -> dict[str, Any]:
    standin = Standin(latency_ms, work / f"standin-{containers}-{latency_ms:g}.log")
    try:
        function_env = prepare(standin.endpoint)
        events = burst(n)
        env = {**{k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}, **function_env, **CREDS,
               "AWS_ENDPOINT_URL": standin.endpoint, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
               "AWS_LAMBDA_FUNCTION_NAME": FUNCTION, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
               "AWS_SAM_LOCAL": "true", "POWERTOOLS_METRICS_NAMESPACE": "eksguard"}
        procs, outs = [], []
        standin.reset()  # count the burst only, not provisioning and seeding
        for k in range(containers):
            spec = {"task": str(ROOT / "functions" / "sg_guard"), "layers": [str(ROOT / "layers" / "eksguard")],
                    "handler": "app.lambda_handler", "env": env, "events": events[k::containers],
                    "endpoint": standin.endpoint, "log": str(work / f"fn-{k}.log")}
            spec_path, out = work / f"spec-{k}.json", work / f"out-{k}.json"
            spec_path.write_text(json.dumps(spec))
            out.unlink(missing_ok=True)
            procs.append(subprocess.Popen([sys.executable, "-B", str(BENCH / "lambda_worker.py"), "--spec",
                                           str(spec_path), "--out", str(out)], env=env, cwd=spec["task"]))
            outs.append(out)
        for proc in procs:
            proc.wait(timeout=3600)
        calls = standin.calls()
    finally:
        standin.stop()
    invocations = []
    for out in outs:
        result = json.loads(out.read_text())
        if "init_error" in result:
            raise SystemExit(result["init_error"])
        invocations += result["invocations"]
    window = max(i["started_at"] + i["ms"] / 1000 for i in invocations) - min(i["started_at"] for i in invocations)
    durations = [i["ms"] for i in invocations]
    # Every event must have been judged on a real group: a missing group would be a cheap no-op.
    unjudged = [i["response"] for i in invocations if not i["error"] and i["response"].get("reason")]
    if unjudged:
        raise SystemExit(f"{len(unjudged)} event(s) were not judged, e.g. {unjudged[0]}")
    return {"n": len(invocations), "containers": containers, "latency_ms": latency_ms, "seconds": window,
            "events_per_s": len(invocations) / window, "p50_ms": statistics.median(durations),
            "p95_ms": statistics.quantiles(durations, n=20)[18], "errors": sum(1 for i in invocations if i["error"]),
            "calls_per_event": calls["total"] / max(1, len(invocations))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=600)
    parser.add_argument("--containers", type=int, nargs="+", default=[1, 2, 5, 10])
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 25.0])
    args = parser.parse_args(argv)
    print(f"{FUNCTION}, warm containers (processes), stand-in on loopback; event {EVENT.name}; "
          f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    print("| assumed AWS latency per call | containers | events | burst wall | events/s | p50 / p95 per event "
          "| calls per event | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    errors = 0
    with tempfile.TemporaryDirectory(prefix="eksguard-burst-") as tmp:
        for latency in args.latency_ms:
            for k in args.containers:
                r = run(args.events, k, latency, Path(tmp))
                errors += r["errors"]
                print(f"| {latency:g} ms | {k} | {r['n']} | {r['seconds']:.1f} s | {r['events_per_s']:.1f} | "
                      f"{r['p50_ms']:.0f} / {r['p95_ms']:.0f} ms | {r['calls_per_event']:.1f} | {r['errors']} |",
                      flush=True)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
