"""``eksguard scan``: read-only posture report for the current credentials (or ``AWS_ENDPOINT_URL``), or with
``--role-name`` and ``--accounts FILE`` / ``--org`` for many accounts (cli/scan_accounts.py).

Exit status: 0, or 1 when ``--fail-on SEVERITY`` is given and a (non-exempt) finding is at or above it;
2 when AWS (or any one of the accounts) could not be read, or the options are wrong."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, TextIO

from eksguard import clock
from eksguard.cli.errors import check_region
from eksguard.config import Config, ConfigError, Scope
from eksguard.config_eks import EksConfig
from eksguard.model import Severity
from eksguard.pipeline.scan import ScanFinding, ScanReport

DETAIL_WIDTH = 110


def add_parser(sub: Any) -> argparse.ArgumentParser:
    from eksguard.cli import scan_accounts

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
    scan_accounts.add_arguments(scan)
    return scan


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Exit through ``parser.error`` (status 2, usage) on options that do not go together."""
    from eksguard.cli.scan_accounts import argument_error

    if (problem := argument_error(args)) is not None:
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
    from eksguard.cli import scan_accounts
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


def render(report: ScanReport, fmt: str) -> str:
    if fmt == "json":
        return json.dumps({
            "account": report.account, "regions": list(report.regions), "counts": report.counts(),
            "cloudtrail": {t.region: list(t.logging_trails) for t in report.trails},
            "findings": [f.to_dict() for f in report.findings]}, indent=2) + "\n"
    return _markdown(report) if fmt == "markdown" else _table(report)


def _headline(report: ScanReport) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items()) or "none"
    return (f"eksguard scan of account {report.account}, {', '.join(report.regions)}: "
            f"{sum(report.counts().values())} finding(s) ({counts})")


def _trail_lines(report: ScanReport) -> list[str]:
    return [f"CloudTrail {t.region}: " + (f"management events logged by {', '.join(t.logging_trails)}"
                                          if t.logging_trails else "NO trail logs management events (CT-001)")
            for t in report.trails]


def finding_cells(f: ScanFinding, with_account: bool = False) -> tuple[str, ...]:
    """severity, rule, (account,) region, resource, detail: one row of the table and of the markdown."""
    resource = f"{f.resource_id} {f.target_id}" if f.target_id else f.resource_id
    where = (f.account, f.region) if with_account else (f.region,)
    return (f.severity + (" (exempt)" if f.exempt else ""), f.rule_id, *where, resource, f.detail)


def table(headline: str, notes: Sequence[str], header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Aligned columns; the last (the detail) is cut at DETAIL_WIDTH and left ragged."""
    last = len(header) - 1
    cut = [(*r[:last], r[last] if len(r[last]) <= DETAIL_WIDTH else r[last][:DETAIL_WIDTH - 1] + "…") for r in rows]
    every = [tuple(header), *cut]
    widths = [max(len(r[i]) for r in every) for i in range(last)]
    lines = [headline, *notes, ""]
    lines += ["  ".join(cell.ljust(widths[i]) if i < last else cell for i, cell in enumerate(row)).rstrip()
              for row in every]
    return "\n".join(lines) + "\n"


def markdown(headline: str, notes: Sequence[str], header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A heading, the notes as a list, and a table whose last two columns (resource, detail) are escaped."""
    def cell(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = [f"## {headline}", "", *[f"- {line}" for line in notes], "",
             "| " + " | ".join(h.lower() for h in header) + " |", "|" + "---|" * len(header)]
    for *first, resource, detail in rows:
        lines.append("| " + " | ".join([*first, f"`{cell(resource)}`", cell(detail)]) + " |")
    return "\n".join(lines) + "\n"


HEADER = ("SEVERITY", "RULE", "REGION", "RESOURCE", "DETAIL")


def _table(report: ScanReport) -> str:
    return table(_headline(report), _trail_lines(report), HEADER, map(finding_cells, report.findings))


def _markdown(report: ScanReport) -> str:
    return markdown(_headline(report), _trail_lines(report), HEADER, map(finding_cells, report.findings))
