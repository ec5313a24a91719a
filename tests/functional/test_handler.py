"""The handler shape every function shares (eksguard/handler.py), under the real handlers: the metrics each
function emits, the correlation id on its log lines, and the library's own log lines in the same JSON."""

from __future__ import annotations

import json
from typing import Any

from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.botocore_hooks import inject, json_error

from eksguard.local.demo import SCENARIOS
from eksguard.local.invoke import Invocation, invoke

EVENT = "sg-ingress-ssh-world-grouped-node"


def _lines(run: Invocation) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.logs.splitlines() if line.startswith("{")]


def _metrics(run: Invocation) -> set[str]:
    return {m["Name"] for line in _lines(run) if "_aws" in line
            for m in line["_aws"]["CloudWatchMetrics"][0]["Metrics"]}


def _event(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / f"{name}.json").read_text())


def test_the_security_group_guard_counts_and_logs_with_the_event_id(account: Account) -> None:
    SCENARIOS[0].mistake(account.ec2, account.acct)
    run = account.invoke(EVENT)
    assert run.ok, run.error
    assert _metrics(run) == {"EventsProcessed", "Findings", "Revoked", "Failed"}
    (handled,) = [line for line in _lines(run) if line.get("message") == "event handled"]
    assert handled["correlation_id"] == _event(EVENT)["detail"]["eventID"]
    assert handled["service"] == "sg-guard" and handled["location"].startswith("lambda_handler:")


def test_a_rejected_event_is_logged_as_an_error_and_counted(account: Account) -> None:
    broken = _event(EVENT)
    del broken["detail"]["eventName"]
    run = account.invoke(broken)
    assert run.ok and run.response["status"] == "rejected"
    assert _metrics(run) == {"EventsRejected", "Findings", "Revoked", "Failed"}
    (rejected,) = [line for line in _lines(run) if line.get("message") == "event rejected"]
    assert rejected["level"] == "ERROR" and rejected["reason"] == run.response["reason"]


def test_every_invocation_of_a_warm_handler_has_its_own_log_lines(account: Account) -> None:
    first = account.invoke(EVENT)
    again = _event(EVENT)
    again["detail"]["eventID"] = "b2f1c0de-0000-4000-8000-000000000001"
    second = account.invoke(again)
    assert first.cold and not second.cold
    for run, event_id in ((first, _event(EVENT)["detail"]["eventID"]), (second, again["detail"]["eventID"])):
        assert [line["correlation_id"] for line in _lines(run) if line.get("message") == "event handled"] == [
            event_id]


def test_library_log_lines_are_the_functions_json_with_the_correlation_id(account: Account) -> None:
    SCENARIOS[0].mistake(account.ec2, account.acct)
    account.app(Mode="enforce")  # provision before the fault starts
    # The storm window cannot be claimed: the alert goes out anyway, and the library says why, in a warning.
    with inject("dynamodb.UpdateItem", lambda: json_error("AccessDeniedException", 400),
                when=lambda request: b'"alert#' in (request.body or b"")):
        run = account.invoke(EVENT)
    assert run.ok, run.error
    assert [a["action"] for a in account.alerts()] == ["revoked"]
    library = [line for line in _lines(run) if str(line.get("name", "")).startswith("eksguard.")]
    assert library, run.logs
    for line in library:
        assert line["level"] == "WARNING" and line["service"] == "sg-guard"
        assert line["correlation_id"] == _event(EVENT)["detail"]["eventID"]


def test_the_sweep_counts_its_findings_and_trims_its_response(account: Account) -> None:
    run = invoke(account.app(Mode="enforce"), "SweepFunction", _event("scheduled-sweep"))
    assert run.ok, run.error
    assert _metrics(run) == {"SweepOpenFindings", "SweepNewFindings", "Remediated", "Failed"}
    assert run.response["actions_total"] >= len(run.response["actions"])
    (done,) = [line for line in _lines(run) if line.get("message") == "sweep done"]
    assert "actions" not in done and done["correlation_id"] == _event("scheduled-sweep")["id"]


def test_the_cluster_guard_counts_changes_made(account: Account) -> None:
    run = invoke(account.app(Mode="enforce"), "ClusterGuardFunction", _event("eks-update-cluster-config-logging-off"))
    assert run.ok, run.error
    assert _metrics(run) == {f"Events{run.response['status'].capitalize()}", "Findings", "Remediated", "Failed"}


def test_the_rollback_function_logs_its_payload_and_counts_nothing(account: Account) -> None:
    run = invoke(account.app(), "RollbackFunction", {"remediation_id": "no-such-remediation"})
    assert run.ok and run.response["status"] == "refused"
    assert _metrics(run) == set()
    lines = _lines(run)
    assert {"remediation_id": "no-such-remediation"} in [line.get("message") for line in lines]  # log_event
    assert [line["level"] for line in lines if line.get("message") == "rollback refused"] == ["WARNING"]
