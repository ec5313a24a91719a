"""`make detect`: detection quality of `eksguard scan` and Prowler on one labelled corpus (corpus.py).

    python bench/detection/run.py [--runs 3] [--no-variant] [--python312 PATH] [--uv PATH]

Starts a fresh stand-in (standin.py), seeds the corpus (seed.py), runs `eksguard scan --format json` and
Prowler (pinned, in bench/.venv-prowler, made on first use) against it ``--runs`` times each, judges the
first run of each against the labels (score.py; later runs must report the same) and writes
bench/detection/results.json and docs/detection.md (report.py). Raw outputs: bench/detection/.out/.
Prowler runs once more with --scan-unused-services (its documented switch for groups no interface uses).
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(REPO), str(REPO / "layers" / "eksguard")]

from bench.detection import corpus, report, score  # noqa: E402
from bench.detection.seed import Seeded, seed_corpus  # noqa: E402

HERE = Path(__file__).resolve().parent
OUT = HERE / ".out"
RESULTS = HERE / "results.json"
DOC = REPO / "docs" / "detection.md"
PROWLER_VENV = REPO / "bench" / ".venv-prowler"
PROWLER_REQUIREMENTS = HERE / "requirements-prowler.txt"
PROWLER_VERSION = "5.46.0"
EKSGUARD = REPO / ".venv" / "bin" / "eksguard"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
               "AWS_DEFAULT_REGION": corpus.IAM_REGION, "AWS_REGION": corpus.IAM_REGION}


def log(message: str) -> None:
    print(f"[detect] {message}", file=sys.stderr, flush=True)


# -- Prowler's own virtual environment ---------------------------------------------------------------------

def ensure_prowler(uv: str, python312: str) -> dict[str, Any]:
    """bench/.venv-prowler with exactly requirements-prowler.txt; rebuilt when the pins change. Returns
    what the install cost (measured when it was made)."""
    marker = PROWLER_VENV / ".detect-installed"
    digest = hashlib.sha256(PROWLER_REQUIREMENTS.read_bytes()).hexdigest()[:16]
    if marker.exists():
        recorded = json.loads(marker.read_text())
        if recorded.get("requirements") == digest:
            return dict(recorded)
    log(f"installing Prowler {PROWLER_VERSION} into {PROWLER_VENV.relative_to(REPO)} (first use)")
    shutil.rmtree(PROWLER_VENV, ignore_errors=True)
    # An empty download cache of its own: the cost measured is a first install's, whatever uv cached before.
    with tempfile.TemporaryDirectory(prefix="uv-cache-") as cache:
        env = {**os.environ, "UV_CACHE_DIR": cache}
        started = time.perf_counter()
        subprocess.run([uv, "venv", "--quiet", "--python", python312, str(PROWLER_VENV)], check=True, env=env)
        # Byte code compiled at install: otherwise Prowler's first run pays for it and the timings differ.
        subprocess.run([uv, "pip", "install", "--quiet", "--compile-bytecode", "--python",
                        str(PROWLER_VENV / "bin" / "python"), "-r", str(PROWLER_REQUIREMENTS)], check=True, env=env)
        seconds = time.perf_counter() - started
    cost = {"requirements": digest, "seconds": round(seconds, 1),
            "size_bytes": _tree_size(PROWLER_VENV), "packages": _count_pins(PROWLER_REQUIREMENTS),
            "installed": datetime.now(UTC).strftime("%Y-%m-%d"),
            "with": "uv pip install --compile-bytecode, empty download cache"}
    marker.write_text(json.dumps(cost))
    return cost


def _tree_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and not f.is_symlink())


def _count_pins(requirements: Path) -> int:
    return sum(1 for line in requirements.read_text().splitlines() if "==" in line and not line.startswith("#"))


# -- the stand-in ------------------------------------------------------------------------------------------

class Standin:
    """bench/detection/standin.py in its own process; counts every call it serves."""

    def __init__(self) -> None:
        OUT.mkdir(parents=True, exist_ok=True)
        self.log_path = OUT / "standin.log"
        self.proc = subprocess.Popen([sys.executable, str(HERE / "standin.py"), "--port", "0"],
                                     stdout=subprocess.PIPE, stderr=self.log_path.open("w"), text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 120)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("READY "):
            self.stop()
            raise SystemExit(f"the stand-in did not start; see {self.log_path}")
        self.endpoint = f"http://127.0.0.1:{int(line.split()[1])}"

    def calls(self, reset: bool = False) -> dict[str, Any]:
        request = urllib.request.Request(self.endpoint + ("/_bench/reset" if reset else "/_bench/calls"),
                                         method="POST" if reset else "GET", data=b"" if reset else None)
        with urllib.request.urlopen(request, timeout=60) as response:
            return dict(json.loads(response.read()))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# -- the tools ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Tool:
    name: str  # the configuration's name in the report
    kind: str  # score.EKSGUARD or score.PROWLER: which ids of a case it is judged by
    runs: int


def tool_env(endpoint: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **CREDENTIALS, "AWS_ENDPOINT_URL": endpoint}


def eksguard_command() -> list[str]:
    cmd = [str(EKSGUARD), "scan", *(a for r in corpus.REGIONS for a in ("--region", r)), "--format", "json"]
    # Once scan reads inside clusters (K8 family), this corpus has no Kubernetes API to offer it.
    usage = subprocess.run([str(EKSGUARD), "scan", "--help"], capture_output=True, text=True, check=True).stdout
    return cmd + (["--no-kubernetes"] if "--no-kubernetes" in usage else [])


def prowler_command(out_dir: Path, name: str, unused: bool) -> list[str]:
    return [str(PROWLER_VENV / "bin" / "prowler"), "aws", "--checks", *corpus.prowler_checks(),
            "--region", *corpus.REGIONS, "--output-formats", "json-ocsf", "--output-directory", str(out_dir),
            "--output-filename", name, "--no-banner", "--no-color", "--ignore-exit-code-3", "--log-level", "ERROR",
            *(["--scan-unused-services"] if unused else [])]


def run_tool(tool: Tool, standin: Standin, run: int) -> dict[str, Any]:
    """One run: wall time, the calls the stand-in served, the flags it reported."""
    env = tool_env(standin.endpoint)
    out_dir = OUT / f"{tool.name}-{run}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    if tool.kind == score.EKSGUARD:
        cmd = eksguard_command()
    else:
        cmd = prowler_command(out_dir, "prowler", unused=tool.name.endswith("unused"))
    standin.calls(reset=True)
    started = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=out_dir, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    calls = standin.calls()
    (out_dir / "stdout").write_text(proc.stdout)
    (out_dir / "stderr").write_text(proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{tool.name} exited {proc.returncode}: {_last_line(proc.stderr or proc.stdout)} "
                         f"(see {out_dir})")
    if tool.kind == score.EKSGUARD:
        flags = score.eksguard_flags(json.loads(proc.stdout))
    else:
        flags = score.prowler_flags(json.loads((out_dir / "prowler.ocsf.json").read_text()))
    result: dict[str, Any] = {"wall_s": round(wall, 2), "calls": calls["total"], "returncode": proc.returncode,
                              "command": [Path(cmd[0]).name, *(a.replace(f"{REPO}/", "") for a in cmd[1:])],
                              "flags": [list(_flag_key(f)) for f in flags]}
    if tool.kind == score.PROWLER:
        text = proc.stdout + proc.stderr
        if own := re.search(r"Scan completed!.*? in ([\d.]+)s", text):
            result["checks_s"] = float(own.group(1))  # Prowler's own progress bar: the checks, not start-up
        result["errors"] = prowler_errors(text)
    return {**result, "_flags": flags}


def _flag_key(flag: score.Flag) -> tuple[str, str]:
    return flag.rule, flag.names[0] if flag.names else "?"


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


_ERROR = re.compile(r"\[File: (\w+\.py):(\d+)\]\s+\[Module: \w+\]\s+ERROR: ([\w-]+) -- (\w+)\[\d+\]: (.*)")


def prowler_errors(text: str) -> list[dict[str, Any]]:
    """Prowler's logged errors, one per place in its code: which service method failed and how."""
    seen: dict[tuple[str, str], dict[str, Any]] = {}
    for match in _ERROR.finditer(text):
        file, line, region, error, message = match.groups()
        where = f"{file}:{line}"
        entry = seen.setdefault((where, error), {"where": where, "function": _function_at(file, int(line)),
                                                 "error": error, "message": _short(message), "regions": []})
        if region not in entry["regions"]:
            entry["regions"].append(region)
    return list(seen.values())


def _short(message: str) -> str:
    if message.startswith("Unable to parse response"):
        return "HTTP 500 from the stand-in"
    op = re.search(r"\((\d{3})\) when calling the (\w+) operation", message)
    if op:
        return f"HTTP {op.group(1)} from the stand-in on {op.group(2)}"
    return message.strip()[:100]


def not_implemented(standin_log: str) -> list[str]:
    """The actions moto answered "not implemented" (HTTP 500) during the run."""
    return sorted(set(re.findall(r"NotImplementedError: The (\w+) action has not been implemented", standin_log)))


def _function_at(file: str, line: int) -> str:
    """The Prowler method that logged an error (the nearest ``def`` above the line)."""
    site = next(iter((PROWLER_VENV / "lib").glob("python3*/site-packages/prowler/providers/aws/services")), None)
    if site is None:
        return "?"
    for path in site.rglob(file):
        lines = path.read_text().splitlines()[:line]
        for text in reversed(lines):
            if m := re.match(r"\s*def (\w+)", text):
                return m.group(1)
    return "?"


# -- the run -----------------------------------------------------------------------------------------------

def versions() -> dict[str, str]:
    probe = subprocess.run([str(PROWLER_VENV / "bin" / "python"), "-c",
                            "import importlib.metadata as m; print(m.version('prowler'))"],
                           capture_output=True, text=True, check=True)
    rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                         check=False).stdout.strip()
    return {"eksguard": f"{importlib.metadata.version('eksguard')} ({rev or 'unknown commit'})",
            "prowler": probe.stdout.strip(), "moto": importlib.metadata.version("moto"),
            "boto3": importlib.metadata.version("boto3"), "python": platform.python_version()}


def measure(tool: Tool, standin: Standin) -> dict[str, Any]:
    runs = []
    for run in range(1, tool.runs + 1):
        log(f"{tool.name}: run {run}/{tool.runs}")
        runs.append(run_tool(tool, standin, run))
    first = runs[0]
    changed = [i + 1 for i, r in enumerate(runs) if sorted(r["flags"]) != sorted(first["flags"])]
    walls = [r["wall_s"] for r in runs]
    out = {"runs": [{k: v for k, v in r.items() if k not in ("_flags", "flags")} for r in runs],
           "wall_s_median": round(statistics.median(walls), 2), "wall_s_min": min(walls), "wall_s_max": max(walls),
           "calls_median": statistics.median(r["calls"] for r in runs), "flags": sorted(first["flags"]),
           "runs_that_differ": changed, "_flags": first["_flags"]}
    if "checks_s" in first:
        out["checks_s_median"] = round(statistics.median(r.get("checks_s", 0.0) for r in runs), 2)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="timed runs of each tool (median reported)")
    parser.add_argument("--no-variant", action="store_true", help="skip Prowler --scan-unused-services")
    parser.add_argument("--python312", default=shutil.which("python3.12") or sys.executable)
    parser.add_argument("--uv", default=shutil.which("uv") or str(Path(sys.executable).with_name("uv")))
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--doc", type=Path, default=DOC)
    args = parser.parse_args(argv)

    install = ensure_prowler(args.uv, args.python312)
    tools = [Tool("eksguard", score.EKSGUARD, args.runs), Tool("prowler", score.PROWLER, args.runs)]
    if not args.no_variant:
        tools.append(Tool("prowler-scan-unused", score.PROWLER, 1))
    standin = Standin()
    try:
        import boto3

        from eksguard.local.standin import seed_random

        os.environ.update(tool_env(standin.endpoint))
        seed_random(standin.endpoint, corpus.RANDOM_SEED)
        log("seeding the corpus")
        started = time.perf_counter()
        seeded = seed_corpus(boto3.session.Session())
        seed_s = time.perf_counter() - started
        (OUT / "seeded.json").write_text(json.dumps(seeded.to_json(), indent=1))
        measured = {tool.name: measure(tool, standin) for tool in tools}
    finally:
        standin.stop()
    results = assemble(seeded, tools, measured, install, round(seed_s, 1))
    results["standin_not_implemented"] = not_implemented(standin.log_path.read_text())
    args.results.write_text(json.dumps(results, indent=1, sort_keys=False) + "\n")
    args.doc.write_text(report.render(results))
    log(f"wrote {args.results} and {args.doc}")
    print(report.summary(results))
    return 0


def assemble(seeded: Seeded, tools: list[Tool], measured: dict[str, dict[str, Any]], install: dict[str, Any],
             seed_s: float) -> dict[str, Any]:
    families = corpus.check_family()
    labels = seeded.by_key()
    out_tools = {}
    for tool in tools:
        data = measured[tool.name]
        scored = score.score(tool.kind, data.pop("_flags"), corpus.ALL_CASES, seeded, families)
        out_tools[tool.name] = {"kind": tool.kind, **data, "score": scored.to_json()}
    return {
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": versions(),
        "machine": {"cpus": os.cpu_count(), "load_1m_at_end": round(os.getloadavg()[0], 2),
                    "platform": platform.platform()},
        "prowler_install": install,
        "regions": list(corpus.REGIONS),
        "prowler_checks": list(corpus.prowler_checks()),
        "seed_s": seed_s,
        "account": seeded.account,
        "cases": [{"case_id": c.case_id, "family": c.family, "resource": c.resource,
                   "label": labels[c.resource].label if c.resource in labels else c.resource,
                   "bad": c.bad, "rules": list(c.rules), "also": list(c.also), "prowler": list(c.prowler),
                   "why": c.why} for c in corpus.ALL_CASES],
        "kubernetes_cases": len(corpus.KUBERNETES_CASES),
        "tools": out_tools,
    }


if __name__ == "__main__":
    sys.exit(main())
