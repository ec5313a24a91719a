"""Organization deployment: the offline SAM transform (org/transform.py) and the StackSet template.

The transform needs ``samtranslator``, which the SAM CLI ships and the project does not depend on. Where this
env has it, the transform runs in-process; otherwise, with ``SAM_PYTHON`` set to a Python that has it (the SAM
CLI's), it runs as ``$SAM_PYTHON org/transform.py`` and the tests read its output; with neither, the transform
tests are skipped and the same checks run as a script:
``$SAM_PYTHON org/transform.py template.yaml out.json --placeholder-code --check``.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml
from tests.paths import ROOT, TEMPLATE

ORG = ROOT / "org"
STACKSET = ORG / "stackset.yaml"


def _load_transform() -> ModuleType:
    spec = importlib.util.spec_from_file_location("eksguard_org_transform", ORG / "transform.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SKIP_REASON = ("samtranslator is not importable here and SAM_PYTHON is unset: run "
               "`$SAM_PYTHON org/transform.py template.yaml out.json --placeholder-code --check` "
               "with the SAM CLI's Python instead")


@pytest.fixture(scope="module")
def transform() -> ModuleType:
    return _load_transform()


@pytest.fixture(scope="module")
def member(transform: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The repo's template.yaml, transformed (placeholder S3 code locations, as sam package would write)."""
    if importlib.util.find_spec("samtranslator") is not None:
        out, _ = transform.transform_template(transform.with_placeholder_code(transform.load_template(TEMPLATE)))
        return out
    sam_python = os.environ.get("SAM_PYTHON")
    if not sam_python:
        pytest.skip(SKIP_REASON)
    path = tmp_path_factory.mktemp("org") / "eksguard-member.json"
    subprocess.run([sam_python, str(ORG / "transform.py"), str(TEMPLATE), str(path), "--placeholder-code"],
                   check=True, timeout=300)
    return json.loads(path.read_text())


def test_the_sam_template_uses_the_serverless_transform() -> None:
    # The reason for org/transform.py: a service-managed StackSet cannot run this macro.
    assert "Transform: AWS::Serverless-2016-10-31" in TEMPLATE.read_text()


def test_member_template_is_plain_cloudformation(transform: ModuleType, member: dict[str, Any]) -> None:
    assert transform.verify_member(member, transform.load_template(TEMPLATE)) == []
    assert "Transform" not in member
    types = {r["Type"] for r in member["Resources"].values()}
    assert not {t for t in types if t.startswith("AWS::Serverless::")}


def test_every_function_becomes_a_lambda_function(member: dict[str, Any]) -> None:
    sam = _load_transform().load_template(TEMPLATE)
    expected = {n for n, r in sam["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    assert {"SgGuardFunction", "IrsaGuardFunction", "ClusterGuardFunction", "SweepFunction"} <= expected
    for name in expected:
        assert member["Resources"][name]["Type"] == "AWS::Lambda::Function", name
    layers = [n for n, r in member["Resources"].items() if r["Type"] == "AWS::Lambda::LayerVersion"]
    # SAM names a layer version by its logical id and a hash of its content.
    assert sorted(n.rstrip("0123456789abcdef") for n in layers) == ["EksguardLayer", "KubernetesLayer"]


def test_roles_keep_the_eksguard_path(member: dict[str, Any]) -> None:
    # The loop guard recognises eksguard's own calls by this path: the transform must keep it on every role.
    roles = {n: r for n, r in member["Resources"].items() if r["Type"] == "AWS::IAM::Role"}
    assert len(roles) >= 7
    assert {n: r["Properties"].get("Path") for n, r in roles.items()} == dict.fromkeys(roles, "/eksguard/")


def test_conditions_and_parameters_survive_for_every_region(member: dict[str, Any]) -> None:
    # One template for every region: the IAM-region condition stays a condition, parameters stay parameters.
    assert "IsIamRegion" in member["Conditions"]
    assert member["Resources"]["IrsaGuardFunction"]["Condition"] == "IsIamRegion"
    assert {"Mode", "Scope", "DeployIamRules"} <= set(member["Parameters"])
    env = member["Resources"]["SgGuardFunction"]["Properties"]["Environment"]["Variables"]
    assert env["EKSGUARD_MODE"] == {"Ref": "Mode"}


def test_no_region_is_baked_in(transform: ModuleType, member: dict[str, Any]) -> None:
    transform.check_region_neutral(member)  # raises SystemExit if the placeholder region leaked
    assert transform.PLACEHOLDER_REGION not in json.dumps(member)


def test_regional_code_buckets(transform: ModuleType, member: dict[str, Any]) -> None:
    out = json.loads(json.dumps(member))
    n = transform.regionalize_code(out, "eksguard-placeholder", "eksguard-placeholder-${AWS::Region}")
    assert n == len([r for r in out["Resources"].values()
                     if r["Type"] in ("AWS::Lambda::Function", "AWS::Lambda::LayerVersion")])
    assert '"eksguard-placeholder"' not in json.dumps(out)


def test_verify_member_catches_a_leftover_transform(transform: ModuleType) -> None:
    sam = transform.load_template(TEMPLATE)
    problems = transform.verify_member(sam, sam)
    assert any("Transform" in p for p in problems)
    assert any("SgGuardFunction" in p for p in problems)


def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).parent / "cfn-lint"
    if not exe.exists():
        pytest.skip(f"cfn-lint not installed next to {sys.executable}")
    return subprocess.run([str(exe), "--format", "parseable", str(path)], capture_output=True, text=True,
                          check=False, timeout=300)


def test_stackset_template_passes_cfn_lint() -> None:
    result = _cfn_lint(STACKSET)
    assert result.returncode == 0, result.stdout + result.stderr


def test_member_template_passes_cfn_lint(member: dict[str, Any], tmp_path: Path) -> None:
    path = tmp_path / "eksguard-member.json"
    path.write_text(json.dumps(member))
    result = _cfn_lint(path)
    # cfn-lint exit codes are a bit mask: 2 = error, 4 = warning, 8 = informational. No errors allowed.
    assert not result.returncode & 2, result.stdout + result.stderr


def test_stackset_is_service_managed_and_auto_deploys() -> None:
    doc = _load_transform().load_template(STACKSET)
    assert "Transform" not in doc
    (stackset,) = [r for r in doc["Resources"].values() if r["Type"] == "AWS::CloudFormation::StackSet"]
    props = stackset["Properties"]
    assert props["PermissionModel"] == "SERVICE_MANAGED"
    assert props["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert props["Capabilities"] == ["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"]
    assert props["TemplateURL"] == {"Ref": "TemplateURL"}
    assert props["OperationPreferences"]["RegionConcurrencyType"] == "PARALLEL"
    (group,) = props["StackInstancesGroup"]
    assert group["DeploymentTargets"]["OrganizationalUnitIds"] == {"Ref": "OrganizationalUnitIds"}
    # The security account (central stack) can be left out of its OU's rollout.
    assert group["DeploymentTargets"]["AccountFilterType"] == {"Fn::If": ["HasExclusions", "DIFFERENCE", "NONE"]}
    assert group["Regions"] == {"Ref": "Regions"}
    assert doc["Parameters"]["OrganizationalUnitIds"]["Type"] == "CommaDelimitedList"
    assert doc["Parameters"]["Regions"]["Type"] == "CommaDelimitedList"


def test_stackset_passes_only_parameters_the_member_template_has() -> None:
    # CloudFormation rejects a stack-set parameter the member template does not declare.
    doc = _load_transform().load_template(STACKSET)
    (stackset,) = [r for r in doc["Resources"].values() if r["Type"] == "AWS::CloudFormation::StackSet"]
    passed = {p["ParameterKey"] for p in stackset["Properties"]["Parameters"]}
    member_params = set(yaml.load(TEMPLATE.read_text(), Loader=_load_transform()._CfnLoader)["Parameters"])
    assert passed == {"Mode", "Scope", "CentralEventBusArn", "GuardReservedConcurrency", "ScanRoleTrustedAccountId"}
    assert passed <= member_params
