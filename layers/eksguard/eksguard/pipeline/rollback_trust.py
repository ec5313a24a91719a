"""Roll back a trust rewrite: put the whole previous trust document back, after tagging the role exempt for
a while so the IRSA guard does not rewrite the restore again."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from botocore.exceptions import ClientError

from eksguard.alert.publish import publish
from eksguard.alert.rollback import rollback_message
from eksguard.apply.irsa import DONE as TRUST_DONE
from eksguard.apply.irsa import RESOURCE_TYPE as TRUST
from eksguard.aws import iam
from eksguard.aws.audit import AuditRecord, AuditStore
from eksguard.aws.clients import Aws, error_code
from eksguard.pipeline.rollback_model import EXEMPT_DAYS, RollbackError, RollbackRequest, RollbackResult

RESOURCE_TYPE = TRUST
ROLLBACK_NAMESPACE = uuid.UUID("9a4c2d1e-6b3f-4e8a-a5c7-1f0e2d3b4c59")


def restore(aws: Aws, audit: AuditStore, record: Mapping[str, Any], request: RollbackRequest) -> RollbackResult:
    rid, name = request.remediation_id, str(record.get("resource_id"))
    before, written = record.get("before_image"), record.get("after_image")
    if record.get("outcome") == "rolled-back":
        raise RollbackError(f"remediation {rid} was already rolled back")
    if record.get("outcome") != TRUST_DONE or not isinstance(before, dict):
        raise RollbackError(f"remediation {rid} has outcome {record.get('outcome')!r}: eksguard did not change "
                            "the trust policy, so there is nothing to roll back")
    role = iam.read_role(aws, name)
    if role is None:
        raise RollbackError(f"role {name} no longer exists")
    base = RollbackResult(rid, TRUST, name, "already-restored", restored=before, replaced=dict(role.document))
    if role.document == before:
        return base
    if role.document != written and not request.force:
        raise RollbackError(f"the trust policy of {name} changed after eksguard rewrote it: restoring would discard "
                            "that change too. Compare `replaced` and `restored` with --dry-run, then re-run with "
                            "--force to restore anyway")
    until = (request.today + timedelta(days=EXEMPT_DAYS)).isoformat()
    if request.dry_run:
        return RollbackResult(rid, TRUST, name, "would-roll-back", None, before, dict(role.document), until)
    rollback_id = str(uuid.uuid5(ROLLBACK_NAMESPACE, f"{rid}|{request.time}"))
    audit.begin(AuditRecord(
        remediation_id=rollback_id, resource_type=TRUST, resource_id=name, resource_arn=role.arn,
        rule_id=str(record.get("rule_id", "")), event_id=f"rollback:{rid}", actor=request.actor, time=request.time,
        account=str(record.get("account", "")), region=str(record.get("region", "")),
        mode=str(record.get("mode", "")), action="rolled-back", before=dict(role.document), after=before))
    previous_tag = role.tags.get(request.exempt_tag_key)
    try:
        iam.tag_role(aws, name, request.exempt_tag_key, until)
        iam.update_trust(aws, name, before)
        now = iam.read_role(aws, name)
        error = None if now is not None and now.document == before else (
            "the role's trust differs from the before-image after the restore")
    except ClientError as exc:
        error = f"{exc.operation_name} failed: {error_code(exc)}"
    if error is not None:
        error += _put_back_tag(aws, name, request.exempt_tag_key, previous_tag)
    status = "failed" if error else "rolled-back"
    audit.finish(rollback_id, status, None if error else before, error)
    if not error:  # the remediation itself now reads as undone (its after-image is kept for the record)
        audit.finish(rid, "rolled-back", written if isinstance(written, dict) else None)
    note = f"role {name} tagged {request.exempt_tag_key}={until} so eksguard leaves the restored trust alone"
    publish(aws, request.alert_topic_arn, rollback_message(
        record, rollback_id, status, error, dict(role.document), None if error else before, request.actor,
        request.time, note), request.storm)
    return RollbackResult(rid, TRUST, name, status, rollback_id, before, dict(role.document), until, error)


def _put_back_tag(aws: Aws, role: str, key: str, previous: str | None) -> str:
    """A failed restore must not leave the role exempt for a week: put the tag back as it was. Returns
    what to add to the error when even that fails."""
    try:
        if previous is None:
            iam.untag_role(aws, role, key)
        else:
            iam.tag_role(aws, role, key, previous)
    except ClientError as exc:
        return f"; and the tag {key} could not be put back ({error_code(exc)}): check it on role {role}"
    return ""
