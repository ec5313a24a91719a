"""Parsing IAM (and EKS CreateCluster) calls: every events/ file, the public reference payloads, JSON-string
documents, URL-encoded CreateRole responses, and malformed input rejected with a clear reason."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from tests.paths import EVENTS, REFERENCE_EVENTS

from eksguard.parse.envelope import EventError, parse_envelope
from eksguard.parse.iam import IamChange, parse_cluster_change, parse_iam_change

IAM_FILES = sorted(p.stem for p in EVENTS.glob("iam-*.json"))
DEMO_ISSUER = "oidc.eks.ap-northeast-2.amazonaws.com/id/F019FFEA32E091F4E0FE70E38D2FBFAF"
NEW_ISSUER = "oidc.eks.ap-northeast-2.amazonaws.com/id/FA12DE78A0421CFB3978876C331E5BA8"


def load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def change(event: dict[str, Any]) -> IamChange:
    return parse_iam_change(parse_envelope(event))


EXPECTED: dict[str, dict[str, Any]] = {
    "iam-create-role-aws-node-aud-typo": {"role_name": "demo-aws-node"},
    "iam-create-role-reports-no-sub": {"role_name": "demo-reports"},
    "iam-update-trust-wildcard-sub-app-api": {"role_name": "demo-app-api"},
    "iam-update-trust-failed-access-denied": {"role_name": "demo-aws-node"},
    "iam-update-trust-by-eksguard-itself": {"role_name": "demo-aws-node"},
    "iam-create-oidc-provider-payments": {"provider_url": f"https://{NEW_ISSUER}",
                                          "provider_arn": f"arn:aws:iam::123456789012:oidc-provider/{NEW_ISSUER}"},
    "iam-delete-oidc-provider-payments-old": {"provider_arn": "arn:aws:iam::123456789012:oidc-provider/oidc.eks."
                                              "ap-northeast-2.amazonaws.com/id/F4615095CA4F8EB7DBF8D022D0219448"},
    "iam-attach-role-policy-cni-node-role": {"role_name": "demo-node-role",
                                             "policy_arn": "arn:aws:iam::aws:policy/AmazonEKS_CNI_Policy"},
    "iam-put-role-policy-star-ci-deployer": {"role_name": "demo-ci-deployer", "policy_name": "deploy-everything"},
    "iam-create-policy-version-hmj-eks-user": {"policy_arn": "arn:aws:iam::123456789012:policy/HMJ-EKS-USER-POLICY"},
}


def test_every_iam_event_file_has_an_expectation() -> None:
    assert set(IAM_FILES) == set(EXPECTED)


@pytest.mark.parametrize("name", IAM_FILES)
def test_event_files(name: str) -> None:
    event = load(name)
    assert event["region"] == "us-east-1" and event["account"] == "123456789012"
    assert event["detail"]["awsRegion"] == "us-east-1"
    parsed = change(event)
    for key, value in EXPECTED[name].items():
        assert getattr(parsed, key) == value, key


def test_policy_documents_are_json_strings_in_requests() -> None:
    for name in ("iam-create-role-aws-node-aud-typo", "iam-update-trust-wildcard-sub-app-api",
                 "iam-put-role-policy-star-ci-deployer", "iam-create-policy-version-hmj-eks-user"):
        request = load(name)["detail"]["requestParameters"]
        raw = request.get("assumeRolePolicyDocument") or request["policyDocument"]
        assert isinstance(raw, str) and change(load(name)).document == json.loads(raw)


def test_create_role_response_is_url_encoded_and_decoded_when_the_request_lacks_it() -> None:
    event = load("iam-create-role-aws-node-aud-typo")
    encoded = event["detail"]["responseElements"]["role"]["assumeRolePolicyDocument"]
    assert encoded.startswith("%7B") and "sts.amazon.com" in change(event).document["Statement"][0]["Condition"][
        "StringEquals"][f"{DEMO_ISSUER}:aud"]
    del event["detail"]["requestParameters"]["assumeRolePolicyDocument"]
    assert change(event).document == json.loads(load("iam-create-role-aws-node-aud-typo")["detail"][
        "requestParameters"]["assumeRolePolicyDocument"])


@pytest.mark.parametrize("name", ["CreateRole.stratus-cross-account-trust", "UpdateAssumeRolePolicy.elastic-"
                                  "account-principal", "UpdateAssumeRolePolicy.stratus-cross-account",
                                  "AttachRolePolicy.elastic-securityaudit", "AttachRolePolicy.stratus-admin"])
def test_public_reference_payloads(name: str) -> None:
    path = REFERENCE_EVENTS / f"{name}.json"
    if not path.exists():
        pytest.skip("the shared reference payloads are not next to this checkout")
    parsed = change(json.loads(path.read_text()))
    assert parsed.role_name


def test_cluster_name_from_either_field() -> None:
    event = json.loads((EVENTS / "irsa-eks-create-cluster-payments-recreated.json").read_text())
    assert parse_cluster_change(parse_envelope(event)).cluster_name == "payments"
    legacy = copy.deepcopy(event)
    legacy["detail"]["requestParameters"] = {"clusterName": "test"}  # the 2018 shape of the EKS docs
    assert parse_cluster_change(parse_envelope(legacy)).cluster_name == "test"
    only_response = copy.deepcopy(event)
    only_response["detail"]["requestParameters"] = {}
    assert parse_cluster_change(parse_envelope(only_response)).cluster_name == "payments"
    only_response["detail"]["responseElements"] = None
    with pytest.raises(EventError, match="no cluster name"):
        parse_cluster_change(parse_envelope(only_response))


MALFORMED: dict[str, tuple[str, Any]] = {
    "role-name-missing": ("iam-update-trust-wildcard-sub-app-api", ("roleName", None)),
    "role-name-not-a-string": ("iam-update-trust-wildcard-sub-app-api", ("roleName", ["demo-app-api"])),
    "role-name-with-space": ("iam-update-trust-wildcard-sub-app-api", ("roleName", "demo app")),
    "role-name-not-ascii": ("iam-update-trust-wildcard-sub-app-api", ("roleName", "r\u00f4le")),
    "role-name-too-long": ("iam-update-trust-wildcard-sub-app-api", ("roleName", "r" * 65)),
    "document-not-json": ("iam-update-trust-wildcard-sub-app-api", ("policyDocument", "{not json")),
    "document-a-list": ("iam-update-trust-wildcard-sub-app-api", ("policyDocument", "[1, 2]")),
    "document-a-number": ("iam-put-role-policy-star-ci-deployer", ("policyDocument", 42)),
    "policy-arn-not-an-arn": ("iam-attach-role-policy-cni-node-role", ("policyArn", "AmazonEKS_CNI_Policy")),
    "provider-url-missing": ("iam-create-oidc-provider-payments", ("url", None)),
    "provider-url-huge": ("iam-create-oidc-provider-payments", ("url", "https://" + "x" * 300)),
    "provider-arn-of-a-role": ("iam-delete-oidc-provider-payments-old",
                               ("openIDConnectProviderArn", "arn:aws:iam::123456789012:role/x")),
}


@pytest.mark.parametrize("case", MALFORMED, ids=str)
def test_malformed_is_rejected(case: str) -> None:
    name, (key, value) = MALFORMED[case]
    event = load(name)
    request = event["detail"]["requestParameters"]
    if value is None:
        del request[key]
    else:
        request[key] = value
    with pytest.raises(EventError):
        change(event)


def test_not_an_iam_call() -> None:
    event = load("iam-update-trust-wildcard-sub-app-api")
    event["detail"]["eventName"] = "ListRoles"
    with pytest.raises(EventError, match="not an IAM call"):
        change(event)
