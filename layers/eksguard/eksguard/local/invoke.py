"""Run a template's function in this process, the way ``sam local invoke`` runs it in a container:
the handler and layers from the template, the environment the template gives the function, a
Lambda-like context; the response on stdout, the function's own output (logs, metrics) on stderr."""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.util
import io
import json
import logging
import os
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from eksguard.local.provision import provision
from eksguard.local.standin import serve_local_functions
from eksguard.local.template import FunctionSpec, LocalContext, TemplateResolver, functions, load_template


@dataclass(frozen=True)
class LocalApp:
    """A template resolved against whatever ``AWS_ENDPOINT_URL`` points at."""

    template_path: Path
    context: LocalContext
    functions: Mapping[str, FunctionSpec]
    # The credentials of the account the app was loaded into: Lambda hands a function its role's
    # credentials in these variables, so an app loaded with another account's session runs there.
    credentials: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Invocation:
    function: str
    response: Any
    error: Mapping[str, Any] | None
    duration_ms: float
    logs: str = ""
    cold: bool = True

    @property
    def ok(self) -> bool:
        return self.error is None


class FakeLambdaContext:
    """What Powertools and handlers read from the Lambda context."""

    def __init__(self, spec: FunctionSpec, ctx: LocalContext):
        self.function_name = spec.logical_id
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = spec.memory_size
        self.invoked_function_arn = f"arn:aws:lambda:{ctx.region}:{ctx.account_id}:function:{spec.logical_id}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{spec.logical_id}"
        self.log_stream_name = "local"
        self._deadline = time.monotonic() + spec.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_app(template_path: str | Path, overrides: Mapping[str, str], session: boto3.session.Session | None = None
             ) -> LocalApp:
    """Resolve the template against the stand-in, provisioning its stateful resources if missing."""
    session = session or boto3.session.Session()
    region = session.region_name or os.environ.get("AWS_REGION") or "us-east-1"
    account = session.client("sts", region_name=region).get_caller_identity()["Account"]
    base = LocalContext(account_id=account, region=region, parameters=dict(overrides), physical={})
    physical = provision(template_path, base, session)
    ctx = LocalContext(account_id=account, region=region, parameters=dict(overrides), physical=physical)
    template = load_template(template_path)
    specs = functions(template, TemplateResolver(template, ctx))
    # What a subscription filter or permission may name: the functions run here, not in the stand-in's Lambda.
    serve_local_functions({f"arn:{ctx.partition}:lambda:{region}:{account}:function:{lid}" for lid in specs})
    return LocalApp(Path(template_path), ctx, specs, _credential_env(session))


def _credential_env(session: boto3.session.Session) -> dict[str, str]:
    found = session.get_credentials()
    if found is None:
        return {}
    creds = found.get_frozen_credentials()
    env = {"AWS_ACCESS_KEY_ID": creds.access_key, "AWS_SECRET_ACCESS_KEY": creds.secret_key}
    return {**env, "AWS_SESSION_TOKEN": creds.token} if creds.token else env


def invoke(app: LocalApp, logical_id: str, event: Any, extra_env: Mapping[str, str] | None = None) -> Invocation:
    if logical_id not in app.functions:
        raise KeyError(f"{logical_id} is not a function of {app.template_path} "
                       f"(functions: {', '.join(sorted(app.functions))})")
    spec = app.functions[logical_id]
    configured = {**spec.environment, **(extra_env or {})}
    env = {
        **app.credentials,
        **configured,
        "AWS_REGION": app.context.region,
        "AWS_DEFAULT_REGION": app.context.region,
        "AWS_LAMBDA_FUNCTION_NAME": local_function_name(spec.logical_id, configured),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_size),
        "AWS_SAM_LOCAL": "true",  # as sam local sets it: Powertools Tracer stays off without X-Ray
    }
    started = time.perf_counter()
    logs = io.StringIO()
    # The endpoint is part of the container's identity: clients made at import are bound to it.
    warm_key = (spec.logical_id, tuple(sorted({**env, "endpoint": os.environ.get("AWS_ENDPOINT_URL", "")}.items())))
    cold = warm_key not in _warm
    hook = _invoke_hook(spec.logical_id, app)  # before a cold start makes the container's clients
    with _environment(env), _code_paths(spec), contextlib.redirect_stdout(logs), _library_logging():
        from eksguard.aws import clients

        if cold:
            # A container of its own: a fresh client set (in its region, at its endpoint), then the import.
            clients.reset()
            container_clients = clients.default()
            _warm[warm_key] = (_load_handler(spec), container_clients, _logger_state(LIBRARY_LOGGER))
        handler, container_clients, library_logging = _warm[warm_key]
        clients.install(container_clients)  # in-process containers take turns with the one global set
        _set_logger_state(LIBRARY_LOGGER, library_logging)  # and with the library's logger, as it configured it
        _log_to(sys.stdout, spec)
        try:
            with hook:
                response = handler(event, FakeLambdaContext(spec, app.context))
            error = None
        # The Lambda runtime boundary: any exception the function raises is its error result.
        except Exception as exc:  # noqa: BLE001
            response = None
            error = {"errorMessage": str(exc), "errorType": type(exc).__name__,
                     "stackTrace": traceback.format_exception(exc)[-3:]}
    return Invocation(logical_id, response, error, (time.perf_counter() - started) * 1000, logs.getvalue(), cold)


def local_function_name(logical_id: str, configuration: Mapping[str, str]) -> str:
    """The function name a local run gets: the logical id plus a digest of its configuration. Powertools keys
    idempotency records by function name, so a replay with other overrides (audit, then Mode=enforce) is a new
    run, not the cached answer of the old configuration; in Lambda the deployed name and the event id decide."""
    digest = hashlib.sha256(json.dumps(sorted(configuration.items())).encode()).hexdigest()[:10]
    return f"{logical_id}-{digest}"


def _invoke_hook(logical_id: str, app: LocalApp) -> contextlib.AbstractContextManager[Any]:
    """Test instrumentation, off unless asked for: ``EKSGUARD_INVOKE_HOOK=module:function`` names a context
    manager factory entered around each handler call with (logical id, app) -- the test suite records the
    AWS calls each function makes (tests/support/call_recorder.py), CLI subprocesses included."""
    target = os.environ.get("EKSGUARD_INVOKE_HOOK", "")
    if not target:
        return contextlib.nullcontext()
    module, _, name = target.partition(":")
    factory: Callable[[str, LocalApp], contextlib.AbstractContextManager[Any]] = getattr(
        importlib.import_module(module), name)
    return factory(logical_id, app)


# Handlers already imported, with their clients and library logging, by function and environment: a warm container.
_warm: dict[tuple[str, tuple[tuple[str, str], ...]], tuple[Any, Any, LoggerState]] = {}


def reset_warm() -> None:
    """Forget warm handlers (the next invocation imports the function afresh: a cold start)."""
    _warm.clear()


def _load_handler(spec: FunctionSpec) -> Any:
    module_name, _, attr = spec.handler.rpartition(".")
    path = spec.code_uri / (module_name.replace(".", "/") + ".py")
    # Loaded afresh per cold start (module-level state as in a new container) under the name Lambda
    # gives it: Powertools idempotency keys include it, so they must match across processes.
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise FileNotFoundError(f"handler module not found: {path}")
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return getattr(module, attr)


# The function's handler wrapper (eksguard/handler.py) gives the library's logger the function's JSON handler:
# in Lambda for the container's life, here only while the function runs (it is a process-wide logger).
LIBRARY_LOGGER = "eksguard"
LoggerState = tuple[list[logging.Handler], bool, int]


def _logger_state(name: str) -> LoggerState:
    found = logging.getLogger(name)
    return list(found.handlers), found.propagate, found.level


def _set_logger_state(name: str, state: LoggerState) -> None:
    found = logging.getLogger(name)
    found.handlers, found.propagate = list(state[0]), state[1]
    found.setLevel(state[2])


@contextlib.contextmanager
def _library_logging() -> Iterator[None]:
    saved = _logger_state(LIBRARY_LOGGER)
    try:
        yield
    finally:
        _set_logger_state(LIBRARY_LOGGER, saved)


def _log_to(stream: Any, spec: FunctionSpec) -> None:
    """Point the function's Powertools logger at this invocation's output. Powertools configures the logger
    once per process, on the stream of the first import; in-process containers outlive that one."""
    service = spec.environment.get("POWERTOOLS_SERVICE_NAME", "service_undefined")
    for handler in logging.getLogger(service).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)


@contextlib.contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.update({k: str(v) for k, v in env.items()})
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def _code_paths(spec: FunctionSpec) -> Iterator[None]:
    paths = [str(spec.code_uri), *(str(p) for p in spec.layer_paths)]
    sys.path[:0] = paths
    try:
        yield
    finally:
        for p in paths:
            sys.path.remove(p)
