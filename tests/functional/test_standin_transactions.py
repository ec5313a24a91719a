"""The stand-in's DynamoDB transactions (eksguard/local/standin.py): moto's all-or-nothing kept, without moto's
backup of every table a transaction names (a deep copy per item, quadratic in the table)."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.dynamodb.models import dynamodb_backends

from eksguard.local.standin import apply_moto_patches

REGION = "ap-northeast-2"
TABLE = "AuditTable"


@pytest.fixture
def ddb() -> Iterator[Any]:
    apply_moto_patches()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"},
                                       {"AttributeName": "sk", "KeyType": "RANGE"}],
                            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"},
                                                  {"AttributeName": "sk", "AttributeType": "S"}])
        yield client


def _key(name: str) -> dict[str, Any]:
    return {"pk": {"S": f"remediation#{name}"}, "sk": {"S": "remediation"}}


def _get(ddb: Any, name: str) -> dict[str, Any] | None:
    item = ddb.get_item(TableName=TABLE, Key=_key(name)).get("Item")
    return dict(item) if item else None


def test_a_failed_transaction_leaves_every_item_as_it_was(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={**_key("kept"), "outcome": {"S": "pending"}})
    ddb.put_item(TableName=TABLE, Item={**_key("gone"), "outcome": {"S": "revoked"}})
    with pytest.raises(ddb.exceptions.TransactionCanceledException) as raised:
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**_key("new"), "outcome": {"S": "pending"}}}},
            {"Update": {"TableName": TABLE, "Key": _key("kept"), "UpdateExpression": "SET outcome = :o",
                        "ExpressionAttributeValues": {":o": {"S": "revoked"}}}},
            {"Delete": {"TableName": TABLE, "Key": _key("gone")}},
            {"Put": {"TableName": TABLE, "Item": {**_key("refused"), "outcome": {"S": "pending"}},
                     "ConditionExpression": "attribute_exists(pk)"}},
        ])
    reasons = [r["Code"] for r in raised.value.response["CancellationReasons"]]
    assert reasons == ["None", "None", "None", "ConditionalCheckFailed"]
    assert _get(ddb, "new") is None and _get(ddb, "refused") is None
    assert _get(ddb, "kept") == {**_key("kept"), "outcome": {"S": "pending"}}
    assert _get(ddb, "gone") == {**_key("gone"), "outcome": {"S": "revoked"}}
    assert ddb.scan(TableName=TABLE)["Count"] == 2


def test_a_transaction_that_goes_through_writes_every_item(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={**_key("kept"), "outcome": {"S": "pending"}})
    ddb.transact_write_items(TransactItems=[
        {"Put": {"TableName": TABLE, "Item": {**_key(f"r{i}"), "outcome": {"S": "pending"}}}} for i in range(99)
    ] + [{"Update": {"TableName": TABLE, "Key": _key("kept"), "UpdateExpression": "SET outcome = :o",
                     "ExpressionAttributeValues": {":o": {"S": "revoked"}}}}])
    assert ddb.scan(TableName=TABLE)["Count"] == 100
    assert _get(ddb, "kept") == {**_key("kept"), "outcome": {"S": "revoked"}}
    with pytest.raises(ddb.exceptions.ClientError, match="100"):  # DynamoDB's limit, still moto's to enforce
        ddb.transact_write_items(TransactItems=[
            {"Put": {"TableName": TABLE, "Item": {**_key(f"s{i}"), "outcome": {"S": "pending"}}}} for i in range(101)])


def test_a_table_copied_outside_a_transaction_is_still_a_copy(ddb: Any) -> None:
    """moto's table backups (CreateBackup, restores) deep-copy tables: that copy is untouched by the patch."""
    ddb.put_item(TableName=TABLE, Item={**_key("kept"), "outcome": {"S": "pending"}})
    table = dynamodb_backends["123456789012"][REGION].tables[TABLE]
    copied = copy.deepcopy(table)
    assert copied is not table and copied.items is not table.items
    ddb.put_item(TableName=TABLE, Item={**_key("later"), "outcome": {"S": "pending"}})
    assert sum(len(v) for v in copied.items.values()) == 1
    assert sum(len(v) for v in table.items.values()) == 2
