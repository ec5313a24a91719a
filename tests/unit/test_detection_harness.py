"""The pure parts of `make detect` (bench/detection): reading both tools' reports, judging them against the
labels, the arithmetic of found / missed / false positives, and the corpus's own consistency. The full run
(stand-in, seeding, both tools) is `make detect`, not a test."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

import pytest
from bench.detection import corpus, report, run, seed
from bench.detection.corpus import Case, bad, near
from bench.detection.score import EKSGUARD, PROWLER, Flag, eksguard_flags, prowler_flags, score
from bench.detection.seed import Resource, Seeded
from tests.unit import detection_samples as s

from eksguard.detect import eks as eks_rules
from eksguard.detect import iam_policy as iam_rules
from eksguard.detect import irsa as irsa_rules
from eksguard.detect import sg as sg_rules

SEEDED = Seeded(s.ACCOUNT, (
    Resource("sg:ops-bastion", "ap-northeast-2", "ops-bastion", (s.BASTION, s._sg_arn(s.BASTION))),
    Resource("sg:office-nodes", "ap-northeast-2", "office-nodes", (s.OFFICE_NODES, s._sg_arn(s.OFFICE_NODES))),
    Resource("sg:prod-nodes", "ap-northeast-2", "prod-nodes", (s.PROD_NODES, s._sg_arn(s.PROD_NODES))),
    Resource("cluster:quickstart", "ap-northeast-2", "cluster quickstart",
             ("quickstart", f"arn:aws:eks:ap-northeast-2:{s.ACCOUNT}:cluster/quickstart")),
    Resource("role:ci-runner", "global", "role ci-runner",
             ("ci-runner", f"arn:aws:iam::{s.ACCOUNT}:role/ci-runner", "ci-runner/deploy-everything")),
    Resource("role:orders-api", "global", "role orders-api",
             ("orders-api", f"arn:aws:iam::{s.ACCOUNT}:role/orders-api")),
    Resource("vpc:shop", "ap-northeast-2", "VPC shop", ("vpc-1",)),
))
CASES = (
    bad("bastion", "SG", "sg:ops-bastion", "SG-002", (s.SSH, corpus.P_ANY_PORT), "SSH from the world"),
    near("office", "SG", "sg:office-nodes", ("SG-003",), (s.FROM_IP,), "443 from a public /24"),
    near("refs", "SG", "sg:prod-nodes", ("SG-001",), (), "rules from other groups"),
    bad("endpoint", "EK", "cluster:quickstart", "EK-001", (s.EKS_PUBLIC,), "public endpoint"),
    bad("inline", "EK", "role:ci-runner", "EK-007", (s.INLINE_ADMIN,), "inline * on *"),
    bad("aud", "IR", "role:orders-api", "IR-001", (), "aud typo"),
)
FAMILIES = corpus.check_family(CASES)


def _fam(result: Any, family: str) -> tuple[int, ...]:
    f = next(f for f in result.families if f.family == family)
    return f.bad, f.found, f.missed, f.missed_no_check, f.near_misses, f.near_misses_flagged, f.false_positives


def test_eksguard_report_is_judged_case_by_case() -> None:
    result = score(EKSGUARD, eksguard_flags(s.EKSGUARD_REPORT), CASES, SEEDED, FAMILIES)

    found = {r.case_id: (r.found, r.by) for r in result.cases if r.bad}
    assert found == {"bastion": (True, ("SG-002",)), "endpoint": (True, ("EK-001",)), "inline": (False, ()),
                     "aud": (False, ())}
    # SG-001 twice on the near miss (two rules of one group): one false positive, named.
    assert [(fp.rule, fp.resource, fp.kind, fp.case_id) for fp in result.false_positives] == [
        ("SG-001", "sg:prod-nodes", "near miss", "refs")]
    assert _fam(result, "SG") == (1, 1, 0, 0, 2, 1, 1)
    assert _fam(result, "EK") == (2, 1, 1, 0, 0, 0, 0)
    assert _fam(result, "IR") == (1, 0, 1, 0, 0, 0, 0)
    overall = result.overall
    assert (overall.bad, overall.found, overall.missed, overall.false_positives) == (4, 2, 2, 1)


def test_prowler_report_counts_fails_only_and_tells_no_check_from_a_miss() -> None:
    flags = prowler_flags(s.PROWLER_FINDINGS)
    assert {f.rule for f in flags} == {s.SSH, s.FROM_IP, s.INLINE_ADMIN, s.EKS_LOGGING,
                                       "ec2_securitygroup_default_restrict_traffic"}

    result = score(PROWLER, flags, CASES, SEEDED, FAMILIES)

    by_case = {r.case_id: r for r in result.cases}
    assert by_case["bastion"].found and by_case["bastion"].by == (s.SSH,)
    assert by_case["inline"].found  # the inline policy's finding names the role's ARN and "<role>/<policy>"
    # The check ran and passed; another check failing on the same cluster does not make it found.
    assert not by_case["endpoint"].found and not by_case["endpoint"].no_check
    assert not by_case["aud"].found and by_case["aud"].no_check  # Prowler has no such check
    kinds = {(fp.rule, fp.kind, fp.family) for fp in result.false_positives}
    assert kinds == {(s.FROM_IP, "near miss", "SG"), (s.EKS_LOGGING, "other problem", "EK"),
                     ("ec2_securitygroup_default_restrict_traffic", "unknown resource", "other")}
    assert _fam(result, "EK") == (2, 1, 1, 0, 0, 0, 1)
    assert _fam(result, "IR") == (1, 0, 1, 1, 0, 0, 0)
    assert _fam(result, "other") == (0, 0, 0, 0, 0, 0, 1)
    assert (result.overall.found, result.overall.missed, result.overall.missed_no_check,
            result.overall.false_positives) == (2, 2, 1, 3)


def test_a_rule_the_label_allows_is_no_false_positive_and_any_other_is() -> None:
    extra = [Flag("SG-002", (s.BASTION,), "ap-northeast-2"), Flag("SG-005", (s.BASTION,), "ap-northeast-2")]
    strict = score(EKSGUARD, extra, CASES, SEEDED, FAMILIES)
    assert [(fp.rule, fp.kind) for fp in strict.false_positives] == [("SG-005", "other problem")]

    lenient = (replace(CASES[0], also=("SG-005",)), *CASES[1:])
    assert score(EKSGUARD, extra, lenient, SEEDED, FAMILIES).false_positives == ()


def test_reports_on_unlabelled_resources_are_false_positives() -> None:
    flags = [Flag("SG-007", ("vpc-1",), "ap-northeast-2"), Flag("CT-001", ("cloudtrail:eu-west-1",), "eu-west-1")]
    fps = score(EKSGUARD, flags, CASES, SEEDED, FAMILIES).false_positives
    assert {(fp.resource, fp.kind, fp.family) for fp in fps} == {
        ("vpc:shop", "background", "SG"), ("cloudtrail:eu-west-1", "unknown resource", "other")}


def test_ambiguous_names_and_doubly_labelled_resources_are_refused() -> None:
    clash = Seeded(s.ACCOUNT, (*SEEDED.resources, Resource("sg:other", "eu-west-1", "other", (s.BASTION,))))
    with pytest.raises(ValueError, match="names both"):
        score(EKSGUARD, [], CASES, clash, FAMILIES)
    twice = (*CASES, near("again", "SG", "sg:ops-bastion", ("SG-002",), (), "again"))
    with pytest.raises(ValueError, match="two cases"):
        score(EKSGUARD, [], twice, SEEDED, FAMILIES)


def test_prowler_errors_name_the_place_and_the_stand_ins_answer() -> None:
    errors = run.prowler_errors(s.PROWLER_LOG)
    assert [(e["where"], e["error"], e["message"], sorted(e["regions"])) for e in errors] == [
        ("ec2_service.py:566", "ResponseParserError", "HTTP 500 from the stand-in", ["ap-northeast-2", "eu-west-1"]),
        ("eks_service.py:122", "ClientError", "HTTP 404 from the stand-in on ListAddons", ["ap-northeast-2"])]
    log = "NotImplementedError: The get_instance_metadata_defaults action has not been implemented\n" * 2
    assert run.not_implemented(log) == ["get_instance_metadata_defaults"]


def test_the_page_shows_each_tools_counts_and_names_each_false_positive() -> None:
    tools = {}
    for name, kind, flags in (("eksguard", EKSGUARD, eksguard_flags(s.EKSGUARD_REPORT)),
                              ("prowler", PROWLER, prowler_flags(s.PROWLER_FINDINGS))):
        tools[name] = {"kind": kind, "runs": [{"command": ["eksguard", "scan"], "wall_s": 1.0, "calls": 9}],
                       "wall_s_median": 1.0, "wall_s_min": 1.0, "wall_s_max": 1.0, "calls_median": 9,
                       "score": score(kind, flags, CASES, SEEDED, FAMILIES).to_json()}
    results = {"generated": "2026-12-04 21:00 UTC", "regions": ["ap-northeast-2"], "prowler_checks": [s.SSH],
               "versions": {"eksguard": "0.1.0", "prowler": "5.46.0", "moto": "5.2.5", "boto3": "1", "python": "3.12"},
               "machine": {"cpus": 2, "load_1m_at_end": 1.0}, "seed_s": 1.0, "kubernetes_cases": 0,
               "prowler_install": {"packages": 245, "size_bytes": 2**30, "seconds": 30.0, "with": "uv"},
               "cases": [{"case_id": c.case_id, "family": c.family, "resource": c.resource, "label": c.resource,
                          "bad": c.bad, "rules": list(c.rules), "also": list(c.also), "prowler": list(c.prowler),
                          "why": c.why} for c in CASES]}
    page = report.render({**results, "tools": tools})

    assert "| Security groups (SG-001 … SG-007) | 1 | 2 | 1 / 0 / 1 | 1 / 0 / 1 |" in page
    assert "| IRSA trust policies (IR-001 … IR-007) | 1 | 0 | 0 / 1 / 0 | 0 / 1 (1 no check) / 0 |" in page
    assert "| **overall** | 4 | 2 | **2 / 2 / 1** | **2 / 2 (1 no check) / 3** |" in page
    assert f"`{s.FROM_IP}` on office-nodes (near miss, case `office`)" in page
    assert "Inside the cluster (K8-000 … K8-004) | not measured" in page


# -- the corpus itself -----------------------------------------------------------------------------------

def _spec_keys() -> set[str]:
    a = corpus.ACCOUNT
    return ({f"sg:{g.name}" for g in a.groups} | {f"sg:default@{v.name}" for v in a.vpcs}
            | {f"cluster:{c.name}" for c in a.clusters if not c.deleted} | {f"lt:{t.name}" for t in a.launch_templates}
            | {f"role:{r.name}" for r in a.roles} | {f"policy:{p.name}" for p in a.policies}
            | {f"user:{u.name}" for u in a.users})


def test_every_case_labels_a_resource_the_account_makes_and_each_resource_once() -> None:
    resources = [c.resource for c in corpus.ALL_CASES]
    assert set(resources) <= _spec_keys()
    assert len(resources) == len(set(resources))
    assert len({c.case_id for c in corpus.ALL_CASES}) == len(corpus.ALL_CASES)


def test_every_rule_of_the_three_aws_families_has_a_bad_case_and_ids_are_real() -> None:
    known = {*sg_rules.RULES_BY_ID, *eks_rules.RULES_BY_ID, *irsa_rules.RULES_BY_ID, *iam_rules.RULES_BY_ID}
    wanted = {f"{fam}-00{n}" for fam in ("SG", "IR", "EK") for n in range(1, 8)}
    covered = {r for c in corpus.ALL_CASES if c.bad for r in c.rules}
    assert wanted <= covered
    for case in corpus.ALL_CASES:
        assert set(case.rules) | set(case.also) <= known, case.case_id
        assert all(r.startswith(case.family) for r in case.rules), case.case_id
        assert all(re.fullmatch(r"(ec2|eks|iam)_[a-z0-9_]+", c) for c in case.prowler), case.case_id
        assert case.bad or not case.also, case.case_id
    assert corpus.check_family()  # every Prowler check belongs to one family
    assert all(corpus.ACCOUNT.region_of_group(c.resource[3:]) in corpus.REGIONS
               for c in corpus.ALL_CASES if c.resource.startswith("sg:"))


def test_kubernetes_cases_need_the_kubernetes_hook(monkeypatch: pytest.MonkeyPatch) -> None:
    assert corpus.KUBERNETES_CASES == ()
    seed.seed_kubernetes(())  # nothing to seed, nothing to refuse
    monkeypatch.setattr(seed, "KUBERNETES_CASES", (Case("k8", "K8", "cluster:prod", True, ("K8-001",)),))
    with pytest.raises(NotImplementedError, match="Kubernetes API"):
        seed.seed_kubernetes(())
