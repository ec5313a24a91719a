"""A Slack incoming-webhook stand-in on loopback: it keeps every payload posted to it, answers like
Slack (``200 ok``; ``404 no_service`` for a wrong path; ``400 invalid_payload`` for a body that is not
a message) and can be told to answer a few requests with something else (a 429 with Retry-After, a
503), so tests can assert the exact payload and the notifier's retries.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    path: str
    body: Any
    headers: dict[str, str]
    at: float  # time.monotonic() when it arrived
    status: int  # what the receiver answered


@dataclass(frozen=True)
class Answer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


class SlackReceiver:
    def __init__(self, host: str = "127.0.0.1"):
        # A path shaped like a real webhook's, with a random token: the "secret" part of the URL.
        self.path = f"/services/T0LOCAL/B0LOCAL/{secrets.token_hex(12)}"
        self.received: list[Received] = []
        self._script: list[Answer] = []
        self._lock = threading.Lock()
        self._host = host
        self._server = ThreadingHTTPServer((host, 0), _handler_for(self))
        self._thread = threading.Thread(target=self._server.serve_forever, name="slack-receiver", daemon=True)

    @property
    def url(self) -> str:
        port = self._server.server_address[1]
        return f"http://{self._host}:{port}{self.path}"

    @property
    def payloads(self) -> list[Any]:
        """The bodies Slack would have shown (answered 200), in arrival order."""
        with self._lock:
            return [r.body for r in self.received if r.status == 200]

    def answer_next(self, status: int, body: str = "", headers: dict[str, str] | None = None, times: int = 1) -> None:
        """Answer the next ``times`` valid posts with this instead of 200 ok (say 429 + Retry-After)."""
        with self._lock:
            self._script += [Answer(status, body or _REASONS.get(status, "error"), headers or {})] * times

    def _answer(self, path: str, raw: bytes, headers: dict[str, str]) -> Answer:
        body: Any = None
        if path != self.path:
            answer = Answer(404, "no_service")
        else:
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            valid = isinstance(body, dict) and ("text" in body or "blocks" in body)
            with self._lock:
                scripted = self._script.pop(0) if valid and self._script else None
            answer = scripted or (Answer(200, "ok") if valid else Answer(400, "invalid_payload"))
        with self._lock:
            self.received.append(Received(path, body, headers, time.monotonic(), answer.status))
        return answer

    def start(self) -> SlackReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


_REASONS = {429: "rate_limited", 500: "internal_error", 503: "service_unavailable"}


def _handler_for(receiver: SlackReceiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            answer = receiver._answer(self.path, raw, dict(self.headers.items()))
            data = answer.body.encode()
            self.send_response(answer.status)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            """Silent: http.server would print the request line, whose path is the webhook's secret."""

    return Handler


@contextmanager
def slack_receiver(host: str = "127.0.0.1") -> Iterator[SlackReceiver]:
    """Run a receiver for the block; its ``url`` is what the webhook secret should hold."""
    receiver = SlackReceiver(host).start()
    try:
        yield receiver
    finally:
        receiver.stop()
