"""``eksguard scan``: the read-only posture report. The sweep's reads and the one catalog, and nothing else: no
plan, no apply, no audit record, no alert. IAM findings are read and reported once per account (region
``global``), whatever regions are scanned."""

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
from eksguard.pipeline.posture import (
    GLOBAL,
    Progress,
    exemption_tags,
    read_global,
    read_iam,
    read_region,
    tags_by_resource,
    with_kubernetes,
)
from eksguard.pipeline.posture import findings as posture_findings
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
         progress: RegionProgress | None = None, include_global: bool = True) -> ScanReport:
    """Every rule family over each region (the K8 family unless ``eks_config.read_kubernetes`` is off), and the
    account's IAM side once (region ``global``)."""
    account = aws.account_id()
    findings: list[ScanFinding] = []
    trails: list[RegionTrail] = []
    steps = len(regions) + include_global

    def step(index: int, region: str) -> Progress:
        return lambda what: progress(index, steps, region, what) if progress is not None else None

    needs_iam = include_global or eks_config.read_kubernetes
    iam = read_iam(aws, account, step(steps, GLOBAL)) if needs_iam else None
    for index, region in enumerate(regions, 1):
        read = with_kubernetes(aws, read_region(aws, region, config, step(index, region)), iam, account, eks_config,
                               step(index, region))
        findings += _labelled(account, region, posture_findings(read.posture, config, eks_config),
                              tags_by_resource(read, None), config, today)
        if read.eks.trail is not None:
            trails.append(RegionTrail(region, read.eks.trail.logging_trails))
    if include_global:
        glob = read_global(aws, account, None, step(steps, GLOBAL), iam, eks_config.read_kubernetes)
        findings += _labelled(account, GLOBAL, posture_findings(glob.posture, config, eks_config),
                              tags_by_resource(None, glob), config, today)
    ordered = sorted(findings, key=lambda f: (-Severity.parse(f.severity), f.region, f.rule_id, f.resource_id,
                                              f.target_id or ""))
    return ScanReport(account, tuple(regions), tuple(ordered), tuple(trails))


def _labelled(account: str, region: str, found: Iterable[Finding], tags: Mapping[str, Mapping[str, str]],
              config: Config, today: date) -> list[ScanFinding]:
    return [ScanFinding(account, region, f.rule_id, f.severity.label, f.title, f.resource_id, f.target_id, f.detail,
                        exemption(exemption_tags(tags, f), config.exempt_tag_key, today).active)
            for f in found]
