"""The command line's one error boundary: every error becomes one line naming the problem and what to do,
and exit status 2 (1 is reserved for ``scan --fail-on`` and ``local replay`` with an unmatched event).
``--debug`` or ``EKSGUARD_DEBUG=1`` shows the traceback instead."""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Any

EXIT_ERROR = 2
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-[0-9]+")


class CliError(Exception):
    """A problem with what the user asked for; the message says what to do."""


def check_region(region: str) -> str:
    if not REGION.fullmatch(region):
        raise CliError(f"{region!r} is not an AWS region name (like eu-west-1)")
    return region


def read_event(path: str) -> dict[str, Any]:
    """A JSON event file ('-' for stdin), which must hold one JSON object."""
    name = "standard input" if path == "-" else path
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"event file {path}: no such file") from None
    except IsADirectoryError:
        raise CliError(f"event file {path} is a directory; pass a .json file") from None
    except (PermissionError, UnicodeDecodeError) as exc:
        raise CliError(f"event file {path} cannot be read: {exc}") from None
    try:
        event = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"{name} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(event, dict):
        kind = "null" if event is None else type(event).__name__
        raise CliError(f"{name}: an event must be a JSON object, got {kind}")
    return event


def explain(exc: BaseException) -> str:
    """One line for any error: what went wrong and, where we know, what to do."""
    from botocore.exceptions import (
        ClientError,
        EndpointConnectionError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
    )

    from eksguard.config import ConfigError
    from eksguard.local.template import TemplateError

    if isinstance(exc, CliError | ConfigError):
        return str(exc)
    if isinstance(exc, TemplateError):
        return f"template: {exc}"
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return ("no AWS credentials: configure a profile (aws configure / AWS_PROFILE), or for the local "
                "stand-in export AWS_ENDPOINT_URL and test credentials as `eksguard local up` prints them")
    if isinstance(exc, NoRegionError):
        return "no AWS region: pass --region or set AWS_DEFAULT_REGION"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach {exc.kwargs.get('endpoint_url', 'AWS')}: is the endpoint (or `eksguard local up`) up?"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS refused {exc.operation_name}: {error.get('Code', '?')}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, OSError) and exc.filename:
        return f"{exc.filename}: {exc.strerror or exc}"
    from botocore.exceptions import BotoCoreError

    if isinstance(exc, BotoCoreError):
        return f"AWS could not be read: {exc}"
    return (f"unexpected {type(exc).__name__}: {exc} (a bug in eksguard: re-run with --debug and report the "
            "traceback)")


def debugging(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("EKSGUARD_DEBUG", "") not in ("", "0", "false")
