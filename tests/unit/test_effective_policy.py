"""The effective policy the permission check resolves per function (tests/support/effective_policy.py) is the
role the SAM transform really generates: same managed policies, same inline policies, for several parameter
sets. The transform is samtranslator's (org/transform.py), run with ``SAM_PYTHON`` (``make test`` sets it when
``make sam`` made .venv-sam) or in-process when importable; skipped with neither."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
from tests.paths import ROOT, TEMPLATE
from tests.support.effective_policy import function_role
from tests.support.permissions_check import WIDEST, doc_context, functions

from eksguard.local.template import TemplateResolver, load_template

PARAMETER_SETS = {
    "defaults": {},
    "widest": WIDEST,
    "enforce, IAM rules elsewhere": {"Mode": "enforce", "DeployIamRules": "never", "EnforceImdsv2": "true"},
    "slack only": {"SlackWebhookSecretArn": WIDEST["SlackWebhookSecretArn"]},
    "central stream": {"CentralOrganizationId": "o-abcdefghij", "SlackWebhookSecretArn":
                       WIDEST["SlackWebhookSecretArn"], "CentralEventBusArn": WIDEST["CentralEventBusArn"]},
}


@pytest.fixture(scope="module")
def transformed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sam") / "transformed.json"
    if importlib.util.find_spec("samtranslator") is not None:
        spec = importlib.util.spec_from_file_location("eksguard_org_transform", ROOT / "org" / "transform.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        result, _ = module.transform_template(module.with_placeholder_code(module.load_template(TEMPLATE)))
        out.write_text(json.dumps(result))
        return out
    sam_python = os.environ.get("SAM_PYTHON")
    if not sam_python:
        pytest.skip("samtranslator is not importable and SAM_PYTHON is unset (make sam, then make test)")
    subprocess.run([sam_python, str(ROOT / "org" / "transform.py"), str(TEMPLATE), str(out), "--placeholder-code"],
                   check=True, timeout=300, capture_output=True)
    return out


def _sam_role(transformed: Path, parameters: dict[str, str], function: str) -> dict[str, Any] | None:
    template = load_template(transformed)
    role = template["Resources"].get(f"{function}Role")
    assert role is not None, f"the transform made no {function}Role"
    resolver = TemplateResolver(template, doc_context(parameters))
    if role.get("Condition") and not resolver.condition(role["Condition"]):
        return None
    return resolver.resolve(role["Properties"])  # type: ignore[no-any-return]


@pytest.mark.parametrize("name", sorted(PARAMETER_SETS))
def test_resolved_role_is_the_one_sam_generates(transformed: Path, name: str) -> None:
    parameters, compared = PARAMETER_SETS[name], 0
    for function in functions():
        sam = _sam_role(transformed, parameters, function)
        if sam is None:
            continue
        compared += 1
        ours = function_role(TEMPLATE, doc_context(parameters), function)
        assert sorted(ours.managed_policy_arns) == sorted(sam.get("ManagedPolicyArns", [])), function
        expected = sorted((p["PolicyName"], json.dumps(p["PolicyDocument"], sort_keys=True))
                          for p in sam.get("Policies", []))
        got = sorted((p["PolicyName"].removeprefix("sam:"), json.dumps(p["PolicyDocument"], sort_keys=True))
                     for p in ours.inline)
        assert got == expected, function
    assert compared >= 5  # the functions every parameter set deploys, at least


def test_sam_adds_logs_xray_and_the_failure_destination() -> None:
    """Without the transform: what the resolver adds for a guard (Tracing: Active, OnFailure SQS)."""
    role = function_role(TEMPLATE, doc_context({}), "SgGuardFunction")
    assert [a.rsplit("/", 1)[-1] for a in role.managed_policy_arns] == ["AWSLambdaBasicExecutionRole",
                                                                          "AWSXrayWriteOnlyAccess"]
    (destination,) = [p for p in role.inline if p["PolicyName"].startswith("sam:")]
    assert destination["PolicyDocument"]["Statement"] == [
        {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": "arn:aws:sqs:us-east-1:123456789012:"
                                                                     "GuardDeadLetterQueue"}]
