"""Recorded outputs of `make detect`'s two tools, trimmed to what the harness reads (and a little more), for
the unit tests of bench/detection/score.py: `eksguard scan --format json` and Prowler 5.46.0's JSON-OCSF."""

from __future__ import annotations

from typing import Any

ACCOUNT = "123456789012"
BASTION = "sg-73b019ae8026e15d1"
OFFICE_NODES = "sg-fa0c92f880857c139"
PROD_NODES = "sg-b3f015ed4975c06e5"


def _sg_arn(group: str) -> str:
    return f"arn:aws:ec2:ap-northeast-2:{ACCOUNT}:security-group/{group}"


EKSGUARD_REPORT: dict[str, Any] = {
    "account": ACCOUNT, "regions": ["ap-northeast-2", "eu-west-1"], "counts": {"critical": 1, "high": 2},
    "cloudtrail": {"ap-northeast-2": ["management-events"], "eu-west-1": ["management-events"]},
    "findings": [
        {"account": ACCOUNT, "region": "ap-northeast-2", "rule_id": "SG-002", "severity": "critical",
         "title": "World-open ingress to a protected port or all traffic", "resource_id": BASTION,
         "target_id": "sgr-d048e379c238239f2",
         "detail": "tcp/22 ingress from 0.0.0.0/0 opens protected port(s) 22 to the internet", "exempt": False},
        {"account": ACCOUNT, "region": "ap-northeast-2", "rule_id": "EK-001", "severity": "high",
         "title": "Cluster API endpoint is public and open to 0.0.0.0/0", "resource_id": "quickstart",
         "target_id": None, "detail": "the API endpoint of cluster quickstart is public and open to 0.0.0.0/0",
         "exempt": False},
        # Two findings of one rule on one group (two rules of the group): one false positive, not two.
        {"account": ACCOUNT, "region": "ap-northeast-2", "rule_id": "SG-001", "severity": "high",
         "title": "World-open ingress on an EKS cluster, control-plane or node security group",
         "resource_id": PROD_NODES, "target_id": "sgr-1", "detail": "tcp/443 ingress from 0.0.0.0/0", "exempt": False},
        {"account": ACCOUNT, "region": "ap-northeast-2", "rule_id": "SG-001", "severity": "high",
         "title": "World-open ingress on an EKS cluster, control-plane or node security group",
         "resource_id": PROD_NODES, "target_id": "sgr-2", "detail": "tcp/80 ingress from 0.0.0.0/0", "exempt": False},
    ],
}


def _prowler(check: str, status: str, uid: str, name: str, detail: str, kind: str) -> dict[str, Any]:
    return {
        "message": detail,
        "metadata": {"event_code": check, "product": {"name": "Prowler", "uid": "prowler", "vendor_name": "Prowler",
                                                      "version": "5.46.0"}, "version": "1.5.0"},
        "severity": "High", "status": "New", "status_code": status, "status_detail": detail, "status_id": 1,
        "finding_info": {"uid": f"prowler-aws-{check}-{ACCOUNT}-ap-northeast-2-{name}", "title": check},
        "resources": [{"cloud_partition": "aws", "region": "ap-northeast-2", "data": {"details": ""},
                       "group": {"name": check.split("_", 1)[0]}, "labels": [], "name": name, "type": kind,
                       "uid": uid}],
        "cloud": {"account": {"uid": ACCOUNT, "type": "AWS Account"}, "provider": "aws", "region": "ap-northeast-2"},
        "class_name": "Detection Finding", "class_uid": 2004,
    }


SSH = "ec2_securitygroup_allow_ingress_from_internet_to_tcp_port_22"
FROM_IP = "ec2_securitygroup_allow_ingress_from_internet_to_any_port_from_ip"
EKS_PUBLIC = "eks_cluster_not_publicly_accessible"
EKS_LOGGING = "eks_control_plane_logging_all_types_enabled"
INLINE_ADMIN = "iam_inline_policy_no_administrative_privileges"

PROWLER_FINDINGS: list[dict[str, Any]] = [
    _prowler(SSH, "FAIL", _sg_arn(BASTION), BASTION,
             f"Security group ops-bastion ({BASTION}) has SSH port 22 open to the Internet.", "AwsEc2SecurityGroup"),
    _prowler(SSH, "PASS", _sg_arn(OFFICE_NODES), OFFICE_NODES,
             f"Security group office-nodes ({OFFICE_NODES}) does not have SSH port 22 open to the Internet.",
             "AwsEc2SecurityGroup"),
    _prowler(FROM_IP, "FAIL", _sg_arn(OFFICE_NODES), OFFICE_NODES,
             f"Security group office-nodes ({OFFICE_NODES}) has a port open to a specific public IP address in ingress "
             "rule.", "AwsEc2SecurityGroup"),
    _prowler(EKS_PUBLIC, "PASS", f"arn:aws:eks:ap-northeast-2:{ACCOUNT}:cluster/quickstart", "quickstart",
             "EKS cluster quickstart is not publicly accessible.", "AwsEksCluster"),
    # Another problem on the same cluster: not the case's, so no "found" for it.
    _prowler(EKS_LOGGING, "FAIL", f"arn:aws:eks:ap-northeast-2:{ACCOUNT}:cluster/quickstart", "quickstart",
             "Control plane logging is not enabled for EKS cluster quickstart.", "AwsEksCluster"),
    _prowler("eks_cluster_vpc_cni_network_policy_enforced", "MANUAL",
             f"arn:aws:eks:ap-northeast-2:{ACCOUNT}:cluster/quickstart", "quickstart", "could not tell",
             "AwsEksCluster"),
    _prowler(INLINE_ADMIN, "FAIL", f"arn:aws:iam::{ACCOUNT}:role/ci-runner", "ci-runner/deploy-everything",
             "Inline policy deploy-everything attached to role ci-runner allows '*:*' administrative privileges.",
             "AwsIamPolicy"),
    # A resource the corpus did not make (moto's default VPC, say).
    _prowler("ec2_securitygroup_default_restrict_traffic", "FAIL", _sg_arn("sg-0000000000000000d"),
             "sg-0000000000000000d", "Default Security Group (sg-0000000000000000d) rules allow traffic.",
             "AwsEc2SecurityGroup"),
]

# What Prowler 5.46.0 logs when the stand-in does not serve a call (two lines of a real run).
PROWLER_LOG = (
    "2026-12-04 20:53:10,274 [File: ec2_service.py:566] \t[Module: ec2_service]\t ERROR: ap-northeast-2 -- "
    "ResponseParserError[558]: Unable to parse response (syntax error: line 1, column 0), invalid XML received. "
    "Further retries may succeed:\n"
    "b'<!doctype html>\\n<html lang=en>\\n<title>500 Internal Server Error</title>'\n"
    "2026-12-04 20:53:10,279 [File: ec2_service.py:566] \t[Module: ec2_service]\t ERROR: eu-west-1 -- "
    "ResponseParserError[558]: Unable to parse response (syntax error: line 1, column 0), invalid XML received. "
    "Further retries may succeed:\n"
    "2026-12-04 20:53:14,555 [File: eks_service.py:122] \t[Module: eks_service]\t ERROR: ap-northeast-2 -- "
    "ClientError[116]: An error occurred (404) when calling the ListAddons operation: <!doctype html>\n"
)
