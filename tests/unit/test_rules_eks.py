"""Cluster posture rules EK-001 ... EK-004, EK-006 and CT-001, Checkov style: for each rule a dict of named
passing and failing fixtures. Plus the registry, ``detect(only=...)``, the EKS event parser and the plan."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

import pytest

from eksguard.config import Config, ConfigError, Mode
from eksguard.config_eks import EksConfig
from eksguard.detect.eks import RULES, RULES_BY_ID, detect
from eksguard.model import ActionKind, Severity
from eksguard.parse.eks import parse_eks_change
from eksguard.parse.envelope import EventError, parse_envelope
from eksguard.plan.eks import EndpointChange, LoggingChange, TemplateChange, plan
from eksguard.snapshot.eks import (
    AccessGrant,
    ClusterPosture,
    EksSnapshot,
    MetadataOptions,
    NodeGroupRef,
    NodeInstance,
    NodeTemplate,
    TrailCoverage,
)

ADMIN = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
VIEW = "arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy"
BREAK_GLASS = "arn:aws:iam::123456789012:role/break-glass"
CONTRACTOR = "arn:aws:iam::123456789012:role/contractor"
KEY = "arn:aws:kms:ap-northeast-2:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
TODAY = date(2026, 11, 22)


def cluster(**changes: Any) -> ClusterPosture:
    """A cluster that passes every rule; each fixture changes only what it is about."""
    good = ClusterPosture(
        name="prod", arn="arn:aws:eks:ap-northeast-2:123456789012:cluster/prod", endpoint_public=True,
        endpoint_private=True, public_cidrs=("203.0.113.0/24",),
        logging_enabled=frozenset({"api", "audit", "authenticator"}), secrets_key_arn=KEY, auth_mode="API",
        grants=(AccessGrant(BREAK_GLASS, ADMIN),),
        vpc_image={"endpointPublicAccess": True, "endpointPrivateAccess": True,
                   "publicAccessCidrs": ["203.0.113.0/24"]},
    )
    return replace(good, **changes)


def template(tokens: str | None = "required", hop: int | None = 1, endpoint: str | None = "enabled",
             spec: str | None = "$Default", **changes: Any) -> NodeTemplate:
    users = (NodeGroupRef("prod", "ng-1", "lt-0123456789abcdef0", spec),) if spec else ()
    image = {k: v for k, v in (("HttpTokens", tokens), ("HttpPutResponseHopLimit", hop), ("HttpEndpoint", endpoint))
             if v is not None}
    good = NodeTemplate("lt-0123456789abcdef0", "prod-nodes", 3, True, MetadataOptions(tokens, hop, endpoint), users,
                        {}, "", image)
    return replace(good, **changes)


CFG = EksConfig(admin_principals=frozenset({BREAK_GLASS}))

# rule id -> (passing fixtures, failing fixtures), each named
CASES: dict[str, tuple[dict[str, EksSnapshot], dict[str, EksSnapshot]]] = {
    "EK-001": (
        {"restricted-public": EksSnapshot((cluster(),)),
         "private-only": EksSnapshot((cluster(endpoint_public=False, public_cidrs=("0.0.0.0/0",)),))},
        {"public-world": EksSnapshot((cluster(public_cidrs=("0.0.0.0/0",)),)),
         "public-no-cidrs-means-world": EksSnapshot((cluster(public_cidrs=()),)),
         "world-among-others": EksSnapshot((cluster(public_cidrs=("203.0.113.0/24", "0.0.0.0/0")),))},
    ),
    "EK-002": (
        {"required-types-on": EksSnapshot((cluster(),)),
         "all-five-on": EksSnapshot((cluster(logging_enabled=frozenset(
             {"api", "audit", "authenticator", "controllerManager", "scheduler"})),))},
        {"all-off": EksSnapshot((cluster(logging_enabled=frozenset()),)),
         "audit-missing": EksSnapshot((cluster(logging_enabled=frozenset({"api", "authenticator"})),)),
         "only-scheduler": EksSnapshot((cluster(logging_enabled=frozenset({"scheduler"})),))},
    ),
    "EK-003": (
        {"kms-envelope": EksSnapshot((cluster(),))},
        {"no-encryption-config": EksSnapshot((cluster(secrets_key_arn=None),))},
    ),
    "EK-004": (
        {"v2-hop-1": EksSnapshot(templates=(template(),)),
         "imds-disabled": EksSnapshot(templates=(template(tokens="optional", hop=2, endpoint="disabled"),)),
         "node-v2-hop-1": EksSnapshot(instances=(NodeInstance("i-0123456789abcdef0", "prod",
                                                              MetadataOptions("required", 1, "enabled")),))},
        {"imdsv1-optional": EksSnapshot(templates=(template(tokens="optional"),)),
         "hop-limit-2": EksSnapshot(templates=(template(hop=2),)),
         "metadata-options-not-set": EksSnapshot(templates=(template(tokens=None, hop=None, endpoint=None),)),
         "node-instance-optional": EksSnapshot(instances=(NodeInstance("i-0123456789abcdef0", "prod",
                                                                       MetadataOptions("optional", 2, "enabled")),))},
    ),
    "EK-006": (
        {"api-mode-admin-in-list": EksSnapshot((cluster(),)),
         "api-and-config-map-view-only": EksSnapshot((cluster(auth_mode="API_AND_CONFIG_MAP",
                                                              grants=(AccessGrant(CONTRACTOR, VIEW),)),)),
         "grants-not-read": EksSnapshot((cluster(grants=None),))},
        {"config-map-only": EksSnapshot((cluster(auth_mode="CONFIG_MAP", grants=None),)),
         "contractor-cluster-admin": EksSnapshot((cluster(grants=(AccessGrant(BREAK_GLASS, ADMIN),
                                                                  AccessGrant(CONTRACTOR, ADMIN))),)),
         "namespace-scoped-admin": EksSnapshot((cluster(grants=(AccessGrant(CONTRACTOR, ADMIN, "namespace",
                                                                            ("payments",)),)),))},
    ),
    "CT-001": (
        {"management-trail": EksSnapshot(trail=TrailCoverage("ap-northeast-2", ("org-trail",), ("org-trail",))),
         "not-checked": EksSnapshot()},
        {"no-trail": EksSnapshot(trail=TrailCoverage("ap-northeast-2", ())),
         "data-events-only-trail": EksSnapshot(trail=TrailCoverage("ap-northeast-2", (), ("s3-data",)))},
    ),
}


def _params() -> list[Any]:
    out = []
    for rule_id, (passing, failing) in CASES.items():
        out += [pytest.param(rule_id, snap, False, id=f"{rule_id}-pass-{name}") for name, snap in passing.items()]
        out += [pytest.param(rule_id, snap, True, id=f"{rule_id}-fail-{name}") for name, snap in failing.items()]
    return out


@pytest.mark.parametrize(("rule_id", "snapshot", "fails"), _params())
def test_rule(rule_id: str, snapshot: EksSnapshot, fails: bool) -> None:
    findings = list(RULES_BY_ID[rule_id].check(snapshot, CFG))
    assert bool(findings) is fails
    assert all(f.rule_id == rule_id for f in findings)


def test_every_rule_has_passing_and_failing_fixtures() -> None:
    assert [r.rule_id for r in RULES] == ["EK-001", "EK-002", "EK-003", "EK-004", "EK-006", "CT-001"]
    assert set(CASES) == set(RULES_BY_ID)
    assert all(passing and failing for passing, failing in CASES.values())


def test_only_selects_rules() -> None:
    bad = EksSnapshot((cluster(public_cidrs=(), logging_enabled=frozenset(), secrets_key_arn=None),))
    assert {f.rule_id for f in detect(bad, CFG)} == {"EK-001", "EK-002", "EK-003"}
    assert {f.rule_id for f in detect(bad, CFG, only=("EK-002",))} == {"EK-002"}


def test_ek006_severity_and_target() -> None:
    snap = CASES["EK-006"][1]["contractor-cluster-admin"]
    (finding,) = detect(snap, CFG, only=("EK-006",))
    assert finding.target_id == CONTRACTOR and finding.severity is Severity.HIGH
    (mode,) = detect(CASES["EK-006"][1]["config-map-only"], CFG, only=("EK-006",))
    assert mode.severity is Severity.MEDIUM


def test_ek001_remediable_only_with_trusted_cidrs() -> None:
    snap = CASES["EK-001"][1]["public-world"]
    assert not detect(snap, CFG)[0].remediable
    assert detect(snap, EksConfig(trusted_cidrs=("203.0.113.0/24",)))[0].remediable


# -- plan ---------------------------------------------------------------------------------------------------

def _plan(snap: EksSnapshot, eks: EksConfig, mode: Mode = Mode.ENFORCE, **cfg: Any) -> list[Any]:
    return plan(snap, detect(snap, eks), Config(mode=mode, **cfg), eks, "event-1", TODAY)


def test_plan_restricts_endpoint_with_private_access_on() -> None:
    snap = EksSnapshot((cluster(public_cidrs=("0.0.0.0/0",), endpoint_private=False),))
    (action,) = _plan(snap, replace(CFG, trusted_cidrs=("198.51.100.0/24",)))
    assert action.kind is ActionKind.RESTRICTED_ENDPOINT
    assert action.change == EndpointChange("prod", True, True, ("198.51.100.0/24",))
    assert action.change.request() == {"endpointPublicAccess": True, "endpointPrivateAccess": True,
                                       "publicAccessCidrs": ["198.51.100.0/24"]}


def test_plan_logging_sends_the_complete_logging_config() -> None:
    snap = EksSnapshot((cluster(logging_enabled=frozenset({"scheduler"})),))
    (action,) = _plan(snap, CFG)
    assert isinstance(action.change, LoggingChange)
    assert action.change.request() == {"clusterLogging": [
        {"types": ["api", "audit", "authenticator", "scheduler"], "enabled": True},
        {"types": ["controllerManager"], "enabled": False}]}


def test_plan_audit_mode_and_exemption_change_nothing() -> None:
    snap = EksSnapshot((cluster(logging_enabled=frozenset()),))
    (audit,) = _plan(snap, CFG, mode=Mode.AUDIT)
    assert audit.kind is ActionKind.ALERT_ONLY and audit.change is None and "audit mode" in audit.note
    exempt = EksSnapshot((cluster(logging_enabled=frozenset(), tags={"eksguard:exempt": "2026-12-31"}),))
    (action,) = _plan(exempt, CFG)
    assert action.kind is ActionKind.EXEMPT and action.change is None
    expired = EksSnapshot((cluster(logging_enabled=frozenset(), tags={"eksguard:exempt": "2026-01-31"}),))
    assert _plan(expired, CFG)[0].kind is ActionKind.ENABLED_LOGGING


def test_plan_imdsv2_needs_the_opt_in_and_a_node_group() -> None:
    bad = EksSnapshot(templates=(template(tokens="optional", hop=2),))
    assert _plan(bad, CFG)[0].kind is ActionKind.ALERT_ONLY
    (action,) = _plan(bad, replace(CFG, enforce_imdsv2=True))
    assert action.kind is ActionKind.NEW_LAUNCH_TEMPLATE_VERSION
    assert isinstance(action.change, TemplateChange) and action.change.set_default
    assert action.change.metadata_options == {"HttpTokens": "required", "HttpPutResponseHopLimit": 1,
                                              "HttpEndpoint": "enabled"}
    pinned = EksSnapshot(templates=(template(tokens="optional", spec="3"),))
    assert not _plan(pinned, replace(CFG, enforce_imdsv2=True))[0].change.set_default
    unused = EksSnapshot(templates=(template(tokens="optional", spec=None),))
    assert _plan(unused, replace(CFG, enforce_imdsv2=True))[0].kind is ActionKind.ALERT_ONLY


def test_alert_only_rules_never_change() -> None:
    snap = EksSnapshot((cluster(secrets_key_arn=None, auth_mode="CONFIG_MAP", grants=None),),
                       trail=TrailCoverage("ap-northeast-2", ()))
    actions = _plan(snap, EksConfig(trusted_cidrs=("198.51.100.0/24",), enforce_imdsv2=True))
    assert {a.finding.rule_id for a in actions} == {"EK-003", "EK-006", "CT-001"}
    assert all(a.kind is ActionKind.ALERT_ONLY and a.change is None for a in actions)


# -- configuration ------------------------------------------------------------------------------------------

def test_config_from_env() -> None:
    cfg = EksConfig.from_env({"EKSGUARD_TRUSTED_CIDRS": "203.0.113.0/24, 198.51.100.0/24",
                              "EKSGUARD_ENFORCE_IMDSV2": "true", "EKSGUARD_ADMIN_PRINCIPALS": BREAK_GLASS})
    assert cfg.trusted_cidrs == ("203.0.113.0/24", "198.51.100.0/24") and cfg.enforce_imdsv2
    assert cfg.admin_principals == {BREAK_GLASS}
    assert EksConfig.from_env({}) == EksConfig()


@pytest.mark.parametrize("env", [
    {"EKSGUARD_TRUSTED_CIDRS": "0.0.0.0/0"},
    {"EKSGUARD_TRUSTED_CIDRS": "203.0.113.7/24"},
    {"EKSGUARD_TRUSTED_CIDRS": "office"},
    {"EKSGUARD_ENFORCE_IMDSV2": "maybe"},
    {"EKSGUARD_ADMIN_PRINCIPALS": "break-glass"},
], ids=["world", "host-bits", "not-a-cidr", "not-a-bool", "not-an-arn"])
def test_config_rejects_bad_values(env: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        EksConfig.from_env(env)


# -- parsing ------------------------------------------------------------------------------------------------

def _event(name: str, request: dict[str, Any] | None, response: dict[str, Any] | None = None,
           source: str = "eks") -> Any:
    return parse_envelope({"eventName": name, "eventSource": f"{source}.amazonaws.com", "eventID": "e-1",
                           "requestParameters": request, "responseElements": response})


def test_parse_url_encoded_principal() -> None:
    change = parse_eks_change(_event("AssociateAccessPolicy", {
        "name": "eks-cluster", "policyArn": ADMIN, "accessScope": {"type": "cluster"},
        "principalArn": "arn%3Aaws%3Aiam%3A%3A012345678901%3Arole%2Fstratus-red-team-eks-create-access-entry-role"}))
    assert change.cluster == "eks-cluster" and change.policy_arn == ADMIN
    assert change.principal_arn == "arn:aws:iam::012345678901:role/stratus-red-team-eks-create-access-entry-role"


def test_parse_legacy_cluster_name_and_launch_template_wrappers() -> None:
    legacy = parse_eks_change(_event("CreateCluster", {"clusterName": "test"}, {"cluster": {"clusterName": "test"}}))
    assert legacy.cluster == "test"
    version = parse_eks_change(_event("CreateLaunchTemplateVersion", {"CreateLaunchTemplateVersionRequest": {
        "LaunchTemplateId": "lt-0123456789abcdef0"}}, {"CreateLaunchTemplateVersionResponse": {
            "launchTemplateVersion": {"launchTemplateId": "lt-0123456789abcdef0", "versionNumber": 4}}}, "ec2"))
    assert (version.template_id, version.template_version) == ("lt-0123456789abcdef0", 4)
    imds = parse_eks_change(_event("ModifyInstanceMetadataOptions", {"ModifyInstanceMetadataOptionsRequest": {
        "HttpTokens": "required", "InstanceId": "i-0123456789abcdef0"}}, None, "ec2"))
    assert imds.instance_id == "i-0123456789abcdef0"


@pytest.mark.parametrize(("name", "request_params"), [
    ("CreateCluster", {}),
    ("CreateCluster", {"name": "bad name"}),
    ("CreateNodegroup", {"name": "prod"}),
    ("AssociateAccessPolicy", {"name": "prod", "principalArn": "contractor"}),
    ("CreateLaunchTemplate", {"CreateLaunchTemplateRequest": {}}),
    ("ModifyInstanceMetadataOptions", {"ModifyInstanceMetadataOptionsRequest": {"InstanceId": "web-1"}}),
], ids=["no-name", "bad-name", "no-nodegroup", "principal-not-arn", "no-template", "bad-instance"])
def test_parse_rejects(name: str, request_params: dict[str, Any]) -> None:
    source = "ec2" if name in ("CreateLaunchTemplate", "ModifyInstanceMetadataOptions") else "eks"
    with pytest.raises(EventError):
        parse_eks_change(_event(name, request_params, None, source))


def test_remediation_ids_are_stable_per_event() -> None:
    snap = EksSnapshot((cluster(logging_enabled=frozenset()),))
    first, second = _plan(snap, CFG), _plan(snap, CFG)
    assert first[0].remediation_id == second[0].remediation_id  # a redelivered event finds its first attempt
    other = plan(snap, detect(snap, CFG), Config(mode=Mode.ENFORCE), CFG, "event-2", TODAY)
    assert other[0].remediation_id != first[0].remediation_id


def test_plan_waits_for_an_active_cluster() -> None:
    creating = EksSnapshot((cluster(status="CREATING", public_cidrs=(), logging_enabled=frozenset()),))
    actions = _plan(creating, replace(CFG, trusted_cidrs=("198.51.100.0/24",)))
    assert {a.finding.rule_id for a in actions} == {"EK-001", "EK-002"}
    assert all(a.kind is ActionKind.ALERT_ONLY and "CREATING" in a.note for a in actions)
