"""EKS calls and the EC2 launch-template / instance-metadata calls, reduced to where to look.

The payload names the cluster, node group, principal, launch template or instance; the snapshot
re-reads each of them. Principal ARNs in EKS path parameters arrive URL-encoded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from eksguard.parse.envelope import CloudTrailEvent, EventError

EKS_EVENTS = frozenset({"CreateCluster", "UpdateClusterConfig", "CreateNodegroup", "CreateAccessEntry",
                        "AssociateAccessPolicy", "DeleteCluster"})
EC2_EVENTS = frozenset({"CreateLaunchTemplate", "CreateLaunchTemplateVersion", "ModifyInstanceMetadataOptions"})
CLUSTER_GUARD_EVENTS = EKS_EVENTS | EC2_EVENTS

# EKS: 1-100 characters, starting with a letter or digit.
_CLUSTER_NAME = re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$")
_TEMPLATE_ID = re.compile(r"^lt-[0-9a-f]{8,17}$")
_INSTANCE_ID = re.compile(r"^i-[0-9a-f]{8,17}$")


@dataclass(frozen=True)
class EksChange:
    event_name: str
    cluster: str | None = None
    nodegroup: str | None = None
    principal_arn: str | None = None
    policy_arn: str | None = None
    template_id: str | None = None
    template_name: str | None = None
    template_version: int | None = None
    instance_id: str | None = None


def parse_eks_change(event: CloudTrailEvent) -> EksChange:
    name = event.context.event_name
    if name in EKS_EVENTS:
        return _eks(name, event.request, event.response)
    if name == "ModifyInstanceMetadataOptions":
        request = _unwrap(event.request, "ModifyInstanceMetadataOptionsRequest")
        instance = _first(request, "InstanceId", "instanceId")
        if instance is None or not _INSTANCE_ID.match(instance):
            raise EventError(f"{name}: requestParameters name no valid instance id ({instance!r})")
        return EksChange(name, instance_id=instance)
    if name in ("CreateLaunchTemplate", "CreateLaunchTemplateVersion"):
        return _launch_template(name, event.request, event.response)
    raise EventError(f"{name} is not a call the cluster guard handles")


def _eks(name: str, request: Mapping[str, Any], response: Mapping[str, Any]) -> EksChange:
    body = response.get("cluster") or response.get("nodegroup") or response.get("accessEntry") or {}
    if not isinstance(body, Mapping):
        raise EventError("responseElements.cluster/nodegroup/accessEntry must be an object")
    cluster = _first(request, "name", "clusterName") or _first(body, "clusterName", "name")
    if cluster is None or not _CLUSTER_NAME.match(cluster):
        raise EventError(f"{name}: no valid cluster name in requestParameters.name/clusterName ({cluster!r})")
    change = EksChange(name, cluster=cluster)
    if name == "CreateNodegroup":
        nodegroup = _first(request, "nodegroupName") or _first(body, "nodegroupName")
        if nodegroup is None:
            raise EventError("CreateNodegroup: requestParameters.nodegroupName is missing")
        return EksChange(name, cluster=cluster, nodegroup=nodegroup)
    if name in ("CreateAccessEntry", "AssociateAccessPolicy"):
        principal = _first(request, "principalArn") or _first(body, "principalArn")
        if principal is None:
            raise EventError(f"{name}: requestParameters.principalArn is missing")
        principal = unquote(principal)  # a REST path parameter: arn%3Aaws%3Aiam...
        if not principal.startswith("arn:") or principal.count(":") < 5:
            raise EventError(f"{name}: principalArn {principal!r} is not an ARN")
        policy = _first(request, "policyArn")
        return EksChange(name, cluster=cluster, principal_arn=principal,
                         policy_arn=unquote(policy) if policy else None)
    return change


def _launch_template(name: str, request: Mapping[str, Any], response: Mapping[str, Any]) -> EksChange:
    req = _unwrap(request, f"{name}Request")
    resp = _unwrap(response, f"{name}Response")
    body = resp.get("launchTemplate") or resp.get("launchTemplateVersion") or {}
    if not isinstance(body, Mapping):
        raise EventError(f"{name}: responseElements must describe the launch template as an object")
    template_id = _first(body, "launchTemplateId", "LaunchTemplateId") or _first(req, "LaunchTemplateId",
                                                                                 "launchTemplateId")
    template_name = _first(req, "LaunchTemplateName", "launchTemplateName") or _first(body, "launchTemplateName")
    if template_id is not None and not _TEMPLATE_ID.match(template_id):
        raise EventError(f"{name}: {template_id!r} is not a launch template id")
    if template_id is None and template_name is None:
        raise EventError(f"{name}: neither a launch template id nor a name says which template changed")
    version = body.get("versionNumber") if name == "CreateLaunchTemplateVersion" else None
    if version is not None and (isinstance(version, bool) or not str(version).isdigit()):
        raise EventError(f"{name}: versionNumber {version!r} is not a number")
    return EksChange(name, template_id=template_id, template_name=template_name,
                     template_version=int(version) if version is not None else None)


def _unwrap(params: Mapping[str, Any], wrapper: str) -> Mapping[str, Any]:
    """Newer EC2 APIs log a PascalCase ``<Operation>Request`` / ``<Operation>Response`` wrapper."""
    inner = params.get(wrapper, params)
    if not isinstance(inner, Mapping):
        raise EventError(f"{wrapper} must be an object")
    return inner


def _first(params: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = params.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value.strip():
            raise EventError(f"{key} must be a non-empty string, got {value!r}")
        return value
    return None
