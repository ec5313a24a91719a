"""The detection benchmark's stand-in: bench/standin_server.py (moto with eksguard's gap fills, counting every
call) plus three more moto 5.2.5 gaps that change what a *scanner* sees, filled the way AWS behaves:

- EKS CreateCluster: a public endpoint created without ``publicAccessCidrs`` is open to 0.0.0.0/0 and
  DescribeCluster says so (``["0.0.0.0/0"]``); moto returns no CIDR list at all.
- EKS DescribeCluster of a cluster without secrets encryption has no ``encryptionConfig``; moto returns an
  empty list, which a scanner testing for the key's presence reads as "encrypted".
- ELBv2 CreateLoadBalancer: AWS places one requester-managed network interface per subnet in the load
  balancer's security groups, attached with ``InstanceOwnerId: amazon-elb`` (how a scanner tells a load
  balancer's group from others); moto makes none.

    python bench/detection/standin.py [--port 0]      # prints "READY <port>" once it listens
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
ELB_OWNER = "amazon-elb"


def _patch_eks_defaults() -> None:
    from moto.eks.models import EKSBackend

    original = EKSBackend.create_cluster

    def create_cluster(self: EKSBackend, *args: Any, **kwargs: Any) -> Any:
        cluster = original(self, *args, **kwargs)
        config = cluster.resources_vpc_config
        config.setdefault("endpointPublicAccess", True)
        config.setdefault("endpointPrivateAccess", False)
        if config["endpointPublicAccess"] and not config.get("publicAccessCidrs"):
            config["publicAccessCidrs"] = ["0.0.0.0/0"]
        if not cluster.encryption_config:
            cluster.encryption_config = None  # type: ignore[assignment]  # omitted, as AWS omits it
        return cluster

    EKSBackend.create_cluster = create_cluster  # type: ignore[method-assign]


class _ElbAttachment:
    """The attachment AWS reports for a load balancer's interface (no instance: the owner is amazon-elb)."""

    def __init__(self, attachment_id: str, attach_time: Any) -> None:
        self.attachment_id = attachment_id
        self.attach_time = attach_time
        self.delete_on_termination = False
        self.device_index = 1
        self.network_card_index = 0
        self.instance_id = None
        self.instance_owner_id = ELB_OWNER
        self.status = "attached"


def _patch_elb_interfaces() -> None:
    from moto.core.utils import utcnow
    from moto.ec2.models.elastic_network_interfaces import NetworkInterface
    from moto.ec2.utils import random_eni_attach_id
    from moto.elbv2.models import ELBv2Backend

    original_attachment = NetworkInterface.attachment

    def attachment(self: NetworkInterface) -> Any:
        elb = self.__dict__.get("_elb_attachment")
        return elb if elb is not None else original_attachment.fget(self)  # type: ignore[attr-defined]

    NetworkInterface.attachment = property(attachment)  # type: ignore[assignment,method-assign]
    original_create = ELBv2Backend.create_load_balancer

    def create_load_balancer(self: ELBv2Backend, *args: Any, **kwargs: Any) -> Any:
        lb = original_create(self, *args, **kwargs)
        lb_id = lb.arn.rsplit("/", 1)[-1]
        kind = {"application": "app", "network": "net"}.get(lb.type, lb.type)
        for subnet in lb.subnets:
            eni = self.ec2_backend.create_network_interface(
                subnet, private_ip_address=[], group_ids=list(lb.security_groups),
                description=f"ELB {kind}/{lb.name}/{lb_id}")
            eni.requester_managed = True
            eni.status = "in-use"
            eni.__dict__["_elb_attachment"] = _ElbAttachment(random_eni_attach_id(), utcnow())
        return lb

    ELBv2Backend.create_load_balancer = create_load_balancer  # type: ignore[method-assign]


def apply_scanner_patches() -> None:
    _patch_eks_defaults()
    _patch_elb_interfaces()


def main(argv: list[str] | None = None) -> int:
    sys.path[:0] = [str(REPO), str(REPO / "layers" / "eksguard")]
    from bench import standin_server

    from eksguard.local.standin import apply_moto_patches

    apply_moto_patches()  # eksguard's fills first: ours wrap their create_cluster
    apply_scanner_patches()
    return standin_server.main(argv)


if __name__ == "__main__":
    sys.exit(main())
