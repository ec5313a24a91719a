"""The `sam local invoke` recipe cannot reach a real AWS endpoint, shown without Docker.

A SAM container gets SAM's own AWS_* variables (AWS_SAM_LOCAL=true, the region, the shell's credentials)
plus the variables the template declares for the function, each overridden by --env-vars only if declared
(samcli EnvironmentVariables.resolve); nothing else of the shell, so no AWS_ENDPOINT_URL. These tests build
exactly that environment from template.yaml and docs/sam-local-env.json and run the SG guard in it,
in-process, against a stand-in on loopback, recording the URL of every request botocore sends.
`make sam-local` runs the same recipe in real containers."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import pytest
from tests.paths import EVENTS, ROOT, TEMPLATE
from tests.support.botocore_hooks import record_requests

from eksguard.aws import clients
from eksguard.local.invoke import LocalApp, invoke, load_app, reset_warm
from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, DemoAccount, seed_demo
from eksguard.local.standin import endpoint_env, moto_server, seed_random
from eksguard.local.template import LocalContext, TemplateResolver, functions, load_template

LOCAL = {"Architecture": "x86_64", "PowertoolsLayer": "none", "Mode": "enforce"}
EVENT = "sg-ingress-ssh-world-grouped-node"
SEEDED_NODE_SG = "sg-4f8afd854e888ded2"  # what the event file names (a fresh `eksguard local up`)


def sam_environment(function: str, env_file: dict[str, Any] | None, region: str = DEMO_REGION) -> dict[str, str]:
    """What `sam local invoke FUNCTION --env-vars FILE --region REGION` hands the container."""
    template = load_template(TEMPLATE)
    # SAM resolves !Ref of a resource to its logical id and leaves Fn::GetAtt unresolved (no variable uses one).
    physical = {lid: {"Ref": lid, "Arn": ""} for lid in template["Resources"]}
    ctx = LocalContext(account_id="123456789012", region=region, parameters=LOCAL, physical=physical)
    declared = functions(template, TemplateResolver(template, ctx))[function].environment
    overrides = {**(env_file or {}).get("Parameters", {}), **(env_file or {}).get(function, {})}
    # AWS_LAMBDA_RUNTIME_API comes from the Runtime Interface Emulator that runs the function.
    sam_own = {"AWS_SAM_LOCAL": "true", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001", "AWS_REGION": region,
               "AWS_DEFAULT_REGION": region,
               "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
               "AWS_LAMBDA_FUNCTION_NAME": function}
    return {**sam_own, **{name: str(overrides.get(name, value)) for name, value in declared.items()}}


def documented_env_file(endpoint: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((ROOT / "docs" / "sam-local-env.json").read_text())
    if endpoint:  # the stand-in of this test instead of host.docker.internal:5000
        data["Parameters"]["EKSGUARD_ENDPOINT_URL"] = endpoint
    return data


@dataclass
class StandIn:
    endpoint: str
    app: LocalApp
    acct: DemoAccount

    def ec2(self) -> Any:
        return boto3.client("ec2", region_name=DEMO_REGION, endpoint_url=self.endpoint)

    def open_ssh_to_the_world(self) -> str:
        self.ec2().authorize_security_group_ingress(GroupId=self.acct.node_sg, IpPermissions=[
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
        (rule,) = [r["SecurityGroupRuleId"] for r in self.rules() if r.get("CidrIpv4") == "0.0.0.0/0"
                   and r.get("FromPort") == 22]
        return str(rule)

    def rules(self) -> list[dict[str, Any]]:
        return list(self.ec2().describe_security_group_rules(
            Filters=[{"Name": "group-id", "Values": [self.acct.node_sg]}])["SecurityGroupRules"])

    def event(self) -> dict[str, Any]:
        # The seeded ids hold only in a fresh process; this one may have run moto before: same event, our id.
        text = (EVENTS / f"{EVENT}.json").read_text().replace(SEEDED_NODE_SG, self.acct.node_sg)
        return dict(json.loads(text))


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    assert "AWS_ENDPOINT_URL" not in __import__("os").environ  # tests/conftest.py removes it
    with moto_server() as endpoint:
        try:
            with endpoint_env(endpoint):
                session = boto3.session.Session(region_name=DEMO_REGION)
                app = load_app(TEMPLATE, LOCAL, session)
                seed_random(endpoint, RANDOM_SEED)
                acct = seed_demo(session)
            clients.reset()
            reset_warm()
            yield StandIn(endpoint, app, acct)
        finally:
            clients.reset()
            reset_warm()
            # moto's state is process-wide: leave none behind for the tests that follow.
            urllib.request.urlopen(urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST"), timeout=10)


def test_the_documented_recipe_talks_only_to_the_stand_in(stand_in: StandIn) -> None:
    rule = stand_in.open_ssh_to_the_world()
    env = sam_environment("SgGuardFunction", documented_env_file(stand_in.endpoint))
    assert env["EKSGUARD_ENDPOINT_URL"] == stand_in.endpoint and "AWS_ENDPOINT_URL" not in env
    with record_requests(only_to=stand_in.endpoint + "/") as urls:  # anything else is stopped here and fails
        result = invoke(stand_in.app, "SgGuardFunction", stand_in.event(), extra_env=env)
    assert result.ok, result.error
    assert [(a["rule_id"], a["action"], a["target_id"]) for a in result.response["actions"]] == [
        ("SG-002", "revoked", rule)]
    assert rule not in {r["SecurityGroupRuleId"] for r in stand_in.rules()}
    # Reads, the revoke, the audit record, idempotency, the alert: all of them, and only, to the stand-in.
    assert len(urls) >= 5
    assert all(url.startswith(stand_in.endpoint + "/") for url in urls), urls


def test_without_the_env_file_nothing_is_called_and_nothing_changes(stand_in: StandIn) -> None:
    rule = stand_in.open_ssh_to_the_world()
    env = sam_environment("SgGuardFunction", None)
    assert env["EKSGUARD_ENDPOINT_URL"] == "" and env["EKSGUARD_MODE"] == "enforce"
    # The handler module makes its first client at import, so the import fails: in a container that is the
    # invoke's error response (make sam-local reads it); in-process it is this exception.
    with record_requests(only_to=stand_in.endpoint + "/") as urls, pytest.raises(clients.RealAwsRefused):
        invoke(stand_in.app, "SgGuardFunction", stand_in.event(), extra_env=env)
    assert urls == []
    assert rule in {r["SecurityGroupRuleId"] for r in stand_in.rules()}


def test_the_old_recipe_would_have_gone_to_aws() -> None:
    """The file as it was (AWS_ENDPOINT_URL, undeclared): SAM drops it, so no endpoint reaches the function."""
    old = {"SgGuardFunction": {"AWS_ENDPOINT_URL": "http://host.docker.internal:5000", "EKSGUARD_MODE": "enforce"}}
    env = sam_environment("SgGuardFunction", old)
    assert "AWS_ENDPOINT_URL" not in env and env["EKSGUARD_ENDPOINT_URL"] == ""
    with pytest.raises(clients.RealAwsRefused):
        clients.endpoint_override(env)
