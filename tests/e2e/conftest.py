"""End-to-end: the `eksguard` command in a subprocess against a moto server the tests start."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

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


@pytest.fixture
def server() -> Iterator[str]:
    """A fresh stand-in process per test, started the way a user starts it (`eksguard local up`).
    A process of its own because moto's state is process-wide, and the ids that events/ name hold
    only on a fresh server (a /moto-api/reset does not replay the same random draws)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k != "AWS_ENDPOINT_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "eksguard.cli.main", "local", "up", "--port", str(port),
                             "--seed", "none"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        seen.append(proc.stdout.readline())  # type: ignore[union-attr]
        if "export AWS_ENDPOINT_URL" in seen[-1]:
            break
    else:
        proc.kill()
        raise RuntimeError("stand-in did not start:\n" + "".join(seen))
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)


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
