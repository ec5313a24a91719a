"""One parse of each botocore data file per test process.

Every test builds fresh boto3 sessions (a Lambda cold start each), and every session's loader parses the
service models again: ec2's alone is megabytes of JSON, parsed hundreds of times in a run. botocore already
shares one parsed model between the clients of a session and treats it as read-only; this shares it between
sessions too. Tests only: in Lambda a container has one session."""

from __future__ import annotations

from typing import Any

from botocore import loaders

_parsed: dict[str, Any] = {}
_load_file = loaders.JSONFileLoader.load_file


def _cached_load_file(self: loaders.JSONFileLoader, file_path: str) -> Any:
    if file_path not in _parsed:
        _parsed[file_path] = _load_file(self, file_path)
    return _parsed[file_path]


def share_parsed_models() -> None:
    loaders.JSONFileLoader.load_file = _cached_load_file  # type: ignore[method-assign]
