"""``eksguard history [--resource ID]``: what eksguard changed (and rolled back), newest first."""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from typing import Any

from eksguard.cli.common import locations

COLUMNS = ("time", "remediation_id", "rule_id", "resource_id", "action", "outcome", "actor")


def add_parser(sub: Any) -> None:
    hist = sub.add_parser("history", help="list remediations from the audit table (newest first)")
    hist.add_argument("--resource", help="only this resource (security group id, role name, cluster)")
    hist.add_argument("--format", choices=("table", "json"), default="table")
    hist.add_argument("--limit", type=int, default=50)
    hist.add_argument("--stack-name", help="read AuditTableName from this stack's outputs")
    hist.add_argument("--audit-table")
    hist.add_argument("--alert-topic-arn", help=argparse.SUPPRESS)
    hist.add_argument("--template", help="template.yaml, to find the stand-in's resources (AWS_ENDPOINT_URL)")


def records(dynamodb: Any, table: str, resource: str | None) -> Iterator[dict[str, Any]]:
    from eksguard.aws.audit import from_item

    if resource:  # the by-resource index: one query, not a scan
        pages = dynamodb.get_paginator("query").paginate(
            TableName=table, IndexName="by-resource", KeyConditionExpression="resource_id = :r",
            ExpressionAttributeValues={":r": {"S": resource}})
    else:
        pages = dynamodb.get_paginator("scan").paginate(
            TableName=table, FilterExpression="begins_with(pk, :p)",
            ExpressionAttributeValues={":p": {"S": "remediation#"}})
    for page in pages:
        for item in page.get("Items", []):
            if item.get("pk", {}).get("S", "").startswith("remediation#"):
                yield from_item(item)


def run(args: argparse.Namespace) -> int:
    from eksguard.aws.clients import Aws

    table, _ = locations(args)
    found = sorted(records(Aws().client("dynamodb"), table, args.resource),
                   key=lambda r: str(r.get("time", "")), reverse=True)[: args.limit]
    if args.format == "json":
        print(json.dumps(found, indent=2, sort_keys=True, default=str))
        return 0
    rows = [[str(r.get(c, "")) for c in COLUMNS] for r in found]
    widths = [max([len(c), *(len(row[i]) for row in rows)]) for i, c in enumerate(COLUMNS)]
    print("  ".join(c.upper().ljust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for row in rows:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)))
    if not rows:
        print("no remediations recorded" + (f" for {args.resource}" if args.resource else ""))
    return 0
