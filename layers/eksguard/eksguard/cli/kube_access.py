"""``eksguard kube-access CLUSTER``: let eksguard's reading roles read the cluster's Kubernetes API (docs/incluster.md).

Creates, for each reading role, an EKS access entry (type STANDARD) in the Kubernetes group ``eksguard:readers`` -
no access policy: the group gets exactly what the RBAC manifest eksguard ships binds to it - and prints that
manifest on standard output, to apply with ``kubectl apply -f -``. What was done goes to standard error. The roles:
``--role-arn`` (repeatable), else the sweep's and KubeGuardFunction's roles of the stack ``--stack-name``.
Idempotent: an entry that exists already is fine (the group is added to it if missing). ``--print-only`` changes
nothing and prints the commands instead."""

from __future__ import annotations

import argparse
import shlex
import sys
from typing import Any, TextIO

from eksguard.cli.errors import CliError, check_region
from eksguard.manifests import READER_GROUP, reader_manifest

# The template's functions that read clusters; SAM names each function's role <LogicalId>Role.
READING_FUNCTIONS = ("SweepFunction", "KubeGuardFunction")
PLACEHOLDER = "<reading role ARN>"


def add_parser(sub: Any) -> None:
    p = sub.add_parser("kube-access", help="create the EKS access entry (Kubernetes group eksguard:readers) for "
                       "eksguard's reading roles on a cluster and print the read-only RBAC manifest for kubectl")
    p.add_argument("cluster")
    p.add_argument("--region", help="the cluster's region (default: the current region)")
    p.add_argument("--role-arn", action="append", dest="role_arns", metavar="ARN",
                   help="an IAM role that reads the cluster (repeatable); default: the roles of the stack's "
                        "SweepFunction and KubeGuardFunction")
    p.add_argument("--stack-name", default="eksguard", help="the eksguard stack in that region (default: eksguard)")
    p.add_argument("--print-only", action="store_true",
                   help="change nothing: print the manifest and the access-entry commands to run")


def run(args: argparse.Namespace, out: TextIO | None = None, err: TextIO | None = None, session: Any = None) -> int:
    import boto3

    from eksguard.aws.clients import Aws

    out, err = out or sys.stdout, err or sys.stderr
    session = session or boto3.session.Session()
    region = args.region or session.region_name
    if not region:
        raise CliError("no AWS region: pass --region or set AWS_DEFAULT_REGION")
    check_region(region)
    aws = Aws(region, session)
    roles = list(dict.fromkeys(args.role_arns or [])) or _stack_roles(aws, region, args.stack_name, args.print_only)
    for role in roles:
        if role != PLACEHOLDER and not _is_role_arn(role):
            raise CliError(f"--role-arn {role!r} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>); for "
                           "assumed-role sessions give the role's ARN, not the session's")
    if args.print_only:
        err.write(f"# nothing changed (--print-only); on cluster {args.cluster} ({region}) run:\n")
        for role in roles:
            err.write(f"{_command(args.cluster, region, role)}\n")
    else:
        _require_access_entries(aws, region, args.cluster)
        for role in roles:
            err.write(f"access entry for {role} on cluster {args.cluster} ({region}): "
                      f"{ensure_entry(aws, region, args.cluster, role)}\n")
    err.write(f"# then apply the read-only RBAC the group {READER_GROUP} is bound to (on standard output): "
              f"eksguard kube-access ... | kubectl apply -f -\n")
    out.write(reader_manifest())
    return 0


def _is_role_arn(value: str) -> bool:
    parts = value.split(":", 5)
    return len(parts) == 6 and parts[0] == "arn" and parts[2] == "iam" and parts[4].isdigit() \
        and parts[5].startswith("role/") and len(parts[5]) > len("role/")


def _command(cluster: str, region: str, role: str) -> str:
    return (f"aws eks create-access-entry --cluster-name {shlex.quote(cluster)} --region {region} --principal-arn "
            f"{shlex.quote(role)} --type STANDARD --kubernetes-groups {READER_GROUP}")


def _stack_roles(aws: Any, region: str, stack: str, print_only: bool) -> list[str]:
    """The roles of the stack's reading functions (a stack deployed with ReadKubernetes=false has no
    KubeGuardFunction); without a stack, --print-only prints a placeholder and anything else is an error."""
    from botocore.exceptions import ClientError

    cfn, iam = aws.client("cloudformation", region), aws.client("iam")
    found: list[str] = []
    for function in READING_FUNCTIONS:
        try:
            resource = cfn.describe_stack_resource(StackName=stack, LogicalResourceId=f"{function}Role")
        except ClientError as exc:
            message = str(exc.response.get("Error", {}).get("Message", ""))
            if "does not exist" not in message:
                raise
            if message.startswith("Resource"):  # "Resource X does not exist for stack Y": not deployed there
                continue
            if print_only:  # "Stack with id Y does not exist"
                return [PLACEHOLDER]
            raise CliError(f"stack {stack} not found in {region}, so its reading roles are unknown: pass "
                           "--role-arn ARN (repeatable) or --stack-name NAME") from None
        name = resource["StackResourceDetail"]["PhysicalResourceId"]
        found.append(str(iam.get_role(RoleName=name)["Role"]["Arn"]))
    if not found:
        raise CliError(f"stack {stack} has neither {' nor '.join(f'{f}Role' for f in READING_FUNCTIONS)}: pass "
                       "--role-arn ARN")
    return found


def _require_access_entries(aws: Any, region: str, cluster: str) -> None:
    """Access entries need API or API_AND_CONFIG_MAP authentication; say what to do instead of AWS's refusal."""
    found = aws.client("eks", region).describe_cluster(name=cluster)["cluster"]
    mode = (found.get("accessConfig") or {}).get("authenticationMode", "CONFIG_MAP")
    if mode == "CONFIG_MAP":
        raise CliError(f"cluster {cluster} authenticates with aws-auth only (CONFIG_MAP), which has no access "
                       f"entries: switch it to API_AND_CONFIG_MAP (aws eks update-cluster-config --name {cluster} "
                       f"--region {region} --access-config authenticationMode=API_AND_CONFIG_MAP), or map each "
                       f"reading role in aws-auth mapRoles with groups [{READER_GROUP}] (the ARN without its path)")


def ensure_entry(aws: Any, region: str, cluster: str, role: str) -> str:
    """Create the access entry, or make an existing one carry the reader group; what was done."""
    from botocore.exceptions import ClientError

    from eksguard.aws.clients import error_code

    eks = aws.client("eks", region)
    try:
        eks.create_access_entry(clusterName=cluster, principalArn=role, kubernetesGroups=[READER_GROUP],
                                type="STANDARD")
        return f"created (type STANDARD, Kubernetes group {READER_GROUP}, no access policy)"
    except ClientError as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
    entry = eks.describe_access_entry(clusterName=cluster, principalArn=role)["accessEntry"]
    if entry.get("type", "STANDARD") != "STANDARD":
        raise CliError(f"{role} already has a {entry['type']} access entry on {cluster}: a node entry cannot carry "
                       f"Kubernetes groups; read with another role")
    groups = list(entry.get("kubernetesGroups") or [])
    if READER_GROUP in groups:
        return f"already there (groups {', '.join(groups)})"
    eks.update_access_entry(clusterName=cluster, principalArn=role, kubernetesGroups=[*groups, READER_GROUP])
    return f"existed; group {READER_GROUP} added to {', '.join(groups) or 'no groups'}"
