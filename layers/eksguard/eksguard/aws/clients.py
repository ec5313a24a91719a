"""Lazily created, cached boto3 clients. Nothing here runs at import time.

Every client goes to ``EKSGUARD_ENDPOINT_URL`` when it is set (``sam local invoke`` passes a container only
the variables the template declares, and the template declares this one), else wherever boto3 points it
(``AWS_ENDPOINT_URL``, which the stand-in and the CLI use, then AWS). In a ``sam local`` container with
neither, no client is made: a local test must not remediate the account of whatever credentials the shell had.
Clients retry in adaptive mode so bursts of revokes stay inside EC2's rate limits.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from eksguard import __version__

# Five attempts: the backoff before the last one stays around 8 s on average, so a throttled call
# gives up well inside the guards' 60 s timeout and the event is retried by Lambda instead.
BOTO_CONFIG = BotoConfig(
    retries={"mode": "adaptive", "max_attempts": 5},
    user_agent_extra=f"eksguard/{__version__}",
    connect_timeout=5,
    read_timeout=20,
)


ENDPOINT_VARIABLE = "EKSGUARD_ENDPOINT_URL"
ALLOW_REAL_AWS_VARIABLE = "EKSGUARD_ALLOW_REAL_AWS"


class RealAwsRefused(RuntimeError):
    """A local invoke with no endpoint override would have called real AWS."""


def endpoint_override(env: Mapping[str, str] | None = None) -> str | None:
    """The endpoint every client must use, or None to leave it to boto3 (``AWS_ENDPOINT_URL``, then AWS).

    Raises RealAwsRefused in a ``sam local`` container when neither variable names an endpoint, unless
    ``EKSGUARD_ALLOW_REAL_AWS=true`` says real AWS is meant. SAM sets ``AWS_SAM_LOCAL=true`` and its Runtime
    Interface Emulator ``AWS_LAMBDA_RUNTIME_API``; ``eksguard local invoke`` sets only the first (it runs the
    handler in-process, and refuses without ``AWS_ENDPOINT_URL`` itself), Lambda only the second."""
    env = os.environ if env is None else env
    url = env.get(ENDPOINT_VARIABLE, "").strip()
    if url:
        return url
    in_sam_container = env.get("AWS_SAM_LOCAL", "").lower() == "true" and bool(env.get("AWS_LAMBDA_RUNTIME_API"))
    if in_sam_container and not env.get("AWS_ENDPOINT_URL") and env.get(ALLOW_REAL_AWS_VARIABLE, "").lower() != "true":
        raise RealAwsRefused(
            f"eksguard refuses to call AWS from a sam local container without {ENDPOINT_VARIABLE}: it would act on "
            f"the real account of the credentials sam passed on. Point it at the stand-in (--env-vars "
            f"docs/sam-local-env.json), or set {ALLOW_REAL_AWS_VARIABLE}=true to mean real AWS.")
    return None


class Aws:
    """One session, one client per (service, region)."""

    def __init__(self, home_region: str | None = None, session: boto3.session.Session | None = None):
        self.session = session or boto3.session.Session()
        self.home_region = (
            home_region or os.environ.get("AWS_REGION") or self.session.region_name
            or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        )
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()
        self._account: str | None = None

    def client(self, service: str, region: str | None = None) -> Any:
        key = (service, region or self.home_region)
        with self._lock:
            if key not in self._clients:
                self._clients[key] = self.session.client(service, region_name=key[1], config=BOTO_CONFIG,
                                                         endpoint_url=endpoint_override())
            return self._clients[key]

    def account_id(self) -> str:
        if self._account is None:
            self._account = self.client("sts").get_caller_identity()["Account"]
        return self._account


_default: Aws | None = None


def default() -> Aws:
    """The process-wide instance a warm Lambda reuses across invocations."""
    global _default
    if _default is None:
        _default = Aws()
    return _default


def install(aws: Aws) -> None:
    """Make ``aws`` the process-wide instance (the local runner keeps one per in-process container)."""
    global _default
    _default = aws


def reset() -> None:
    """Forget cached clients (tests switch endpoints and mocks between cases)."""
    global _default
    _default = None


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))
