"""Events per second one account's security-group guard absorbs, measured locally.

    .venv/bin/python org/measure_capacity.py            # N=200
    .venv/bin/python org/measure_capacity.py 500

Replays a burst of N copies of events/sg-ingress-referenced-group-control-plane.json (distinct eventIDs,
so Powertools idempotency lets every one through) through the warm in-process SgGuardFunction handler
(``eksguard.local.invoke.invoke``) against moto's ``mock_aws``, set up as tests/functional/conftest.py does:
the seeded demo account, the template's tables and topic, enforce mode. One warm-up invocation (the cold
start) is not counted. AWS API calls are counted per operation by wrapping botocore's ``_make_api_call``.
The figures are for one in-process container against an in-memory stand-in: they bound eksguard's own CPU
cost per event; on AWS each API call adds its network latency (see docs/scale.md).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "ap-northeast-2", "AWS_REGION": "ap-northeast-2"}.items():
    os.environ[key] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
import botocore.client  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402

from eksguard.aws import clients  # noqa: E402
from eksguard.local.invoke import invoke, load_app, reset_warm  # noqa: E402
from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, seed_demo  # noqa: E402
from eksguard.local.standin import apply_moto_patches  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
EVENT = ROOT / "events" / "sg-ingress-referenced-group-control-plane.json"
FUNCTION = "SgGuardFunction"


def copies(base: dict[str, Any], n: int) -> list[dict[str, Any]]:
    out = []
    for _ in range(n):
        event = json.loads(json.dumps(base))
        event["id"] = str(uuid.uuid4())
        event["detail"]["eventID"] = str(uuid.uuid4())
        out.append(event)
    return out


def measure(n: int) -> dict[str, Any]:
    calls: Counter[str] = Counter()
    original = botocore.client.BaseClient._make_api_call

    def counting(self: Any, operation_name: str, api_params: Any) -> Any:
        calls[operation_name] += 1
        return original(self, operation_name, api_params)

    apply_moto_patches()
    with mock_aws():
        clients.reset()
        reset_warm()
        session = boto3.session.Session(region_name=DEMO_REGION)
        app = load_app(TEMPLATE, {"Mode": "enforce"}, session)
        mock_random.seed(RANDOM_SEED)
        seed_demo(session)
        base = json.loads(EVENT.read_text())
        warm_up, *burst = copies(base, n + 1)
        first = invoke(app, FUNCTION, warm_up)
        assert first.ok and first.cold, first.error
        botocore.client.BaseClient._make_api_call = counting  # type: ignore[method-assign]
        try:
            durations, errors = [], 0
            started = time.perf_counter()
            for event in burst:
                result = invoke(app, FUNCTION, event)
                errors += 0 if result.ok else 1
                durations.append(result.duration_ms)
            elapsed = time.perf_counter() - started
        finally:
            botocore.client.BaseClient._make_api_call = original  # type: ignore[method-assign]
        reset_warm()
        clients.reset()
    return {"n": n, "seconds": elapsed, "errors": errors, "cold_ms": first.duration_ms,
            "per_event_ms": elapsed * 1000 / n, "events_per_s": n / elapsed,
            "p50_ms": statistics.median(durations), "p95_ms": statistics.quantiles(durations, n=20)[18],
            "max_ms": max(durations), "calls": dict(calls)}


def main(argv: list[str]) -> int:
    n = int(argv[0]) if argv else 200
    r = measure(n)
    per_event = {op: count / n for op, count in sorted(r["calls"].items())}
    print(f"SgGuardFunction, warm, in-process, moto mock_aws, enforce mode; event {EVENT.name}")
    print(f"burst: {r['n']} events (distinct eventIDs), {r['errors']} errors, cold start {r['cold_ms']:.0f} ms")
    print(f"wall time: {r['seconds']:.2f} s -> {r['events_per_s']:.0f} events/s, {r['per_event_ms']:.1f} ms/event")
    print(f"per invocation: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, max {r['max_ms']:.1f} ms")
    print("AWS API calls per event: " + ", ".join(f"{op} {c:g}" for op, c in per_event.items()))
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    return 1 if r["errors"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
