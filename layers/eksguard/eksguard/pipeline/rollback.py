"""Roll back one remediation from its audit record: a pipeline of its own (read the record and the resource,
decide, restore, record, alert), dispatching on the record's ``resource_type``.

A rollback restores the before-image exactly, then keeps the guard from undoing the restore: the
resource (for an access policy: its access entry) gets the exemption tag with a date ``EXEMPT_DAYS`` out (set
*before* the restore, so the event the restore produces already finds the resource exempt). The rollback is
an audit record of its own, and an alert (``rolled-back``, or ``failed``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from eksguard.aws.audit import AuditStore
from eksguard.aws.clients import Aws
from eksguard.pipeline import rollback_access, rollback_sg, rollback_trust
from eksguard.pipeline.rollback_model import EXEMPT_DAYS, RollbackError, RollbackRequest, RollbackResult

__all__ = ["EXEMPT_DAYS", "RESTORERS", "RollbackError", "RollbackRequest", "RollbackResult", "rollback"]

Restorer = Callable[[Aws, AuditStore, Mapping[str, Any], RollbackRequest], RollbackResult]


def rollback(aws: Aws, audit: AuditStore, request: RollbackRequest) -> RollbackResult:
    record = audit.get(request.remediation_id)
    if record is None:
        raise RollbackError(f"no remediation {request.remediation_id} in the audit table")
    kind = str(record.get("resource_type") or "")
    restorer = RESTORERS.get(kind)
    if restorer is None:
        raise RollbackError(f"remediation {request.remediation_id} is of resource type {kind!r}, which eksguard "
                            f"cannot roll back (known: {', '.join(sorted(RESTORERS))})")
    if not request.dry_run and not request.alert_topic_arn:
        raise RollbackError("no alert topic: a rollback is always alerted (pass --alert-topic-arn or --stack-name)")
    return restorer(aws, audit, record, request)


RESTORERS: dict[str, Restorer] = {
    rollback_trust.RESOURCE_TYPE: rollback_trust.restore,
    rollback_sg.RESOURCE_TYPE: rollback_sg.restore,
    rollback_access.RESOURCE_TYPE: rollback_access.restore,
}
