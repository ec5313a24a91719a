"""Post a Block Kit payload to a Slack incoming webhook with slack-sdk's ``WebhookClient`` and its retry
handlers: 429 waits for ``Retry-After``, 5xx and connection errors back off exponentially.

The webhook URL is a credential (anyone holding it can post to the channel), so it never reaches a
log line or an exception message: slack-sdk logs the URL at DEBUG and INFO, hence its own muted
logger, and every error raised here names the status, never the URL.

slack-sdk ships with the notifier function (functions/notifier/requirements.txt), not in the layer:
only the notifier imports this module.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.error import URLError
from urllib.parse import urlsplit

from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.webhook import WebhookClient

# slack-sdk's client logger: above CRITICAL, so the URL-bearing lines it writes are never emitted.
_sdk_log = logging.getLogger("eksguard.slack_sdk")
_sdk_log.setLevel(logging.CRITICAL + 10)
_sdk_log.propagate = False
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class _DropSecretBodies(logging.Filter):
    """botocore logs every response body at DEBUG, and GetSecretValue's body is the secret itself: with
    Lambda's log level at DEBUG the webhook URL would reach CloudWatch. Drop those records only."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args if isinstance(record.args, tuple) else ()
        return not any(b"SecretString" in a if isinstance(a, bytes) else "SecretString" in a
                       for a in args if isinstance(a, bytes | str))


logging.getLogger("botocore.parsers").addFilter(_DropSecretBodies())


class SlackPostError(RuntimeError):
    """Slack did not take the message after the retries; raised so Lambda retries, then dead-letters."""


class WebhookConfigError(ValueError):
    """The secret does not hold a usable webhook URL (its value is never shown)."""


class _BoundedRateLimit(RateLimitErrorRetryHandler):
    """429: sleep for Retry-After, unless that outlasts the function's budget; then fail, and Lambda's
    own retry comes back a minute or more later."""

    def __init__(self, max_retry_count: int, max_wait_seconds: int):
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait_seconds = max_wait_seconds

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        if not super()._can_retry(state=state, request=request, response=response, error=error):
            return False
        assert response is not None  # the parent retries only a 429 response
        values = next((v for k, v in response.headers.items() if k.lower() == "retry-after"), ["1"])
        wait = values[0] if isinstance(values, list) else values
        return wait.strip().isdigit() and int(wait) <= self.max_wait_seconds


class _AnyServerError(ServerErrorRetryHandler):
    """slack-sdk retries 500 and 503 only; a 502 or 504 from Slack's edge is as transient."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest, response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return response is not None and 500 <= response.status_code <= 599


class SlackWebhook:
    # Worst case, 4 attempts x 5 s + backoff (~7 s) + one Retry-After (10 s), stays inside the function's
    # 45 s timeout (template.yaml): a slow Slack fails the invocation, not the Lambda runtime.
    def __init__(self, url_source: Callable[[], object], timeout: int = 5, max_wait_seconds: int = 10,
                 retries: int = 3):
        self._url_source = url_source
        self._timeout = timeout
        backoff = BackoffRetryIntervalCalculator(backoff_factor=0.5)
        # One attempt counter is shared by all handlers: "retries" bounds the total, whatever failed.
        self._handlers = [
            _BoundedRateLimit(max_retry_count=retries, max_wait_seconds=max_wait_seconds),
            _AnyServerError(max_retry_count=retries, interval_calculator=backoff),
            ConnectionErrorRetryHandler(max_retry_count=retries, interval_calculator=backoff),
        ]

    def post(self, payload: Mapping[str, Any]) -> None:
        url = _checked(self._url_source())
        client = WebhookClient(url, timeout=self._timeout, logger=_sdk_log, retry_handlers=self._handlers)
        try:
            response = client.send_dict(dict(payload))
        except (URLError, OSError) as exc:
            # urllib's messages carry the reason, not the URL; the cause is dropped for the same care.
            reason = getattr(exc, "reason", exc)
            raise SlackPostError(f"Slack webhook unreachable after retries: {type(exc).__name__}: {reason}") from None
        if response.status_code != 200:
            raise SlackPostError(f"Slack webhook answered {response.status_code} after retries: "
                                 f"{str(response.body)[:200]}")


def _checked(url: object) -> str:
    """An https URL, or http on loopback (the local stand-in); anything else would leak the secret."""
    if not isinstance(url, str):
        raise WebhookConfigError("the Slack webhook secret must be a string (SecretString), not binary or JSON")
    url = url.strip()
    if any(ch.isspace() or not ch.isprintable() for ch in url):
        # urllib would refuse it with an error message that quotes the whole URL.
        raise WebhookConfigError("the Slack webhook secret holds whitespace or control characters")
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in _LOOPBACK:
        return url
    raise WebhookConfigError("the Slack webhook secret does not hold an https:// URL "
                             "(expected https://hooks.slack.com/services/...)")
