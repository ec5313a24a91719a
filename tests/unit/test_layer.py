"""The Lambda layers hold what the functions import, and no function carries what it cannot import:

- every function imports with nothing else of eksguard than the EksguardLayer: the layer is built with its own
  Makefile target (the one `sam build` runs), then each functions/*/app.py is imported in a fresh interpreter
  whose only eksguard is that build;
- every third-party package a function can reach (its app.py and every eksguard module it can import, at module
  level or inside a function, read with ast) ships where that function finds it: the runtime (boto3), the
  Powertools layer, the function's own requirements.txt, or the KubernetesLayer, which exactly the functions
  that can reach the Kubernetes client carry."""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from tests.paths import ROOT, TEMPLATE
from tests.unit.test_architecture import imports, library_modules, module_name

from eksguard.local.template import FunctionSpec, LocalContext, TemplateResolver, functions, load_template

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
    # Third-party packages come from the test environment (the KubernetesLayer is not built here: no download).
    subprocess.run(["make", "--no-print-directory", "-C", str(LAYER_SOURCE), "build-EksguardLayer",
                    f"ARTIFACTS_DIR={artifacts}", f"PYTHON={sys.executable}"], check=True, capture_output=True)
    return artifacts / "python"


def test_the_layer_is_the_package_without_the_command_line_and_the_stand_in(layer: Path) -> None:
    package = layer / "eksguard"
    shipped = {p.name for p in package.iterdir()}
    assert {"__init__.py", "handler.py", "pipeline", "aws", "manifests"} <= shipped
    assert not {"cli", "local"} & shipped
    source = {p.relative_to(LAYER_SOURCE / "eksguard") for p in (LAYER_SOURCE / "eksguard").rglob("*")
              if p.is_file() and "__pycache__" not in p.parts and p.parts[len(LAYER_SOURCE.parts) + 1] not in
              ("cli", "local")}
    assert {p.relative_to(package) for p in package.rglob("*") if p.is_file() and "__pycache__" not in p.parts} \
        == source


def test_the_layer_ships_byte_code_checked_against_its_source(layer: Path) -> None:
    """Lambda's file system is read-only: without .pyc the package is compiled on every cold start. Each module
    has exactly one, current and validated by the hash of its source (a zip's mtimes would stale timestamps)."""
    package = layer / "eksguard"
    modules = sorted(package.rglob("*.py"))
    compiled = sorted(package.rglob("*.pyc"))
    assert len(compiled) == len(modules)
    for module in modules:
        pyc = Path(importlib.util.cache_from_source(str(module)))
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b11, f"{pyc.name}: not a checked-hash .pyc (flags {flags:#b})"


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


# -- where each third-party package ships ---------------------------------------------------------------------

KUBERNETES_LAYER = "KubernetesLayer"
# What every function finds without shipping it: the runtime's boto3, and AWS's public Powertools layer.
EVERYWHERE = {"boto3", "botocore", "aws_lambda_powertools"}
# The environment dependency markers are read for: Lambda's python3.12 on Linux.
LAMBDA_MARKERS = {"python_version": "3.12", "sys_platform": "linux", "platform_python_implementation": "CPython"}


def _distributions(requirements: Path) -> set[str]:
    """The distributions a requirements file installs: its own and, from this environment's metadata, everything
    they require (extras followed, markers for python3.12 on Linux)."""
    seen: set[str] = set()
    todo = [Requirement(line) for line in requirements.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]
    while todo:
        req = todo.pop()
        name = req.name.lower().replace("_", "-")
        if name in seen:
            continue
        seen.add(name)
        for raw in importlib.metadata.requires(req.name) or ():
            dep = Requirement(raw)
            if dep.marker is None or any(dep.marker.evaluate({**LAMBDA_MARKERS, "extra": e})
                                         for e in (req.extras or {""})):
                todo.append(dep)
    return seen


def _import_names(requirements: Path) -> set[str]:
    wanted = _distributions(requirements)
    return {name for name, dists in importlib.metadata.packages_distributions().items()
            if any(d.lower().replace("_", "-") in wanted for d in dists)}


def _third_party(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n != "eksguard"}


def reachable_third_party(app: Path) -> dict[str, set[str]]:
    """Third-party top-level name -> the modules that import it, over everything ``app`` can import of eksguard."""
    modules = library_modules()
    graph = {name: {i.target for i in imports(path, name, modules)} for name, path in modules.items()}
    seen: set[str] = set()
    todo = [i.target for i in imports(app, module_name(app, ROOT), modules)]
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo += graph.get(name, ())
    out: dict[str, set[str]] = {n: {"app"} for n in _third_party(app)}
    for name in seen:
        if name in modules:
            for package in _third_party(modules[name]):
                out.setdefault(package, set()).add(name)
    return out


def deployed_functions() -> dict[str, FunctionSpec]:
    template = load_template(TEMPLATE)
    physical = {lid: {"Ref": lid, "Arn": f"arn:aws:test:::{lid}"} for lid in template["Resources"]}
    ctx = LocalContext(account_id="123456789012", region="us-east-1", physical=physical,
                       parameters={"DeployIamRules": "always", "SecurityHubExport": "true"})
    return dict(functions(template, TemplateResolver(template, ctx)))


def test_the_kubernetes_layer_ships_the_client_and_its_dependencies() -> None:
    names = _import_names(ROOT / "layers" / "kubernetes" / "requirements.txt")
    assert {"lightkube", "yaml", "msgspec"} <= names
    assert not names & EVERYWHERE


@pytest.mark.parametrize("logical_id", sorted(deployed_functions()))
def test_every_third_party_import_ships_where_its_function_finds_it(logical_id: str) -> None:
    spec = deployed_functions()[logical_id]
    kubernetes = _import_names(ROOT / "layers" / "kubernetes" / "requirements.txt")
    own = spec.code_uri / "requirements.txt"
    shipped = EVERYWHERE | (_import_names(own) if own.exists() else set())
    carries_kubernetes = KUBERNETES_LAYER in spec.layers
    if carries_kubernetes:
        shipped |= kubernetes
    reached = reachable_third_party(spec.code_uri / "app.py")
    missing = {name: sorted(by) for name, by in reached.items() if name not in shipped}
    assert not missing, f"{logical_id} can import what none of its layers ships: {missing}"
    # And no function carries the Kubernetes client it cannot import (its cold start and package would pay).
    assert carries_kubernetes == bool(reached.keys() & kubernetes), logical_id


def test_the_reach_is_read_through_lazy_imports() -> None:
    """A broken reader would pass the test above: the client is imported inside a function (cold start)."""
    sweep = reachable_third_party(ROOT / "functions" / "sweep" / "app.py")
    assert "eksguard.aws.kube" in sweep["lightkube"]
    assert "lightkube" not in reachable_third_party(ROOT / "functions" / "sg_guard" / "app.py")
