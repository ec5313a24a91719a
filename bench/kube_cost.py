"""What reading one cluster's Kubernetes API costs the sweep (ReadKubernetes=true), on the loopback stand-in
(eksguard.local.kube_standin): requests, time per cluster, plain and with a fixed latency per request, and what
the first read pays once per container to import lightkube. The Custodian comparison runs with
ReadKubernetes=false (the bench's AWS stand-in has no Kubernetes API; Custodian reads none): this is the part
that comparison leaves out.

    python bench/kube_cost.py [--clusters 1 5] [--namespaces 50] [--runs 5] [--latency-ms 25]

Each cluster holds ``--namespaces`` namespaces, each with two ServiceAccounts and a NetworkPolicy, aws-auth with
node and admin mappings, and Calico policies. Prints a markdown table (docs/benchmarks.md quotes it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

for key, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                   "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "ap-northeast-2",
                   "AWS_REGION": "ap-northeast-2"}.items():
    os.environ[key] = value
os.environ.pop("AWS_ENDPOINT_URL", None)

from moto import mock_aws  # noqa: E402

from eksguard.aws import clients  # noqa: E402
from eksguard.aws.clients import Aws  # noqa: E402
from eksguard.local.kube_standin import KubeStandin  # noqa: E402

REGION = "ap-northeast-2"
ACCOUNT = "123456789012"
IMPORT_PROBE = "import time; t = time.perf_counter(); import eksguard.aws.kube; print(time.perf_counter() - t)"


class Counting(KubeStandin):
    """The stand-in, counting requests and answering each ``latency_s`` later (its server is threaded: requests
    in flight wait side by side)."""

    def __init__(self) -> None:
        super().__init__()
        self.requests = 0
        self.latency_s = 0.0

    def answer(self, name: str, method: str, raw_path: str, authorization: str | None) -> tuple[int, dict[str, Any]]:
        self.requests += 1
        if self.latency_s:
            time.sleep(self.latency_s)
        return super().answer(name, method, raw_path, authorization)


def seed(cluster: Any, namespaces: int) -> None:
    names = ["default", "kube-system", *(f"team-{i:03d}" for i in range(namespaces - 2))]
    cluster.add({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "aws-auth", "namespace": "kube-system"},
                 "data": {"mapRoles": f"- rolearn: arn:aws:iam::{ACCOUNT}:role/node\n  username: node\n"
                                      "  groups: [system:bootstrappers, system:nodes]\n"
                                      f"- rolearn: arn:aws:iam::{ACCOUNT}:role/admin\n  username: admin\n"
                                      "  groups: [system:masters]\n"}})
    for n in names:
        cluster.add({"apiVersion": "v1", "kind": "Namespace",
                     "metadata": {"name": n, "labels": {"kubernetes.io/metadata.name": n}}},
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": n}},
                    {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {
                        "name": "app", "namespace": n,
                        "annotations": {"eks.amazonaws.com/role-arn": f"arn:aws:iam::{ACCOUNT}:role/{n}-app"}}},
                    {"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
                     "metadata": {"name": "egress", "namespace": n},
                     "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [{"ipBlock": {
                         "cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]}}]}]}})
    cluster.add({"apiVersion": "crd.projectcalico.org/v1", "kind": "GlobalNetworkPolicy",
                 "metadata": {"name": "allow-all"},
                 "spec": {"order": 1, "selector": "all()", "types": ["Egress"], "egress": [{"action": "Allow"}]}})


def import_cost(runs: int) -> float:
    """Seconds a fresh interpreter spends importing eksguard.aws.kube (lightkube, httpx2, msgspec): median."""
    layer = Path(__file__).resolve().parents[1] / "layers" / "eksguard"
    times = [float(subprocess.run([sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True,
                                  env={**os.environ, "PYTHONPATH": str(layer)}).stdout) for _ in range(runs)]
    return statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clusters", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--namespaces", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-ms", type=float, default=25.0)
    args = parser.parse_args(argv)

    from eksguard.aws import kube

    print(f"load average {os.getloadavg()[0]:.1f}; {args.namespaces} namespaces per cluster; median of "
          f"{args.runs} runs")
    print("| clusters | latency per request | requests | read time (all clusters, one after another) | per cluster |")
    print("|---:|---:|---:|---:|---:|")
    with mock_aws(), Counting() as standin:
        clients.reset()
        aws = Aws(REGION)
        for count in args.clusters:
            targets = []
            for i in range(count):
                name = f"c{count}-{i}"
                seed(standin.cluster(name, REGION), args.namespaces)
                targets.append(kube.ClusterEndpoint(name, REGION, standin.url(name)))
            for latency in (0.0, args.latency_ms):
                standin.latency_s = latency / 1000
                times, requests = [], 0
                for _ in range(args.runs):
                    standin.requests = 0
                    started = time.perf_counter()
                    reads = [kube.read_cluster(aws, t, endpoints={t.name: standin.url(t.name)}) for t in targets]
                    times.append(time.perf_counter() - started)
                    requests = standin.requests
                    assert all(r.error is None and not r.gaps for r in reads), [(r.error, r.gaps) for r in reads]
                median = statistics.median(times)
                print(f"| {count} | {latency:g} ms | {requests} | {median * 1000:,.0f} ms | "
                      f"{median * 1000 / count:,.0f} ms |", flush=True)
        clients.reset()
    print(f"\nimporting eksguard.aws.kube (lightkube, httpx2, msgspec) in a fresh interpreter, once per container: "
          f"{import_cost(args.runs) * 1000:,.0f} ms (median of {args.runs}, with .pyc)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
