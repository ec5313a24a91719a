"""The template's switches for `sam local invoke` (Architecture, PowertoolsLayer) and the variables a local
invoke needs declared: what is deployed by default must not change, and the local recipe must reach every
function."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.paths import ROOT, TEMPLATE

from eksguard.local.template import LocalContext, TemplateResolver, functions, load_template

POWERTOOLS = "arn:aws:lambda:us-east-1:017000801446:layer:AWSLambdaPowertoolsPythonV3-python312-{}:27"
# Every function exists with these (SAM's local invoke ignores resource conditions anyway).
ALL_FUNCTIONS = {"DeployIamRules": "always", "SecurityHubExport": "true"}
# The functions that can read a cluster's Kubernetes API carry its client's layer after the global ones.
READS_KUBERNETES = {"IrsaGuardFunction", "IrsaRefreshFunction", "KubeGuardFunction", "SweepFunction"}


def own_layers(logical_id: str) -> tuple[str, ...]:
    return ("KubernetesLayer",) if logical_id in READS_KUBERNETES else ()


def resolved(**parameters: str) -> tuple[dict[str, Any], TemplateResolver]:
    template = load_template(TEMPLATE)
    physical = {lid: {"Ref": lid, "Arn": f"arn:aws:test:::{lid}"} for lid in template["Resources"]}
    ctx = LocalContext(account_id="123456789012", region="us-east-1", parameters={**ALL_FUNCTIONS, **parameters},
                       physical=physical)
    return template, TemplateResolver(template, ctx)


def layer_properties(**parameters: str) -> tuple[dict[str, Any], dict[str, Any]]:
    template, resolver = resolved(**parameters)
    layer = template["Resources"]["EksguardLayer"]
    return resolver.resolve(layer["Properties"]), resolver.resolve(layer["Metadata"])


def test_deployed_by_default_arm64_with_the_public_powertools_layer() -> None:
    template, resolver = resolved()
    specs = functions(template, resolver)
    assert len(specs) == 8  # SgGuard, IrsaGuard, IrsaRefresh, ClusterGuard, KubeGuard, Sweep, Notifier, Rollback
    for spec in specs.values():
        assert spec.architectures == ("arm64",), spec.logical_id
        assert spec.layers == ("EksguardLayer", POWERTOOLS.format("arm64"), *own_layers(spec.logical_id))
    properties, metadata = layer_properties()
    assert properties["CompatibleArchitectures"] == ["arm64"] and metadata["BuildArchitecture"] == "arm64"


def test_x86_64_takes_the_x86_64_powertools_layer() -> None:
    template, resolver = resolved(Architecture="x86_64")
    for spec in functions(template, resolver).values():
        assert spec.architectures == ("x86_64",)
        assert spec.layers == ("EksguardLayer", POWERTOOLS.format("x86_64"), *own_layers(spec.logical_id))
    properties, metadata = layer_properties(Architecture="x86_64")
    assert properties["CompatibleArchitectures"] == ["x86_64"] and metadata["BuildArchitecture"] == "x86_64"


def test_powertools_layer_none_leaves_only_eksguards_layer() -> None:
    template, resolver = resolved(Architecture="x86_64", PowertoolsLayer="none")
    for spec in functions(template, resolver).values():
        assert spec.layers == ("EksguardLayer", *own_layers(spec.logical_id)), spec.logical_id
        folders = ["eksguard", *(["kubernetes"] if own_layers(spec.logical_id) else [])]
        assert [p.name for p in spec.layer_paths] == folders


def test_the_local_switches_are_closed_lists_with_deploy_defaults() -> None:
    parameters = load_template(TEMPLATE)["Parameters"]
    assert parameters["Architecture"]["Default"] == "arm64"
    assert parameters["Architecture"]["AllowedValues"] == ["arm64", "x86_64"]
    assert parameters["PowertoolsLayer"]["Default"] == "public"
    assert parameters["PowertoolsLayer"]["AllowedValues"] == ["public", "none"]
    for name in ("Architecture", "PowertoolsLayer"):
        assert "sam local invoke" in parameters[name]["Description"], name


@pytest.mark.parametrize("parameters", [{}, {"Architecture": "x86_64", "PowertoolsLayer": "none", "Mode": "enforce"}])
def test_every_function_declares_the_local_variables_inert(parameters: dict[str, str]) -> None:
    """Declared (so `sam local invoke --env-vars` can set them) and empty/false as deployed."""
    template, resolver = resolved(**parameters)
    for spec in functions(template, resolver).values():
        assert spec.environment["EKSGUARD_ENDPOINT_URL"] == "", spec.logical_id
        assert spec.environment["EKSGUARD_ALLOW_REAL_AWS"] == "false", spec.logical_id


def test_the_documented_env_file_sets_only_declared_variables() -> None:
    """SAM silently drops --env-vars entries the template does not declare for a function (issue 18: the
    old file's AWS_ENDPOINT_URL never reached the function). Every entry of docs/sam-local-env.json must be
    declared for every function it names, and the endpoint must reach all of them."""
    env_file = json.loads((ROOT / "docs" / "sam-local-env.json").read_text())
    template, resolver = resolved(Architecture="x86_64", PowertoolsLayer="none")
    specs = functions(template, resolver)
    assert env_file["Parameters"]["EKSGUARD_ENDPOINT_URL"].startswith("http://host.docker.internal:")
    for lid, spec in specs.items():
        wanted = {**env_file.get("Parameters", {}), **env_file.get(lid, {})}
        assert set(wanted) <= set(spec.environment), (lid, set(wanted) - set(spec.environment))
    assert set(env_file) - {"Parameters"} <= set(specs)
