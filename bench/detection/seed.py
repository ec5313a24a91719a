"""Make the corpus account (corpus.ACCOUNT) for real on an AWS endpoint (the stand-in), through the public
APIs only, and return every resource it made with the names a scanner may report it by (ids, names, ARNs).

Seed the stand-in's id generator first (standin.seed_random) and the ids are the same on every run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from bench.detection.corpus import (
    ACCOUNT,
    ALL_LOGS,
    DOCUMENTS,
    IAM_REGION,
    KUBERNETES_CASES,
    REGIONS,
    Account,
    AccountSpec,
    Cluster,
    Group,
    Irsa,
    Metadata,
    Perm,
    Service,
    Trust,
)

AZS = {"ap-northeast-2": ("a", "c"), "eu-west-1": ("a", "b")}
K8S_VERSION = "1.31"
EKS_CA_THUMBPRINT = "9e99a48a9960b14926bb7f3b02e22da2b0ab7280"
GLOBAL = "global"


@dataclass(frozen=True)
class Resource:
    key: str
    region: str  # "global" for IAM
    label: str  # how the report names it: "ops-bastion (sg-0abc...)"
    aliases: tuple[str, ...]  # every id, name or ARN a tool may report it by


@dataclass(frozen=True)
class Seeded:
    account: str
    resources: tuple[Resource, ...]

    def by_key(self) -> dict[str, Resource]:
        return {r.key: r for r in self.resources}

    def to_json(self) -> dict[str, Any]:
        return {"account": self.account, "resources": [asdict(r) for r in self.resources]}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Seeded:
        return cls(raw["account"], tuple(Resource(r["key"], r["region"], r["label"], tuple(r["aliases"]))
                                         for r in raw["resources"]))


class _Seeder:
    def __init__(self, session: Any, spec: AccountSpec) -> None:
        self.session = session
        self.spec = spec
        self.account = str(session.client("sts", region_name=IAM_REGION).get_caller_identity()["Account"])
        self.iam = session.client("iam", region_name=IAM_REGION)
        self.resources: list[Resource] = []
        self.subnets: dict[str, list[str]] = {}
        self.vpc_ids: dict[str, str] = {}
        self.group_ids: dict[str, str] = {}
        self.prefix_lists: dict[str, str] = {}
        self.issuers: dict[str, str] = {}
        self.kms: dict[str, str] = {}

    def client(self, service: str, region: str) -> Any:
        return self.session.client(service, region_name=region)

    def add(self, key: str, region: str, label: str, *aliases: str) -> None:
        self.resources.append(Resource(key, region, label, tuple(dict.fromkeys(a for a in aliases if a))))

    def arn(self, service: str, region: str, resource: str) -> str:
        return f"arn:aws:{service}:{region}:{self.account}:{resource}"

    # -- the network ------------------------------------------------------------------------------------

    def trail(self) -> None:
        """One multi-region trail logging management events: the account is watched (no CT-001)."""
        bucket = f"detect-trail-{self.account}"
        self.client("s3", IAM_REGION).create_bucket(Bucket=bucket)
        ct = self.client("cloudtrail", IAM_REGION)
        arn = ct.create_trail(Name="management-events", S3BucketName=bucket, IsMultiRegionTrail=True)["TrailARN"]
        ct.start_logging(Name="management-events")
        for region in REGIONS:  # eksguard names its CloudTrail finding cloudtrail:<region>
            self.add(f"cloudtrail:{region}", region, f"CloudTrail coverage of {region}", f"cloudtrail:{region}")
        self.add("trail:management-events", GLOBAL, "trail management-events", "management-events", arn)

    def default_vpcs(self) -> None:
        """The default VPC AWS makes in every region, with its default group: no cluster, no label."""
        for region in REGIONS:
            ec2 = self.client("ec2", region)
            for vpc in ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]:
                vpc_id = vpc["VpcId"]
                self.add(f"vpc:default-vpc@{region}", region, f"default VPC of {region} ({vpc_id})", vpc_id,
                         self.arn("ec2", region, f"vpc/{vpc_id}"))
                for group in ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])[
                        "SecurityGroups"]:
                    gid = group["GroupId"]
                    self.add(f"sg:{group['GroupName']}@default-vpc@{region}", region,
                             f"{group['GroupName']} group of the default VPC of {region}, no cluster ({gid})", gid,
                             self.arn("ec2", region, f"security-group/{gid}"))

    def vpcs(self) -> None:
        for vpc in self.spec.vpcs:
            ec2 = self.client("ec2", vpc.region)
            vpc_id = ec2.create_vpc(CidrBlock=vpc.cidr)["Vpc"]["VpcId"]
            self.vpc_ids[vpc.name] = vpc_id
            base = vpc.cidr.rsplit(".", 2)[0]
            self.subnets[vpc.name] = [
                ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"{base}.{i + 1}.0/24",
                                  AvailabilityZone=f"{vpc.region}{az}")["Subnet"]["SubnetId"]
                for i, az in enumerate(AZS[vpc.region])]
            default = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                                           {"Name": "group-name", "Values": ["default"]}])
            default_id = default["SecurityGroups"][0]["GroupId"]
            self.group_ids[f"default@{vpc.name}"] = default_id
            if vpc.default_group == "aws-default":
                # AWS's default group also lets in all traffic from itself; moto 5.2.5 leaves that rule out.
                ec2.authorize_security_group_ingress(GroupId=default_id, IpPermissions=[
                    {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": default_id}]}])
            else:
                ec2.revoke_security_group_egress(GroupId=default_id, IpPermissions=[
                    {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            self.add(f"vpc:{vpc.name}", vpc.region, f"VPC {vpc.name} ({vpc_id})", vpc_id,
                     self.arn("ec2", vpc.region, f"vpc/{vpc_id}"))
            self.add(f"sg:default@{vpc.name}", vpc.region, f"default group of VPC {vpc.name} ({default_id})",
                     default_id, self.arn("ec2", vpc.region, f"security-group/{default_id}"))

    def groups(self) -> None:
        for name, region, cidrs in self.spec.prefix_lists:
            self.prefix_lists[name] = self.client("ec2", region).create_managed_prefix_list(
                PrefixListName=name, MaxEntries=len(cidrs) + 5, AddressFamily="IPv4",
                Entries=[{"Cidr": c} for c in cidrs])["PrefixList"]["PrefixListId"]
        for group in self.spec.groups:
            region = self.spec.vpc(group.vpc).region
            spec: dict[str, Any] = {"GroupName": group.name, "Description": group.description,
                                    "VpcId": self.vpc_ids[group.vpc]}
            if group.tags:
                spec["TagSpecifications"] = [{"ResourceType": "security-group",
                                              "Tags": [{"Key": k, "Value": v} for k, v in group.tags]}]
            group_id = self.client("ec2", region).create_security_group(**spec)["GroupId"]
            self.group_ids[group.name] = group_id
            self.add(f"sg:{group.name}", region, f"{group.name} ({group_id})", group_id,
                     self.arn("ec2", region, f"security-group/{group_id}"))
        for group in self.spec.groups:
            self._rules(group)

    def _rules(self, group: Group) -> None:
        ec2 = self.client("ec2", self.spec.vpc(group.vpc).region)
        group_id = self.group_ids[group.name]
        if group.ingress:
            ec2.authorize_security_group_ingress(GroupId=group_id,
                                                 IpPermissions=[self._perm(p, group_id) for p in group.ingress])
        if group.egress is not None:
            ec2.revoke_security_group_egress(GroupId=group_id, IpPermissions=[
                {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}])
            if group.egress:
                ec2.authorize_security_group_egress(GroupId=group_id,
                                                    IpPermissions=[self._perm(p, group_id) for p in group.egress])

    def _perm(self, perm: Perm, own_id: str) -> dict[str, Any]:
        out: dict[str, Any] = {"IpProtocol": perm.protocol}
        if perm.ports is not None:
            low, high = perm.ports if isinstance(perm.ports, tuple) else (perm.ports, perm.ports)
            out.update(FromPort=low, ToPort=high)
        source = perm.source
        if source == "self" or source.startswith("sg:"):
            out["UserIdGroupPairs"] = [{"GroupId": own_id if source == "self" else self.group_ids[source[3:]]}]
        elif source.startswith("pl:"):
            out["PrefixListIds"] = [{"PrefixListId": self.prefix_lists[source[3:]]}]
        elif ":" in source:
            out["Ipv6Ranges"] = [{"CidrIpv6": source}]
        else:
            out["IpRanges"] = [{"CidrIp": source}]
        return out

    # -- IAM ---------------------------------------------------------------------------------------------

    def policies_and_users(self) -> None:
        for user in self.spec.users:
            arn = self.iam.create_user(UserName=user.name)["User"]["Arn"]
            self.add(f"user:{user.name}", GLOBAL, f"user {user.name}", user.name, arn)
        for policy in self.spec.policies:
            document = json.dumps(DOCUMENTS[policy.document]).replace("{account}", self.account)
            arn = self.iam.create_policy(PolicyName=policy.name, PolicyDocument=document)["Policy"]["Arn"]
            self.add(f"policy:{policy.name}", GLOBAL, f"policy {policy.name}", policy.name, arn)

    def attach_customer_policies(self) -> None:
        for policy in self.spec.policies:
            arn = f"arn:aws:iam::{self.account}:policy/{policy.name}"
            for target in policy.attached_to:
                kind, name = target.split(":", 1)
                if kind == "role":
                    self.iam.attach_role_policy(RoleName=name, PolicyArn=arn)
                else:
                    self.iam.attach_user_policy(UserName=name, PolicyArn=arn)

    def roles(self, irsa: bool) -> None:
        for role in self.spec.roles:
            if isinstance(role.trust, Irsa) != irsa:
                continue
            arn = self.iam.create_role(RoleName=role.name,
                                       AssumeRolePolicyDocument=json.dumps(self.trust(role.trust)))["Role"]["Arn"]
            for name in role.managed:
                self.iam.attach_role_policy(RoleName=role.name, PolicyArn=f"arn:aws:iam::aws:policy/{name}")
            for policy, document in role.inline:
                self.iam.put_role_policy(RoleName=role.name, PolicyName=policy,
                                         PolicyDocument=json.dumps(DOCUMENTS[document]))
            # Prowler names an inline policy's finding <role>/<policy> (its ARN is the role's).
            self.add(f"role:{role.name}", GLOBAL, f"role {role.name}", role.name, arn,
                     *(f"{role.name}/{policy}" for policy, _ in role.inline))

    def trust(self, trust: Trust) -> dict[str, Any]:
        stmt: dict[str, Any] = {"Effect": "Allow"}
        if isinstance(trust, Irsa):
            issuer = self.issuers[trust.cluster]
            stmt.update(Principal={"Federated": f"arn:aws:iam::{self.account}:oidc-provider/{issuer}"},
                        Action="sts:AssumeRoleWithWebIdentity")
            conditions: dict[str, dict[str, Any]] = {}
            if trust.aud is not None:
                conditions.setdefault("StringEquals", {})[f"{issuer}:aud"] = trust.aud
            if trust.sub is not None:
                value = list(trust.sub) if isinstance(trust.sub, tuple) else trust.sub
                conditions.setdefault(trust.sub_operator, {})[f"{issuer}:sub"] = value
            if not trust.no_condition:
                stmt["Condition"] = conditions
        elif isinstance(trust, Service):
            stmt.update(Principal={"Service": trust.principal},
                        Action=trust.actions[0] if len(trust.actions) == 1 else list(trust.actions))
        else:
            stmt.update(Principal={"AWS": "*" if trust.anyone else self._account_root(trust)}, Action="sts:AssumeRole")
            if trust.external_id:
                stmt["Condition"] = {"StringEquals": {"sts:ExternalId": trust.external_id}}
        return {"Version": "2012-10-17", "Statement": [stmt]}

    def _account_root(self, trust: Account) -> str:
        return f"arn:aws:iam::{self.account if trust.who == 'this' else trust.who}:root"

    # -- EKS ---------------------------------------------------------------------------------------------

    def clusters(self) -> None:
        role_arn = f"arn:aws:iam::{self.account}:role/eks-cluster-role"
        for region in REGIONS:
            key = self.client("kms", region).create_key(Description="EKS secrets")["KeyMetadata"]["Arn"]
            self.kms[region] = key
            self.add(f"kms:{region}", region, f"KMS key for EKS secrets in {region}", key)
        for cluster in self.spec.clusters:
            region = self.spec.vpc(cluster.vpc).region
            eks = self.client("eks", region)
            made = eks.create_cluster(**self._cluster_request(cluster, region, role_arn))["cluster"]
            self.issuers[cluster.name] = str(made["identity"]["oidc"]["issuer"]).removeprefix("https://")
            if cluster.oidc_provider:
                arn = self.iam.create_open_id_connect_provider(
                    Url=f"https://{self.issuers[cluster.name]}", ClientIDList=["sts.amazonaws.com"],
                    ThumbprintList=[EKS_CA_THUMBPRINT])["OpenIDConnectProviderArn"]
                self.add(f"oidc:{cluster.name}", GLOBAL, f"OIDC provider of cluster {cluster.name}", arn)
            if cluster.deleted:
                eks.delete_cluster(name=cluster.name)  # its issuer and provider stay behind: stale
                continue
            for entry in cluster.access_entries:
                principal = f"arn:aws:iam::{self.account}:role/{entry.role}"
                eks.create_access_entry(clusterName=cluster.name, principalArn=principal)
                scope: dict[str, Any] = ({"type": "namespace", "namespaces": list(entry.namespaces)}
                                         if entry.namespaces else {"type": "cluster"})
                eks.associate_access_policy(
                    clusterName=cluster.name, principalArn=principal, accessScope=scope,
                    policyArn=f"arn:aws:eks::aws:cluster-access-policy/{entry.policy}")
            self.add(f"cluster:{cluster.name}", region, f"cluster {cluster.name} ({region})", cluster.name,
                     made["arn"])

    def _cluster_request(self, cluster: Cluster, region: str, role_arn: str) -> dict[str, Any]:
        vpc_config: dict[str, Any] = {
            "subnetIds": self.subnets[cluster.vpc],
            "securityGroupIds": [self.group_ids[g] for g in cluster.control_plane_groups],
            "endpointPublicAccess": cluster.public, "endpointPrivateAccess": cluster.private}
        if cluster.public_cidrs is not None:
            vpc_config["publicAccessCidrs"] = list(cluster.public_cidrs)
        enabled = [t for t in ALL_LOGS if t in cluster.logging]
        disabled = [t for t in ALL_LOGS if t not in cluster.logging]
        logging = [{"types": types, "enabled": on} for types, on in ((enabled, True), (disabled, False)) if types]
        request: dict[str, Any] = {
            "name": cluster.name, "roleArn": role_arn, "version": K8S_VERSION, "resourcesVpcConfig": vpc_config,
            "logging": {"clusterLogging": logging}, "accessConfig": {"authenticationMode": cluster.auth_mode}}
        if cluster.kms:
            request["encryptionConfig"] = [{"resources": ["secrets"], "provider": {"keyArn": self.kms[region]}}]
        return request

    def launch_templates(self) -> None:
        node_role = f"arn:aws:iam::{self.account}:role/prod-node-role"
        for lt in self.spec.launch_templates:
            ec2 = self.client("ec2", lt.region)
            first, *later = lt.versions
            made = ec2.create_launch_template(LaunchTemplateName=lt.name, LaunchTemplateData={
                "SecurityGroupIds": [self.group_ids[g] for g in lt.groups], "InstanceType": "m6i.large",
                "MetadataOptions": _metadata(first)})["LaunchTemplate"]
            lt_id = made["LaunchTemplateId"]
            for metadata in later:
                ec2.create_launch_template_version(LaunchTemplateId=lt_id, SourceVersion="1",
                                                   LaunchTemplateData={"MetadataOptions": _metadata(metadata)})
            if lt.default_version != 1:
                ec2.modify_launch_template(LaunchTemplateId=lt_id, DefaultVersion=str(lt.default_version))
            if lt.node_group is not None:
                cluster = next(c for c in self.spec.clusters if c.name == lt.node_group.cluster)
                self.client("eks", lt.region).create_nodegroup(
                    clusterName=cluster.name, nodegroupName=lt.node_group.name, subnets=self.subnets[cluster.vpc],
                    nodeRole=node_role, launchTemplate={"id": lt_id, "version": lt.node_group.version},
                    scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2})
            self.add(f"lt:{lt.name}", lt.region, f"{lt.name} ({lt_id})", lt_id, lt.name,
                     self.arn("ec2", lt.region, f"launch-template/{lt_id}"))

    # -- who uses which group ----------------------------------------------------------------------------

    def interfaces(self) -> None:
        """Network interfaces in the groups, as the services that own them would place them (Prowler judges
        only groups in use; eksguard does not look)."""
        for group in self.spec.groups:
            if group.attach is None:
                continue
            region = self.spec.vpc(group.vpc).region
            group_id, subnets = self.group_ids[group.name], self.subnets[group.vpc]
            if group.attach == "elb":  # the stand-in gives the ALB its amazon-elb interfaces, as AWS does
                name = group.name[:32]
                arn = self.client("elbv2", region).create_load_balancer(
                    Name=name, Subnets=subnets, SecurityGroups=[group_id], Scheme="internet-facing",
                    Type="application")["LoadBalancers"][0]["LoadBalancerArn"]
                self.add(f"elb:{name}", region, f"load balancer {name}", name, arn)
                continue
            description = (f"Amazon EKS {self._cluster_of(group)}" if group.attach == "eks" else
                           f"aws-K8S node ENI ({group.name})" if group.attach == "node" else
                           f"primary network interface of the {group.name} host")
            self.client("ec2", region).create_network_interface(SubnetId=subnets[0], Groups=[group_id],
                                                                Description=description)
        for vpc in self.spec.vpcs:
            if vpc.default_used:  # made without groups: EC2 puts it in the VPC's default group
                self.client("ec2", vpc.region).create_network_interface(
                    SubnetId=self.subnets[vpc.name][0], Description="placed in the default group by mistake")

    def _cluster_of(self, group: Group) -> str:
        tags = dict(group.tags)
        if "aws:eks:cluster-name" in tags:
            return tags["aws:eks:cluster-name"]
        return next(c.name for c in self.spec.clusters if group.name in c.control_plane_groups)


def _metadata(metadata: Metadata) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if metadata.tokens is not None:
        out["HttpTokens"] = metadata.tokens
    if metadata.hop_limit is not None:
        out["HttpPutResponseHopLimit"] = metadata.hop_limit
    if metadata.endpoint is not None:
        out["HttpEndpoint"] = metadata.endpoint
    return out


def seed_corpus(session: Any, spec: AccountSpec = ACCOUNT) -> Seeded:
    seeder = _Seeder(session, spec)
    seeder.trail()
    seeder.default_vpcs()
    seeder.vpcs()
    seeder.groups()
    seeder.policies_and_users()
    seeder.roles(irsa=False)
    seeder.clusters()
    seeder.roles(irsa=True)
    seeder.attach_customer_policies()
    seeder.launch_templates()
    seeder.interfaces()
    seed_kubernetes(seeder.resources)
    return Seeded(seeder.account, tuple(seeder.resources))


def seed_kubernetes(resources: Iterable[Resource]) -> None:
    """The hook for the K8 family (corpus.KUBERNETES_CASES): seed each cluster's Kubernetes API here once
    the stand-in has one. There is none today, so there must be no K8 case either."""
    if KUBERNETES_CASES:
        raise NotImplementedError("K8 cases need a Kubernetes API per cluster: see corpus.KUBERNETES_CASES")

