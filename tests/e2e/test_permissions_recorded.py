"""The permission check sees the calls functions make in `eksguard local ...` subprocesses too (the invoke hook
is inherited through the environment), attributed to the function, with the account and region of the stack."""

from __future__ import annotations

from tests.e2e.conftest import Cli
from tests.support.permissions_check import this_test

from eksguard.local.seed import DEMO_REGION, DemoAccount

ACCOUNT = "123456789012"  # moto's default account, which the stand-in serves


def test_calls_of_a_cli_invocation_are_recorded_and_allowed(cli: Cli, demo: DemoAccount) -> None:
    cli.client("ec2").authorize_security_group_ingress(
        GroupId=demo.node_sg, IpPermissions=[{"IpProtocol": "tcp", "FromPort": 10250, "ToPort": 10250,
                                              "Ipv6Ranges": [{"CidrIpv6": "::/0"}]}])
    result = cli("local", "invoke", "SgGuardFunction", "-e", "events/sg-ingress-kubelet-ipv6-world-node.json",
                 "--parameter-overrides", "Mode=enforce")
    assert result.returncode == 0, result.stderr
    checked = this_test()
    assert checked.calls[("SgGuardFunction", "ec2.RevokeSecurityGroupIngress")] == 1
    revokes = [r.resource for f, r, _ in checked.checked if r.action == "ec2:RevokeSecurityGroupIngress"]
    assert revokes == [f"arn:aws:ec2:{DEMO_REGION}:{ACCOUNT}:security-group/{demo.node_sg}"]
    assert checked.violations == []
