"""Send findings to Security Hub (BatchImportFindings). They are built and checked against ASFF's required
fields in ``eksguard.alert.asff``.

BatchImportFindings answers 200 even when it rejects findings: the rejections are in the response
(``FailedFindings``). Those are raised here, so the notifier's invocation fails, Lambda retries it,
and a finding that keeps failing ends in the dead-letter queue instead of vanishing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eksguard.aws.clients import Aws

BATCH_LIMIT = 100  # findings per BatchImportFindings call


class FindingImportError(RuntimeError):
    """Security Hub did not take a finding (or it was not a valid finding to begin with)."""


def import_findings(aws: Aws, findings: Sequence[Mapping[str, Any]], region: str | None = None) -> int:
    """Import the findings; returns how many Security Hub accepted (all of them, or it raises)."""
    client = aws.client("securityhub", region)
    accepted = 0
    for start in range(0, len(findings), BATCH_LIMIT):
        batch = [dict(f) for f in findings[start:start + BATCH_LIMIT]]
        response = client.batch_import_findings(Findings=batch)
        if response.get("FailedCount"):
            failures = "; ".join(f"{f.get('Id')}: {f.get('ErrorCode')} {f.get('ErrorMessage')}"
                                 for f in response.get("FailedFindings", []))
            raise FindingImportError(f"Security Hub rejected {response['FailedCount']} finding(s): {failures}")
        accepted += int(response.get("SuccessCount", len(batch)))
    return accepted
