"""``eksguard scan``: read-only posture report for the current credentials (or ``AWS_ENDPOINT_URL``), or with
``--role-name`` and ``--accounts FILE`` / ``--org`` for many accounts (cli/scan_accounts.py).

Exit status: 0, or 1 when ``--fail-on SEVERITY`` is given and a (non-exempt) finding is at or above it;
2 when AWS (or any one of the accounts) could not be read, or the options are wrong."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, TextIO

from eksguard import clock
from eksguard.cli import scan_accounts
from eksguard.cli.errors import check_region
from eksguard.cli.report import render
from eksguard.config import Config, ConfigError, Scope
from eksguard.config_eks import EksConfig
from eksguard.model import Severity


def add_parser(sub: Any) -> argparse.ArgumentParser:
    scan: argparse.ArgumentParser = sub.add_parser(
        "scan", help="read-only posture report (security groups, clusters, node launch templates, CloudTrail) for "
        "the current credentials, or for many accounts through a role")
    scan.add_argument("--region", action="append", dest="regions", metavar="REGION",
                      help="region to scan (repeatable; default: the current region)")
    scan.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    scan.add_argument("--fail-on", type=_severity, metavar="SEVERITY",
                      help="exit 1 when a finding at or above this severity exists (info, low, medium, high, critical)")
    scan.add_argument("--scope", choices=[s.value for s in Scope],
                      help="security groups to judge: eks (VPCs that host a cluster) or all (default: EKSGUARD_SCOPE "
                           "or eks)")
    scan.add_argument("--no-kubernetes", action="store_true",
                      help="skip the K8 family (reading each cluster's Kubernetes API; also EKSGUARD_READ_KUBERNETES="
                           "false)")
    scan_accounts.add_arguments(scan)
    return scan


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit through ``parser.error`` (status 2, usage) on options that do not go together."""
    if (problem := scan_accounts.argument_error(args)) is not None:
        parser.error(problem)


def _severity(raw: str) -> Severity:
    try:
        return Severity.parse(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


class Progress:
    """One self-overwriting status line on a terminal; nothing at all when stderr is not one."""

    def __init__(self, stream: TextIO):
        self.stream = stream
        self.active = stream.isatty()

    def __call__(self, index: int, total: int, region: str, step: str) -> None:
        if self.active:
            self.stream.write(f"\r\x1b[K[{index}/{total}] {region}: reading {step}...")
            self.stream.flush()

    def done(self) -> None:
        if self.active:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None,
        session: Any = None) -> int:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from eksguard.aws.clients import Aws
    from eksguard.pipeline.scan import scan

    out, err = out or sys.stdout, err or sys.stderr
    if (problem := scan_accounts.argument_error(args)) is not None:  # callers that bypass the parser
        err.write(f"eksguard scan: {problem}\n")
        return 2
    session = session or boto3.session.Session()
    regions = list(dict.fromkeys(args.regions or [session.region_name or os.environ.get("AWS_REGION") or ""]))
    if not all(regions):
        err.write("eksguard scan: no region: pass --region or set AWS_DEFAULT_REGION\n")
        return 2
    for region in regions:
        check_region(region)
    try:
        env = dict(os.environ)
        if args.scope:
            env["EKSGUARD_SCOPE"] = args.scope
        if getattr(args, "no_kubernetes", False):
            env["EKSGUARD_READ_KUBERNETES"] = "false"
        config, eks_config = Config.from_env(env), EksConfig.from_env(env)
    except ConfigError as exc:
        err.write(f"eksguard scan: {exc}\n")
        return 2
    if scan_accounts.wanted(args):
        return scan_accounts.run(args, out, err, session, regions, config, eks_config)
    progress = Progress(err)
    try:
        report = scan(Aws(regions[0], session), regions, config, eks_config, clock.today(), progress)
    except (ClientError, BotoCoreError) as exc:
        progress.done()
        err.write(f"eksguard scan: could not read AWS: {exc}\n")
        return 2
    progress.done()
    out.write(render(report, args.format))
    return 1 if args.fail_on is not None and report.fails(args.fail_on) else 0
