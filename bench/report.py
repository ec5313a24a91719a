"""Turn bench/results.json into the targets verdict, the table and docs/benchmarks.md.

    python bench/report.py [bench/results.json] [docs/benchmarks.md]   # re-render without re-measuring
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MB = 1024 * 1024


def _largest(results: Mapping[str, Any]) -> Mapping[str, Any] | None:
    sweep = results.get("sweep") or {}
    return sweep[max(sweep, key=int)] if sweep else None


def targets(results: Mapping[str, Any]) -> dict[str, Any]:
    """The issue's targets (to beat, not to assert), each with the measured value and met or not."""
    out: dict[str, Any] = {}
    big = _largest(results)
    if big:
        out["sweep_wall"] = {"target": "eksguard sweep <= 0.5x Custodian's wall time", "groups": big["groups"],
                             "value": big["ratio_wall"], "met": big["ratio_wall"] <= 0.5}
        out["sweep_calls"] = {"target": "no more API calls than Custodian", "groups": big["groups"],
                              "value": big["ratio_calls"], "ec2_value": big["ratio_ec2_calls"],
                              "met": big["ratio_calls"] <= 1.0, "ec2_met": big["ratio_ec2_calls"] <= 1.0}
    event = (results.get("per_event") or {}).get("summary") or {}
    if "eksguard" in event and "custodian" in event:
        e, c = event["eksguard"], event["custodian"]
        out["warm"] = {"target": "warm per-event <= 1.0x Custodian (eksguard also writes the audit record and alert)",
                       "value": e["warm_ms"] / c["warm_ms"], "met": e["warm_ms"] <= c["warm_ms"]}
        out["cold"] = {"target": "cold start <= 0.5x Custodian", "value": e["cold_ms"] / c["cold_ms"],
                       "met": e["cold_ms"] <= 0.5 * c["cold_ms"]}
    package = results.get("package") or {}
    if package:
        size = package["eksguard_sg_guard_zipped"]
        out["package"] = {"target": "function package <= 1 MB (SgGuardFunction + eksguard layer, zipped)",
                          "value": size, "met": size <= MB}
    return out


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _kb(value: int) -> str:
    return f"{value / 1024:,.0f} KB"


def _ratio(value: float) -> str:
    return f"{value:.2f}x"


def _yes(flag: bool) -> str:
    return "met" if flag else "**missed**"


def sweep_table(results: Mapping[str, Any]) -> list[str]:
    sweep = results.get("sweep") or {}
    if not sweep:
        return []
    rows = ["| groups | tool | wall (median) | in-tool time | CPU | API calls (EC2) | peak RSS | bad left "
            "| benign + near-miss lost |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sorted(sweep, key=int):
        s = sweep[n]
        for tool, label in (("eksguard", "eksguard"), ("custodian", "Custodian")):
            t = s[tool]
            rows.append(f"| {int(n):,} | {label} | {_f(t['median_wall_s'])} s | {_f(t['median_tool_s'])} s | "
                        f"{_f(t['median_cpu_s'])} s | {t['median_calls']:,.0f} ({t['median_ec2_calls']:,.0f}) | "
                        f"{t['max_rss_mb']:,.0f} MB | {t['bad_left']} / {t['bad_seeded']} | "
                        f"{t['benign_lost'] + t['near_miss_lost']} / {t['kept_seeded']} |")
        rows.append(f"| {int(n):,} | **eksguard / Custodian** | **{_ratio(s['ratio_wall'])}** | | | "
                    f"**{_ratio(s['ratio_calls'])}** ({_ratio(s['ratio_ec2_calls'])}) | {_ratio(s['ratio_rss'])} | | |")
    return rows


def event_table(results: Mapping[str, Any]) -> list[str]:
    event = (results.get("per_event") or {}).get("summary") or {}
    labels = (results.get("per_event") or {}).get("variants") or {}
    if not event:
        return []
    rows = ["| handler | cold start (INIT + 1st call) | INIT | 1st call | warm (median / p90) | warm CPU "
            "| API calls per warm event (EC2) | peak RSS |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for key, s in event.items():
        rows.append(f"| {labels.get(key, key)} | {_f(s['cold_ms'], 0)} ms | {_f(s['init_ms'], 0)} ms | "
                    f"{_f(s['first_ms'], 0)} ms | {_f(s['warm_ms'], 1)} / {_f(s['warm_p90_ms'], 1)} ms | "
                    f"{_f(s['warm_cpu_ms'], 1)} ms | {s['warm_total_calls']} ({s['warm_ec2_calls']}) | "
                    f"{s['max_rss_mb']:,.0f} MB |")
    if "eksguard" in event and "custodian" in event:
        e, c = event["eksguard"], event["custodian"]
        rows.append(f"| **eksguard / Custodian** | **{_ratio(e['cold_ms'] / c['cold_ms'])}** | "
                    f"{_ratio(e['init_ms'] / c['init_ms'])} | {_ratio(e['first_ms'] / c['first_ms'])} | "
                    f"**{_ratio(e['warm_ms'] / c['warm_ms'])}** | {_ratio(e['warm_cpu_ms'] / c['warm_cpu_ms'])} | "
                    f"{_ratio(e['warm_total_calls'] / c['warm_total_calls'])} "
                    f"({_ratio(e['warm_ec2_calls'] / c['warm_ec2_calls'])}) | |")
    return rows


def package_table(results: Mapping[str, Any]) -> list[str]:
    p = results.get("package") or {}
    if not p:
        return []
    rows = ["| artifact | zipped | unzipped | files |", "|---|---:|---:|---:|"]
    for key, label in (("SgGuardFunction", "eksguard SgGuardFunction (function)"),
                       ("SweepFunction", "eksguard SweepFunction (function)"),
                       ("EksguardLayer", "eksguard layer (EksguardLayer)"),
                       ("PowertoolsLayerStandIn", "Powertools layer stand-in (public layer, not shipped by eksguard)"),
                       ("CustodianArchive", "Cloud Custodian Lambda archive (PolicyLambda)")):
        a = p[key]
        rows.append(f"| {label} | {_kb(a['zipped'])} | {_kb(a['unzipped'])} | {a['files']} |")
    rows.append(f"| **eksguard SgGuardFunction + its layer / Custodian archive** | "
                f"**{_ratio(p['ratio_zipped'])}** | "
                f"{_ratio(p['eksguard_sg_guard_unzipped'] / p['CustodianArchive']['unzipped'])} | |")
    return rows


def targets_table(results: Mapping[str, Any]) -> list[str]:
    t = results.get("targets") or {}
    rows = ["| target | measured | verdict |", "|---|---:|---|"]
    if "sweep_wall" in t:
        rows.append(f"| sweep at N={t['sweep_wall']['groups']:,}: {t['sweep_wall']['target']} | "
                    f"{_ratio(t['sweep_wall']['value'])} | {_yes(t['sweep_wall']['met'])} |")
        c = t["sweep_calls"]
        rows.append(f"| sweep at N={c['groups']:,}: {c['target']} | {_ratio(c['value'])} all, "
                    f"{_ratio(c['ec2_value'])} EC2 | {_yes(c['met'])} (EC2 only: {_yes(c['ec2_met'])}) |")
    if "warm" in t:
        rows.append(f"| {t['warm']['target']} | {_ratio(t['warm']['value'])} | {_yes(t['warm']['met'])} |")
        rows.append(f"| {t['cold']['target']} | {_ratio(t['cold']['value'])} | {_yes(t['cold']['met'])} |")
    if "package" in t:
        rows.append(f"| {t['package']['target']} | {_kb(t['package']['value'])} | {_yes(t['package']['met'])} |")
    return rows


def summary_table(results: Mapping[str, Any]) -> str:
    parts = ["Sweep", *sweep_table(results), "", "Per event", *event_table(results), "", "Package",
             *package_table(results), "", "Targets", *targets_table(results)]
    return "\n".join(parts)


def markdown(results: Mapping[str, Any]) -> str:
    from bench_doc import render

    return render(results, sweep_table(results), event_table(results), package_table(results),
                  targets_table(results))


if __name__ == "__main__":
    import json
    import sys
    from pathlib import Path

    here = Path(__file__).resolve().parent
    src = Path(sys.argv[1]) if len(sys.argv) > 1 else here / "results.json"
    dest = Path(sys.argv[2]) if len(sys.argv) > 2 else here.parent / "docs" / "benchmarks.md"
    data = json.loads(src.read_text())
    data["targets"] = targets(data)
    dest.write_text(markdown(data))
    print(summary_table(data))
