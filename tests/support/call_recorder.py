"""Record every AWS call a function makes while ``eksguard.local.invoke`` runs it, for the permission check
(tests/support/permissions_check.py).

``eksguard.local.invoke`` enters ``recording(logical_id, app)`` around each handler call when
``EKSGUARD_INVOKE_HOOK`` names it; the test session sets that variable and ``EKSGUARD_CALL_LOG_DIR``, so CLI
subprocesses (``eksguard local invoke/replay/demo``) record too. Each invocation appends one JSON line to
``<dir>/<test hash>-<pid>.jsonl``: the test, the function, the template and the context it was resolved with
(account, region, parameters, physical ids), and every call -- service, operation, region, the request
parameters and the ARNs the response names (to resolve a name to its full ARN: a role's path, a secret's suffix).

Calls are seen through botocore's own event system (``register()`` adds built-in handlers, so every session
created afterwards carries them; ``invoke`` builds the hook before a cold start makes the function's clients):
``before-parameter-build`` once per API call (not per retry), ``after-call`` for the response, success or error.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.handlers

ENV_DIR = "EKSGUARD_CALL_LOG_DIR"
ENV_HOOK = "EKSGUARD_INVOKE_HOOK"
HOOK = "tests.support.call_recorder:recording"
_CONTEXT_KEY = "eksguard_recorded_call"
# Responses are searched for ARNs (a role's path, a secret's suffix); EC2's are large and never needed.
_NO_ARN_SEARCH = frozenset({"ec2"})
_MAX_TEXT = 300


class _Invocation:
    def __init__(self, record: dict[str, Any]) -> None:
        self.record = record
        self.calls: list[dict[str, Any]] = []
        self.lock = threading.Lock()


# The invocation running now. Global, not thread-local: the sweep revokes from worker threads.
_current: list[_Invocation] = []


def test_id(environ: Any = os.environ) -> str:
    """The pytest node id of the running test (its phase suffix dropped), also in subprocesses."""
    current = str(environ.get("PYTEST_CURRENT_TEST", ""))
    return current.rsplit(" (", 1)[0] if current else "unknown"


def log_name(test: str) -> str:
    return hashlib.sha1(test.encode()).hexdigest()[:16]


def recording(logical_id: str, app: Any) -> contextlib.AbstractContextManager[None]:
    """The invoke hook: attribute every call made until exit to ``logical_id``; append them to the log.
    Registers the botocore handlers now, before ``invoke`` makes a cold container's clients."""
    folder = os.environ.get(ENV_DIR)
    if not folder:
        return contextlib.nullcontext()
    register()
    return _recording(folder, logical_id, app)


@contextlib.contextmanager
def _recording(folder: str, logical_id: str, app: Any) -> Iterator[None]:
    if _current:
        raise RuntimeError(f"{logical_id} invoked while {_current[0].record['function']} runs: calls would mix")
    test = test_id()
    ctx = app.context
    invocation = _Invocation({
        "test": test, "function": logical_id, "template": str(app.template_path), "account": ctx.account_id,
        "region": ctx.region, "partition": ctx.partition, "stack_name": ctx.stack_name,
        "parameters": dict(ctx.parameters), "physical": {k: dict(v) for k, v in ctx.physical.items()},
    })
    _current.append(invocation)
    try:
        yield
    finally:
        _current.clear()
        line = json.dumps({**invocation.record, "calls": invocation.calls}, default=str, sort_keys=True)
        path = Path(folder) / f"{log_name(test)}-{os.getpid()}.jsonl"
        with path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")


def _on_params(params: Any, model: Any, context: Any, **_: Any) -> None:
    if not _current or not isinstance(context, dict):
        return
    invocation = _current[0]
    call = {"service": model.service_model.service_name, "operation": model.name,
            "region": context.get("client_region"), "params": _plain(params), "arns": [], "error": None}
    context[_CONTEXT_KEY] = call
    with invocation.lock:
        invocation.calls.append(call)


def _on_response(parsed: Any, model: Any, context: Any, **_: Any) -> None:
    call = context.get(_CONTEXT_KEY) if isinstance(context, dict) else None
    if call is None or not isinstance(parsed, dict):
        return
    error = parsed.get("Error")
    if isinstance(error, dict) and error.get("Code"):
        call["error"] = str(error["Code"])
    if call["service"] not in _NO_ARN_SEARCH:
        call["arns"] = sorted(set(_arns(parsed)))[:500]
    if (call["service"], call["operation"]) == ("secretsmanager", "GetSecretValue") and parsed.get("ARN"):
        call["kms_key_arn"] = _secret_kms_key(str(parsed["ARN"]))


def _secret_kms_key(secret_arn: str) -> str | None:
    """The customer-managed KMS key a secret is encrypted under (None: the AWS managed aws/secretsmanager
    key, whose key policy already lets the account's principals use it through Secrets Manager).

    Secrets Manager's response does not say; moto's in-process backend does. Against a moto server in
    another process (e2e) nothing here can see it: "unknown", which the check reports."""
    from moto.backends import get_backend

    _, partition, _, region, account, _ = secret_arn.split(":", 5)
    secret = get_backend("secretsmanager")[account][region].secrets.get(secret_arn)
    if secret is None:
        return "unknown"
    key = getattr(secret, "kms_key_id", None)
    managed = "alias/aws/secretsmanager"
    if not key or key in (managed, f"arn:{partition}:kms:{region}:{account}:{managed}"):
        return None
    key_id = get_backend("kms")[account][region].any_id_to_key_id(str(key))
    return f"arn:{partition}:kms:{region}:{account}:key/{key_id}"


def _arns(value: Any, key: str = "") -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _arns(v, str(k))
    elif isinstance(value, list):
        for v in value:
            yield from _arns(v, key)
    elif isinstance(value, str) and value.startswith("arn:") and key.lower().endswith("arn"):
        yield value


def _plain(value: Any) -> Any:
    """JSON-safe and bounded: long strings (message bodies) are cut, bytes are named, not kept."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value[:1000]]
    if isinstance(value, str):
        return value[:_MAX_TEXT]
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, bytes | bytearray):
        return f"<{len(value)} bytes>"
    return str(value)[:_MAX_TEXT]


def register() -> None:
    """Built-in handlers reach every botocore session created from now on (the handlers' own included)."""
    for entry in (("before-parameter-build", _on_params), ("after-call", _on_response)):
        if entry not in botocore.handlers.BUILTIN_HANDLERS:
            botocore.handlers.BUILTIN_HANDLERS.append(entry)

