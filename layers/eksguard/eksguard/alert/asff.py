"""An alert as an AWS Security Finding Format (ASFF) finding, for Security Hub's BatchImportFindings.

One finding per (rule, resource, target): the same finding is updated as its state changes, so a
finding first seen in audit mode and later revoked is the same Security Hub finding. Pure: the caller
passes the clock and the partition.

Security Hub honours ``Workflow`` only in the import that creates a finding (later imports cannot
change it: that field belongs to the people triaging). So a fix sets Workflow RESOLVED, which sticks
when the fix is the first Security Hub hears of it (enforce mode), and always sets Compliance PASSED
and RecordState ARCHIVED, which Security Hub does take on update.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from eksguard.alert.dedupe import storm_key
from eksguard.alert.messages import AlertMessage
from eksguard.model import ActionKind

SCHEMA_VERSION = "2018-10-08"
# What AWS's ASFF reference lists as required (botocore's model omits Severity and Types).
REQUIRED_FIELDS = ("SchemaVersion", "Id", "ProductArn", "GeneratorId", "AwsAccountId", "Types", "CreatedAt",
                   "UpdatedAt", "Severity", "Title", "Description", "Resources")
SEVERITY_LABEL = {"info": "INFORMATIONAL", "low": "LOW", "medium": "MEDIUM", "high": "HIGH", "critical": "CRITICAL"}
TYPES_BY_FAMILY = {
    "SG": "Software and Configuration Checks/AWS Security Best Practices/Network Reachability",
    "IR": "Software and Configuration Checks/AWS Security Best Practices",
    "EK": "Software and Configuration Checks/AWS Security Best Practices",
}
# Security Hub's own resource types, by the resource part of the ARN.
RESOURCE_TYPES = (("security-group/", "AwsEc2SecurityGroup"), ("role/", "AwsIamRole"), ("cluster/", "AwsEksCluster"),
                  ("launch-template/", "AwsEc2LaunchTemplate"), ("instance/", "AwsEc2Instance"),
                  ("trail/", "AwsCloudTrailTrail"))
# Catalog rule ids (SG-001, IR-003, ...): only these are findings; a sweep summary ("SWEEP") is not.
_RULE_ID = re.compile(r"^[A-Z]{2}-\d{3}$")
# Deliberately left as they are: an exemption tag, or a rollback (which sets one).
ACCEPTED = frozenset({ActionKind.EXEMPT, ActionKind.ROLLED_BACK})
TITLE_LIMIT, DESCRIPTION_LIMIT, RECOMMENDATION_LIMIT = 256, 1024, 512


def product_arn(partition: str, region: str, account: str) -> str:
    """The account's own "default" product: the one any account may import findings into."""
    return f"arn:{partition}:securityhub:{region}:{account}:product/{account}/default"


def is_finding(message: AlertMessage) -> bool:
    """A message about one rule on one resource (not a summary): what Security Hub should hold."""
    return bool(_RULE_ID.match(message.rule_id))


def finding_id(message: AlertMessage) -> str:
    # The storm key already names rule, resource and target: one finding per thing eksguard watches.
    parts = storm_key(message).removeprefix("alert#").replace("#", "/")
    return f"eksguard/{message.account}/{message.region}/{parts}"


def build_finding(message: AlertMessage, now: datetime, partition: str = "aws",
                  hub_region: str | None = None) -> dict[str, Any]:
    """``hub_region``: where the finding is imported (the notifier's region), which the ProductArn must
    name; it can differ from the finding's own region (IAM alerts from a us-east-1 stack)."""
    fixed, accepted = message.changed, message.action in ACCEPTED
    severity = {"Label": SEVERITY_LABEL[message.severity], "Original": message.severity}
    types = [TYPES_BY_FAMILY.get(message.rule_id.split("-", 1)[0], TYPES_BY_FAMILY["IR"])]
    return {
        "SchemaVersion": SCHEMA_VERSION,
        "Id": finding_id(message),
        "ProductArn": product_arn(partition, hub_region or message.region, message.account),
        "ProductName": "eksguard",
        "CompanyName": "eksguard",
        "GeneratorId": message.rule_id,
        "AwsAccountId": message.account,
        "Region": message.region,
        "Types": types,
        "CreatedAt": _iso(message.time) or _iso_now(now),
        "UpdatedAt": _iso_now(now),
        "Severity": severity,
        # Providers should state severity and types here too: these are the fields they may update.
        "FindingProviderFields": {"Severity": severity, "Types": types},
        "Title": _cut(f"{message.rule_id} {message.title}", TITLE_LIMIT),
        "Description": _cut(message.summary + (f" {message.detail}" if message.detail else ""), DESCRIPTION_LIMIT),
        "Remediation": {"Recommendation": {"Text": _cut(_recommendation(message), RECOMMENDATION_LIMIT)}},
        "Resources": [_resource(message, partition)],
        "Compliance": {"Status": "PASSED" if fixed else "FAILED"},
        "Workflow": {"Status": "RESOLVED" if fixed else "SUPPRESSED" if accepted else "NEW"},
        "RecordState": "ARCHIVED" if fixed else "ACTIVE",
        "ProductFields": {k: v for k, v in {
            "eksguard/action": message.action, "eksguard/mode": message.mode,
            "eksguard/remediation_id": message.remediation_id, "eksguard/event_id": message.event_id,
            "eksguard/actor": message.actor,
        }.items() if v},
    }


def missing_fields(finding: Mapping[str, Any]) -> list[str]:
    """Required ASFF fields that are absent or empty (Security Hub rejects such a finding)."""
    return [name for name in REQUIRED_FIELDS if finding.get(name) in (None, "", [], {})]


def resource_type(message: AlertMessage) -> str:
    resource = message.resource_arn.split(":", 5)[5] if message.resource_arn.count(":") >= 5 else ""
    for prefix, kind in RESOURCE_TYPES:
        if resource.startswith(prefix):
            return kind
    return "AwsEc2SecurityGroup" if message.resource_id.startswith("sg-") else "Other"


def _resource(message: AlertMessage, partition: str) -> dict[str, Any]:
    return {"Type": resource_type(message), "Id": message.resource_arn or message.resource_id,
            "Partition": partition, "Region": message.region}


def _recommendation(message: AlertMessage) -> str:
    if message.changed:
        return (f"Fixed by eksguard ({message.action}, remediation {message.remediation_id}). "
                f"To undo: eksguard rollback {message.remediation_id}.")
    fix = f"Remove or narrow what {message.rule_id} flags"
    fix += f": {message.detail}." if message.detail else "."
    return f"{fix} To accept the risk instead: {message.how_to_exempt}." if message.how_to_exempt else fix


def _iso(text: str) -> str:
    """ASFF wants RFC 3339 timestamps; CloudTrail's are already (``2026-11-22T03:14:07Z``)."""
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return _iso_now(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _iso_now(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"
