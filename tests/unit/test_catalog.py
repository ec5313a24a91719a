"""The one rule catalog: every rule is reached by an event or the sweep, every remediable rule has a planner,
each guard's EventBridge rule matches exactly its families' events, and docs/rules.md says what the code does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from tests.paths import ROOT, TEMPLATE

from eksguard.cli.rules import BEGIN, END, markdown
from eksguard.detect.catalog import BY_ID, CATALOG, events_of, rules_for
from eksguard.detect.rule import Family, Rule
from eksguard.local.template import load_template
from eksguard.pipeline import cluster_guard, irsa_guard, sg_guard, sweep
from eksguard.plan import eks as plan_eks
from eksguard.plan import irsa as plan_irsa
from eksguard.plan import sg as plan_sg

PLANNERS: dict[Family, Callable[[Rule], bool]] = {
    Family.SECURITY_GROUP: plan_sg.remediates, Family.CLUSTER: plan_eks.remediates, Family.IRSA: plan_irsa.remediates,
}
# Function logical id -> the guard module whose families it re-checks.
GUARDS: dict[str, Any] = {"SgGuardFunction": sg_guard, "ClusterGuardFunction": cluster_guard,
                          "IrsaGuardFunction": irsa_guard, "IrsaRefreshFunction": irsa_guard}


def test_rule_ids_are_unique_and_well_formed() -> None:
    ids = [r.rule_id for r in CATALOG]
    assert len(ids) == len(set(ids)) == len(BY_ID)
    assert all(len(i) == 6 and i[2] == "-" and i[3:].isdigit() for i in ids)


@pytest.mark.parametrize("rule", [r for r in CATALOG if r.action is not None], ids=lambda r: r.rule_id)
def test_every_remediable_rule_has_a_planner(rule: Rule) -> None:
    planner = PLANNERS.get(rule.family)
    assert planner is not None and planner(rule), (
        f"{rule.rule_id} declares enforce action {rule.action} but no planner of family {rule.family} takes it: "
        "it would silently be alert-only")


def test_no_planner_acts_for_an_alert_only_rule() -> None:
    assert plan_eks.FIXES.keys() == {r.action for r in CATALOG if r.family is Family.CLUSTER and r.action}
    assert set(plan_irsa.EDITS) == {r.rule_id for r in CATALOG if r.family is Family.IRSA and r.action}


@pytest.mark.parametrize("rule", CATALOG, ids=lambda r: r.rule_id)
def test_every_rule_is_reached_by_an_event_or_the_sweep(rule: Rule) -> None:
    guarded = {f for module in GUARDS.values() for f in module.FAMILIES}
    by_event = bool(rule.events) and rule.family in guarded
    assert by_event or rule.family in sweep.SWEPT_FAMILIES, f"{rule.rule_id}: no guard's event and no sweep runs it"


def _patterns() -> dict[str, set[str]]:
    template = load_template(TEMPLATE)
    out: dict[str, set[str]] = {}
    for lid, resource in template["Resources"].items():
        for event in (resource.get("Properties") or {}).get("Events", {}).values():
            pattern = (event.get("Properties") or {}).get("Pattern")
            if pattern and lid in GUARDS:
                out.setdefault(lid, set()).update(pattern["detail"]["eventName"])
    return out


def test_each_guard_matches_exactly_the_events_of_its_families() -> None:
    patterns = _patterns()
    assert patterns.keys() == GUARDS.keys()
    for module in {id(m): m for m in GUARDS.values()}.values():
        matched = set().union(*(patterns[lid] for lid, m in GUARDS.items() if m is module))
        assert matched - set(getattr(module, "EXTRA_EVENTS", ())) == events_of(module.FAMILIES), module.__name__


def test_rules_for_an_event_stay_in_the_guard_families() -> None:
    assert rules_for("UpdateClusterConfig", cluster_guard.FAMILIES) == {"EK-001", "EK-002", "EK-006"}
    assert rules_for("CreateNodegroup", cluster_guard.FAMILIES) == {"EK-004"}
    assert rules_for("AttachRolePolicy", irsa_guard.FAMILIES) == {"EK-005", "EK-007"}
    assert rules_for("RevokeSecurityGroupIngress", sg_guard.FAMILIES) == {f"SG-00{n}" for n in range(1, 8)}
    assert rules_for("DeleteCluster") == frozenset()


def test_parameters_and_references_are_real() -> None:
    declared = set(load_template(TEMPLATE)["Parameters"]) | {"ImdsAllowedNamespaces"}  # K8: template parameter pending
    for rule in CATALOG:
        assert set(rule.parameters) <= declared, rule.rule_id
        assert rule.references, f"{rule.rule_id} cites no benchmark or practice"


def test_docs_rules_md_is_the_catalog() -> None:
    text = (ROOT / "docs" / "rules.md").read_text()
    generated = text[text.index(BEGIN):text.index(END) + len(END)] + "\n"
    assert generated == markdown(CATALOG), "docs/rules.md is stale: paste `eksguard rules --format markdown`"
    for rule in CATALOG:
        assert f"## {rule.rule_id} — {rule.title}\n" in text, f"docs/rules.md has no section for {rule.rule_id}"
