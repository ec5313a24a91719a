"""The multi-account ``eksguard scan`` report: per-account scan reports and per-account failures merged into
one. Pure: no AWS here (the accounts are read by pipeline/scan_accounts.py)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from eksguard.model import Severity
from eksguard.pipeline.scan import ScanFinding, ScanReport, fails, severity_counts

ACCOUNT_ID = re.compile(r"[0-9]{12}")  # not \d: it also matches other scripts' digits


@dataclass(frozen=True)
class AccountError:
    """An account that could not be assumed or read: it has no findings because nothing was seen, not
    because nothing is wrong."""

    account: str
    code: str
    error: str


@dataclass(frozen=True)
class AccountTrail:
    account: str
    region: str
    logging_trails: tuple[str, ...]


@dataclass(frozen=True)
class OrgScanReport:
    accounts: tuple[str, ...]  # every account asked for, in the order asked
    regions: tuple[str, ...]
    findings: tuple[ScanFinding, ...]
    trails: tuple[AccountTrail, ...] = ()
    errors: tuple[AccountError, ...] = ()

    @property
    def scanned(self) -> tuple[str, ...]:
        failed = {e.account for e in self.errors}
        return tuple(a for a in self.accounts if a not in failed)

    def counts(self) -> dict[str, int]:
        return severity_counts(self.findings)

    def fails(self, threshold: Severity) -> bool:
        return fails(self.findings, threshold)


def parse_account_list(text: str, source: str) -> list[str]:
    """Account ids, one per line; blank lines and ``#`` comments allowed; duplicates dropped. Raises
    ValueError naming the first bad line."""
    ids: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        if not ACCOUNT_ID.fullmatch(value):
            raise ValueError(f"{source} line {number}: {value!r} is not a 12-digit AWS account id")
        ids.append(value)
    if not ids:
        raise ValueError(f"{source}: no account ids")
    return list(dict.fromkeys(ids))


def merge(accounts: Sequence[str], regions: Sequence[str], reports: Iterable[ScanReport],
          errors: Iterable[AccountError]) -> OrgScanReport:
    findings: list[ScanFinding] = []
    trails: list[AccountTrail] = []
    for report in reports:
        findings += report.findings
        trails += [AccountTrail(report.account, t.region, t.logging_trails) for t in report.trails]
    order = {a: i for i, a in enumerate(accounts)}
    ordered = sorted(findings, key=lambda f: (-Severity.parse(f.severity), f.account, f.region, f.rule_id,
                                              f.resource_id, f.target_id or ""))
    return OrgScanReport(tuple(accounts), tuple(regions), tuple(ordered),
                         tuple(sorted(trails, key=lambda t: (order.get(t.account, len(order)), t.account))),
                         tuple(sorted(errors, key=lambda e: (order.get(e.account, len(order)), e.account))))
