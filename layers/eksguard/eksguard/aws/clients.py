"""Lazily created, cached boto3 clients. Nothing here runs at import time.

Every client honours ``AWS_ENDPOINT_URL`` (boto3 reads it), which is how the local stand-in works,
and retries in adaptive mode so bursts of revokes stay inside EC2's rate limits.
"""

from __future__ import annotations

import os
import threading
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
                self._clients[key] = self.session.client(service, region_name=key[1], config=BOTO_CONFIG)
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
