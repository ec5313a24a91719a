"""``eksguard``: posture scan, rollback and history, and the local stand-in commands (no Docker)."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path

from eksguard import __version__
from eksguard.cli.common import find_template
from eksguard.cli.errors import EXIT_ERROR, CliError, debugging, explain, read_event

OVERRIDES_HELP = ("template parameters as sam takes them: K=V ... or ParameterKey=K,ParameterValue=V, checked "
                  "against the template's AllowedValues/AllowedPattern")


OVERRIDES = "--parameter-overrides"
_OVERRIDE_TOKEN = re.compile(r"\s*(ParameterKey=|[A-Za-z0-9]+=)")
_LONG_FORM = re.compile(r"ParameterKey=([A-Za-z0-9]+),ParameterValue=(.*)", re.DOTALL)


def split_overrides(argv: Sequence[str]) -> tuple[list[str], list[str] | None]:
    """Take ``--parameter-overrides`` and the ``KEY=VALUE`` tokens after it out of ``argv``, as ``sam`` reads
    them, so that event files after them stay positional. None when the option is absent."""
    rest: list[str] = []
    found: list[str] | None = None
    tokens = list(argv)
    while tokens:
        token = tokens.pop(0)
        if token == "--":
            rest += [token, *tokens]
            break
        if token == OVERRIDES or token.startswith(OVERRIDES + "="):
            found = found if found is not None else []
            if token != OVERRIDES:
                found.append(token.partition("=")[2])
            while tokens and _OVERRIDE_TOKEN.match(tokens[0]):
                found.append(tokens.pop(0))
            continue
        rest.append(token)
    return rest, found


def parse_overrides(values: Sequence[str]) -> dict[str, str]:
    """``K=V`` or SAM's long form ``ParameterKey=K,ParameterValue=V``, each its own argument or several in one
    (quoted) string."""
    pairs: dict[str, str] = {}
    for value in values:
        try:
            items = shlex.split(value)
        except ValueError as exc:
            raise CliError(f"{OVERRIDES}: cannot read {value!r}: {exc}") from None
        for item in items:
            long_form = _LONG_FORM.fullmatch(item)
            key, sep, val = (long_form.group(1), "=", long_form.group(2)) if long_form else item.partition("=")
            if not sep or not key or not key.isalnum() or (key == "ParameterKey" and not long_form):
                raise CliError(f"{OVERRIDES} expects KEY=VALUE or ParameterKey=K,ParameterValue=V, got {item!r}")
            pairs[key] = val
    return pairs


def main(argv: Sequence[str] | None = None) -> int:
    """The console script: every error ends here as one line and exit status 2 (see cli/errors.py)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    debug = debugging(args_list)
    try:
        return _main([a for a in args_list if a != "--debug"])
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`eksguard history | head`): say so once, and keep Python from failing again
        # when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.stderr.write("eksguard: the output was closed before it was all written (a pipe such as | head); "
                         "nothing else went wrong\n")
        return EXIT_ERROR
    except Exception as exc:
        if debug:
            raise
        sys.stderr.write(f"eksguard: {explain(exc)}\n")
        return EXIT_ERROR


def _main(argv: list[str]) -> int:
    argv, overrides = split_overrides(argv)
    parser = argparse.ArgumentParser(prog="eksguard", description=__doc__)
    parser.add_argument("--version", action="version", version=f"eksguard {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the traceback of an error (also EKSGUARD_DEBUG=1)")
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
    prov.add_argument(OVERRIDES, nargs="*", default=[], metavar="KEY=VALUE", help=OVERRIDES_HELP)

    inv = local.add_parser("invoke", help="like `sam local invoke`, in-process")
    inv.add_argument("function_logical_id")
    inv.add_argument("-e", "--event", required=True, help="event file ('-' for stdin)")
    inv.add_argument(OVERRIDES, nargs="*", default=[], metavar="KEY=VALUE", help=OVERRIDES_HELP)
    inv.add_argument("-n", "--env-vars", help="JSON file of environment overrides, as for sam local invoke")
    inv.add_argument("--template", "-t")

    rep = local.add_parser("replay", help="route events through the template's EventBridge patterns and invoke "
                           "every matching function")
    rep.add_argument("events", nargs="+")
    rep.add_argument(OVERRIDES, nargs="*", default=[], metavar="KEY=VALUE", help=OVERRIDES_HELP)
    rep.add_argument("--template", "-t")
    rep.add_argument("--json", action="store_true", help="print one JSON object per event")

    demo = local.add_parser("demo", help="the security-group story on an embedded stand-in")
    demo.add_argument("--template")
    demo.add_argument("--mode", choices=("audit", "enforce"), default="enforce")

    from eksguard.cli import history, rollback, rules, scan

    rollback.add_parser(sub)
    scan_parser = scan.add_parser(sub)
    history.add_parser(sub)
    rules.add_parser(sub)

    args = parser.parse_args(argv)
    if overrides is not None:
        if not hasattr(args, "parameter_overrides"):
            parser.error(f"{OVERRIDES} applies to local provision, invoke and replay")
        args.parameter_overrides = overrides
    if args.command == "rollback":
        return rollback.run(args)
    if args.command == "scan":
        scan.check_arguments(scan_parser, args)
        return scan.run(args)
    if args.command == "history":
        return history.run(args)
    if args.command == "rules":
        return rules.run(args)
    handler = {"up": _up, "provision": _provision, "invoke": _invoke, "replay": _replay, "demo": _demo}
    return handler[args.local_command](args)


def _require_endpoint() -> None:
    if not os.environ.get("AWS_ENDPOINT_URL"):
        raise CliError("AWS_ENDPOINT_URL is not set; start the stand-in with `eksguard local up` and export the "
                       "endpoint it prints (this command never talks to real AWS)")


def _up(args: argparse.Namespace) -> int:
    import boto3

    from eksguard.local.invoke import load_app
    from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, seed_demo
    from eksguard.local.standin import endpoint_env, moto_server, port_in_use, seed_random

    template = find_template(args.template)
    if port_in_use(args.host, args.port):
        raise CliError(f"port {args.port} on {args.host} is in use: pass --port P (another free port), or stop what "
                       "listens there (an earlier `eksguard local up`?)")
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


def _checked_template(args: argparse.Namespace, function: str | None = None) -> tuple[Path, dict[str, str]]:
    """The template and the parameter overrides, checked before anything is provisioned or invoked."""
    from eksguard.local.template import check_parameters, load_template

    path = find_template(args.template)
    template = load_template(path)
    overrides = parse_overrides(args.parameter_overrides)
    check_parameters(template.get("Parameters") or {}, overrides)
    names = sorted(lid for lid, r in (template.get("Resources") or {}).items()
                   if isinstance(r, dict) and r.get("Type") == "AWS::Serverless::Function")
    if function is not None and function not in names:
        raise CliError(f"{function} is not a function of {path.name}; its functions: {', '.join(names)}")
    return path, overrides


def _provision(args: argparse.Namespace) -> int:
    _require_endpoint()
    from eksguard.local.invoke import load_app

    app = load_app(*_checked_template(args))
    print(json.dumps(app.context.physical, indent=2, sort_keys=True))
    return 0


def _invoke(args: argparse.Namespace) -> int:
    _require_endpoint()
    from eksguard.local.invoke import invoke, load_app

    event = read_event(args.event)
    extra_env = _env_vars(args.env_vars, args.function_logical_id)
    app = load_app(*_checked_template(args, args.function_logical_id))
    result = invoke(app, args.function_logical_id, event, extra_env)
    sys.stderr.write(result.logs)
    print(json.dumps(result.response if result.ok else result.error, indent=2, default=str))
    return 0 if result.ok else 1


def _env_vars(path: str | None, logical_id: str) -> dict[str, str]:
    """sam's --env-vars format: {"Parameters": {...}} for all functions, {"<LogicalId>": {...}} for one."""
    if not path:
        return {}
    data = read_event(path)  # the same checks: a readable file holding one JSON object
    merged = {**data.get("Parameters", {}), **data.get(logical_id, {})}
    if not all(isinstance(v, str | int | float | bool) for v in merged.values()):
        raise CliError(f"{path}: environment values must be strings, numbers or booleans")
    return {k: str(v) for k, v in merged.items()}


def _replay(args: argparse.Namespace) -> int:
    _require_endpoint()
    from eksguard.local.invoke import load_app
    from eksguard.local.replay import replay

    events = [(Path(path).name, read_event(path)) for path in args.events]  # every file checked first
    app = load_app(*_checked_template(args))
    unmatched = failed = 0
    for name, event in events:
        routed = replay(app, name, event)
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
    from eksguard.cli.report import render
    from eksguard.local.demo import run_demo

    return run_demo(find_template(args.template).parent, sys.stdout, lambda report: render(report, "table"),
                    args.mode)


if __name__ == "__main__":
    sys.exit(main())
