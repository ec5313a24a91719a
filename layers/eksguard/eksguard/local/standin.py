"""The local AWS stand-in: a moto server on loopback, with the few gaps eksguard depends on filled.

Gaps filled here (moto 5.2.5), never by weakening the product:
- EKS ``describe_cluster`` has no ``resourcesVpcConfig.vpcId``; AWS always returns it. We add it from
  the cluster's subnets when the cluster is created.
- ``clusterSecurityGroupId`` is absent too: eksguard already finds the cluster security group by the
  ``aws:eks:cluster-name`` tag (as it must for old clusters), so that gap is left open on purpose.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_patched = False


def apply_moto_patches() -> None:
    global _patched
    if _patched:
        return
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
    _patched = True


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
