"""``eksguard``: posture scan, rollback and history, and the local stand-in commands (no Docker)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from eksguard import __version__


def find_template(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit).resolve()
    for folder in (Path.cwd(), *Path.cwd().parents):
        if (folder / "template.yaml").is_file():
            return folder / "template.yaml"
    raise SystemExit("eksguard: template.yaml not found here or above; pass --template PATH")


def parse_overrides(values: Sequence[str]) -> dict[str, str]:
    """``K=V`` pairs, each its own argument or several in one string (as ``sam`` accepts them)."""
    pairs: dict[str, str] = {}
    for value in values:
        for item in value.split():
            key, sep, val = item.partition("=")
            if not sep or not key:
                raise SystemExit(f"eksguard: --parameter-overrides expects KEY=VALUE, got {item!r}")
            pairs[key.removeprefix("ParameterKey=")] = val
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="eksguard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"eksguard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    local = sub.add_parser("local", help="the local AWS stand-in (moto server), no Docker").add_subparsers(
        dest="local_command", required=True)

    up = local.add_parser("up", help="start the stand-in, provision the template, optionally seed; run until stopped")
    up.add_argument("--port", type=int, default=5000)
    up.add_argument("--host", default="127.0.0.1",
                    help="address to listen on (0.0.0.0 lets `sam local invoke` containers reach it)")
    up.add_argument("--seed", choices=("demo", "none"), default="demo")
    up.add_argument("--template")

    prov = local.add_parser("provision", help="provision the template's tables, topics, queues, secrets into "
                            "AWS_ENDPOINT_URL (idempotent)")
    prov.add_argument("--template")
    prov.add_argument("--parameter-overrides", nargs="*", default=[])

    inv = local.add_parser("invoke", help="like `sam local invoke`, in-process")
    inv.add_argument("function_logical_id")
    inv.add_argument("-e", "--event", required=True, help="event file ('-' for stdin)")
    inv.add_argument("--parameter-overrides", nargs="*", default=[])
    inv.add_argument("-n", "--env-vars", help="JSON file of environment overrides, as for sam local invoke")
    inv.add_argument("--template", "-t")

    rep = local.add_parser("replay", help="route events through the template's EventBridge patterns and invoke "
                           "every matching function")
    rep.add_argument("events", nargs="+")
    rep.add_argument("--parameter-overrides", nargs="*", default=[])
    rep.add_argument("--template", "-t")
    rep.add_argument("--json", action="store_true", help="print one JSON object per event")

    demo = local.add_parser("demo", help="the security-group story on an embedded stand-in")
    demo.add_argument("--template")
    demo.add_argument("--mode", choices=("audit", "enforce"), default="enforce")

    from eksguard.cli import history, rollback, scan

    rollback.add_parser(sub)
    scan_parser = scan.add_parser(sub)
    history.add_parser(sub)

    args = parser.parse_args(argv)
    if args.command == "rollback":
        return rollback.run(args)
    if args.command == "scan":
        scan.check_arguments(scan_parser, args)
        return scan.run(args)
    if args.command == "history":
        return history.run(args)
    handler = {"up": _up, "provision": _provision, "invoke": _invoke, "replay": _replay, "demo": _demo}
    return handler[args.local_command](args)


def _require_endpoint() -> None:
    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise SystemExit("eksguard: AWS_ENDPOINT_URL is not set; start the stand-in with `eksguard local up` "
                         "and export the endpoint it prints (this command never talks to real AWS)")


def _up(args: argparse.Namespace) -> int:
    import boto3

    from eksguard.local.invoke import load_app
    from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, seed_demo
    from eksguard.local.standin import endpoint_env, moto_server, seed_random

    template = find_template(args.template)
    with moto_server(args.port, args.host) as endpoint, endpoint_env(endpoint):
        region = os.environ.get("AWS_DEFAULT_REGION") or DEMO_REGION
        app = load_app(template, {}, boto3.session.Session(region_name=region))
        print(f"stand-in running at {endpoint}; provisioned {', '.join(sorted(app.context.physical))}")
        if args.seed == "demo":
            seed_random(endpoint, RANDOM_SEED)
            acct = seed_demo(boto3.session.Session(region_name=DEMO_REGION))
            print(f"seeded the demo account (cluster demo, {DEMO_REGION}): {json.dumps(acct.as_dict())}")
        print(f"\n  export AWS_ENDPOINT_URL={endpoint} AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing "
              f"AWS_DEFAULT_REGION={region}\n\nCtrl-C stops it.", flush=True)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def _provision(args: argparse.Namespace) -> int:
    _require_endpoint()
    from eksguard.local.invoke import load_app

    app = load_app(find_template(args.template), parse_overrides(args.parameter_overrides))
    print(json.dumps(app.context.physical, indent=2, sort_keys=True))
    return 0


def _invoke(args: argparse.Namespace) -> int:
    _require_endpoint()
    from eksguard.local.invoke import invoke, load_app

    event = json.load(sys.stdin) if args.event == "-" else json.loads(Path(args.event).read_text())
    app = load_app(find_template(args.template), parse_overrides(args.parameter_overrides))
    result = invoke(app, args.function_logical_id, event, _env_vars(args.env_vars, args.function_logical_id))
    sys.stderr.write(result.logs)
    print(json.dumps(result.response if result.ok else result.error, indent=2, default=str))
    return 0 if result.ok else 1


def _env_vars(path: str | None, logical_id: str) -> dict[str, str]:
    """sam's --env-vars format: {"Parameters": {...}} for all functions, {"<LogicalId>": {...}} for one."""
    if not path:
        return {}
    data: dict[str, Any] = json.loads(Path(path).read_text())
    return {**data.get("Parameters", {}), **data.get(logical_id, {})}


def _replay(args: argparse.Namespace) -> int:
    _require_endpoint()
    from eksguard.local.invoke import load_app
    from eksguard.local.replay import replay

    app = load_app(find_template(args.template), parse_overrides(args.parameter_overrides))
    unmatched = failed = 0
    for path in args.events:
        routed = replay(app, Path(path).name, json.loads(Path(path).read_text()))
        unmatched += not routed.matched
        failed += sum(not d.invocation.ok for d in routed.deliveries)
        if args.json:
            print(json.dumps({"event": routed.name, "matched": routed.matched, "deliveries": [
                {"rule": d.rule, "response": d.invocation.response, "error": d.invocation.error,
                 "duration_ms": round(d.invocation.duration_ms, 1)} for d in routed.deliveries]}, default=str))
            continue
        if not routed.matched:
            print(f"{routed.name}: no rule matches (EventBridge would deliver it nowhere)")
        for d in routed.deliveries:
            outcome = d.invocation.response if d.invocation.ok else d.invocation.error
            print(f"{routed.name} -> {d.rule} ({d.invocation.duration_ms:.0f} ms): "
                  f"{json.dumps(outcome, default=str)}")
    return 2 if failed else (1 if unmatched else 0)


def _demo(args: argparse.Namespace) -> int:
    from eksguard.local.demo import run_demo

    return run_demo(find_template(args.template).parent, sys.stdout, args.mode)


if __name__ == "__main__":
    sys.exit(main())
