"""Loop proof: the CloudTrail event eksguard's own revoke produces is dropped by the template's
pattern, and if forced through anyway, by the code."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.conftest import Cli
from tests.paths import EVENTS, TEMPLATE

from eksguard.local.seed import DemoAccount
from eksguard.local.template import load_template


def _own_revoke_event(group_id: str, rule_id: str) -> dict:  # type: ignore[type-arg]
    """What CloudTrail records when the deployed SgGuardFunction revokes ``rule_id``."""
    role_path = load_template(TEMPLATE)["Resources"]["SgGuardFunction"]["Properties"]["RolePath"]
    role = f"eksguard-SgGuardFunctionRole-7QX2LOCAL{role_path.count('/')}"
    base = json.loads((EVENTS / "sg-revoke-by-eksguard-itself.json").read_text())
    detail = base["detail"]
    detail["eventID"] = "0c1f0d55-loop-proof"
    detail["requestParameters"] = {"groupId": group_id,
                                   "securityGroupRuleIds": {"items": [{"securityGroupRuleId": rule_id}]}}
    issuer = detail["userIdentity"]["sessionContext"]["sessionIssuer"]
    issuer["arn"] = f"arn:aws:iam::123456789012:role{role_path}{role}"
    issuer["userName"] = role
    detail["userIdentity"]["arn"] = f"arn:aws:sts::123456789012:assumed-role/{role}/SgGuardFunction"
    return base


def test_own_remediation_does_not_trigger_itself(cli: Cli, demo: DemoAccount, tmp_path: Path) -> None:
    cli.client("ec2").authorize_security_group_ingress(
        GroupId=demo.node_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                              "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
    first = cli("local", "replay", str(EVENTS / "sg-ingress-ssh-world-grouped-node.json"), "--json",
                "--parameter-overrides", "Mode=enforce")
    assert first.returncode == 0, first.stderr
    (action,) = json.loads(first.stdout)["deliveries"][0]["response"]["actions"]
    assert action["action"] == "revoked"

    echo = tmp_path / "own-revoke.json"
    echo.write_text(json.dumps(_own_revoke_event(demo.node_sg, action["target_id"])))
    replayed = cli("local", "replay", str(echo), "--parameter-overrides", "Mode=enforce")
    assert replayed.returncode == 1 and "no rule matches" in replayed.stdout  # dropped by the pattern

    forced = cli("local", "invoke", "SgGuardFunction", "-e", str(echo), "--parameter-overrides", "Mode=enforce")
    assert forced.returncode == 0, forced.stderr
    response = json.loads(forced.stdout)
    assert response["status"] == "skipped" and "loop guard" in response["reason"]  # and by the code
