"""The sweep state (the findings open after a region's last sweep) on moto's DynamoDB, in the template's audit
table: packed into as few items as fit, replaced whole by each save, and read from the earlier one-item-per-finding
layout too, which the next save removes."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import boto3
import pytest
from tests.functional.conftest import Account
from tests.paths import EVENTS
from tests.support.botocore_hooks import record_calls

from eksguard.aws import audit as audit_api
from eksguard.aws.audit import AuditStore, AuditWriteError, SweepState
from eksguard.aws.clients import Aws
from eksguard.local.invoke import invoke
from eksguard.local.seed import DEMO_REGION

REGION = DEMO_REGION


def _store(account: Account) -> tuple[AuditStore, str]:
    table = str(account.app().context.physical["AuditTable"]["Ref"])
    aws = Aws(home_region=REGION, session=boto3.session.Session(region_name=REGION))
    return AuditStore(aws, table), table


def _finding(i: int) -> dict[str, str]:
    """What the sweep stores for one finding (pipeline/sweep.py _state_item), at its real size."""
    return {"state": f"{i:032x}", "rule_id": "SG-005", "severity": "MEDIUM", "subject": f"sg-{i:017x}",
            "target": f"sgr-{i:017x}", "action": "alerted", "first_seen": "2026-12-05T03:00:00Z",
            "last_seen": "2026-12-05T09:00:00Z", "sweep_id": "8d2e4f6a-1b3c-4d5e-9f7a-2b4c6d8e0f13"}


def _fingerprint(i: int) -> str:
    return f"{i:032x}"[::-1]


def _items(account: Account, table: str) -> list[dict[str, Any]]:
    answer = account.session.client("dynamodb").query(
        TableName=table, KeyConditionExpression="pk = :pk", ExpressionAttributeValues={":pk": {"S": f"sweep#{REGION}"}})
    return list(answer["Items"])


def test_hundreds_of_findings_fit_in_one_item_and_come_back_unchanged(account: Account) -> None:
    findings = {_fingerprint(i): _finding(i) for i in range(600)}  # about 360 bytes each
    with record_calls() as calls:  # botocore's handlers are copied into a client when it is made: made inside
        store, table = _store(account)
        store.save_sweep_state(REGION, findings, SweepState({}))
    assert Counter(calls.names("dynamodb")) == {"dynamodb.BatchWriteItem": 1}
    items = _items(account, table)
    assert len(items) == 1 and len(items[0]["findings"]["S"].encode()) < audit_api.STATE_ITEM_BYTES
    state = store.sweep_state(REGION)
    assert state.findings == findings and state.keys == ("findings#00000",)


def test_past_the_item_limit_the_state_spreads_over_items_each_under_it(account: Account,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    store, table = _store(account)
    monkeypatch.setattr(audit_api, "STATE_ITEM_BYTES", 20_000)  # about 60 findings an item
    findings = {_fingerprint(i): _finding(i) for i in range(500)}
    store.save_sweep_state(REGION, findings, SweepState({}))
    items = _items(account, table)
    assert len(items) > 1 and all(len(i["findings"]["S"].encode()) <= 20_000 for i in items)
    assert store.sweep_state(REGION).findings == findings

    # Fewer open findings next time: the items no longer needed are deleted, the rest replaced.
    fewer = {fp: {**attrs, "last_seen": "2026-12-05T15:00:00Z"} for fp, attrs in list(findings.items())[:70]}
    store.save_sweep_state(REGION, fewer, store.sweep_state(REGION))
    assert len(_items(account, table)) == 2
    assert store.sweep_state(REGION).findings == fewer

    store.save_sweep_state(REGION, {}, store.sweep_state(REGION))  # everything resolved
    assert _items(account, table) == [] and store.sweep_state(REGION) == SweepState({}, ())


def test_the_earlier_layout_is_read_and_replaced(account: Account) -> None:
    store, table = _store(account)
    ddb = account.session.client("dynamodb")
    for i in range(3):  # as sweeps stored it before the packing: one item per finding
        ddb.put_item(TableName=table, Item={"pk": {"S": f"sweep#{REGION}"}, "sk": {"S": f"finding#{_fingerprint(i)}"},
                                            "fingerprint": {"S": _fingerprint(i)},
                                            **{k: {"S": v} for k, v in _finding(i).items()}})
    state = store.sweep_state(REGION)
    assert state.findings == {_fingerprint(i): {"fingerprint": _fingerprint(i), **_finding(i)} for i in range(3)}
    now = {_fingerprint(i): _finding(i) for i in (1, 2, 3)}  # 0 resolved, 3 new
    store.save_sweep_state(REGION, now, state)
    assert [i["sk"]["S"] for i in _items(account, table)] == ["findings#00000"]
    assert store.sweep_state(REGION).findings == now


def test_a_finding_too_big_for_an_item_is_refused_and_nothing_is_written(account: Account,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    store, table = _store(account)
    monkeypatch.setattr(audit_api, "STATE_ITEM_BYTES", 300)
    with pytest.raises(AuditWriteError, match="over 300"):
        store.save_sweep_state(REGION, {_fingerprint(0): _finding(0)}, SweepState({}))
    assert _items(account, table) == []


def test_the_sweep_keeps_its_open_findings_in_one_packed_item(account: Account) -> None:
    """The sweep itself (its "only new or changed" across runs is test_sweep.py's): one item, every open finding."""
    event = {**json.loads((EVENTS / "scheduled-sweep.json").read_text()), "id": "5c0a3e1f-7b2d-4c6e-8a9f-1d3b5c7e9a01"}
    app = account.app(ReadKubernetes="false")
    with record_calls() as calls:
        result = invoke(app, "SweepFunction", event)
    assert result.ok, result.error
    table = str(app.context.physical["AuditTable"]["Ref"])
    items = _items(account, table)
    assert [i["sk"]["S"] for i in items] == ["findings#00000"]
    assert len(json.loads(items[0]["findings"]["S"])) == result.response["extra"]["open"] > 0
    assert "dynamodb.Query" in calls.names("dynamodb")
