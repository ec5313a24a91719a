"""The Lambda layer holds what the functions import, and every function imports with nothing else of eksguard:
the layer is built with its own Makefile target (the one `sam build` runs), then each functions/*/app.py is
imported in a fresh interpreter whose only eksguard is that build."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from tests.paths import ROOT

LAYER_SOURCE = ROOT / "layers" / "eksguard"
FUNCTIONS = sorted(p.parent for p in (ROOT / "functions").glob("*/app.py"))
# Run in the child: the function's folder and the layer first, as Lambda orders them; any other folder that
# holds an eksguard package (the editable install's source tree) is taken off the path.
CHILD = """
import importlib, json, os, sys
function, layer = sys.argv[1], sys.argv[2]
sys.path[:] = [function, layer] + [p for p in sys.path if p and not os.path.isdir(os.path.join(p, "eksguard"))]
importlib.import_module("app")
import eksguard
missing = []
for name in ("eksguard.cli", "eksguard.local"):
    try:
        importlib.import_module(name)
    except ModuleNotFoundError:
        missing.append(name)
print(json.dumps({"eksguard": eksguard.__file__, "missing": missing,
                  "loaded": sorted(m for m in sys.modules if m.startswith("eksguard"))}))
"""


@pytest.fixture(scope="module")
def layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    artifacts = tmp_path_factory.mktemp("EksguardLayer")
    # REQUIREMENTS= : no download here; third-party packages come from the test environment.
    subprocess.run(["make", "--no-print-directory", "-C", str(LAYER_SOURCE), "build-EksguardLayer",
                    f"ARTIFACTS_DIR={artifacts}", "REQUIREMENTS="], check=True, capture_output=True)
    return artifacts / "python"


def test_the_layer_is_the_package_without_the_command_line_and_the_stand_in(layer: Path) -> None:
    package = layer / "eksguard"
    shipped = {p.name for p in package.iterdir()}
    assert {"__init__.py", "handler.py", "pipeline", "aws", "manifests"} <= shipped
    assert not {"cli", "local"} & shipped
    assert not list(layer.rglob("__pycache__")) and not list(layer.rglob("*.pyc"))
    source = {p.relative_to(LAYER_SOURCE / "eksguard") for p in (LAYER_SOURCE / "eksguard").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.parts[len(LAYER_SOURCE.parts) + 1] not in
              ("cli", "local")}
    assert {p.relative_to(package) for p in package.rglob("*") if p.is_file()} == source


@pytest.mark.parametrize("function", FUNCTIONS, ids=lambda p: p.name)
def test_every_function_imports_from_the_layer_alone(layer: Path, function: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    run = subprocess.run([sys.executable, "-I", "-B", "-c", CHILD, str(function), str(layer)], cwd=function,
                         env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    found = json.loads(run.stdout.strip().splitlines()[-1])
    assert Path(found["eksguard"]).is_relative_to(layer)
    assert found["missing"] == ["eksguard.cli", "eksguard.local"]
    assert "eksguard.handler" in found["loaded"]
