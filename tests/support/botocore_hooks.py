"""Test-only hooks on botocore's own event system: count API calls, inject AWS errors.

They are registered as built-in handlers, so every session created afterwards (the handler's own,
created lazily inside the invocation) carries them. botocore runs *every* before-send handler and
keeps the first answer, so an injected error would not stop moto from executing the call behind
it: the injector switches moto's stubber off for exactly the attempts it answers, which keeps
botocore's real retry loop (each attempt is a new before-send) and moto's state both honest. The switch is per
thread (eksguard makes independent calls side by side): another thread's call is never answered by moto nor
silenced because of this one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.handlers
from botocore.awsrequest import AWSResponse
from moto.core.botocore_stubber import MockRawResponse


@dataclass
class CallLog:
    calls: list[str] = field(default_factory=list)

    def names(self, service: str | None = None) -> list[str]:
        return [c for c in self.calls if service is None or c.startswith(service + ".")]

    def writes(self) -> list[str]:
        reads = ("Describe", "List", "Get", "Lookup", "Query", "Scan")
        return [c for c in self.calls if not c.split(".", 1)[1].startswith(reads)]


@contextmanager
def record_calls() -> Iterator[CallLog]:
    log = CallLog()

    def on_call(model: Any, **_: Any) -> None:
        log.calls.append(f"{model.service_model.service_name}.{model.name}")

    with _builtin("before-call", on_call):
        yield log


@contextmanager
def record_requests(only_to: str | None = None) -> Iterator[list[str]]:
    """The URL of every HTTP request botocore is about to send (every attempt), in order. With ``only_to``,
    a request to any other URL is answered here with a 403 and never leaves the process."""
    urls: list[str] = []

    def on_send(request: Any, **_: Any) -> AWSResponse | None:
        url = str(request.url)
        urls.append(url)
        if only_to is None or url.startswith(only_to):
            return None
        return AWSResponse(url, 403, {}, MockRawResponse(b"<Error><Code>BlockedByTest</Code></Error>"))

    with _builtin("before-send", on_send):
        yield urls


def ec2_error(code: str, status: int, message: str = "injected by the test") -> AWSResponse:
    body = (f"<Response><Errors><Error><Code>{code}</Code><Message>{message}</Message></Error></Errors>"
            "<RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>").encode()
    return AWSResponse("https://ec2.amazonaws.com/", status, {}, MockRawResponse(body))


def json_error(code: str, status: int, message: str = "injected by the test") -> AWSResponse:
    body = f'{{"__type": "{code}", "message": "{message}"}}'.encode()
    return AWSResponse("https://dynamodb.amazonaws.com/", status, {"x-amzn-ErrorType": code}, MockRawResponse(body))


@contextmanager
def inject(operation: str, response: Callable[[], AWSResponse | None],
           when: Callable[[Any], bool] = lambda request: True) -> Iterator[list[int]]:
    """Answer each attempt of ``operation`` (e.g. ``ec2.RevokeSecurityGroupIngress``) whose request
    satisfies ``when`` with ``response()``; a None lets that attempt through to moto.
    Yields [number of injections]. Sessions made inside keep the handler: it goes inert on exit.
    Injectors nest (one per operation): the innermost that matches answers."""
    from moto.core.models import botocore_stubber

    service, name = operation.split(".", 1)
    injector = _Injector(f"before-send.{service}.{name}", response, when)
    outermost = not _INJECTORS
    _INJECTORS.append(injector)
    plain = type(botocore_stubber)
    try:
        if not outermost:
            yield injector.count
            return
        botocore_stubber.__class__ = type("PerThreadStubber", (_PerThread, plain), {})
        # One handler for every active injector: botocore calls each before-send handler, so two would each
        # decide moto's switch, and the last one's "let it through" would run a call another one answered.
        with _builtin("before-send", _on_send):
            try:
                yield injector.count
            finally:
                botocore_stubber.__class__ = plain
                botocore_stubber.enabled = True
    finally:
        _INJECTORS.remove(injector)


@dataclass
class _Injector:
    event_name: str
    response: Callable[[], AWSResponse | None]
    when: Callable[[Any], bool]
    count: list[int] = field(default_factory=lambda: [0])
    lock: threading.Lock = field(default_factory=threading.Lock)


_INJECTORS: list[_Injector] = []


def _on_send(request: Any, event_name: str, **_: Any) -> AWSResponse | None:
    answer = None
    for injector in reversed(list(_INJECTORS)):
        if event_name == injector.event_name and injector.when(request):
            with injector.lock:
                answer = injector.response()
                if answer is not None:
                    injector.count[0] += 1
            break
    _PerThread.local.enabled = answer is None  # moto (next in line, same thread) executes only what we let through
    return answer


class _PerThread:
    """moto's stubber with ``enabled`` decided per request while an injector is active: the injector's handler sets
    it for its thread right before moto's stubber (next in line, same request) reads it, and that read consumes it.
    A request on that thread from a session made before the injector (which lacks the handler) then sees the
    instance's own value, never a stale "off" left by an earlier answered request (it went to the network)."""

    local = threading.local()

    @property
    def enabled(self) -> bool:
        once = getattr(_PerThread.local, "enabled", None)
        if once is not None:
            del _PerThread.local.enabled
            return bool(once)
        return bool(self.__dict__.get("enabled", True))

    @enabled.setter
    def enabled(self, value: bool) -> None:
        self.__dict__["enabled"] = value


@contextmanager
def _builtin(event: str, handler: Callable[..., Any]) -> Iterator[None]:
    entry = (event, handler)
    botocore.handlers.BUILTIN_HANDLERS.insert(0, entry)
    try:
        yield
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)
