"""A valid alert to vary in tests: the security-group guard's revoke of world-open SSH."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from eksguard.alert.messages import AlertMessage


def message(**overrides: Any) -> AlertMessage:
    base = AlertMessage(
        rule_id="SG-002", severity="critical", title="World-open ingress to a protected port",
        resource_id="sg-0123456789abcdef0", resource_arn="arn:aws:ec2:ap-northeast-2:123456789012:security-group/"
        "sg-0123456789abcdef0", account="123456789012", region="ap-northeast-2", mode="enforce", action="revoked",
        remediation_id="f6db0e44-cd95-558d-9af9-07f917c2ea2d", event_id="3f6f0a52-1c5e-4e0b-9a61-0b1d2c3e4f01",
        actor="arn:aws:sts::123456789012:assumed-role/PlatformAdmin/jane@example.com", time="2026-11-20T09:00:05Z",
        before={"SecurityGroupRuleId": "sgr-1", "CidrIpv4": "0.0.0.0/0", "FromPort": 22}, after=None,
        summary="SG-002 on demo-nodes: eksguard revoked tcp/22 ingress from 0.0.0.0/0.",
        how_to_exempt="tag sg-0123456789abcdef0 with eksguard:exempt=true or eksguard:exempt=YYYY-MM-DD",
    )
    return replace(base, **overrides)
