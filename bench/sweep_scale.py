"""Sweep wall time and API calls for N security groups on the local stand-in (in-process moto).

    python bench/sweep_scale.py               # 100, 1000, 3000 groups
    python bench/sweep_scale.py 500 2000      # other sizes

Each size gets a fresh stand-in with the demo account (clusters, node groups, launch templates) plus N
security groups in the cluster VPC: HTTPS from 10.0.0.0/8, SSH from the bastion group, and on every 20th
group SSH from 0.0.0.0/0 (SG-002, revoked: the sweep runs in enforce mode). Only the sweep itself is timed;
API calls are counted with a botocore ``before-call`` hook. Results go to docs/sweep.md by hand.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_DEFAULT_REGION": "ap-northeast-2", "AWS_REGION": "ap-northeast-2"}.items():
    os.environ[key] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.moto_api._internal import mock_random  # noqa: E402

from eksguard.aws import clients  # noqa: E402
from eksguard.aws.clients import Aws  # noqa: E402
from eksguard.config import Config  # noqa: E402
from eksguard.config_eks import EksConfig  # noqa: E402
from eksguard.local.invoke import load_app  # noqa: E402
from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, seed_demo  # noqa: E402
from eksguard.local.standin import apply_moto_patches  # noqa: E402
from eksguard.pipeline import sweep  # noqa: E402

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"
WORLD_EVERY = 20


def seed_groups(session: boto3.session.Session, vpc: str, bastion: str, count: int) -> int:
    ec2 = session.client("ec2")
    world = 0
    for i in range(count):
        group = ec2.create_security_group(GroupName=f"svc-{i:05d}", Description="bench", VpcId=vpc)["GroupId"]
        permissions = [
            {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}]},
            {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "UserIdGroupPairs": [{"GroupId": bastion}]},
        ]
        if i % WORLD_EVERY == 0:
            permissions.append({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22,
                                "IpRanges": [{"CidrIp": "0.0.0.0/0"}]})
            world += 1
        ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
    return world


def measure(count: int) -> dict[str, object]:
    apply_moto_patches()
    with mock_aws():
        clients.reset()
        session = boto3.session.Session(region_name=DEMO_REGION)
        app = load_app(TEMPLATE, {}, session)
        mock_random.seed(RANDOM_SEED)
        acct = seed_demo(session)
        world = seed_groups(session, acct.vpc_id, acct.bastion_sg, count)
        groups = len(session.client("ec2").describe_security_groups()["SecurityGroups"])
        rules = len(session.client("ec2").describe_security_group_rules()["SecurityGroupRules"])
        config = Config.from_env({"EKSGUARD_MODE": "enforce",
                                  "EKSGUARD_AUDIT_TABLE": app.context.physical["AuditTable"]["Ref"],
                                  "EKSGUARD_ALERT_TOPIC_ARN": app.context.physical["AlertTopic"]["Ref"]})
        swept = boto3.session.Session(region_name=DEMO_REGION)
        calls: Counter[str] = Counter()
        swept.events.register("before-call", lambda model, **_: calls.update([model.name]))
        event = {"id": f"bench-{count}", "detail-type": "Scheduled Event", "source": "aws.events",
                 "region": DEMO_REGION, "resources": ["arn:aws:events:ap-northeast-2:123456789012:rule/bench"]}
        started = time.perf_counter()
        result = sweep.handle(event, config, EksConfig(), Aws(DEMO_REGION, swept), datetime.now(UTC))
        elapsed = time.perf_counter() - started
        revoked = sum(1 for a in result.actions if a.action == "revoked")
        clients.reset()
    return {"groups": groups, "rules": rules, "seconds": elapsed, "calls": sum(calls.values()),
            "sg_reads": calls["DescribeSecurityGroups"], "rule_reads": calls["DescribeSecurityGroupRules"],
            "revokes": calls["RevokeSecurityGroupIngress"], "revoked": revoked, "world": world,
            "ddb": sum(n for op, n in calls.items() if op in ("PutItem", "UpdateItem", "GetItem", "Query",
                                                                 "BatchWriteItem")),
            "sns": calls["Publish"] + calls["PublishBatch"], "status": result.status}


def main(sizes: list[int]) -> None:
    print("| bulk groups | groups in region | rules | sweep wall time | API calls | DescribeSecurityGroups | "
          "DescribeSecurityGroupRules | revokes (calls / rules) | DynamoDB | SNS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in sizes:
        r = measure(size)
        assert r["status"] == "processed" and r["revoked"] == r["world"], r
        print(f"| {size:,} | {r['groups']:,} | {r['rules']:,} | {r['seconds']:.1f} s | {r['calls']:,} | "
              f"{r['sg_reads']} | {r['rule_reads']} | {r['revokes']} / {r['revoked']} | {r['ddb']:,} | {r['sns']} |",
              flush=True)


if __name__ == "__main__":
    main([int(a) for a in sys.argv[1:]] or [100, 1000, 3000])
