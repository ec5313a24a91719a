"""``eksguard scan``: the read-only posture report. The sweep's reads and rules, and nothing else: no
plan, no apply, no audit record, no alert."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from eksguard.aws.clients import Aws
from eksguard.config import Config
from eksguard.config_eks import EksConfig
from eksguard.model import Finding, Severity
from eksguard.pipeline.posture import RegionPosture, eks_findings, read_region, sg_findings
from eksguard.plan.exemptions import exemption

RegionProgress = Callable[[int, int, str, str], None]


@dataclass(frozen=True)
class ScanFinding:
    account: str
    region: str
    rule_id: str
    severity: str
    title: str
    resource_id: str
    target_id: str | None
    detail: str
    exempt: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class RegionTrail:
    region: str
    logging_trails: tuple[str, ...]


@dataclass(frozen=True)
class ScanReport:
    account: str
    regions: tuple[str, ...]
    findings: tuple[ScanFinding, ...]
    trails: tuple[RegionTrail, ...] = ()

    def counts(self) -> dict[str, int]:
        return severity_counts(self.findings)

    def fails(self, threshold: Severity) -> bool:
        return fails(self.findings, threshold)


def severity_counts(findings: Iterable[ScanFinding]) -> dict[str, int]:
    """Non-exempt findings by severity, worst first."""
    found = Counter(f.severity for f in findings if not f.exempt)
    return {s.label: found[s.label] for s in sorted(Severity, reverse=True) if found[s.label]}


def fails(findings: Iterable[ScanFinding], threshold: Severity) -> bool:
    return any(Severity.parse(f.severity) >= threshold for f in findings if not f.exempt)


def scan(aws: Aws, regions: Sequence[str], config: Config, eks_config: EksConfig, today: date,
         progress: RegionProgress | None = None) -> ScanReport:
    account = aws.account_id()
    findings: list[ScanFinding] = []
    trails: list[RegionTrail] = []
    for index, region in enumerate(regions, 1):
        def step(what: str, index: int = index, region: str = region) -> None:
            if progress is not None:
                progress(index, len(regions), region, what)

        posture = read_region(aws, region, config, step)
        tags = _tags(posture)
        for f in [*sg_findings(posture, config), *eks_findings(posture, eks_config)]:
            exempt = exemption(tags.get(f.resource_id, {}), config.exempt_tag_key, today).active
            findings.append(_scan_finding(account, region, f, exempt))
        if posture.eks.trail is not None:
            trails.append(RegionTrail(region, posture.eks.trail.logging_trails))
    ordered = sorted(findings, key=lambda f: (-Severity.parse(f.severity), f.region, f.rule_id, f.resource_id,
                                              f.target_id or ""))
    return ScanReport(account, tuple(regions), tuple(ordered), tuple(trails))


def _tags(posture: RegionPosture) -> dict[str, Mapping[str, str]]:
    out: dict[str, Mapping[str, str]] = {g.group_id: g.tags for g in posture.sg.groups}
    out.update({c.name: c.tags for c in posture.eks.clusters})
    out.update({t.template_id: t.tags for t in posture.eks.templates})
    return out


def _scan_finding(account: str, region: str, f: Finding, exempt: bool) -> ScanFinding:
    return ScanFinding(account, region, f.rule_id, f.severity.label, f.title, f.resource_id, f.target_id, f.detail,
                       exempt)

