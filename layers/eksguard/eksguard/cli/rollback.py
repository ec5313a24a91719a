"""``eksguard rollback REMEDIATION_ID [--dry-run]``: restore a remediation's before-image (DESIGN section 6).

Where the audit table and alert topic are: ``--audit-table`` / ``--alert-topic-arn``, else the
environment a guard function has (``EKSGUARD_AUDIT_TABLE``, ``EKSGUARD_ALERT_TOPIC_ARN``), else the
outputs of ``--stack-name``, else — against the local stand-in (``AWS_ENDPOINT_URL``) — the template's
provisioned resources.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from eksguard.cli.common import locations

EXIT_REFUSED = 2


def add_parser(sub: Any) -> None:
    rb = sub.add_parser("rollback", help="restore the before-image of one remediation, exempt the resource "
                        "for 7 days so the guard leaves the restore alone, record it and alert")
    rb.add_argument("remediation_id")
    rb.add_argument("--dry-run", action="store_true", help="show what would be restored; change nothing")
    rb.add_argument("--force", action="store_true",
                    help="restore even though the resource changed after eksguard's change")
    rb.add_argument("--stack-name", help="read AuditTableName and AlertTopicArn from this stack's outputs")
    rb.add_argument("--audit-table")
    rb.add_argument("--alert-topic-arn")
    rb.add_argument("--exempt-tag-key", default="eksguard:exempt", help="the stack's ExemptTagKey")
    rb.add_argument("--template", help="template.yaml, to find the stand-in's resources (AWS_ENDPOINT_URL)")


def run(args: argparse.Namespace) -> int:
    from eksguard import clock
    from eksguard.aws.audit import AuditStore
    from eksguard.aws.clients import Aws
    from eksguard.pipeline.rollback import RollbackError, RollbackRequest, rollback

    table, topic = locations(args)
    aws = Aws()
    now = clock.now()
    actor = aws.client("sts").get_caller_identity()["Arn"]
    request = RollbackRequest(args.remediation_id, actor, now.date(), clock.stamp(now),
                              args.exempt_tag_key, topic, args.dry_run, args.force)
    try:
        result = rollback(aws, AuditStore(aws, table), request)
    except (RollbackError, NotImplementedError) as exc:
        print(f"eksguard rollback: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    print(json.dumps(result.to_dict(), indent=2, sort_keys=True, default=str))
    return 1 if result.status == "failed" else 0
