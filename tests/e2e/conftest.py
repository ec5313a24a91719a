"""End-to-end: the `eksguard` command in a subprocess against a moto server the tests start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from tests.paths import ROOT

from eksguard.local.seed import DEMO_REGION, RANDOM_SEED, DemoAccount, seed_demo
from eksguard.local.standin import free_port, seed_random


@dataclass
class Cli:
    env: dict[str, str]
    endpoint: str

    def __call__(self, *args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "eksguard.cli.main", *args], cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=timeout, check=False)

    def session(self) -> boto3.session.Session:
        return boto3.session.Session(region_name=DEMO_REGION)

    def client(self, service: str):  # type: ignore[no-untyped-def]
        return boto3.client(service, region_name=DEMO_REGION, endpoint_url=self.endpoint)


@dataclass
class LocalUp:
    """`eksguard local up` running in a process of its own."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path  # what it printed (stdout and stderr)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def start_local_up(tmp_path: Path, env: Mapping[str, str], *args: str) -> LocalUp:
    """Started the way a user starts it, on a free port; returns once it printed its exports. Its output goes to a
    file, not a pipe: a pipe nobody drains after start-up would fill, and then block the stand-in's next line."""
    port = free_port()
    log = tmp_path / f"local-up-{port}.log"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "eksguard.cli.main", "local", "up", "--port", str(port), *args],
                                cwd=ROOT, env={k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"}, stdout=out,
                                stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while "export AWS_ENDPOINT_URL" not in log.read_text():
        if time.monotonic() > deadline or proc.poll() is not None:
            proc.kill()
            proc.wait()
            raise RuntimeError("stand-in did not start:\n" + log.read_text())
        time.sleep(0.1)
    return LocalUp(proc, port, log)


def stop_local_up(up: LocalUp) -> int | None:
    """SIGTERM, then its exit code. None only under `make test-timeshift`, where libfaketimeMT can hold a process's
    exit for minutes after it stopped serving: then it is killed. Anywhere else, or still serving, it fails."""
    up.proc.send_signal(signal.SIGTERM)
    try:
        return up.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with socket.socket() as s:
            s.settimeout(1.0)
            serving = s.connect_ex(("127.0.0.1", up.port)) == 0
        up.proc.kill()
        up.proc.wait()
        if serving or not os.environ.get("FAKETIME"):
            raise AssertionError(f"eksguard local up {'still served' if serving else 'had not exited'} 30 s after "
                                 f"SIGTERM:\n{up.log.read_text()}") from None
        return None


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    """A fresh stand-in process per test (`eksguard local up --seed none`). A process of its own because moto's
    state is process-wide, and the ids that events/ name hold only on a fresh server (a /moto-api/reset does not
    replay the same random draws)."""
    up = start_local_up(tmp_path, os.environ, "--seed", "none")
    try:
        yield up.endpoint
    finally:
        stop_local_up(up)


@pytest.fixture
def cli(server: str) -> Iterator[Cli]:
    env = {**os.environ, "AWS_ENDPOINT_URL": server, "AWS_DEFAULT_REGION": DEMO_REGION, "AWS_REGION": DEMO_REGION}
    yield Cli(env, server)


@pytest.fixture
def demo(cli: Cli) -> DemoAccount:
    """Provisioned and seeded, as `eksguard local up --seed demo` leaves the stand-in."""
    assert cli("local", "provision").returncode == 0
    seed_random(cli.endpoint, RANDOM_SEED)
    os.environ["AWS_ENDPOINT_URL"] = cli.endpoint
    try:
        return seed_demo(boto3.session.Session(region_name=DEMO_REGION))
    finally:
        del os.environ["AWS_ENDPOINT_URL"]
