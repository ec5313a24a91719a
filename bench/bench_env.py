"""Set up what the comparison runs on: Cloud Custodian's own virtual environment, a stand-in for the
Lambda Python runtime and for the public Powertools layer, eksguard's `sam build` output and Custodian's
Lambda archive. Everything lands under bench/.venv-c7n and bench/.cache (both gitignored)."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
CACHE = BENCH / ".cache"
C7N_VENV = BENCH / ".venv-c7n"
RUNTIME_VENV = CACHE / "lambda-runtime"
POWERTOOLS_LAYER = CACHE / "powertools-layer" / "python"
SAM_BUILD = CACHE / "sam-build"
C7N_ARCHIVE = CACHE / "custodian-archive.zip"
SAM_SOURCES = ("template.yaml", "samconfig.toml", "functions", "layers")


@dataclass(frozen=True)
class Tools:
    python312: str
    uv: str | None
    sam: str


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


def find_tools(python312: str | None, uv: str | None, sam: str | None) -> Tools:
    py = python312 or getattr(sys, "_base_executable", None) or sys.executable
    if not _is_312(py):
        raise SystemExit(f"{py} is not Python 3.12 (the Lambda runtime's version): pass --python312")
    uv = uv or shutil.which("uv") or _sibling(sys.executable, "uv")
    sam = sam or _existing(REPO / ".venv-sam" / "bin" / "sam") or shutil.which("sam")
    if not sam:
        raise SystemExit("SAM CLI not found: pass --sam (make sam installs it into .venv-sam)")
    return Tools(py, uv, sam)


def _is_312(python: str) -> bool:
    out = subprocess.run([python, "-c", "import sys; print(sys.version_info[:2] == (3, 12))"],
                         capture_output=True, text=True, check=False)
    return out.stdout.strip() == "True"


def _sibling(executable: str, name: str) -> str | None:
    candidate = Path(executable).parent / name
    return str(candidate) if candidate.exists() else None


def _existing(path: Path) -> str | None:
    return str(path) if path.exists() else None


def _digest(*files: Path) -> str:
    h = hashlib.sha256()
    for f in files:
        h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _run(cmd: list[str], **kw: object) -> None:
    subprocess.run(cmd, check=True, **kw)  # type: ignore[call-overload]


def ensure_venv(path: Path, requirements: Path, tools: Tools, compile_bytecode: bool) -> Path:
    """A virtual environment with exactly the pinned requirements (rebuilt when they change)."""
    marker = path / ".bench-installed"
    want = _digest(requirements)
    if marker.exists() and marker.read_text() == want:
        return path / "bin" / "python"
    log(f"creating {path.relative_to(REPO)} from {requirements.name}")
    shutil.rmtree(path, ignore_errors=True)
    python = path / "bin" / "python"
    if tools.uv:
        _run([tools.uv, "venv", "--quiet", "--python", tools.python312, str(path)])
        _run([tools.uv, "pip", "install", "--quiet", "--python", str(python), "-r", str(requirements),
              *(["--compile-bytecode"] if compile_bytecode else [])])
    else:
        _run([tools.python312, "-m", "venv", str(path)])
        _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r",
              str(requirements)])  # pip compiles byte code by default
        if not compile_bytecode:
            _strip_pyc(path)
    marker.write_text(want)
    return python


def ensure_layer_dir(target: Path, requirements: Path, tools: Tools, runtime_python: Path) -> Path:
    """A layer directory (what Lambda mounts at /opt/python), packages installed without dependencies."""
    marker = target.parent / ".bench-installed"
    want = _digest(requirements)
    if marker.exists() and marker.read_text() == want:
        return target
    log(f"installing {requirements.name} into {target.relative_to(REPO)}")
    shutil.rmtree(target.parent, ignore_errors=True)
    target.mkdir(parents=True)
    if tools.uv:
        _run([tools.uv, "pip", "install", "--quiet", "--python", str(runtime_python), "--no-deps",
              "--target", str(target), "--compile-bytecode", "-r", str(requirements)])
    else:
        _run([str(runtime_python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
              "--no-deps", "--target", str(target), "-r", str(requirements)])
    marker.write_text(want)
    return target


def sam_build(tools: Tools) -> Path:
    """`sam build` of a clean copy of the application (no __pycache__, no egg-info) into .cache."""
    src = CACHE / "sam-src"
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SAM_SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, src / name)
    # The layer's compiled wheels (msgspec, under lightkube) for this machine, where the bench runs them; the
    # package sizes differ from an arm64 build by a few KB.
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0", "EKSGUARD_LAYER_ARCH": host_arch(),
           "PATH": f"{Path(tools.python312).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    log(f"sam build (a clean copy of template.yaml, functions/, layers/; layer wheels for {host_arch()})")
    out = subprocess.run([tools.sam, "build", "--build-dir", str(src / ".aws-sam" / "build")], cwd=src, env=env,
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise SystemExit(f"sam build failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    shutil.rmtree(SAM_BUILD, ignore_errors=True)
    # As built: the eksguard layer ships byte code for its package (layers/eksguard/Makefile), the functions none.
    shutil.copytree(src / ".aws-sam" / "build", SAM_BUILD)
    return SAM_BUILD


def host_arch() -> str:
    import platform

    return "arm64" if platform.machine() in ("aarch64", "arm64") else "x86_64"


def custodian_archive(c7n_python: Path, policy: Path, region: str) -> tuple[Path, dict[str, object]]:
    import json

    log("building Cloud Custodian's Lambda archive with c7n.mu.PolicyLambda")
    out = subprocess.run([str(c7n_python), str(BENCH / "custodian" / "build_archive.py"), str(policy),
                          str(C7N_ARCHIVE)], capture_output=True, text=True, check=False,
                         env={**os.environ, "AWS_DEFAULT_REGION": region})
    if out.returncode != 0:
        raise SystemExit(f"building the Custodian archive failed:\n{out.stderr[-3000:]}")
    return C7N_ARCHIVE, json.loads(out.stdout.strip().splitlines()[-1])


def fresh_copy(src: Path, dest: Path, pyc: str = "strip") -> Path:
    """A copy of a code directory: with no byte code (``strip``: Lambda compiles every cold start what ships
    without it), with the byte code it ships (``keep``), or with all of it compiled ahead of time (``compile``)."""
    shutil.rmtree(dest, ignore_errors=True)
    ignore = None if pyc == "keep" else shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(src, dest, ignore=ignore)
    if pyc == "compile":
        import compileall

        compileall.compile_dir(str(dest), quiet=1, workers=1)
    return dest


def opt_python(layers: list[Path], dest: Path, pyc: list[str]) -> Path:
    """What Lambda makes of a function's layers: every layer extracted into one /opt, in the function's order, a
    later layer's file replacing an earlier one's (the Powertools layer and the KubernetesLayer both carry
    typing_extensions: on the functions with both, the KubernetesLayer's, listed last, is what runs)."""
    shutil.rmtree(dest, ignore_errors=True)
    for layer, mode in zip(layers, pyc, strict=True):
        ignore = None if mode == "keep" else shutil.ignore_patterns("__pycache__", "*.pyc")
        shutil.copytree(layer, dest, ignore=ignore, dirs_exist_ok=True)
    return dest


def unzip_fresh(archive: Path, dest: Path) -> Path:
    shutil.rmtree(dest, ignore_errors=True)
    with zipfile.ZipFile(archive) as z:
        z.extractall(dest)
    return dest


def _strip_pyc(root: Path) -> None:
    for cache in root.rglob("__pycache__"):
        shutil.rmtree(cache, ignore_errors=True)
