"""The local AWS stand-in: a moto server on loopback, with the few gaps eksguard depends on filled.

Gaps filled here (moto 5.2.5), never by weakening the product:
- EKS ``describe_cluster`` has no ``resourcesVpcConfig.vpcId``; AWS always returns it. We add it from
  the cluster's subnets when the cluster is created.
- EKS ``list_nodegroups`` of a missing cluster fails with a KeyError instead of ResourceNotFoundException.
- EventBridge forwarding to another account's bus re-stamps ``account`` and ``region`` with the receiver's.
- ``clusterSecurityGroupId`` is absent too: eksguard already finds the cluster security group by the
  ``aws:eks:cluster-name`` tag (as it must for old clusters), so that gap is left open on purpose.
- DynamoDB ``TransactWriteItems`` backs up every table it names by deep-copying it, once per item: quadratic in
  the table, seconds a call on an audit table of thousands of records. Backed up by the items it touches instead.
"""

from __future__ import annotations

import copy
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _patch_cluster_basics() -> None:
    from moto.ec2.models import ec2_backends
    from moto.eks.models import EKSBackend

    original = EKSBackend.create_cluster

    def create_cluster(self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
        cluster = original(self, *args, **kwargs)
        config = cluster.resources_vpc_config
        subnets = config.get("subnetIds") or []
        if subnets and "vpcId" not in config:
            ec2 = ec2_backends[self.account_id][self.region_name]
            config["vpcId"] = ec2.get_subnet(subnets[0]).vpc_id
        return cluster

    EKSBackend.create_cluster = create_cluster  # type: ignore[method-assign]

    # moto raises a bare KeyError (a 500) for the node groups of a cluster that does not exist;
    # AWS answers ResourceNotFoundException, which eksguard handles (a cluster deleted meanwhile).
    from moto.eks.exceptions import ResourceNotFoundException

    original_list = EKSBackend.list_nodegroups

    def list_nodegroups(self: EKSBackend, cluster_name: str, *args: Any, **kwargs: Any) -> Any:
        if cluster_name not in self.clusters:
            raise ResourceNotFoundException(clusterName=cluster_name, nodegroupName=None, fargateProfileName=None,
                                            addonName=None, message=f"No cluster found for name: {cluster_name}.")
        return original_list(self, cluster_name, *args, **kwargs)

    EKSBackend.list_nodegroups = list_nodegroups  # type: ignore[method-assign]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on (host, port): the stand-in's server would fail in its thread."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server itself binds
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


@contextmanager
def moto_server(port: int | None = None, host: str = "127.0.0.1") -> Iterator[str]:
    """Run a moto server in this process (loopback unless told otherwise); yields its endpoint URL."""
    apply_moto_patches()
    import logging

    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # one line per request drowns the output

    port = port or free_port()
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def seed_random(endpoint: str, seed: int) -> None:
    """Make resource ids deterministic from here on (moto's own API, so it works for any moto server)."""
    import urllib.request

    request = urllib.request.Request(f"{endpoint}/moto-api/seed?a={seed}", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


@contextmanager
def endpoint_env(endpoint: str) -> Iterator[None]:
    """Point every boto3 client made inside the block at the stand-in."""
    keys = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    saved = {k: os.environ.get(k) for k in keys}
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# -- Cluster-posture gaps (moto 5.2.5), filled the way AWS behaves --------------------------------------
# - EKS access entries do not exist in moto: CreateAccessEntry, DescribeAccessEntry, UpdateAccessEntry,
#   ListAccessEntries, DeleteAccessEntry, AssociateAccessPolicy, DisassociateAccessPolicy and
#   ListAssociatedAccessPolicies are served here from the cluster object (principal ARNs arrive URL-encoded in
#   the path), in botocore's shapes: accessEntryArn as AWS forms it
#   (access-entry/<cluster>/<role|user>/<account>/<name>/<uuid>), createdAt/modifiedAt, associatedAt/modifiedAt,
#   accessScope with its namespaces list. Associating a policy again replaces its scope (EKS allows each policy
#   once per entry); disassociating one that is not associated is ResourceNotFoundException, as for a missing
#   entry (what AWS's API reference lists for the call).
#   TagResource, UntagResource and ListTagsForResource also take an access entry's ARN.
# - ``accessConfig`` is neither stored nor returned: a cluster created through the API without one gets
#   authenticationMode CONFIG_MAP, as AWS documents, and access calls on it are refused as AWS refuses them.
#   UpdateClusterConfig's accessConfig moves the mode one way only (CONFIG_MAP -> API_AND_CONFIG_MAP -> API).
# - UpdateClusterConfig replaced the whole resourcesVpcConfig (dropping subnets, security groups and the
#   vpcId): EKS applies only the fields sent, so the update is merged into the current config.
# - CreateLaunchTemplateVersion ignored SourceVersion: the new version now starts from the source's data.
_posture_patched = False
_ACCESS_ENTRIES = r"{0}/clusters/(?P<name>[^/]+)/access-entries"
_ACCESS_PATHS = (
    _ACCESS_ENTRIES + "$",
    _ACCESS_ENTRIES + r"/(?P<principalArn>.+)/access-policies/(?P<policyArn>.+)$",
    _ACCESS_ENTRIES + r"/(?P<principalArn>.+)/access-policies$",
    _ACCESS_ENTRIES + r"/(?P<principalArn>.+)$",
)


def apply_cluster_posture_patches() -> None:
    global _posture_patched
    if _posture_patched:
        return
    from moto.eks import urls as eks_urls
    from moto.eks.models import EKSBackend

    for path in _ACCESS_PATHS:
        eks_urls.url_paths.setdefault(path, eks_urls.response.dispatch)
    _patch_eks_responses()
    original_update = EKSBackend.update_cluster_config

    def update_cluster_config(self: EKSBackend, name: str, resources_vpc_config: dict[str, Any],
                              *args: Any, **kwargs: Any) -> Any:
        cluster = self.clusters.get(name)
        if cluster is not None and resources_vpc_config:
            resources_vpc_config = {**cluster.resources_vpc_config, **resources_vpc_config}
        return original_update(self, name, resources_vpc_config, *args, **kwargs)

    EKSBackend.update_cluster_config = update_cluster_config  # type: ignore[method-assign]
    _patch_launch_template_versions()
    _posture_patched = True


def _patch_eks_responses() -> None:
    from urllib.parse import unquote

    from moto.core.responses import ActionResult, EmptyResult
    from moto.core.utils import utcnow
    from moto.eks.exceptions import (
        InvalidParameterException,
        InvalidRequestException,
        ResourceInUseException,
        ResourceNotFoundException,
    )
    from moto.eks.models import Cluster
    from moto.eks.responses import EKSResponse
    from moto.moto_api._internal import mock_random

    Cluster.access_config = {"authenticationMode": "CONFIG_MAP",  # type: ignore[attr-defined]
                             "bootstrapClusterCreatorAdminPermissions": True}
    original_create = EKSResponse.create_cluster

    def create_cluster(self: EKSResponse) -> ActionResult:
        result = original_create(self)
        requested = self._get_param("accessConfig") or {}
        cluster = self.eks_backend.clusters[self._get_param("name")]
        cluster.access_config = {  # type: ignore[attr-defined]
            "authenticationMode": requested.get("authenticationMode", "CONFIG_MAP"),
            "bootstrapClusterCreatorAdminPermissions": requested.get("bootstrapClusterCreatorAdminPermissions",
                                                                     True)}
        return result

    original_update = EKSResponse.update_cluster_config
    modes = ("CONFIG_MAP", "API_AND_CONFIG_MAP", "API")

    def update_cluster_config(self: EKSResponse) -> ActionResult:
        requested = (self._get_param("accessConfig") or {}).get("authenticationMode")
        cluster: Any = self.eks_backend.clusters.get(self._get_param("name"))
        if requested and cluster is not None:
            current = cluster.access_config["authenticationMode"]
            if requested not in modes or modes.index(requested) < modes.index(current):
                raise InvalidParameterException(message=f"Unsupported authentication mode update from {current} to "
                                                        f"{requested}")
            cluster.access_config = {**cluster.access_config, "authenticationMode": requested}
        return original_update(self)

    def cluster_of(self: EKSResponse) -> Any:
        name = self._get_param("name")
        cluster = self.eks_backend.clusters.get(name)
        if cluster is None:
            raise ResourceNotFoundException(clusterName=name, nodegroupName=None, fargateProfileName=None,
                                            addonName=None, message=f"No cluster found for name: {name}.")
        if getattr(cluster, "access_config", {}).get("authenticationMode") == "CONFIG_MAP":
            raise InvalidRequestException(message="The cluster's authentication mode must be set to one of "
                                                  "[API, API_AND_CONFIG_MAP] to perform this operation.")
        if not hasattr(cluster, "access_entries"):
            setattr(cluster, "access_entries", {})  # noqa: B010 - moto's Cluster has no such attribute
        return cluster

    def entry_of(self: EKSResponse, cluster: Any) -> tuple[str, dict[str, Any]]:
        principal = unquote(self._get_param("principalArn"))
        if principal not in cluster.access_entries:
            raise ResourceNotFoundException(clusterName=cluster.name, nodegroupName=None, fargateProfileName=None,
                                            addonName=None, message=f"The specified principalArn could not be "
                                                                    f"found: {principal}")
        return principal, cluster.access_entries[principal]

    def create_access_entry(self: EKSResponse) -> ActionResult:
        cluster = cluster_of(self)
        principal = unquote(self._get_param("principalArn"))
        if principal in cluster.access_entries:
            raise ResourceInUseException(clusterName=cluster.name, nodegroupName=None, addonName=None,
                                         message=f"The specified access entry resource is already in use on this "
                                                 f"cluster: {principal}")
        # arn:aws:iam::<account>:role/<path/>name -> access-entry/<cluster>/role/<account>/<name>/<uuid>
        _, _, _, _, account, resource = principal.split(":", 5)
        kind, name = resource.split("/", 1)[0], resource.rsplit("/", 1)[-1]
        now = utcnow()
        entry = {"clusterName": cluster.name, "principalArn": principal,
                 "kubernetesGroups": self._get_param("kubernetesGroups") or [],
                 "accessEntryArn": f"{cluster.arn.replace(':cluster/', ':access-entry/')}/{kind}/{account}/{name}/"
                                   f"{mock_random.uuid4()}",
                 "createdAt": now, "modifiedAt": now,
                 "type": self._get_param("type") or "STANDARD", "username": principal,
                 "tags": self._get_param("tags") or {}, "policies": {}}
        cluster.access_entries[principal] = entry
        return ActionResult({"accessEntry": {k: v for k, v in entry.items() if k != "policies"}})

    def describe_access_entry(self: EKSResponse) -> ActionResult:
        _, entry = entry_of(self, cluster_of(self))
        return ActionResult({"accessEntry": {k: v for k, v in entry.items() if k != "policies"}})

    def delete_access_entry(self: EKSResponse) -> EmptyResult:
        cluster = cluster_of(self)
        principal, _ = entry_of(self, cluster)
        del cluster.access_entries[principal]
        return EmptyResult()

    def list_access_entries(self: EKSResponse) -> ActionResult:
        return ActionResult({"accessEntries": sorted(cluster_of(self).access_entries)})

    def associate_access_policy(self: EKSResponse) -> ActionResult:
        cluster = cluster_of(self)
        principal, entry = entry_of(self, cluster)
        policy = unquote(self._get_param("policyArn"))
        scope = self._get_param("accessScope") or {}
        now, earlier = utcnow(), entry["policies"].get(policy) or {}
        entry["policies"][policy] = {"policyArn": policy, "accessScope": {
            "type": scope.get("type"), "namespaces": list(scope.get("namespaces") or [])},
            "associatedAt": earlier.get("associatedAt", now), "modifiedAt": now}
        return ActionResult({"clusterName": cluster.name, "principalArn": principal,
                             "associatedAccessPolicy": entry["policies"][policy]})

    def disassociate_access_policy(self: EKSResponse) -> EmptyResult:
        cluster = cluster_of(self)
        principal, entry = entry_of(self, cluster)
        policy = unquote(self._get_param("policyArn"))
        if entry["policies"].pop(policy, None) is None:
            raise ResourceNotFoundException(clusterName=cluster.name, nodegroupName=None, fargateProfileName=None,
                                            addonName=None, message=f"The specified policyArn {policy} is not "
                                                                    f"associated with {principal}")
        return EmptyResult()

    def update_access_entry(self: EKSResponse) -> ActionResult:
        cluster = cluster_of(self)
        _, entry = entry_of(self, cluster)
        if (groups := self._get_param("kubernetesGroups")) is not None:
            entry["kubernetesGroups"] = list(groups)
        if username := self._get_param("username"):
            entry["username"] = username
        entry["modifiedAt"] = utcnow()
        return ActionResult({"accessEntry": {k: v for k, v in entry.items() if k != "policies"}})

    def list_associated_access_policies(self: EKSResponse) -> ActionResult:
        cluster = cluster_of(self)
        principal, entry = entry_of(self, cluster)
        return ActionResult({"clusterName": cluster.name, "principalArn": principal,
                             "associatedAccessPolicies": list(entry["policies"].values())})

    handlers = {"create_cluster": create_cluster, "update_cluster_config": update_cluster_config,
                "create_access_entry": create_access_entry,
                "describe_access_entry": describe_access_entry, "delete_access_entry": delete_access_entry,
                "update_access_entry": update_access_entry,
                "list_access_entries": list_access_entries, "associate_access_policy": associate_access_policy,
                "disassociate_access_policy": disassociate_access_policy,
                "list_associated_access_policies": list_associated_access_policies}
    for name, handler in handlers.items():
        setattr(EKSResponse, name, handler)
    _patch_access_entry_tags()


def _patch_access_entry_tags() -> None:
    """moto tags clusters only: an access entry's ARN is looked up among the clusters' entries first."""
    from moto.eks.models import EKSBackend

    def entry_by_arn(backend: EKSBackend, arn: str) -> dict[str, Any] | None:
        entries = (e for c in backend.clusters.values() for e in getattr(c, "access_entries", {}).values())
        return next((e for e in entries if e["accessEntryArn"] == arn), None)

    original_tag, original_untag = EKSBackend.tag_resource, EKSBackend.untag_resource
    original_list = EKSBackend.list_tags_for_resource

    def tag_resource(self: EKSBackend, resource_arn: str, tags: dict[str, str]) -> None:
        entry = entry_by_arn(self, resource_arn)
        if entry is None:
            return original_tag(self, resource_arn, tags)
        entry["tags"].update(tags)
        return None

    def untag_resource(self: EKSBackend, resource_arn: str, tag_keys: list[str]) -> None:
        entry = entry_by_arn(self, resource_arn)
        if entry is None:
            return original_untag(self, resource_arn, tag_keys)
        for key in tag_keys if isinstance(tag_keys, list) else [tag_keys]:
            entry["tags"].pop(key, None)
        return None

    def list_tags_for_resource(self: EKSBackend, resource_arn: str) -> dict[str, str]:
        entry = entry_by_arn(self, resource_arn)
        return original_list(self, resource_arn) if entry is None else dict(entry["tags"])

    EKSBackend.tag_resource = tag_resource  # type: ignore[method-assign]
    EKSBackend.untag_resource = untag_resource  # type: ignore[method-assign]
    EKSBackend.list_tags_for_resource = list_tags_for_resource  # type: ignore[method-assign]


def _patch_launch_template_versions() -> None:
    from moto.ec2.responses.launch_templates import LaunchTemplates

    original = LaunchTemplates.create_launch_template_version

    def create_launch_template_version(self: Any) -> Any:
        result = original(self)
        source = self._get_param("SourceVersion")
        if source:
            name, template_id = self._get_param("LaunchTemplateName"), self._get_param("LaunchTemplateId")
            template = (self.ec2_backend.get_launch_template(template_id) if template_id
                        else self.ec2_backend.get_launch_template_by_name(name))
            new = template.versions[-1]
            # AWS copies the source version, then applies the data given; the result references new.data.
            merged = {**template.get_version(source).data, **new.data}
            new.data.clear()
            new.data.update(merged)
        return result

    LaunchTemplates.create_launch_template_version = create_launch_template_version  # type: ignore[method-assign]




# -- IRSA gaps (moto 5.2.5), for the IRSA guard ---------------------------------------------------------
# - EKS: moto draws one OIDC issuer id when it is imported and gives it to every cluster of a region, so
#   two clusters (or a cluster and its re-creation) share an issuer. AWS gives each cluster its own. The
#   stand-in assigns a 32-hex-digit id derived from account, region, name and how many times that name
#   was created: unique per cluster and per re-creation, and the same on every run (no random draw, so
#   no seeded id moves).
# - IAM: AWS managed policies exist in every account; moto loads them (about 1,300, ~0.6 s per IAM
#   backend) only with MOTO_IAM_LOAD_MANAGED_POLICIES=true. The stand-in materialises the few EKS ones
#   from moto's own copy when its IAM backend starts, so AttachRolePolicy / ListEntitiesForPolicy on
#   AmazonEKS_CNI_Policy work as in AWS.
EKS_MANAGED_POLICIES = ("AmazonEKS_CNI_Policy", "AmazonEKSWorkerNodePolicy", "AmazonEKSClusterPolicy",
                        "AmazonEC2ContainerRegistryReadOnly")
_irsa_patched = False


def apply_irsa_patches() -> None:
    global _irsa_patched
    if _irsa_patched:
        return
    _patch_cluster_issuers()
    _patch_managed_policies()
    _patch_authorization_details()
    _irsa_patched = True


def _patch_authorization_details() -> None:
    """moto 5.2.5's GetAccountAuthorizationDetails leaves PolicyName and PolicyId out of each managed policy
    (its serializer looks for attributes the policy model names ``name`` and ``id``); AWS always sends both."""
    from moto.iam.models import ManagedPolicy

    ManagedPolicy.policy_name = property(lambda self: self.name)  # type: ignore[attr-defined]
    ManagedPolicy.policy_id = property(lambda self: self.id)  # type: ignore[attr-defined]


def _patch_cluster_issuers() -> None:
    import hashlib

    from moto.eks.models import EKSBackend

    original = EKSBackend.create_cluster

    def create_cluster(self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
        cluster = original(self, *args, **kwargs)
        counts = self.__dict__.setdefault("_issuer_generation", {})
        counts[cluster.name] = counts.get(cluster.name, 0) + 1
        key = f"{self.account_id}|{self.region_name}|{cluster.name}|{counts[cluster.name]}"
        oidc_id = hashlib.sha256(key.encode()).hexdigest()[:32].upper()
        cluster.identity = {"oidc": {"issuer": f"https://oidc.eks.{self.region_name}.amazonaws.com/id/{oidc_id}"}}
        return cluster

    EKSBackend.create_cluster = create_cluster  # type: ignore[method-assign]


def _patch_managed_policies() -> None:
    import json

    from moto import settings
    from moto.iam.aws_managed_policies import aws_managed_policies_data
    from moto.iam.models import AWSManagedPolicy, IAMBackend

    data = {k: v for k, v in json.loads(aws_managed_policies_data).items() if k in EKS_MANAGED_POLICIES}
    original_init = IAMBackend.__init__

    def init(self: IAMBackend, region_name: str, account_id: str) -> None:
        original_init(self, region_name, account_id)
        if settings.load_iam_aws_managed_policies():
            return  # moto loaded every one already
        for name, spec in data.items():
            policy = AWSManagedPolicy.from_data(name, account_id, region_name, spec)
            self.aws_managed_policies.append(policy)
            self.managed_policies[policy.arn] = policy

    IAMBackend.__init__ = init  # type: ignore[method-assign]


def _patch_bus_forwarding() -> None:
    """Two gaps in how moto delivers an event, both about the sender's ``account``, which the central
    stream labels each finding with. A rule forwarding to another account's (or region's) bus re-puts
    the event as if that account had sent it (``account`` and ``region`` become the receiver's): AWS
    forwards the event unchanged. And a target without an input transformer gets the event without its
    ``account`` field: AWS delivers the whole event."""
    import copy

    from moto.events.models import Rule, events_backends
    from moto.utilities.arns import parse_arn

    original = Rule.send_to_targets

    def is_bus(target: dict[str, Any]) -> bool:
        arn = parse_arn(target["Arn"])
        return bool(arn.service == "events" and arn.resource_type == "event-bus")

    def send_to_targets(self: Rule, event: Any, transform_input: bool = True) -> None:
        buses = [t for t in self.targets if is_bus(t)]
        if buses and self.event_pattern.matches_event(event):
            for target in buses:
                arn = parse_arn(target["Arn"])
                bus = events_backends[arn.account][arn.region].describe_event_bus(arn.resource_id)
                for rule in list(bus.rules.values()):
                    rule.send_to_targets(copy.deepcopy(event))
        if len(buses) < len(self.targets):
            others = copy.copy(self)
            others.targets = [t for t in self.targets if not is_bus(t)]
            whole = transform_input and any("InputTransformer" in t for t in others.targets)
            delivered: Any = {k: v for k, v in event.items() if k != "ingestion-time"}  # moto's own field
            original(others, delivered, whole)

    Rule.send_to_targets = send_to_targets  # type: ignore[method-assign,assignment]


# -- The in-cluster event path (moto 5.2.5) -----------------------------------------------------------------
# - EKS creates the control-plane log group /aws/eks/<cluster>/cluster when a log type is enabled (at CreateCluster
#   or UpdateClusterConfig); moto creates none. The stand-in creates it then, as EKS does.
# - PutSubscriptionFilter to a Lambda function checks that moto's Lambda has the function; the template's functions
#   are not deployed into moto but run in-process (local/invoke.py), so a subscription to one of them - the
#   functions ``serve_local_functions`` was told of - is accepted as AWS accepts one to a deployed function.
_local_functions: set[str] = set()


def serve_local_functions(arns: set[str]) -> None:
    """The ARNs of the functions the local runner serves (every function of a loaded template)."""
    _local_functions.update(arns)


def _patch_control_plane_logs() -> None:
    from moto.eks.models import EKSBackend
    from moto.logs.exceptions import ResourceNotFoundException
    from moto.logs.models import LogsBackend, logs_backends

    def log_group_for(backend: EKSBackend, name: str) -> None:
        cluster = backend.clusters.get(name)
        entries = ((cluster.logging if cluster is not None else None) or {}).get("clusterLogging", [])
        if any(e.get("enabled") and e.get("types") for e in entries):
            logs_backends[backend.account_id][backend.region_name].ensure_log_group(f"/aws/eks/{name}/cluster")

    original_create, original_update = EKSBackend.create_cluster, EKSBackend.update_cluster_config

    def create_cluster(self: EKSBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        cluster = original_create(self, name, *args, **kwargs)
        log_group_for(self, name)
        return cluster

    def update_cluster_config(self: EKSBackend, name: str, *args: Any, **kwargs: Any) -> Any:
        cluster = original_update(self, name, *args, **kwargs)
        log_group_for(self, name)
        return cluster

    EKSBackend.create_cluster = create_cluster  # type: ignore[method-assign]
    EKSBackend.update_cluster_config = update_cluster_config  # type: ignore[method-assign]
    original_put = LogsBackend.put_subscription_filter

    def put_subscription_filter(self: LogsBackend, log_group_name: str, filter_name: str, filter_pattern: str,
                                destination_arn: str, role_arn: str) -> None:
        if destination_arn not in _local_functions:
            return original_put(self, log_group_name, filter_name, filter_pattern, destination_arn, role_arn)
        group = self.groups.get(log_group_name)
        if group is None:
            raise ResourceNotFoundException()
        group.put_subscription_filter(filter_name, filter_pattern, destination_arn, role_arn)
        return None

    LogsBackend.put_subscription_filter = put_subscription_filter  # type: ignore[method-assign]


_patched = False


_transaction = threading.local()  # set while this thread runs a DynamoDB transaction


def _patch_transactions() -> None:
    """The same all-or-nothing as moto's TransactWriteItems, without its whole-table backups: a copy of each item
    the transaction touches (or its absence) is taken first and put back if the transaction fails."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models import DynamoDBBackend
    from moto.dynamodb.models.table import Table

    def __deepcopy__(self: Table, memo: dict[int, Any]) -> Table:
        if getattr(_transaction, "active", False):
            return self  # moto's backup of the whole table: the touched items are backed up instead (below)
        copied: Table = object.__new__(type(self))
        memo[id(self)] = copied
        copied.__dict__.update(copy.deepcopy(self.__dict__, memo))  # what copy.deepcopy does for a plain object
        return copied

    original = DynamoDBBackend.transact_write_items

    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        backup = []
        for entry in transact_items:
            _, op = next(iter(entry.items()))
            table = self.tables.get(op.get("TableName"))
            if table is None:
                continue  # moto answers ResourceNotFound
            keys = op.get("Key") or {a: op["Item"][a] for a in (table.hash_key_attr, table.range_key_attr)
                                     if a and a in (op.get("Item") or {})}
            try:
                hash_key, range_key = self.get_keys_value(table, keys)
            except MockValidationException:
                continue  # moto answers the malformed key before it writes anything
            backup.append((table, hash_key, range_key, copy.deepcopy(table.get_item(hash_key, range_key))))
        _transaction.active = True
        try:
            original(self, transact_items)
        except BaseException:
            for table, hash_key, range_key, item in reversed(backup):
                _restore(table, hash_key, range_key, item)
            raise
        finally:
            _transaction.active = False

    Table.__deepcopy__ = __deepcopy__  # type: ignore[attr-defined]
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def _restore(table: Any, hash_key: Any, range_key: Any, item: Any) -> None:
    """Put ``item`` back under its key in moto's table, or remove what is there when it was absent (None)."""
    if range_key is not None:
        if item is None:
            table.items[hash_key].pop(range_key, None)
        else:
            table.items[hash_key][range_key] = item
    elif item is None:
        table.items.pop(hash_key, None)
    else:
        table.items[hash_key] = item


def apply_moto_patches() -> None:
    """Fill every moto gap above, once per process (moto_server() and the tests call this)."""
    global _patched
    if _patched:
        return
    _patch_cluster_basics()
    apply_cluster_posture_patches()
    apply_irsa_patches()
    _patch_bus_forwarding()
    _patch_control_plane_logs()
    _patch_transactions()
    _patched = True
