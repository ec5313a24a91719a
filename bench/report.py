"""Turn bench/results.json into the targets verdict, the table and docs/benchmarks.md.

    python bench/report.py [bench/results.json] [docs/benchmarks.md]   # re-render without re-measuring
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MB = 1024 * 1024


def _largest(results: Mapping[str, Any], key: str = "sweep") -> Mapping[str, Any] | None:
    sweep = results.get(key) or {}
    return sweep[max(sweep, key=int)] if sweep else None


def targets(results: Mapping[str, Any]) -> dict[str, Any]:
    """The issue's targets (to beat, not to assert), each with the measured value and met or not."""
    out: dict[str, Any] = {}
    big, slow = _largest(results), _largest(results, "sweep_latency")
    latency = (results.get("settings") or {}).get("latency_ms")
    if big:
        out["sweep_wall"] = {"target": "sweep wall time <= 1.0x Custodian's, plain stand-in", "groups": big["groups"],
                             "value": big["ratio_wall"], "met": big["ratio_wall"] <= 1.0}
    if slow:
        out["sweep_wall_latency"] = {"target": f"sweep wall time <= 0.5x Custodian's, {latency:g} ms a call",
                                     "groups": slow["groups"], "value": slow["ratio_wall"],
                                     "met": slow["ratio_wall"] <= 0.5}
    if big:
        ec2_sts = big.get("ratio_ec2_sts_calls", big["ratio_ec2_calls"])
        out["sweep_ec2_calls"] = {"target": "sweep EC2+STS calls <= Custodian's", "groups": big["groups"],
                                  "value": ec2_sts, "met": ec2_sts <= 1.0,
                                  "detail": f"{big['eksguard'].get('median_ec2_sts_calls', 0):,.0f} against "
                                            f"{big['custodian'].get('median_ec2_sts_calls', 0):,.0f}"}
        out["sweep_calls"] = {"target": "sweep API calls, all services, <= 1.25x Custodian's (eksguard also "
                              "audits and alerts)", "groups": big["groups"], "value": big["ratio_calls"],
                              "met": big["ratio_calls"] <= 1.25,
                              "detail": f"{big['eksguard']['median_calls']:,.0f} against "
                                        f"{big['custodian']['median_calls']:,.0f}"}
    plain = (results.get("per_event") or {}).get("summary") or {}
    slowed = (results.get("per_event_latency") or {}).get("summary") or {}
    warm = slowed if "eksguard" in slowed and "custodian" in slowed else plain
    if "eksguard" in warm and "custodian" in warm:
        e, c = warm["eksguard"], warm["custodian"]
        where = f"{latency:g} ms a call" if warm is slowed else "plain stand-in"
        out["warm"] = {"target": f"warm event <= 1.0x Custodian, {where} (eksguard also audits and alerts)",
                       "value": e["warm_ms"] / c["warm_ms"], "met": e["warm_ms"] <= c["warm_ms"]}
    if "eksguard" in plain and "custodian" in plain:
        e, c = plain["eksguard"], plain["custodian"]
        out["cold"] = {"target": "cold start (INIT + first event) <= 0.5x Custodian, plain stand-in",
                       "value": e["cold_ms"] / c["cold_ms"], "met": e["cold_ms"] <= 0.5 * c["cold_ms"]}
    package = results.get("package") or {}
    if package:
        size = package["eksguard_sg_guard_zipped"]
        out["package"] = {"target": "function package <= 1 MB (SgGuardFunction + eksguard layer, zipped)",
                          "value": size, "met": size <= MB}
    runs = [t for key in ("sweep", "sweep_latency") for s in (results.get(key) or {}).values()
            for t in (s["eksguard"], s["custodian"])]
    if runs:
        bad = max(t["bad_left"] for t in runs)
        lost = max(t["benign_lost"] + t["near_miss_lost"] for t in runs)
        unaudited = max((t.get("revokes_without_image") or 0) for t in runs)
        out["correct"] = {"target": "0 bad rules left, 0 benign or near-miss rules lost, every eksguard revoke with "
                          "its before-image (every sweep run, both tools)", "value": (bad, lost, unaudited),
                          "met": bad == 0 and lost == 0 and unaudited == 0}
    return out


def _f(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:,.{digits}f}"


def _kb(value: int) -> str:
    return f"{value / 1024:,.0f} KB"


def _ratio(value: float) -> str:
    return f"{value:.2f}x"


def _yes(flag: bool) -> str:
    return "met" if flag else "**missed**"


def sweep_table(results: Mapping[str, Any], key: str = "sweep") -> list[str]:
    sweep = results.get(key) or {}
    if not sweep:
        return []
    rows = ["| groups | tool | wall (median) | in-tool time | CPU | API calls (EC2+STS) | peak RSS | bad left "
            "| benign + near-miss lost |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in sorted(sweep, key=int):
        s = sweep[n]
        for tool, label in (("eksguard", "eksguard"), ("custodian", "Custodian")):
            t = s[tool]
            ec2_sts = t.get("median_ec2_sts_calls", t["median_ec2_calls"])
            rows.append(f"| {int(n):,} | {label} | {_f(t['median_wall_s'])} s | {_f(t['median_tool_s'])} s | "
                        f"{_f(t['median_cpu_s'])} s | {t['median_calls']:,.0f} ({ec2_sts:,.0f}) | "
                        f"{t['max_rss_mb']:,.0f} MB | {t['bad_left']} / {t['bad_seeded']} | "
                        f"{t['benign_lost'] + t['near_miss_lost']} / {t['kept_seeded']} |")
        ratio = s.get("ratio_ec2_sts_calls", s["ratio_ec2_calls"])
        rows.append(f"| {int(n):,} | **eksguard / Custodian** | **{_ratio(s['ratio_wall'])}** | | | "
                    f"**{_ratio(s['ratio_calls'])}** ({_ratio(ratio)}) | {_ratio(s['ratio_rss'])} | | |")
    return rows


def event_table(results: Mapping[str, Any], key: str = "per_event") -> list[str]:
    event = (results.get(key) or {}).get("summary") or {}
    labels = (results.get(key) or {}).get("variants") or {}
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
                       ("EksguardLayer", "eksguard layer (EksguardLayer, every function)"),
                       ("KubernetesLayer", "Kubernetes client layer (KubernetesLayer: IRSA guards, KubeGuard, sweep)"),
                       ("PowertoolsLayerStandIn", "Powertools layer stand-in (public layer, not shipped by eksguard)"),
                       ("CustodianArchive", "Cloud Custodian Lambda archive (PolicyLambda)")):
        a = p.get(key)
        if a is None:  # results from before the layer split
            continue
        rows.append(f"| {label} | {_kb(a['zipped'])} | {_kb(a['unzipped'])} | {a['files']} |")
    rows.append(f"| **eksguard SgGuardFunction + its layer / Custodian archive** | "
                f"**{_ratio(p['ratio_zipped'])}** | "
                f"{_ratio(p['eksguard_sg_guard_unzipped'] / p['CustodianArchive']['unzipped'])} | |")
    return rows


def targets_table(results: Mapping[str, Any]) -> list[str]:
    t = results.get("targets") or {}
    rows = ["| target | measured | verdict |", "|---|---:|---|"]
    for key, x in t.items():
        if key == "package":
            value = _kb(x["value"])
        elif key == "correct":
            bad, lost, unaudited = x["value"]
            value = f"{bad} left, {lost} lost, {unaudited} without before-image"
        else:
            value = _ratio(x["value"]) + (f" ({x['detail']})" if x.get("detail") else "")
        where = f"N={x['groups']:,}: " if "groups" in x else ""
        rows.append(f"| {where}{x['target']} | {value} | {_yes(x['met'])} |")
    return rows


def summary_table(results: Mapping[str, Any]) -> str:
    parts = ["Sweep", *sweep_table(results), "", "Sweep, latency", *sweep_table(results, "sweep_latency"), "",
             "Per event", *event_table(results), "", "Per event, latency", *event_table(results, "per_event_latency"),
             "", "Package", *package_table(results), "", "Targets", *targets_table(results)]
    return "\n".join(parts)


def markdown(results: Mapping[str, Any]) -> str:
    from bench_doc import render

    return render(results, targets_table(results))


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
