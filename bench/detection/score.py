"""Judge each tool's report against the corpus labels. Pure: reports and labels in, scores out.

- A bad case is **found** when the tool reports its resource with one of the case's ids (eksguard: ``rules``;
  Prowler: ``prowler``), **missed** otherwise (for Prowler "no equivalent check" when the case names none).
- A **false positive** is every distinct (resource, rule or check) a tool reports that no label allows: on
  a near miss, on a bad resource for a problem the corpus does not give it, on a background resource the
  corpus made without a label, or on a resource the corpus did not make at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from bench.detection.corpus import FAMILIES, Case
from bench.detection.seed import Seeded

EKSGUARD, PROWLER = "eksguard", "prowler"
OTHER = "other"  # a false positive whose rule belongs to no family of the corpus


@dataclass(frozen=True)
class Flag:
    """One thing a tool reported: a rule (eksguard) or a failed check (Prowler) on a resource."""

    rule: str
    names: tuple[str, ...]  # every name the report gives the resource (id, ARN, name)
    region: str
    detail: str = ""


@dataclass(frozen=True)
class CaseResult:
    case_id: str
    family: str
    resource: str
    label: str
    bad: bool
    found: bool
    by: tuple[str, ...]  # the ids that found it
    no_check: bool  # bad, and the tool has no equivalent (Prowler)


@dataclass(frozen=True)
class FalsePositive:
    family: str
    rule: str
    resource: str  # key, or the name reported when the corpus did not make it
    label: str
    kind: str  # near miss | other problem | background | unknown resource
    case_id: str | None
    detail: str


@dataclass(frozen=True)
class FamilyScore:
    family: str
    bad: int
    found: int
    missed: int
    missed_no_check: int
    near_misses: int
    near_misses_flagged: int
    false_positives: int


@dataclass(frozen=True)
class ToolScore:
    tool: str
    cases: tuple[CaseResult, ...]
    false_positives: tuple[FalsePositive, ...]
    families: tuple[FamilyScore, ...]
    overall: FamilyScore

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def eksguard_flags(report: Mapping[str, Any]) -> list[Flag]:
    """``eksguard scan --format json``: one flag per finding (exempt ones too: they are still findings)."""
    return [Flag(str(f["rule_id"]), (str(f["resource_id"]),), str(f.get("region", "")),
                 str(f.get("detail", "")) + (" (exempt)" if f.get("exempt") else ""))
            for f in report.get("findings", [])]


def prowler_flags(findings: Iterable[Mapping[str, Any]]) -> list[Flag]:
    """Prowler's JSON-OCSF output: one flag per FAIL (PASS, MANUAL and MUTED are not reports)."""
    flags = []
    for f in findings:
        if f.get("status_code") != "FAIL":
            continue
        resources = f.get("resources") or [{}]
        names = tuple(dict.fromkeys(str(r[k]) for r in resources for k in ("uid", "name") if r.get(k)))
        flags.append(Flag(str(f["metadata"]["event_code"]), names, str(resources[0].get("region", "")),
                          str(f.get("status_detail") or f.get("message") or "")))
    return flags


def alias_index(seeded: Seeded) -> dict[str, str]:
    """Reported name -> resource key. A name two resources share would make a report ambiguous."""
    index: dict[str, str] = {}
    for resource in seeded.resources:
        for alias in resource.aliases:
            if index.setdefault(alias, resource.key) != resource.key:
                raise ValueError(f"{alias!r} names both {index[alias]} and {resource.key}")
    return index


def rule_family(tool: str, rule: str, check_families: Mapping[str, str]) -> str:
    if tool == PROWLER:
        return check_families.get(rule, OTHER)
    prefix = rule.split("-", 1)[0]
    return prefix if prefix in FAMILIES else OTHER


def score(tool: str, flags: Sequence[Flag], cases: Sequence[Case], seeded: Seeded,
          check_families: Mapping[str, str]) -> ToolScore:
    index, resources = alias_index(seeded), seeded.by_key()
    on: dict[str, dict[str, Flag]] = defaultdict(dict)  # resource key (or reported name) -> rule -> first flag
    unknown: set[str] = set()
    for flag in flags:
        key = next((index[n] for n in flag.names if n in index), None)
        if key is None:
            key = flag.names[0] if flag.names else "?"
            unknown.add(key)
        on[key].setdefault(flag.rule, flag)
    by_resource: dict[str, Case] = {}
    for case in cases:
        if by_resource.setdefault(case.resource, case) is not case:
            raise ValueError(f"{case.resource} is the subject of two cases")

    results, fps = [], []
    for case in cases:
        wanted = case.rules if tool == EKSGUARD else case.prowler
        allowed = set(wanted) | (set(case.also) if tool == EKSGUARD else set())
        reported = on.get(case.resource, {})
        label = resources[case.resource].label if case.resource in resources else case.resource
        hits = tuple(sorted(r for r in reported if r in wanted)) if case.bad else ()
        results.append(CaseResult(case.case_id, case.family, case.resource, label, case.bad, bool(hits), hits,
                                  case.bad and not wanted))
        for rule, flag in sorted(reported.items()):
            if case.bad and rule in allowed:
                continue
            fps.append(FalsePositive(case.family, rule, case.resource, label,
                                     "other problem" if case.bad else "near miss", case.case_id, flag.detail))
    for key, reported in sorted(on.items()):
        if key in by_resource:
            continue
        kind = "unknown resource" if key in unknown else "background"
        label = resources[key].label if key in resources else key
        for rule, flag in sorted(reported.items()):
            fps.append(FalsePositive(rule_family(tool, rule, check_families), rule, key, label, kind, None,
                                     flag.detail))
    families = tuple(_family(f, results, fps) for f in _families(cases, fps))
    return ToolScore(tool, tuple(results), tuple(fps), families, _family("overall", results, fps))


def _families(cases: Sequence[Case], fps: Sequence[FalsePositive]) -> list[str]:
    present = {c.family for c in cases} | {fp.family for fp in fps}
    return [f for f in (*FAMILIES, OTHER) if f in present]


def _family(family: str, results: Sequence[CaseResult], fps: Sequence[FalsePositive]) -> FamilyScore:
    mine = [r for r in results if family == "overall" or r.family == family]
    bad = [r for r in mine if r.bad]
    near = [r for r in mine if not r.bad]
    my_fps = [fp for fp in fps if family == "overall" or fp.family == family]
    flagged_near = {fp.case_id for fp in my_fps if fp.kind == "near miss"}
    return FamilyScore(family, len(bad), sum(r.found for r in bad), sum(not r.found for r in bad),
                       sum(r.no_check for r in bad), len(near), len(flagged_near), len(my_fps))
