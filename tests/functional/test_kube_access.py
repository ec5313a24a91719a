"""`eksguard kube-access CLUSTER` on moto (access entries served by the stand-in, local/standin.py): the access entry
in the group the shipped RBAC binds, the manifest on standard output, idempotence, the stack's roles, and every
refusal as one line with exit status 2."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.functional.conftest import Account

from eksguard.cli.main import main
from eksguard.manifests import READER_GROUP, reader_manifest

READER = "arn:aws:iam::123456789012:role/eksguard/eksguard-reader"
TRUST = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"},
                                                 "Action": "sts:AssumeRole"}]}


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["kube-access", *argv, "--region", "ap-northeast-2"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _entries(account: Account, cluster: str = "demo") -> dict[str, dict[str, Any]]:
    eks = account.session.client("eks")
    return {arn: eks.describe_access_entry(clusterName=cluster, principalArn=arn)["accessEntry"]
            for arn in eks.list_access_entries(clusterName=cluster)["accessEntries"]}


@pytest.fixture
def api_mode(account: Account) -> Account:
    account.session.client("eks").update_cluster_config(
        name="demo", accessConfig={"authenticationMode": "API_AND_CONFIG_MAP"})
    return account


def test_creates_the_entry_and_prints_the_manifest(api_mode: Account, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "demo", "--role-arn", READER)
    assert code == 0, err
    assert out == reader_manifest()  # stdout is for `| kubectl apply -f -`
    assert f"access entry for {READER} on cluster demo (ap-northeast-2): created" in err
    entry = _entries(api_mode)[READER]
    assert (entry["type"], entry["kubernetesGroups"]) == ("STANDARD", [READER_GROUP])
    policies = api_mode.session.client("eks").list_associated_access_policies(clusterName="demo", principalArn=READER)
    assert policies["associatedAccessPolicies"] == []  # RBAC only: no access policy


def test_is_idempotent_and_adds_the_group_to_an_existing_entry(api_mode: Account,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert _run(capsys, "demo", "--role-arn", READER)[0] == 0
    code, _, err = _run(capsys, "demo", "--role-arn", READER)
    assert code == 0 and "already there" in err and list(_entries(api_mode)) == [READER]
    other = "arn:aws:iam::123456789012:role/platform-readers"
    api_mode.session.client("eks").create_access_entry(clusterName="demo", principalArn=other,
                                                       kubernetesGroups=["platform:view"])
    code, _, err = _run(capsys, "demo", "--role-arn", other)
    assert code == 0 and f"group {READER_GROUP} added" in err
    assert _entries(api_mode)[other]["kubernetesGroups"] == ["platform:view", READER_GROUP]


def test_the_stacks_reading_roles_by_default(api_mode: Account, capsys: pytest.CaptureFixture[str]) -> None:
    roles = {lid: {"Type": "AWS::IAM::Role", "Properties": {"Path": "/eksguard/", "AssumeRolePolicyDocument": TRUST}}
             for lid in ("SweepFunctionRole", "KubeGuardFunctionRole", "SgGuardFunctionRole")}
    api_mode.session.client("cloudformation").create_stack(StackName="eksguard",
                                                           TemplateBody=json.dumps({"Resources": roles}))
    code, out, err = _run(capsys, "demo")
    assert code == 0 and out == reader_manifest(), err
    created = _entries(api_mode)
    assert len(created) == 2 and all(":role/eksguard/" in arn for arn in created)  # the path is kept
    assert {arn.rsplit("/", 1)[-1].split("-")[1] for arn in created} == {"SweepFunctionRole", "KubeGuardFunctionRole"}


def test_a_stack_without_kube_guard_gives_the_sweeps_role(api_mode: Account,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    """ReadKubernetes=false deploys no KubeGuardFunction: its role is not looked for, the sweep's is enough."""
    roles = {"SweepFunctionRole": {"Type": "AWS::IAM::Role", "Properties": {"AssumeRolePolicyDocument": TRUST}}}
    api_mode.session.client("cloudformation").create_stack(StackName="guard",
                                                           TemplateBody=json.dumps({"Resources": roles}))
    code, _, err = _run(capsys, "demo", "--stack-name", "guard")
    assert code == 0, err
    assert [arn.rsplit("/", 1)[-1].split("-")[1] for arn in _entries(api_mode)] == ["SweepFunctionRole"]


def test_print_only_changes_nothing(api_mode: Account, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "demo", "--print-only")  # no stack: a placeholder for the role
    assert code == 0 and out == reader_manifest()
    assert ("aws eks create-access-entry --cluster-name demo --region ap-northeast-2 --principal-arn "
            f"'<reading role ARN>' --type STANDARD --kubernetes-groups {READER_GROUP}") in err
    code, _, err = _run(capsys, "demo", "--print-only", "--role-arn", READER)
    assert code == 0 and f"--principal-arn {READER} " in err
    assert _entries(api_mode) == {}


@pytest.mark.parametrize(("argv", "message"), [
    (["demo"], "stack eksguard not found in ap-northeast-2, so its reading roles are unknown: pass --role-arn"),
    (["demo", "--role-arn", "arn:aws:sts::123456789012:assumed-role/ops/jane"], "is not an IAM role ARN"),
    (["gone", "--role-arn", READER], "AWS refused DescribeCluster: ResourceNotFoundException"),
], ids=["no-stack", "session-arn", "no-cluster"])
def test_refusals_are_one_line_and_exit_2(api_mode: Account, capsys: pytest.CaptureFixture[str], argv: list[str],
                                          message: str) -> None:
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == "" and message in err and err.count("\n") == 1
    assert _entries(api_mode) == {}


def test_a_config_map_cluster_says_what_to_do(account: Account, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(capsys, "demo", "--role-arn", READER)
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "authenticates with aws-auth only (CONFIG_MAP)" in err
    assert "--access-config authenticationMode=API_AND_CONFIG_MAP" in err and f"groups [{READER_GROUP}]" in err
