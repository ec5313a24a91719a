"""CT-001's read: which trails deliver this region's management write events (and so EventBridge's)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from eksguard.aws.clients import Aws
from eksguard.snapshot.eks import TrailCoverage


def read_trail_coverage(aws: Aws, region: str) -> TrailCoverage:
    ct = aws.client("cloudtrail", region)
    # Shadow trails: multi-region and organization trails created elsewhere also cover this region.
    trails = ct.describe_trails(includeShadowTrails=True).get("trailList", [])
    logging: list[str] = []
    for trail in trails:
        if trail.get("HomeRegion") != region and not trail.get("IsMultiRegionTrail"):
            continue
        arn = trail.get("TrailARN") or trail["Name"]
        home = aws.client("cloudtrail", trail.get("HomeRegion") or region)
        if not home.get_trail_status(Name=arn).get("IsLogging"):
            continue
        if _logs_management_writes(home.get_event_selectors(TrailName=arn)):
            logging.append(trail.get("Name", arn))
    return TrailCoverage(region, tuple(sorted(logging)), tuple(sorted(t.get("Name", "?") for t in trails)))


def _logs_management_writes(selectors: Mapping[str, Any]) -> bool:
    basic = selectors.get("EventSelectors")
    advanced = selectors.get("AdvancedEventSelectors")
    if not basic and not advanced:
        return True  # a trail without selectors logs all management events (CloudTrail's default)
    for selector in basic or []:
        if selector.get("IncludeManagementEvents", True) and selector.get("ReadWriteType", "All") in (
                "All", "WriteOnly"):
            return True
    for selector in advanced or []:
        fields = {f.get("Field"): f for f in selector.get("FieldSelectors", [])}
        category = fields.get("eventCategory", {})
        read_only = fields.get("readOnly", {})
        if "Management" in category.get("Equals", []) and "true" not in read_only.get("Equals", []):
            return True
    return False
