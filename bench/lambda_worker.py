"""Run one Lambda handler the way the Python runtime does, in this (fresh) process, and time it.

    <runtime python> -I -B bench/lambda_worker.py --spec SPEC.json --out RESULT.json

SPEC.json: {"task": DIR, "layers": [DIR, ...], "handler": "module.function", "env": {...},
            "events": [...], "endpoint": URL, "log": FILE}

As in Lambda: the function's directory first on sys.path, then each layer's directory (`/opt/python`),
then the runtime's own site-packages (boto3); the working directory is the function's; nothing writes
.pyc files (-B), so a directory without __pycache__ is compiled on every cold start, as it is on Lambda's
read-only file system. The handler's stdout and stderr (its logs, its metrics) go to a file, as they go
to CloudWatch Logs. Only the standard library is imported before the clock starts.

Timings: `init_ms` is the import of the handler module (Lambda's INIT phase); `invocations[i].ms` each
call of the handler; the `cpu_ms` beside them is this process's own CPU time in that phase (the rest
of the wall time is spent waiting on the API); `calls` the stand-in's API-call counters taken around
each phase (the counter requests themselves are not counted by the stand-in).
"""

from __future__ import annotations

import time

_T_START = time.perf_counter()

import argparse  # noqa: E402
import http.client  # noqa: E402
import importlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
import uuid  # noqa: E402
from collections import Counter  # noqa: E402
from typing import Any  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402


class Context:
    """The attributes of the Lambda context object that Powertools and c7n read."""

    def __init__(self, name: str, region: str, account: str, memory: int, timeout: int) -> None:
        self.function_name = name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{name}"
        self.memory_limit_in_mb = memory
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = "2026/01/01/[$LATEST]bench"
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Calls:
    def __init__(self, endpoint: str) -> None:
        parts = urlsplit(endpoint)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80

    def now(self) -> Counter[str]:
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request("GET", "/_bench/calls")
            return Counter(json.loads(conn.getresponse().read())["calls"])
        finally:
            conn.close()


def delta(after: Counter[str], before: Counter[str]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in sorted(after) if after[k] - before[k]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)

    os.environ.update({k: str(v) for k, v in spec["env"].items()})
    task = spec["task"]
    sys.path[:0] = [task, *spec.get("layers", [])]
    os.chdir(task)
    calls = Calls(spec["endpoint"])
    region = spec["env"].get("AWS_REGION", "us-east-1")
    name = spec["env"].get("AWS_LAMBDA_FUNCTION_NAME", "bench")
    memory = int(spec["env"].get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512"))

    # The function's own output goes where Lambda sends it: a log, not this process's stdout.
    log = os.open(spec["log"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    os.dup2(log, 1)
    os.dup2(log, 2)

    result: dict[str, Any] = {"python": sys.version.split()[0], "invocations": []}
    before = calls.now()
    module_name, _, attr = spec["handler"].rpartition(".")
    profile_dir = spec.get("profile")  # optional: cProfile of INIT, the first and the second invocation
    profiler = _profiler(profile_dir)
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        handler = getattr(importlib.import_module(module_name), attr)
    except Exception as exc:  # noqa: BLE001 - an init error is a result, as Lambda reports it
        result["init_error"] = "".join(traceback.format_exception(exc))
        _write(args.out, result)
        return 1
    result["init_ms"] = (time.perf_counter() - t0) * 1000
    result["init_cpu_ms"] = (time.process_time() - c0) * 1000
    _dump(profiler, profile_dir, "init")
    result["startup_ms"] = (t0 - _T_START) * 1000
    after = calls.now()
    result["init_calls"] = delta(after, before)
    result["modules_loaded"] = len(sys.modules)

    for index, event in enumerate(spec["events"]):
        profiler = _profiler(profile_dir) if index < 2 else None
        os.environ["_X_AMZN_TRACE_ID"] = (f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};"
                                          f"Parent={uuid.uuid4().hex[:16]};Sampled=1")
        context = Context(name, region, spec.get("account", "123456789012"), memory, int(spec.get("timeout", 60)))
        before = after
        t, c, started_at = time.perf_counter(), time.process_time(), time.time()
        error = None
        response: Any = None
        try:
            response = handler(event, context)
        except Exception as exc:  # noqa: BLE001 - the runtime boundary: an exception is the error result
            error = "".join(traceback.format_exception(exc))[-4000:]
        ms, cpu_ms = (time.perf_counter() - t) * 1000, (time.process_time() - c) * 1000
        _dump(profiler, profile_dir, "first" if index == 0 else "warm")
        after = calls.now()
        result["invocations"].append({"ms": ms, "cpu_ms": cpu_ms, "calls": delta(after, before), "error": error,
                                      "response": _short(response), "started_at": started_at})
    result["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _write(args.out, result)
    return 0


def _profiler(profile_dir: str | None) -> Any:
    if not profile_dir:
        return None
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    return profiler


def _dump(profiler: Any, profile_dir: str | None, name: str) -> None:
    if profiler is not None and profile_dir:
        profiler.disable()
        profiler.dump_stats(os.path.join(profile_dir, f"{name}.prof"))


def _short(response: Any) -> Any:
    """The handler's response, with long lists (a sweep's actions) cut to their length."""
    if isinstance(response, dict):
        response = {k: ({"items": len(v)} if isinstance(v, list | tuple) and len(v) > 10 else v)
                    for k, v in response.items()}
    try:
        text = json.dumps(response, default=str)
    except (TypeError, ValueError):
        text = repr(response)
    return json.loads(text) if len(text) < 20000 else text[:20000]


def _write(path: str, result: dict[str, Any]) -> None:
    with open(path, "w") as f:
        json.dump(result, f, indent=1, default=str)


if __name__ == "__main__":
    sys.exit(main())
