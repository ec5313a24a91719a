"""The benchmark's AWS stand-in: a moto server on loopback, in its own process, that counts every API
call it serves as ``service.Action``.

    python bench/standin_server.py [--port 0]      # prints "READY <port>" once it listens

Besides moto's own ``/moto-api/...`` routes it serves:

- ``GET  /_bench/calls``  the counters since the last reset: ``{"total": n, "calls": {"ec2.X": n, ...},
  "server_ms": {"ec2.X": ms, ...}}`` (server_ms: time moto spent serving each kind of call)
- ``POST /_bench/reset``  zero the counters (returns what they held)
- ``POST /_bench/wipe``   zero the counters and reset every moto backend (a clean account);
  ``?keep=ec2`` resets every service but the ones listed
- ``POST /_bench/latency?ms=L``  from now on, every counted call costs L ms more (0: the plain stand-in)
- ``GET  /_bench/ping``   liveness

The latency (``--latency-ms L`` at start, or the route above) is added to every counted call after moto served
it, outside the serving lock, as AWS's network and service time would be: the server is threaded, so callers
waiting on their answers wait side by side, as they would on AWS, and a client that makes its calls
concurrently pays the latency once per round, not once per call. moto itself still serves one call at a time.

Neither the ``/_bench`` nor the ``/moto-api`` routes are counted. The measured clients (eksguard,
Cloud Custodian) run in other processes, so nothing of theirs shares this process's memory or GIL.
The stand-in gets the same moto gap fills as ``eksguard local up`` (eksguard.local.standin), so both
tools see one and the same AWS.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import re
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any
from urllib.parse import parse_qs

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/]+/\d{8}/[^/]+/([^/]+)/aws4_request")


class CallCounter:
    """WSGI middleware: count each request by ``service.Action``, then hand it to moto unchanged."""

    def __init__(self, app: WsgiApp, latency_s: float = 0.0) -> None:
        self.app = app
        self.latency_s = latency_s
        self.counts: Counter[str] = Counter()
        self.server_s: Counter[str] = Counter()
        self.lock = threading.Lock()
        # moto's backends are not thread-safe (a create during a describe raises "dictionary changed size
        # during iteration"); it is GIL-bound anyway, so serving one request at a time costs the clients
        # little: their own work still overlaps with the server's.
        self.serve_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_bench/"):
            return self._control(path, environ, start_response)
        if path.startswith("/moto-api"):
            with self.serve_lock:
                return list(self.app(environ, start_response))
        key = self._classify(environ)
        with self.serve_lock:
            started = time.perf_counter()
            body = list(self.app(environ, start_response))
            spent = time.perf_counter() - started
        with self.lock:
            self.counts[key] += 1
            self.server_s[key] += spent
        if self.latency_s:  # AWS's network and service time, outside the lock: callers wait in parallel
            time.sleep(self.latency_s)
        return body

    def _classify(self, environ: dict[str, Any]) -> str:
        auth = environ.get("HTTP_AUTHORIZATION", "")
        match = _CREDENTIAL_SCOPE.search(auth)
        service = match.group(1) if match else "unknown"
        target = environ.get("HTTP_X_AMZ_TARGET")
        if target:  # JSON protocols (DynamoDB, CloudTrail, ...): "Prefix.Operation"
            return f"{service}.{target.rsplit('.', 1)[-1]}"
        action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
        if not action and environ.get("REQUEST_METHOD") == "POST" and "x-www-form-urlencoded" in environ.get(
                "CONTENT_TYPE", ""):
            body = _read_body(environ)
            action = parse_qs(body.decode("utf-8", "replace")).get("Action")
        if action:  # query protocols (EC2, SNS, STS, IAM, ...)
            return f"{service}.{action[0]}"
        # REST protocols (EKS, Lambda, ...): match method and path against the service model.
        operation = rest_operation(service, environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""))
        return f"{service}.{operation}"

    def _control(self, path: str, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if path == "/_bench/ping":
            body: Any = {"ok": True}
        elif path == "/_bench/calls" and method == "GET":
            body = self.snapshot()
        elif path == "/_bench/latency" and method == "POST":
            ms = float(parse_qs(environ.get("QUERY_STRING", "")).get("ms", ["0"])[0])
            if not 0 <= ms <= 10_000:
                start_response("400 Bad Request", [("Content-Type", "application/json")])
                return [b'{"error": "ms must be 0-10000"}']
            self.latency_s = ms / 1000
            body = {"latency_ms": ms}
        elif path in ("/_bench/reset", "/_bench/wipe") and method == "POST":
            body = self.snapshot()
            with self.lock:
                self.counts.clear()
                self.server_s.clear()
            if path == "/_bench/wipe":
                keep = {s for v in parse_qs(environ.get("QUERY_STRING", "")).get("keep", []) for s in v.split(",")}
                with self.serve_lock:
                    _wipe(keep)
        else:
            start_response("404 Not Found", [("Content-Type", "application/json")])
            return [b'{"error": "unknown bench route"}']
        data = json.dumps(body, sort_keys=True).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            calls = dict(sorted(self.counts.items()))
            server_ms = {k: round(v * 1000, 1) for k, v in sorted(self.server_s.items())}
        return {"total": sum(calls.values()), "calls": calls, "server_ms": server_ms}


def index_group_id_filter() -> None:
    """moto matches every value of a ``group-id`` filter against every rule of the region as a regular
    expression (3 ``re`` calls each): DescribeSecurityGroupRules filtered on 200 groups of a 3,000-group region
    costs moto ~9 million matches, seconds per call, where AWS looks the groups up. Values without a wildcard are
    looked up in a set here; wildcards still go to moto. Same answers, the cost an index would have. Only the
    bench's stand-in gets it (the tools compared are what is measured, not moto's filter loop)."""
    from moto.ec2.models.security_groups import SecurityGroupRule

    original = SecurityGroupRule.filter_group_id
    last: list[Any] = [None, frozenset()]  # the filter's value list (one per request) -> its set

    def filter_group_id(self: Any, values: list[Any]) -> bool:
        if values is not last[0]:
            plain = all(isinstance(v, str) and "*" not in v and "?" not in v for v in values)
            last[0], last[1] = values, frozenset(values) if plain else None
        if last[1] is None:
            return bool(original(self, values))
        return self.group_id in last[1]

    SecurityGroupRule.filter_group_id = filter_group_id  # type: ignore[method-assign]


def _wipe(keep: set[str]) -> None:
    """Reset moto's backends: all of them (what POST /moto-api/reset does), or all but ``keep``."""
    if not keep:
        from moto.moto_api._internal.models import moto_api_backend

        moto_api_backend.reset()
        return
    from moto.core.base_backend import BackendDict

    for backends in list(BackendDict._instances):
        if backends.service_name not in keep:
            for account_backends in list(backends.values()):
                account_backends.reset()


def _read_body(environ: dict[str, Any]) -> bytes:
    """Read the request body and put it back, so moto reads it as if nobody had."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


@cache
def _rest_routes(service: str) -> tuple[tuple[str, re.Pattern[str], int, str], ...]:
    """(method, path regex, literal length, operation) for each operation of a REST service model."""
    import botocore.session

    loader = botocore.session.get_session().get_component("data_loader")
    try:
        model = loader.load_service_model(service, "service-2")
    except Exception:  # noqa: BLE001 - an unknown service simply has no routes
        return ()
    routes = []
    for name, op in model.get("operations", {}).items():
        http = op.get("http", {})
        uri = http.get("requestUri", "/").split("?", 1)[0]
        pattern = ""
        literal = 0
        for part in re.split(r"(\{[^}]+\})", uri):
            if part.startswith("{"):
                pattern += "(.+)" if part.endswith("+}") else "([^/]+)"
            else:
                pattern += re.escape(part)
                literal += len(part)
        routes.append((http.get("method", "POST"), re.compile(pattern.rstrip("/") + "/?$"), literal, name))
    return tuple(routes)


def rest_operation(service: str, method: str, path: str) -> str:
    best = None
    for route_method, regex, literal, name in _rest_routes(service):
        if route_method == method and regex.match(path) and (best is None or literal > best[0]):
            best = (literal, name)
    return best[1] if best else f"{method} {path}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency-ms", type=float, default=0.0,
                        help="added to every counted call, as AWS's network and service time would be")
    args = parser.parse_args(argv)

    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from werkzeug.serving import make_server

    from eksguard.local.standin import apply_moto_patches

    apply_moto_patches()
    index_group_id_filter()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    counter = CallCounter(DomainDispatcherApplication(create_backend_app), args.latency_ms / 1000)
    server = make_server(args.host, args.port, counter, threaded=True, request_handler=MotoRequestHandler)
    print(f"READY {server.server_port}", flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
