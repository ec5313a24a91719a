"""The client factory's endpoint: EKSGUARD_ENDPOINT_URL for every client when set, boto3's own choice
(AWS_ENDPOINT_URL, then AWS) otherwise, and no client at all in a `sam local` container without either."""

from __future__ import annotations

import pytest

from eksguard.aws import clients
from eksguard.aws.clients import Aws, RealAwsRefused, endpoint_override

STAND_IN = "http://host.docker.internal:5000"
# What SAM and its Runtime Interface Emulator set in every container.
SAM = {"AWS_SAM_LOCAL": "true", "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}
# Every service eksguard's functions and CLI call (eksguard/aws/ and the Powertools clients it hands over).
SERVICES = ("ec2", "eks", "iam", "sts", "dynamodb", "sns", "secretsmanager", "securityhub", "events", "cloudtrail",
            "organizations", "cloudformation")


@pytest.fixture(autouse=True)
def _clean(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in ("EKSGUARD_ENDPOINT_URL", "EKSGUARD_ALLOW_REAL_AWS", "AWS_SAM_LOCAL", "AWS_LAMBDA_RUNTIME_API",
                "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)
    clients.reset()


@pytest.mark.parametrize(("env", "expected"), [
    ({}, None),  # deployed: boto3 picks AWS's endpoints
    ({"EKSGUARD_ENDPOINT_URL": ""}, None),  # the template's default when deployed
    ({"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, None),  # boto3 reads it itself (CLI, tests, eksguard local)
    ({"EKSGUARD_ENDPOINT_URL": STAND_IN}, STAND_IN),
    ({"EKSGUARD_ENDPOINT_URL": f" {STAND_IN} ", "AWS_ENDPOINT_URL": "http://elsewhere:1"}, STAND_IN),
    ({**SAM, "EKSGUARD_ENDPOINT_URL": STAND_IN}, STAND_IN),
    ({**SAM, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"}, None),  # a template that declares it: boto3 reads it
    ({**SAM, "EKSGUARD_ALLOW_REAL_AWS": "true"}, None),  # said explicitly
    # eksguard local invoke runs handlers in-process with AWS_SAM_LOCAL=true (its CLI requires AWS_ENDPOINT_URL;
    # the functional tests use moto's in-process mock); Lambda itself has a runtime API and no AWS_SAM_LOCAL.
    ({"AWS_SAM_LOCAL": "true"}, None),
    ({"AWS_LAMBDA_RUNTIME_API": "127.0.0.1:9001"}, None),
])
def test_endpoint_override(env: dict[str, str], expected: str | None) -> None:
    assert endpoint_override(env) == expected


@pytest.mark.parametrize("env", [
    SAM,
    {**SAM, "EKSGUARD_ENDPOINT_URL": "", "EKSGUARD_ALLOW_REAL_AWS": "false"},  # the template's defaults
    {**SAM, "AWS_SAM_LOCAL": "TRUE", "EKSGUARD_ENDPOINT_URL": "   ", "EKSGUARD_ALLOW_REAL_AWS": "yes"},
])
def test_a_local_invoke_without_an_endpoint_is_refused(env: dict[str, str]) -> None:
    with pytest.raises(RealAwsRefused, match="EKSGUARD_ENDPOINT_URL") as caught:
        endpoint_override(env)
    assert "EKSGUARD_ALLOW_REAL_AWS=true" in str(caught.value)


def test_the_factory_makes_no_client_when_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in SAM.items():
        monkeypatch.setenv(key, value)
    aws = Aws("ap-northeast-2")
    for service in SERVICES:
        with pytest.raises(RealAwsRefused):
            aws.client(service)
    assert aws._clients == {}


def test_every_client_goes_to_the_override(monkeypatch: pytest.MonkeyPatch) -> None:
    """In any region, for any service, even with AWS_ENDPOINT_URL pointing elsewhere."""
    for key, value in SAM.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("EKSGUARD_ENDPOINT_URL", STAND_IN)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://elsewhere.invalid:1")
    aws = Aws("ap-northeast-2")
    for region in ("ap-northeast-2", "us-east-1"):
        for service in SERVICES:
            assert aws.client(service, region).meta.endpoint_url == STAND_IN, (service, region)


def test_without_override_clients_keep_boto3s_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    aws = Aws("ap-northeast-2")
    assert aws.client("ec2").meta.endpoint_url == "https://ec2.ap-northeast-2.amazonaws.com"
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    assert Aws("ap-northeast-2").client("ec2").meta.endpoint_url == "http://127.0.0.1:5000"
