"""EventBridge pattern semantics, case by case: each operator both matching and not matching."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from eksguard.local.patterns import PatternError, matches, validate_pattern

# A trimmed CloudTrail event as EventBridge delivers it.
TRAIL: dict[str, Any] = {
    "version": "0",
    "source": "aws.ec2",
    "detail-type": "AWS API Call via CloudTrail",
    "account": "123456789012",
    "region": "eu-west-1",
    "resources": [],
    "detail": {
        "eventSource": "ec2.amazonaws.com",
        "eventName": "AuthorizeSecurityGroupIngress",
        "sourceIPAddress": "10.0.0.17",
        "userIdentity": {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/Ops/alice"},
        "requestParameters": {
            "groupId": "sg-0123",
            "ipPermissions": {
                "items": [
                    {"fromPort": 22, "toPort": 22, "ipRanges": {"items": [{"cidrIp": "0.0.0.0/0"}]}},
                    {"fromPort": 443, "toPort": 443, "ipRanges": {"items": [{"cidrIp": "10.0.0.0/8"}]}},
                ]
            },
        },
        "responseElements": None,
        "tags": ["prod", "eks"],
        "count": 5,
        "ratio": 2.5,
        "flag": True,
        "emptyList": [],
        "empty": "",
        "path": "dir/file*.png",
        "v6": "2001:db8::1",
    },
}
FAILED = {**TRAIL, "detail": {**TRAIL["detail"], "errorCode": "Client.UnauthorizedOperation"}}


def d(**fields: Any) -> dict[str, Any]:
    """A pattern on detail fields."""
    return {"detail": fields}


CASES = [
    # -- structure: AND across keys, OR inside arrays, nesting -------------------------------------------
    ("literal-match", {"source": ["aws.ec2"]}, TRAIL, True),
    ("literal-miss", {"source": ["aws.iam"]}, TRAIL, False),
    ("or-within-array", {"source": ["aws.iam", "aws.ec2"]}, TRAIL, True),
    ("and-across-keys-miss", {"source": ["aws.ec2"], "region": ["us-east-1"]}, TRAIL, False),
    ("and-across-keys-match", {"source": ["aws.ec2"], "region": ["eu-west-1"]}, TRAIL, True),
    ("nested-match", d(userIdentity={"type": ["AssumedRole"]}), TRAIL, True),
    ("nested-missing-field", d(userIdentity={"sessionContext": {"mfa": ["true"]}}), TRAIL, False),
    ("nested-missing-parent", d(nope={"deeper": ["x"]}), TRAIL, False),
    ("missing-top-level", {"missing": ["x"]}, TRAIL, False),
    ("object-value-is-no-literal", d(userIdentity=["AssumedRole"]), TRAIL, False),
    # -- literals: type-aware equality -------------------------------------------------------------------
    ("number-int-vs-float", d(count=[5.0]), TRAIL, True),
    ("number-miss", d(count=[6]), TRAIL, False),
    ("number-vs-string", d(count=["5"]), TRAIL, False),
    ("string-vs-number", d(eventName=[5]), TRAIL, False),
    ("bool-match", d(flag=[True]), TRAIL, True),
    ("bool-is-not-one", d(flag=[1]), TRAIL, False),
    ("null-match", d(responseElements=[None]), TRAIL, True),
    ("null-vs-missing", d(absent=[None]), TRAIL, False),
    ("null-vs-empty-string", d(empty=[None]), TRAIL, False),
    ("empty-string-match", d(empty=[""]), TRAIL, True),
    ("empty-string-vs-null", d(responseElements=[""]), TRAIL, False),
    # -- arrays in the event -----------------------------------------------------------------------------
    ("array-any-element", d(tags=["eks"]), TRAIL, True),
    ("array-no-element", d(tags=["dev"]), TRAIL, False),
    ("array-of-objects-descends", d(requestParameters={"ipPermissions": {"items": {"fromPort": [22]}}}),
     TRAIL, True),
    ("array-of-objects-same-element",
     d(requestParameters={"ipPermissions": {"items": {"fromPort": [22], "toPort": [22]}}}), TRAIL, True),
    ("array-of-objects-not-across-elements",
     d(requestParameters={"ipPermissions": {"items": {"fromPort": [22], "toPort": [443]}}}), TRAIL, False),
    ("array-nested-deep-cidr",
     d(requestParameters={"ipPermissions": {"items": {"ipRanges": {"items": {"cidrIp": ["0.0.0.0/0"]}}}}}),
     TRAIL, True),
    ("empty-array-literal", d(emptyList=["x"]), TRAIL, False),
    # -- prefix / suffix / equals-ignore-case --------------------------------------------------------------
    ("prefix-match", d(eventName=[{"prefix": "Authorize"}]), TRAIL, True),
    ("prefix-miss", d(eventName=[{"prefix": "Revoke"}]), TRAIL, False),
    ("prefix-case-sensitive", d(eventName=[{"prefix": "authorize"}]), TRAIL, False),
    ("prefix-ignore-case", d(eventName=[{"prefix": {"equals-ignore-case": "AUTHORIZE"}}]), TRAIL, True),
    ("prefix-ignore-case-miss", d(eventName=[{"prefix": {"equals-ignore-case": "revoke"}}]), TRAIL, False),
    ("prefix-on-number", d(count=[{"prefix": "5"}]), TRAIL, False),
    ("prefix-on-array", d(tags=[{"prefix": "pr"}]), TRAIL, True),
    ("suffix-match", d(eventName=[{"suffix": "Ingress"}]), TRAIL, True),
    ("suffix-miss", d(eventName=[{"suffix": "Egress"}]), TRAIL, False),
    ("suffix-ignore-case", d(eventName=[{"suffix": {"equals-ignore-case": "INGRESS"}}]), TRAIL, True),
    ("suffix-ignore-case-miss", d(eventName=[{"suffix": {"equals-ignore-case": "EGRESS"}}]), TRAIL, False),
    ("equals-ignore-case-match", d(eventName=[{"equals-ignore-case": "authorizesecuritygroupingress"}]),
     TRAIL, True),
    ("equals-ignore-case-miss", d(eventName=[{"equals-ignore-case": "authorize"}]), TRAIL, False),
    ("equals-ignore-case-on-number", d(count=[{"equals-ignore-case": "5"}]), TRAIL, False),
    # -- anything-but --------------------------------------------------------------------------------------
    ("anything-but-string-match", d(eventName=[{"anything-but": "RunInstances"}]), TRAIL, True),
    ("anything-but-string-miss", d(eventName=[{"anything-but": "AuthorizeSecurityGroupIngress"}]),
     TRAIL, False),
    ("anything-but-number", d(count=[{"anything-but": 4}]), TRAIL, True),
    ("anything-but-number-miss", d(count=[{"anything-but": 5.0}]), TRAIL, False),
    ("anything-but-list", d(eventName=[{"anything-but": ["A", "B"]}]), TRAIL, True),
    ("anything-but-list-miss", d(eventName=[{"anything-but": ["A", "AuthorizeSecurityGroupIngress"]}]),
     TRAIL, False),
    ("anything-but-number-list-miss", d(count=[{"anything-but": [1, 5]}]), TRAIL, False),
    ("anything-but-other-type", d(count=[{"anything-but": "x"}]), TRAIL, True),
    ("anything-but-missing-field", d(absent=[{"anything-but": "x"}]), TRAIL, False),
    ("anything-but-prefix-match", d(eventName=[{"anything-but": {"prefix": "Revoke"}}]), TRAIL, True),
    ("anything-but-prefix-miss", d(eventName=[{"anything-but": {"prefix": "Auth"}}]), TRAIL, False),
    # The reason callers pair it with exists:false in a $or.
    ("anything-but-prefix-missing-field", d(invokedBy=[{"anything-but": {"prefix": "AWS"}}]), TRAIL, False),
    ("anything-but-prefix-or-absent",
     d(**{"$or": [{"invokedBy": [{"anything-but": {"prefix": "AWS"}}]}, {"invokedBy": [{"exists": False}]}]}),
     TRAIL, True),
    ("anything-but-suffix-match", d(path=[{"anything-but": {"suffix": ".jpg"}}]), TRAIL, True),
    ("anything-but-suffix-miss", d(path=[{"anything-but": {"suffix": ".png"}}]), TRAIL, False),
    ("anything-but-ignore-case", d(eventName=[{"anything-but": {"equals-ignore-case": "runinstances"}}]),
     TRAIL, True),
    ("anything-but-ignore-case-miss",
     d(eventName=[{"anything-but": {"equals-ignore-case": ["x", "AUTHORIZESECURITYGROUPINGRESS"]}}]),
     TRAIL, False),
    ("anything-but-wildcard", d(path=[{"anything-but": {"wildcard": "*/lib/*"}}]), TRAIL, True),
    ("anything-but-wildcard-miss", d(path=[{"anything-but": {"wildcard": "dir/*"}}]), TRAIL, False),
    ("anything-but-array-none-excluded", d(tags=[{"anything-but": ["dev", "test"]}]), TRAIL, True),
    ("anything-but-array-one-excluded", d(tags=[{"anything-but": "prod"}]), TRAIL, False),
    ("anything-but-empty-array", d(emptyList=[{"anything-but": "x"}]), TRAIL, False),
    ("anything-but-null-value", d(responseElements=[{"anything-but": "x"}]), TRAIL, True),
    # -- exists ----------------------------------------------------------------------------------------------
    ("exists-true", d(eventName=[{"exists": True}]), TRAIL, True),
    ("exists-true-missing", d(absent=[{"exists": True}]), TRAIL, False),
    ("exists-false-missing", d(absent=[{"exists": False}]), TRAIL, True),
    ("exists-false-present", d(eventName=[{"exists": False}]), TRAIL, False),
    ("exists-false-missing-nested-path", d(a={"b": {"c": [{"exists": False}]}}), TRAIL, True),
    ("exists-false-under-scalar", d(eventName={"sub": [{"exists": False}]}), TRAIL, True),
    ("exists-true-missing-nested-path", d(a={"b": [{"exists": True}]}), TRAIL, False),
    ("exists-true-null", d(responseElements=[{"exists": True}]), TRAIL, True),
    ("exists-true-on-object", d(userIdentity=[{"exists": True}]), TRAIL, False),
    ("exists-false-on-object", d(userIdentity=[{"exists": False}]), TRAIL, True),
    ("exists-true-empty-array", d(emptyList=[{"exists": True}]), TRAIL, False),
    ("exists-false-empty-array", d(emptyList=[{"exists": False}]), TRAIL, True),
    ("errorCode-absent-on-success", d(errorCode=[{"exists": False}]), TRAIL, True),
    ("errorCode-absent-on-failure", d(errorCode=[{"exists": False}]), FAILED, False),
    ("errorCode-present-on-failure", d(errorCode=[{"exists": True}]), FAILED, True),
    # -- numeric ---------------------------------------------------------------------------------------------
    ("numeric-range", d(count=[{"numeric": [">", 0, "<=", 5]}]), TRAIL, True),
    ("numeric-range-miss", d(count=[{"numeric": [">", 5]}]), TRAIL, False),
    ("numeric-equals-float", d(ratio=[{"numeric": ["=", 2.5]}]), TRAIL, True),
    ("numeric-ge-le", d(count=[{"numeric": [">=", 5, "<=", 5]}]), TRAIL, True),
    ("numeric-lt", d(ratio=[{"numeric": ["<", 2.5]}]), TRAIL, False),
    ("numeric-on-string", d(eventName=[{"numeric": [">", 0]}]), TRAIL, False),
    ("numeric-on-numeric-string", {"n": [{"numeric": [">", 0]}]}, {"n": "5"}, False),
    ("numeric-on-bool", d(flag=[{"numeric": ["=", 1]}]), TRAIL, False),
    ("numeric-on-array", {"n": [{"numeric": [">", 10]}]}, {"n": [1, 20]}, True),
    # -- cidr ------------------------------------------------------------------------------------------------
    ("cidr-v4-match", d(sourceIPAddress=[{"cidr": "10.0.0.0/24"}]), TRAIL, True),
    ("cidr-v4-miss", d(sourceIPAddress=[{"cidr": "10.0.1.0/24"}]), TRAIL, False),
    ("cidr-v6-match", d(v6=[{"cidr": "2001:db8::/32"}]), TRAIL, True),
    ("cidr-v6-miss", d(v6=[{"cidr": "2001:db9::/32"}]), TRAIL, False),
    ("cidr-family-mismatch", d(sourceIPAddress=[{"cidr": "::/0"}]), TRAIL, False),
    ("cidr-not-an-ip", d(eventName=[{"cidr": "0.0.0.0/0"}]), TRAIL, False),
    # -- wildcard --------------------------------------------------------------------------------------------
    ("wildcard-match", d(eventName=[{"wildcard": "Authorize*Ingress"}]), TRAIL, True),
    ("wildcard-miss", d(eventName=[{"wildcard": "Revoke*"}]), TRAIL, False),
    ("wildcard-whole-value", d(eventName=[{"wildcard": "Authorize"}]), TRAIL, False),
    ("wildcard-escaped-star", d(path=[{"wildcard": "dir/file\\*.png"}]), TRAIL, True),
    ("wildcard-escaped-star-literal-only", {"p": [{"wildcard": "a\\*"}]}, {"p": "ab"}, False),
    ("wildcard-regex-chars-literal", {"p": [{"wildcard": "a.c*"}]}, {"p": "abcd"}, False),
    ("wildcard-on-number", d(count=[{"wildcard": "*"}]), TRAIL, False),
    # -- $or ----------------------------------------------------------------------------------------------
    ("or-top-level", {"$or": [{"source": ["aws.iam"]}, {"region": ["eu-west-1"]}]}, TRAIL, True),
    ("or-top-level-miss", {"$or": [{"source": ["aws.iam"]}, {"region": ["us-east-1"]}]}, TRAIL, False),
    ("or-with-sibling", {"source": ["aws.ec2"], "$or": [{"region": ["x"]}, {"account": ["123456789012"]}]},
     TRAIL, True),
    ("or-sibling-fails", {"source": ["aws.iam"], "$or": [{"region": ["eu-west-1"]}, {"account": ["1"]}]},
     TRAIL, False),
    ("or-nested-in-detail", d(**{"$or": [{"eventName": ["X"]}, {"userIdentity": {"type": ["AssumedRole"]}}]}),
     TRAIL, True),
    ("or-alternative-with-and", {"$or": [{"source": ["aws.ec2"], "region": ["x"]}, {"account": ["2"]}]},
     TRAIL, False),
    ("or-nested-or", {"$or": [{"source": ["x"]}, {"$or": [{"account": ["y"]}, {"region": ["eu-west-1"]}]}]},
     TRAIL, True),
]


@pytest.mark.parametrize(("pattern", "event", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_matches(pattern: dict[str, Any], event: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, event) is expected


def test_case_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))


def test_inputs_are_not_mutated() -> None:
    pattern = d(**{"$or": [{"tags": [{"anything-but": ["x"]}]}, {"count": [{"numeric": [">", 1]}]}]})
    before_pattern, before_event = copy.deepcopy(pattern), copy.deepcopy(TRAIL)
    assert matches(pattern, TRAIL)
    assert pattern == before_pattern
    assert before_event == TRAIL


MALFORMED = [
    ("not-an-object", ["x"], "<root>"),
    ("empty-pattern", {}, "<root>"),
    ("leaf-not-array", {"source": "aws.ec2"}, "source"),
    ("leaf-number", d(count=5), "detail.count"),
    ("empty-leaf-array", {"source": []}, "source"),
    ("nested-array-in-leaf", {"source": [["aws.ec2"]]}, r"source\[0\]"),
    ("unknown-operator", {"source": [{"contains": "ec2"}]}, r"source\[0\]\.contains"),
    ("two-operators", {"source": [{"prefix": "a", "suffix": "b"}]}, r"source\[0\]"),
    ("numeric-odd-arity", d(count=[{"numeric": [">", 0, "<"]}]), "detail.count"),
    ("numeric-unknown-op", d(count=[{"numeric": ["!=", 0]}]), "detail.count"),
    ("numeric-string-bound", d(count=[{"numeric": [">", "0"]}]), "detail.count"),
    ("numeric-not-array", d(count=[{"numeric": 5}]), "detail.count"),
    ("exists-not-bool", d(x=[{"exists": "false"}]), "exists"),
    ("prefix-not-string", d(x=[{"prefix": 5}]), "prefix"),
    ("prefix-bad-qualifier", d(x=[{"prefix": {"wildcard": "a"}}]), "prefix"),
    ("cidr-invalid", d(ip=[{"cidr": "10.0.0.0/33"}]), "cidr"),
    ("wildcard-consecutive-stars", d(x=[{"wildcard": "a**b"}]), "wildcard"),
    ("wildcard-bad-escape", d(x=[{"wildcard": "a\\b"}]), "wildcard"),
    ("anything-but-mixed-list", d(x=[{"anything-but": ["a", 1]}]), "anything-but"),
    ("anything-but-empty-list", d(x=[{"anything-but": []}]), "anything-but"),
    ("anything-but-null", d(x=[{"anything-but": None}]), "anything-but"),
    ("anything-but-bool", d(x=[{"anything-but": True}]), "anything-but"),
    ("anything-but-numeric", d(x=[{"anything-but": {"numeric": [">", 1]}}]), "anything-but.numeric"),
    ("or-not-array", {"$or": {"source": ["a"]}}, r"\$or"),
    ("or-single-alternative", {"$or": [{"source": ["a"]}]}, r"\$or"),
    ("or-alternative-not-object", {"$or": [{"source": ["a"]}, ["b"]]}, r"\$or\[1\]"),
    ("or-alternative-malformed", {"$or": [{"source": ["a"]}, {"region": "b"}]}, r"\$or\[1\]\.region"),
    ("empty-nested-object", d(), "detail"),
    ("non-finite-literal", {"n": [float("nan")]}, r"n\[0\]"),
]


@pytest.mark.parametrize(("pattern", "where"), [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed_patterns_raise(pattern: Any, where: str) -> None:
    with pytest.raises(PatternError, match=where):
        validate_pattern(pattern)
    with pytest.raises(PatternError, match=where):
        matches(pattern, TRAIL)


def test_malformed_branch_raises_even_after_a_decisive_key() -> None:
    # source already fails, but the bad leaf after it must still be reported.
    with pytest.raises(PatternError, match=r"detail\.count"):
        matches({"source": ["aws.iam"], "detail": {"count": [{"numeric": [">"]}]}}, TRAIL)


def test_pattern_error_is_a_value_error() -> None:
    assert issubclass(PatternError, ValueError)


def test_valid_pattern_passes_validation() -> None:
    validate_pattern({
        "source": ["aws.ec2"],
        "detail": {
            "errorCode": [{"exists": False}],
            "$or": [{"invokedBy": [{"exists": False}]}, {"invokedBy": [{"anything-but": {"prefix": "AWS"}}]}],
        },
    })


def test_event_must_be_an_object() -> None:
    with pytest.raises(TypeError):
        matches({"source": ["x"]}, ["not", "an", "object"])  # type: ignore[arg-type]
