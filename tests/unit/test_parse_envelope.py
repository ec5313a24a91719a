"""The CloudTrail envelope: real payloads (EventBridge-wrapped and bare trail records), hostile ones,
and the decision whether to act at all (failed calls, eksguard's own calls, EKS service-linked roles)."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from eksguard.parse.envelope import (
    CloudTrailEvent,
    EventError,
    is_eks_service_role,
    is_own_role,
    parse_envelope,
    skip_reason,
)

REFERENCE_DIR = Path(__file__).parents[3] / "shared" / "reference-events"
EVENTS_DIR = Path(__file__).parents[2] / "events"
NO_REFERENCE = f"reference events not found at {REFERENCE_DIR}: clone the shared/ folder beside the repo"
SG_PREFIXES = ("AuthorizeSecurityGroup", "CreateSecurityGroup", "ModifyInstanceMetadataOptions",
               "RunInstances")
OWN_PATH = "/eksguard/"


def reference(name: str) -> Any:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(NO_REFERENCE)
    return json.loads((REFERENCE_DIR / name).read_text())


def project_event(name: str) -> Any:
    return json.loads((EVENTS_DIR / name).read_text())


def record(**overrides: Any) -> dict[str, Any]:
    """A minimal valid bare CloudTrail record."""
    base: dict[str, Any] = {
        "eventID": "e-1",
        "eventName": "AuthorizeSecurityGroupIngress",
        "eventSource": "ec2.amazonaws.com",
        "awsRegion": "eu-west-1",
        "eventTime": "2025-01-01T00:00:00Z",
        "recipientAccountId": "123456789012",
        "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::123456789012:user/alice"},
        "requestParameters": {"groupId": "sg-1"},
        "responseElements": None,
    }
    base.update(overrides)
    return base


def wrapped(detail: Any, **overrides: Any) -> dict[str, Any]:
    """``detail`` in an EventBridge envelope."""
    env: dict[str, Any] = {
        "version": "0",
        "id": "env-1",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.ec2",
        "account": "210987654321",
        "time": "2025-02-02T00:00:00Z",
        "region": "ap-northeast-2",
        "resources": [],
        "detail": detail,
    }
    env.update(overrides)
    return env


def issued_by(issuer: Any, **overrides: Any) -> dict[str, Any]:
    """A bare record made by a session whose issuer is ``issuer``."""
    identity = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/x/session",
                "sessionContext": {"sessionIssuer": issuer}}
    return record(userIdentity=identity, **overrides)


def role_issuer(arn: str) -> dict[str, str]:
    return {"type": "Role", "arn": arn}


# -- real payloads -------------------------------------------------------------------------------------------

# Every reference file of the security-group family:
# ("ok", expected context fields) or ("error", part of the message).
REFERENCE_EXPECTED: dict[str, tuple[str, Any]] = {
    "AuthorizeSecurityGroupEgress.elastic-assumedrole-ec2-ruleset.json": ("ok", {
        "event_id": "72a37ea2-cbf9-47bf-9ae0-0149d8acbbbc", "event_name": "AuthorizeSecurityGroupEgress",
        "source": "aws.ec2", "account": "000000000", "region": "us-east-1", "time": "2024-10-30T19:54:35Z",
        "actor": "arn:aws:sts::000000000:assumed-role/ec2-instance-role/i-06815aa7cf7d21f8f",
        "session_issuer_arn": "arn:aws:iam::000000000:role/ec2-instance-role", "error_code": None}),
    "AuthorizeSecurityGroupEgress.panther-terraform-all-traffic-noports.json": ("ok", {
        "event_id": "1a593035-e072-49c4-8c72-4ff35e195330", "account": "112233445566",
        "session_issuer_arn": "arn:aws:iam::112233445566:role/Operator", "error_code": None}),
    "AuthorizeSecurityGroupIngress.elastic-ipv4-ruleset-arn.json": ("ok", {
        "event_id": "c409b898-91e4-44d5-a994-68741a8a0212",
        "actor": "arn:aws:iam::000000000:user/test@elastic.co",
        "session_issuer_arn": None, "user_type": "IAMUser"}),
    "AuthorizeSecurityGroupIngress.envelope-referenced-group-ruleset.json": ("ok", {
        "event_id": "50dd3491-f4bc-4a04-a4e0-db6d5311049d", "source": "aws.ec2", "account": "770203350335",
        "region": "us-east-1", "time": "2022-11-16T02:34:24Z", "invoked_by": "cloudformation.amazonaws.com",
        "session_issuer_arn": "arn:aws:iam::770203350335:role/Shibboleth-InfraMgt"}),
    "AuthorizeSecurityGroupIngress.flatiron-envelope-443-world.json": ("error", "aws.sqs"),
    "AuthorizeSecurityGroupIngress.panther-sdk-go-ssh-world.json": ("ok", {
        "event_id": "42155429-7e8e-43b5-9b5e-6953f80d51d5", "region": "us-east-1",
        "actor": "arn:aws:sts::112233445566:assumed-role/Operator/ryan@example.com"}),
    "AuthorizeSecurityGroupIngress.reflex-envelope-ipv4-ipv6-multi-items.json": ("ok", {
        "event_id": "ed02a212-5eff-4bf6-b5b3-8939726568e9", "account": "000000000000",
        "session_issuer_arn": None, "invoked_by": "signin.amazonaws.com",
        "actor": "arn:aws:iam::000000000000:user/test"}),
    "AuthorizeSecurityGroupIngress.stratus-flat-cidr-ruleset.json": ("ok", {
        "event_id": "9fd68588-ecbf-4528-a345-199fa6bb0821", "account": "032092706103",
        "region": "us-northeast-1r"}),
    "CreateSecurityGroup.flatiron-envelope-terraform.json": ("error", "aws.sqs"),
    "CreateSecurityGroup.reflex-envelope-console.json": ("ok", {
        "event_id": "b9af23b1-b83b-4c56-80b0-57e73c445ed0", "event_name": "CreateSecurityGroup",
        "source": "aws.ec2", "account": "000000000000"}),
    "ModifyInstanceMetadataOptions.flatiron-envelope-error-invalidparam.json": ("error", "aws.sqs"),
    "RunInstances.elastic-metadataoptions-response.json": ("ok", {
        "event_id": "5e1fb8e0-231d-4527-a146-d051e37d0d4f", "event_name": "RunInstances",
        "account": "1010101010101", "error_code": None}),
    "RunInstances.flatiron-envelope-metadataoptions-response.json": ("error", "aws.sqs"),
    "RunInstances.stratus-error-unauthorized.json": ("ok", {
        "event_id": "1a4debbb-12e9-4bde-b8c7-ea29002bb2a7", "error_code": "Client.UnauthorizedOperation",
        "region": "ca-south-3r", "account": "900138736586"}),
}


def _field(event: CloudTrailEvent, name: str) -> Any:
    return getattr(event, name) if name in ("error_code", "user_type") else getattr(event.context, name)


@pytest.mark.parametrize("name", sorted(REFERENCE_EXPECTED), ids=lambda n: n.removesuffix(".json"))
def test_reference_event_envelope(name: str) -> None:
    raw = reference(name)
    outcome, expected = REFERENCE_EXPECTED[name]
    if outcome == "error":
        with pytest.raises(EventError, match=expected) as exc:
            parse_envelope(raw)
        assert "contradicts eventSource" in str(exc.value)
        return
    event = parse_envelope(raw)
    assert {key: _field(event, key) for key in expected} == expected


def test_every_reference_file_of_the_sg_family_has_an_expectation() -> None:
    if not REFERENCE_DIR.is_dir():
        pytest.skip(NO_REFERENCE)
    present = {p.name for p in REFERENCE_DIR.glob("*.json") if p.name.startswith(SG_PREFIXES)}
    assert present == set(REFERENCE_EXPECTED)


def test_bare_record_of_an_sqs_labelled_envelope_is_accepted() -> None:
    """The contradiction lies in the envelope only: its CloudTrail record is fine on its own."""
    raw = reference("CreateSecurityGroup.flatiron-envelope-terraform.json")
    event = parse_envelope(raw["detail"])
    assert (event.context.source, event.context.event_name) == ("aws.ec2", "CreateSecurityGroup")
    assert event.context.account == "123456789012"  # from recipientAccountId, not the rejected envelope


def test_every_project_event_parses_or_is_rejected_cleanly() -> None:
    files = sorted(EVENTS_DIR.glob("*.json"))
    assert files, f"no sample events in {EVENTS_DIR}"
    for path in files:
        raw = json.loads(path.read_text())
        try:
            event = parse_envelope(raw)
        except EventError as exc:
            assert str(exc), path.name
            continue
        assert event.context.event_id and event.context.source.startswith("aws."), path.name


PROJECT_SKIPS = [
    ("sg-ingress-failed-unauthorized.json", "failed call (Client.UnauthorizedOperation)"),
    ("sg-revoke-by-eksguard-itself.json", "loop guard"),
    ("sg-ingress-ssh-world-grouped-node.json", None),
    ("sg-ingress-api-world-flat-control-plane.json", None),
    ("sg-modify-bastion-ssh-to-world.json", None),
]


@pytest.mark.parametrize(("name", "reason"), PROJECT_SKIPS, ids=[n for n, _ in PROJECT_SKIPS])
def test_project_event_skip_reason(name: str, reason: str | None) -> None:
    got = skip_reason(parse_envelope(project_event(name)), OWN_PATH)
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got


# -- envelope forms ------------------------------------------------------------------------------------------

def test_bare_record_takes_account_region_time_from_the_record() -> None:
    event = parse_envelope(record())
    ctx = event.context
    assert (ctx.event_id, ctx.event_name, ctx.source) == ("e-1", "AuthorizeSecurityGroupIngress", "aws.ec2")
    assert (ctx.account, ctx.region, ctx.time) == ("123456789012", "eu-west-1", "2025-01-01T00:00:00Z")
    assert ctx.actor == "arn:aws:iam::123456789012:user/alice"
    assert event.request == {"groupId": "sg-1"}
    assert event.response == {}  # null responseElements


def test_envelope_fields_win_over_the_record() -> None:
    ctx = parse_envelope(wrapped(record())).context
    assert (ctx.account, ctx.region, ctx.time) == ("210987654321", "ap-northeast-2", "2025-02-02T00:00:00Z")


def test_account_falls_back_to_the_identity() -> None:
    raw = record(recipientAccountId=None,
                 userIdentity={"type": "IAMUser", "arn": "arn:aws:iam::999:user/x", "accountId": "999"})
    assert parse_envelope(raw).context.account == "999"


@pytest.mark.parametrize(("identity", "actor"), [
    ({"arn": "arn:aws:iam::1:user/a", "invokedBy": "x.amazonaws.com"}, "arn:aws:iam::1:user/a"),
    ({"invokedBy": "cloudformation.amazonaws.com", "principalId": "P"}, "cloudformation.amazonaws.com"),
    ({"principalId": "AIDAEXAMPLE"}, "AIDAEXAMPLE"),
    ({"arn": ""}, "unknown"),
    (None, "unknown"),
], ids=["arn", "invoked-by", "principal-id", "empty-arn", "no-identity"])
def test_actor_falls_back_in_order(identity: Any, actor: str) -> None:
    assert parse_envelope(record(userIdentity=identity)).context.actor == actor


@pytest.mark.parametrize(("code", "expected"), [
    ("Client.UnauthorizedOperation", "Client.UnauthorizedOperation"),
    ("", None),
    (None, None),
], ids=["set", "empty", "null"])
def test_error_code(code: Any, expected: str | None) -> None:
    assert parse_envelope(record(errorCode=code)).error_code == expected


def test_envelope_without_source_is_accepted() -> None:
    assert parse_envelope(wrapped(record(), source=None)).context.source == "aws.ec2"


# -- malformed input: always EventError, with a message that says what is wrong ------------------------------

def _without(key: str) -> dict[str, Any]:
    raw = record()
    del raw[key]
    return raw


MALFORMED: list[tuple[str, Any, str]] = [
    ("list", [record()], "must be a JSON object, got list"),
    ("string", "{}", "must be a JSON object, got str"),
    ("none", None, "must be a JSON object, got NoneType"),
    ("int", 7, "must be a JSON object, got int"),
    ("detail-list", wrapped([record()]), "event.detail must be an object"),
    ("detail-string", wrapped("x"), "event.detail must be an object"),
    ("detail-null", wrapped(None), "event.detail must be an object"),
    ("wrong-detail-type", wrapped(record(), **{"detail-type": "EC2 Instance State-change Notification"}),
     "is not 'AWS API Call via CloudTrail'"),
    ("source-contradicts", wrapped(record(), source="aws.iam"), "contradicts eventSource"),
    ("missing-event-id", _without("eventID"), "detail.eventID is missing"),
    ("null-event-id", record(eventID=None), "detail.eventID is missing"),
    ("int-event-id", record(eventID=42), "detail.eventID is missing or not a string"),
    ("blank-event-id", record(eventID="  "), "detail.eventID is missing"),
    ("missing-event-name", _without("eventName"), "detail.eventName is missing"),
    ("missing-event-source", _without("eventSource"), "detail.eventSource is missing"),
    ("list-event-source", record(eventSource=["ec2.amazonaws.com"]), "detail.eventSource"),
    ("identity-list", record(userIdentity=["x"]), "userIdentity must be an object"),
    ("identity-string", record(userIdentity="root"), "userIdentity must be an object"),
    ("request-list", record(requestParameters=["groupId"]), "requestParameters must be an object or null"),
    ("request-string", record(requestParameters="groupId=sg-1"), "requestParameters must be an object"),
    ("response-list", record(responseElements=[]), "responseElements must be an object or null"),
    ("account-int", record(recipientAccountId=123456789012), "account must be a string"),
    ("region-list", record(awsRegion=["us-east-1"]), "is not an AWS region name"),
    ("region-placeholder", record(awsRegion="region-code"), "is not an AWS region name"),
    ("region-url", record(awsRegion="evil.example.com/x"), "is not an AWS region name"),
    ("time-int", record(eventTime=1700000000), "time must be a string"),
    ("envelope-account-int", wrapped(record(), account=1), "account must be a string"),
    ("empty-object", {}, "detail.eventName is missing"),
    ("empty-detail", wrapped({}), "detail.eventName is missing"),
]


@pytest.mark.parametrize(("raw", "message"), [pytest.param(r, m, id=n) for n, r, m in MALFORMED])
def test_malformed_event_raises_event_error(raw: Any, message: str) -> None:
    with pytest.raises(EventError) as exc:
        parse_envelope(raw)
    assert message in str(exc.value)


HOSTILE_VALUES: list[Any] = [None, {}, [], "", "x", 0, -1, True, 1.5, float("nan"), [None], {"items": None}]


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, child in value.items():
            out += _paths(child, (*prefix, key))
    return out


def _set(raw: Any, path: tuple[Any, ...], value: Any) -> Any:
    raw = copy.deepcopy(raw)
    target = raw
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return raw


def test_no_hostile_value_anywhere_in_a_real_envelope_escapes_as_another_exception() -> None:
    base = project_event("sg-ingress-ssh-world-grouped-node.json")
    tried = 0
    for path in _paths(base):
        for value in HOSTILE_VALUES:
            tried += 1
            try:
                parse_envelope(_set(base, path, value))
            except EventError:
                pass
            except Exception as exc:  # noqa: BLE001 - the point of the test
                pytest.fail(f"{'.'.join(map(str, path))} = {value!r}: {type(exc).__name__}: {exc}")
    assert tried > 100


# -- skip_reason, own role, EKS service-linked roles ---------------------------------------------------------

SKIPS: list[tuple[str, dict[str, Any], str | None]] = [
    ("error-code",
     issued_by(role_issuer("arn:aws:iam::1:role/ops"), errorCode="Client.UnauthorizedOperation"),
     "failed call (Client.UnauthorizedOperation)"),
    ("error-code-beats-own-role",
     issued_by(role_issuer("arn:aws:iam::1:role/eksguard/x"), errorCode="AccessDenied"), "failed call"),
    ("own-role", issued_by(role_issuer("arn:aws:iam::123456789012:role/eksguard/x")), "loop guard"),
    ("own-role-nested-path", issued_by(role_issuer("arn:aws:iam::1:role/eksguard/guards/sg")), "loop guard"),
    ("own-path-other-account", issued_by(role_issuer("arn:aws:iam::999999999999:role/eksguard/x")),
     "loop guard"),
    ("eksguard-named-role-at-root", issued_by(role_issuer("arn:aws:iam::1:role/eksguard-foo")), None),
    ("eksguard-prefix-path", issued_by(role_issuer("arn:aws:iam::1:role/eksguardx/y")), None),
    ("eksguard-deeper-path", issued_by(role_issuer("arn:aws:iam::1:role/team/eksguard/x")), None),
    ("user-at-eksguard-path", issued_by(role_issuer("arn:aws:iam::1:user/eksguard/x")), None),
    ("sts-arn-with-eksguard", issued_by(role_issuer("arn:aws:sts::1:assumed-role/eksguard/x")), None),
    ("session-issuer-empty", issued_by({}), None),
    ("session-issuer-null", issued_by(None), None),
    ("session-issuer-arn-not-string", issued_by({"arn": ["arn:aws:iam::1:role/eksguard/x"]}), None),
    ("no-identity", record(userIdentity=None), None),
]


@pytest.mark.parametrize(("raw", "reason"), [(e, r) for _, e, r in SKIPS], ids=[n for n, _, _ in SKIPS])
def test_skip_reason(raw: dict[str, Any], reason: str | None) -> None:
    got = skip_reason(parse_envelope(raw), OWN_PATH)
    if reason is None:
        assert got is None
    else:
        assert got is not None and reason in got


@pytest.mark.parametrize(("arn", "path", "own"), [
    ("arn:aws:iam::1:role/platform/eksguard/x", "/platform/eksguard/", True),
    ("arn:aws:iam::1:role/eksguard/x", "/platform/eksguard/", False),
    ("arn:aws-cn:iam::1:role/eksguard/x", "/eksguard/", True),
    ("not-an-arn", "/eksguard/", False),
    (None, "/eksguard/", False),
    ("", "/eksguard/", False),
], ids=["custom-path", "default-role-custom-path", "china-partition", "garbage", "none", "empty"])
def test_is_own_role(arn: str | None, path: str, own: bool) -> None:
    assert is_own_role(arn, path) is own


def test_nodegroup_service_linked_role_reference_event() -> None:
    raw = reference("_userIdentity.DeleteInstanceProfile.awsdocs-eks-nodegroup-slr.json")
    raw["awsRegion"] = "us-west-2"  # the AWS doc sample says "region-code", which eksguard rightly refuses
    event = parse_envelope(raw)
    assert event.context.session_issuer_arn == (
        "arn:aws:iam::111122223333:role/aws-service-role/eks-nodegroup.amazonaws.com/"
        "AWSServiceRoleForAmazonEKSNodegroup")
    assert event.context.invoked_by == "eks-nodegroup.amazonaws.com"
    assert is_eks_service_role(event)
    assert skip_reason(event, OWN_PATH) is None  # recognised, not skipped: the guard decides what to ignore


@pytest.mark.parametrize(("issuer", "expected"), [
    (role_issuer("arn:aws:iam::1:role/aws-service-role/eks.amazonaws.com/AWSServiceRoleForAmazonEKS"), True),
    (role_issuer("arn:aws:iam::1:role/aws-service-role/eks-nodegroup.amazonaws.com/"
                 "AWSServiceRoleForAmazonEKSNodegroup"), True),
    (role_issuer("arn:aws:iam::1:role/aws-service-role/autoscaling.amazonaws.com/"
                 "AWSServiceRoleForAutoScaling"), False),
    (role_issuer("arn:aws:iam::1:role/AWSServiceRoleForAmazonEKSFargate"), False),
    (role_issuer("arn:aws:iam::1:role/PlatformAdmin"), False),
    ({}, False),
], ids=["eks-slr", "nodegroup-slr", "other-slr", "similar-name", "plain-role", "no-issuer"])
def test_is_eks_service_role(issuer: Any, expected: bool) -> None:
    assert is_eks_service_role(parse_envelope(issued_by(issuer))) is expected
