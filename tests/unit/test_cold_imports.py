"""A cold start imports what the function uses, nothing more: each functions/*/app.py imported in a fresh
interpreter, as Lambda runs it (its folder, then the library), and the heavy packages it must not pull in named.
Timings are in docs/benchmarks.md, never asserted here."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tests.paths import ROOT

from eksguard.handler import tracing_on

LIBRARY = ROOT / "layers" / "eksguard"
CHILD = """
import importlib, json, sys
sys.path[:0] = [sys.argv[1], sys.argv[2]]
importlib.import_module("app")
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules} | {m for m in sys.modules if m.startswith("aws_")})))
"""
# Read only where a cluster's Kubernetes API or its aws-auth is read; Slack only in the notifier; the X-Ray SDK only
# when Powertools traces; idempotency only where a function keeps one run per event (imported at its first event).
KUBERNETES = {"lightkube", "httpx2", "msgspec", "yaml"}
XRAY = "aws_xray_sdk"
IDEMPOTENCY = "aws_lambda_powertools.utilities.idempotency"


def loaded(function: str, **env: str) -> set[str]:
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("PYTHON", "LAMBDA_", "AWS_SAM_LOCAL", "POWERTOOLS_TRACE"))}
    run = subprocess.run([sys.executable, "-I", "-B", "-c", CHILD, str(ROOT / "functions" / function), str(LIBRARY)],
                         env={**base, "AWS_REGION": "us-east-1", **env}, capture_output=True, text=True,
                         cwd=ROOT / "functions" / function)
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("function", ["sg_guard", "cluster_guard", "irsa_guard", "sweep", "k8s_guard", "rollback"])
def test_a_guard_starts_without_kubernetes_slack_or_idempotency(function: str) -> None:
    modules = loaded(function)
    assert not modules & (KUBERNETES | {"slack_sdk"}), modules & (KUBERNETES | {"slack_sdk"})
    assert IDEMPOTENCY not in modules


def test_the_notifier_brings_slack_only_to_itself() -> None:
    assert "slack_sdk" in loaded("notifier")


def test_the_x_ray_sdk_is_imported_only_when_powertools_traces() -> None:
    assert XRAY not in loaded("sg_guard")  # outside Lambda: Powertools would not trace
    assert XRAY not in loaded("sg_guard", LAMBDA_TASK_ROOT="/var/task", AWS_SAM_LOCAL="true")
    assert XRAY not in loaded("sg_guard", LAMBDA_TASK_ROOT="/var/task", POWERTOOLS_TRACE_DISABLED="true")
    assert XRAY in loaded("sg_guard", LAMBDA_TASK_ROOT="/var/task")  # Lambda, Tracing: Active


@pytest.mark.parametrize(("env", "on"), [
    ({}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task"}, True),
    ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_SAM_LOCAL": "true"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "AWS_CHALICE_CLI_MODE": "true"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "1"}, False),
    ({"LAMBDA_TASK_ROOT": "/var/task", "POWERTOOLS_TRACE_DISABLED": "false"}, True),
])
def test_tracing_on_follows_powertools_rule(env: dict[str, str], on: bool) -> None:
    assert tracing_on(env) is on
