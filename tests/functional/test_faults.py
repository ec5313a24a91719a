"""Faults injected at the HTTP layer of botocore, under the real handler: what a flaky or hostile
AWS does to eksguard, and that nothing is lost or swallowed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from tests.functional.conftest import Account
from tests.support.botocore_hooks import ec2_error, inject, json_error, record_calls

from eksguard.local.demo import SCENARIOS

EVENT = "sg-ingress-ssh-world-grouped-node"
WORLD_SSH = (22, "0.0.0.0/0")


@pytest.fixture
def mistake(account: Account) -> Iterator[Account]:
    SCENARIOS[0].mistake(account.ec2, account.acct)
    account.app(Mode="enforce")  # provision before faults start
    yield account


def _times(n: int, code: str, status: int):  # type: ignore[no-untyped-def]
    left = [n]

    def answer():  # type: ignore[no-untyped-def]
        if left[0] == 0:
            return None
        left[0] -= 1
        return ec2_error(code, status)
    return answer


def test_throttled_revoke_is_retried_and_succeeds(mistake: Account) -> None:
    with inject("ec2.RevokeSecurityGroupIngress", _times(2, "RequestLimitExceeded", 503)) as hits:
        result = mistake.invoke(EVENT)
    assert hits == [2]
    assert result.ok and [a["status"] for a in result.response["actions"]] == ["revoked"]
    assert WORLD_SSH not in mistake.ingress_sources(mistake.acct.node_sg)
    assert [a["action"] for a in mistake.alerts()] == ["revoked"]


def test_access_denied_is_a_failed_outcome_alerted_not_an_exception(mistake: Account) -> None:
    with inject("ec2.RevokeSecurityGroupIngress", lambda: ec2_error("UnauthorizedOperation", 403)):
        result = mistake.invoke(EVENT)
    assert result.ok, result.error  # retrying cannot help: no exception, no dead letter
    assert [(a["action"], a["status"]) for a in result.response["actions"]] == [("failed", "failed")]
    assert WORLD_SSH in mistake.ingress_sources(mistake.acct.node_sg)
    (alert,) = mistake.alerts()
    assert alert["action"] == "failed" and "UnauthorizedOperation" in alert["error"]
    (record,) = mistake.audit_records()
    assert record["outcome"] == "failed" and record["before_image"]["CidrIpv4"] == "0.0.0.0/0"


def test_throttling_that_never_ends_fails_loudly_for_a_retry(mistake: Account) -> None:
    with inject("ec2.RevokeSecurityGroupIngress", lambda: ec2_error("RequestLimitExceeded", 503)):
        result = mistake.invoke(EVENT)
    assert not result.ok and result.error["errorType"] == "RetryableError"
    assert [a["action"] for a in mistake.alerts()] == ["failed"]
    assert WORLD_SSH in mistake.ingress_sources(mistake.acct.node_sg)
    # The retry Lambda makes later finds the before-image and finishes the job.
    again = mistake.invoke(EVENT)
    assert again.ok and [a["status"] for a in again.response["actions"]] == ["revoked"]
    assert WORLD_SSH not in mistake.ingress_sources(mistake.acct.node_sg)


def test_audit_table_unavailable_means_no_change(mistake: Account) -> None:
    audit_table = mistake.app(Mode="enforce").context.physical["AuditTable"]["Ref"].encode()
    with inject("dynamodb.PutItem", lambda: json_error("InternalServerError", 500),
                when=lambda request: b'"TableName": "' + audit_table + b'"' in request.body), \
            record_calls() as calls:
        result = mistake.invoke(EVENT)
    assert not result.ok and result.error["errorType"] == "RetryableError"
    assert "ec2.RevokeSecurityGroupIngress" not in calls.calls
    assert WORLD_SSH in mistake.ingress_sources(mistake.acct.node_sg)


def test_rule_already_revoked_by_someone_else_is_done(mistake: Account) -> None:
    with inject("ec2.RevokeSecurityGroupIngress",
                lambda: ec2_error("InvalidSecurityGroupRuleId.NotFound", 400)):
        result = mistake.invoke(EVENT)
    assert result.ok and [a["status"] for a in result.response["actions"]] == ["already-gone"]
    assert mistake.alerts() == []  # nothing to tell: it is gone, and not by us


def test_api_calls_per_event(mistake: Account) -> None:
    """The read budget of one event, written down so a regression is visible."""
    with record_calls() as calls:  # cold: the hook must be there when the clients are made
        mistake.invoke(EVENT)
    ec2 = calls.names("ec2")
    assert ec2.count("ec2.DescribeSecurityGroupRules") == 1
    assert ec2.count("ec2.DescribeSecurityGroups") == 2  # the group, and the cluster SG found by its tag
    assert ec2.count("ec2.RevokeSecurityGroupIngress") == 1
    assert len(ec2) <= 6, ec2
