"""How ``eksguard scan`` prints a report: table (the default), markdown or JSON, for one account
(``render``) or many (``render_accounts``). The demo prints the same table (local/demo_cluster.py gets
``render`` handed in)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence

from eksguard.pipeline.org_scan import OrgScanReport
from eksguard.pipeline.scan import ScanFinding, ScanReport

DETAIL_WIDTH = 110


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


def render_accounts(report: OrgScanReport, fmt: str) -> str:
    if fmt == "json":
        trails: dict[str, dict[str, list[str]]] = {}
        for t in report.trails:
            trails.setdefault(t.account, {})[t.region] = list(t.logging_trails)
        return json.dumps({
            "accounts": list(report.accounts), "regions": list(report.regions), "counts": report.counts(),
            "cloudtrail": trails, "errors": [{"account": e.account, "code": e.code, "error": e.error}
                                             for e in report.errors],
            "findings": [f.to_dict() for f in report.findings]}, indent=2) + "\n"
    return _accounts_markdown(report) if fmt == "markdown" else _accounts_table(report)


def _accounts_headline(report: OrgScanReport) -> str:
    counts = ", ".join(f"{n} {s}" for s, n in report.counts().items()) or "none"
    failed = f", {len(report.errors)} FAILED" if report.errors else ""
    return (f"eksguard scan of {len(report.accounts)} account(s) ({len(report.scanned)} scanned{failed}), "
            f"{', '.join(report.regions)}: {sum(report.counts().values())} finding(s) ({counts})")


def _notes(report: OrgScanReport) -> list[str]:
    failed = [f"FAILED {e.account}: not scanned, findings unknown ({e.error})" for e in report.errors]
    return failed + [
        f"CloudTrail {t.account} {t.region}: " + (f"management events logged by {', '.join(t.logging_trails)}"
                                                  if t.logging_trails else "NO trail logs management events (CT-001)")
        for t in report.trails]


ACCOUNTS_HEADER = ("SEVERITY", "RULE", "ACCOUNT", "REGION", "RESOURCE", "DETAIL")


def _rows(report: OrgScanReport) -> list[tuple[str, ...]]:
    return [finding_cells(f, with_account=True) for f in report.findings]


def _accounts_table(report: OrgScanReport) -> str:
    return table(_accounts_headline(report), _notes(report), ACCOUNTS_HEADER, _rows(report))


def _accounts_markdown(report: OrgScanReport) -> str:
    return markdown(_accounts_headline(report), _notes(report), ACCOUNTS_HEADER, _rows(report))
