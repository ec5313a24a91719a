"""Which Kubernetes client library the K8 rules read with: the official `kubernetes` client or lightkube,
measured for what decides it in Lambda — what ships in the layer and what a cold start pays to import it.

For each library: install it (and its dependencies) for python3.12 into a `--target` directory the way a layer
is built, once for arm64 (the template's architecture: size) and once for this machine (timing). Size counts
what would ship, i.e. without what the Lambda runtime (urllib3, python-dateutil, six) and the Powertools
layer (typing-extensions) already provide, unzipped and zipped (deflate 9). Timing: a fresh interpreter that
imports the library and builds a client for the calls eksguard makes, median of N runs, without `.pyc` (as the
eksguard layer ships today, on Lambda's read-only file system) and with `.pyc` compiled ahead; the child times
its imports and the client construction itself; `-X importtime` counts the modules imported. Rounds interleave
the variants. Figures land in docs/incluster.md by hand.

    python bench/kube_client.py [--runs 9]     (needs uv: .venv/bin/uv; output under bench/.cache/kube-client)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

BENCH = Path(__file__).resolve().parent
CACHE = BENCH / ".cache" / "kube-client"
PROVIDED = re.compile(r"^(urllib3|dateutil|python_dateutil|six|typing_extensions)([-.]|$)", re.I)

# (imports, client construction) per variant; the child process times each part itself.
SNIPPETS = {
    # The official client: its generated API classes for the groups eksguard reads.
    "kubernetes": ("import kubernetes.client as k", """
c = k.Configuration(); c.host = "https://127.0.0.1:9"; c.api_key = {"authorization": "Bearer x"}
api = k.ApiClient(c); k.CoreV1Api(api); k.NetworkingV1Api(api); k.CustomObjectsApi(api)
"""),
    # lightkube with generic (dict) resources, as eksguard/aws/kube.py uses it.
    "lightkube": ("""
from lightkube import Client, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.generic_resource import create_global_resource, create_namespaced_resource
""", """
create_namespaced_resource("networking.k8s.io", "v1", "NetworkPolicy", "networkpolicies")
create_global_resource("crd.projectcalico.org", "v1", "GlobalNetworkPolicy", "globalnetworkpolicies")
Client(KubeConfig.from_one(cluster=Cluster(server="https://127.0.0.1:9"), user=User(token="x")))
"""),
    # lightkube with its typed models (for comparison: they pull in the 390 KB core_v1 model module).
    "lightkube-typed": ("""
from lightkube import Client, KubeConfig
from lightkube.config.models import Cluster, User
from lightkube.resources.core_v1 import ConfigMap, Namespace, ServiceAccount
from lightkube.resources.networking_v1 import NetworkPolicy
""", """
Client(KubeConfig.from_one(cluster=Cluster(server="https://127.0.0.1:9"), user=User(token="x")))
"""),
}
TIMED = """import time
_t0 = time.perf_counter()
{imports}
_t1 = time.perf_counter()
{build}
_t2 = time.perf_counter()
print((_t1 - _t0) * 1000, (_t2 - _t1) * 1000)
"""
PACKAGE = {"kubernetes": "kubernetes", "lightkube": "lightkube", "lightkube-typed": "lightkube"}


def install(uv: str, python: str, package: str, arm: bool) -> Path:
    target = CACHE / f"{package}-{'arm64' if arm else 'host'}"
    if not target.exists():
        platform = ["--python-platform", "aarch64-manylinux_2_28", "--only-binary", ":all:"] if arm else []
        subprocess.run([uv, "pip", "install", "--quiet", "--python", python, "--python-version", "3.12",
                        "--target", str(target), *platform, package], check=True)
    return target


def shipped(target: Path) -> list[Path]:
    return [p for p in target.rglob("*") if p.is_file() and "__pycache__" not in p.parts
            and not PROVIDED.match(p.relative_to(target).parts[0])]


def size(target: Path) -> dict[str, int]:
    files = shipped(target)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for f in files:
            zf.write(f, f.relative_to(target))
    return {"files": len(files), "unzipped_kib": sum(f.stat().st_size for f in files) // 1024,
            "zipped_kib": len(buf.getvalue()) // 1024}


def versions(target: Path) -> dict[str, str]:
    out = {}
    for d in target.glob("*.dist-info"):
        name, _, version = d.name.removesuffix(".dist-info").partition("-")
        if not PROVIDED.match(name):
            out[name] = version
    return dict(sorted(out.items()))


def run(python: str, code: str, path: Path | None, pyc: bool, importtime: bool = False) -> tuple[float, str, str]:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONNOUSERSITE": "1"}
    if path is not None:
        env["PYTHONPATH"] = str(path)
    if not pyc:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    start = time.perf_counter()
    proc = subprocess.run([python, *(["-X", "importtime"] if importtime else []), "-c", code], env=env,
                          capture_output=True, text=True, check=True)
    return (time.perf_counter() - start) * 1000, proc.stdout, proc.stderr


def modules_imported(stderr: str) -> int:
    return sum(1 for ln in stderr.splitlines() if ln.startswith("import time:") and "[us]" not in ln)


def prepared(python: str, target: Path, pyc: bool) -> Path:
    copy = CACHE / f"{target.name}-{'pyc' if pyc else 'nopyc'}"
    if not copy.exists():
        shutil.copytree(target, copy, ignore=shutil.ignore_patterns("__pycache__"))
        if pyc:
            subprocess.run([python, "-m", "compileall", "-q", str(copy)], check=True)
    return copy


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--uv", default=str(BENCH.parent / ".venv" / "bin" / "uv"))
    args = ap.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    cases = []
    for name, (imports, build) in SNIPPETS.items():
        arm, host = (install(args.uv, args.python, PACKAGE[name], arm) for arm in (True, False))
        results[name] = {"versions": versions(arm), "size_arm64": size(arm)}
        code = TIMED.format(imports=imports, build=build)
        for pyc in (False, True):
            path = prepared(args.python, host, pyc)
            results[name]["modules"] = modules_imported(run(args.python, code, path, pyc, importtime=True)[2])
            cases.append((name, "pyc" if pyc else "no_pyc", code, path, pyc))
    # Interleaved rounds, so that a busy machine slows every variant alike.
    samples: dict[tuple[str, str], list[tuple[float, float, float]]] = {}
    bare = []
    for _ in range(args.runs):
        bare.append(run(args.python, "pass", None, True)[0])
        for name, mode, code, path, pyc in cases:
            wall, out, _ = run(args.python, code, path, pyc)
            imp, build = (float(x) for x in out.split())
            samples.setdefault((name, mode), []).append((wall, imp, build))
    for (name, mode), rows in samples.items():
        walls, imps, builds = zip(*rows, strict=True)
        results[name][mode] = {"wall_ms": round(statistics.median(walls)), "import_ms": round(statistics.median(imps)),
                               "build_client_ms": round(statistics.median(builds))}
    results["bare_interpreter_ms"] = round(statistics.median(bare))  # type: ignore[assignment]
    results["load_average"] = os.getloadavg()  # type: ignore[assignment]
    print(json.dumps(results, indent=1))
    (CACHE / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
