"""Launch templates and instances that nodes run from: their metadata options (reads), and the one
write EK-004 allows: a new template version requiring IMDSv2 with hop limit 1."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from botocore.exceptions import ClientError

from eksguard.aws.clients import Aws, error_code
from eksguard.snapshot.eks import MetadataOptions, NodeGroupRef, NodeInstance, NodeTemplate

NOT_FOUND_CODES = frozenset({"InvalidLaunchTemplateId.NotFound", "InvalidLaunchTemplateName.NotFoundException",
                             "InvalidLaunchTemplateId.Malformed", "InvalidInstanceID.NotFound"})
VERSION_GONE_CODES = NOT_FOUND_CODES | {"InvalidLaunchTemplateId.VersionNotFound"}
# Tags that mark a template (or instance) as one nodes of a cluster launch from.
NODE_TAG_PREFIXES = ("kubernetes.io/cluster/",)
NODE_TAG_KEYS = ("eks:cluster-name", "karpenter.k8s.aws/cluster")
# EKS copies a node group's template into one of its own, tagged so: the customer's copy is the one to check.
EKS_OWNED_TAG = "eks:nodegroup-name"


def is_node_tagged(tags: Mapping[str, str]) -> bool:
    return any(k.startswith(NODE_TAG_PREFIXES) or k in NODE_TAG_KEYS for k in tags)


def cluster_of(tags: Mapping[str, str]) -> str | None:
    for key, value in tags.items():
        if key.startswith(NODE_TAG_PREFIXES):
            return key.removeprefix("kubernetes.io/cluster/")
        if key in NODE_TAG_KEYS:
            return value
    return None


def describe_templates(aws: Aws, region: str, ids: Iterable[str] = (), names: Iterable[str] = (),
                       everything: bool = False) -> dict[str, Mapping[str, Any]]:
    """Launch templates by id or name (those deleted since are simply absent), or all of the region."""
    ec2 = aws.client("ec2", region)
    out: dict[str, Mapping[str, Any]] = {}
    paginator = ec2.get_paginator("describe_launch_templates")
    if everything:
        for page in paginator.paginate():
            out.update({lt["LaunchTemplateId"]: lt for lt in page.get("LaunchTemplates", [])})
    # One id or name a call: DescribeLaunchTemplates fails as a whole when any one of them is gone.
    requests = [{"LaunchTemplateIds": [i]} for i in sorted(set(ids))]
    requests += [{"LaunchTemplateNames": [n]} for n in sorted(set(names))]
    for request in requests:
        try:
            found = ec2.describe_launch_templates(**request).get("LaunchTemplates", [])
        except ClientError as exc:
            if error_code(exc) in NOT_FOUND_CODES:
                continue
            raise
        out.update({lt["LaunchTemplateId"]: lt for lt in found})
    return out


def templates_with_groups(aws: Aws, region: str, group_ids: Iterable[str]) -> frozenset[str]:
    """Templates whose default or latest version puts instances in one of ``group_ids`` (a node or cluster
    security group): node templates, whether or not a node group uses them yet. One paged read of the region
    (DescribeLaunchTemplateVersions without a template id takes $Default and $Latest of every template)."""
    wanted = set(group_ids)
    found: set[str] = set()
    pages = aws.client("ec2", region).get_paginator("describe_launch_template_versions").paginate(
        Versions=["$Default", "$Latest"])
    for version in (v for page in pages for v in page.get("LaunchTemplateVersions", [])):
        data = version.get("LaunchTemplateData") or {}
        groups = set(data.get("SecurityGroupIds", [])) | {g for nic in data.get("NetworkInterfaces", [])
                                                          for g in nic.get("Groups", [])}
        if groups & wanted:
            found.add(version["LaunchTemplateId"])
    return frozenset(found)


def read_node_templates(aws: Aws, region: str, node_groups: Iterable[NodeGroupRef],
                        templates: Mapping[str, Mapping[str, Any]],
                        extra_versions: Mapping[str, Iterable[int]] | None = None) -> tuple[NodeTemplate, ...]:
    """The versions nodes launch from: each version a node group resolves to, the default version of
    every template given, and any ``extra_versions`` (a version an event just created)."""
    ec2 = aws.client("ec2", region)
    by_template: dict[str, list[NodeGroupRef]] = {}
    for ref in node_groups:
        by_template.setdefault(ref.template_id, []).append(ref)
    out: list[NodeTemplate] = []
    for template_id, lt in sorted(templates.items()):
        default, latest = int(lt["DefaultVersionNumber"]), int(lt["LatestVersionNumber"])
        users: dict[int, list[NodeGroupRef]] = {default: []}
        for ref in by_template.get(template_id, []):
            resolved = default if ref.version_spec == "$Default" else latest if ref.version_spec == "$Latest" \
                else int(ref.version_spec)
            users.setdefault(resolved, []).append(ref)
        for extra in (extra_versions or {}).get(template_id, ()):
            users.setdefault(extra, [])
        tags = {t["Key"]: t.get("Value", "") for t in lt.get("Tags", [])}
        for version in _versions(ec2, template_id, sorted(users)):
            number = int(version["VersionNumber"])
            options = (version.get("LaunchTemplateData") or {}).get("MetadataOptions") or {}
            out.append(NodeTemplate(template_id, lt.get("LaunchTemplateName", ""), number, number == default,
                                    MetadataOptions.from_api(options), tuple(users.get(number, [])), tags,
                                    version.get("VersionDescription", ""), dict(options)))
    return tuple(out)


def _versions(ec2: Any, template_id: str, numbers: list[int]) -> list[Mapping[str, Any]]:
    """The versions asked for; one that was deleted meanwhile (or the whole template) is simply absent."""
    try:
        response = ec2.describe_launch_template_versions(LaunchTemplateId=template_id,
                                                         Versions=[str(v) for v in numbers])
        return list(response.get("LaunchTemplateVersions", []))
    except ClientError as exc:
        code = error_code(exc)
        if code not in VERSION_GONE_CODES:
            raise
    if len(numbers) == 1 or code != "InvalidLaunchTemplateId.VersionNotFound":
        return []
    return [v for n in numbers for v in _versions(ec2, template_id, [n])]


def find_version(aws: Aws, region: str, template_id: str, description: str) -> int | None:
    """A version already carrying ``description`` (eksguard's own earlier fix), if any."""
    pages = aws.client("ec2", region).get_paginator("describe_launch_template_versions").paginate(
        LaunchTemplateId=template_id)
    for page in pages:
        for version in page.get("LaunchTemplateVersions", []):
            if version.get("VersionDescription") == description:
                return int(version["VersionNumber"])
    return None


def create_version(aws: Aws, region: str, template_id: str, source_version: int,
                   metadata_options: Mapping[str, Any], description: str) -> int:
    """A new version copied from ``source_version`` (SourceVersion: AWS copies everything else)."""
    response = aws.client("ec2", region).create_launch_template_version(
        LaunchTemplateId=template_id, SourceVersion=str(source_version), VersionDescription=description,
        LaunchTemplateData={"MetadataOptions": dict(metadata_options)})
    return int(response["LaunchTemplateVersion"]["VersionNumber"])


def set_default_version(aws: Aws, region: str, template_id: str, version: int) -> None:
    aws.client("ec2", region).modify_launch_template(LaunchTemplateId=template_id, DefaultVersion=str(version))


def read_node_instance(aws: Aws, region: str, instance_id: str) -> NodeInstance | None:
    """The instance's metadata options when it is a node of a cluster; None when gone or not a node."""
    ec2 = aws.client("ec2", region)
    try:
        reservations = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
    except ClientError as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    for instance in (i for r in reservations for i in r.get("Instances", [])):
        tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])}
        cluster = cluster_of(tags)
        if cluster is None or instance.get("State", {}).get("Name") in ("terminated", "shutting-down"):
            return None
        options = instance.get("MetadataOptions") or {}
        return NodeInstance(instance_id, cluster, MetadataOptions.from_api(options), dict(options))
    return None
