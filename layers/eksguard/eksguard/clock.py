"""The one clock. Every decision that depends on "now" — exemption expiry, rollback exemptions, storm windows,
sweep state, record times — reads it here, never ``datetime.now()`` or ``time.time()`` directly.

Handlers read it once per invocation and hand the instant down; pure rules never read it. Tests set it with
``frozen`` so a fixed date never meets the machine's real one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime

_frozen: datetime | None = None


def now() -> datetime:
    """The current instant, timezone-aware UTC."""
    return _frozen if _frozen is not None else datetime.now(UTC)


def today() -> date:
    return now().date()


def stamp(at: datetime | None = None) -> str:
    """ISO-8601 UTC to the second, as CloudTrail writes times (``2026-11-22T03:14:07Z``)."""
    return (at or now()).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@contextmanager
def frozen(at: datetime) -> Iterator[datetime]:
    """Stop the clock at ``at`` (timezone-aware) for everything in this process until the block ends."""
    global _frozen
    if at.tzinfo is None:
        raise ValueError("the clock keeps UTC: pass a timezone-aware datetime")
    previous, _frozen = _frozen, at.astimezone(UTC)
    try:
        yield _frozen
    finally:
        _frozen = previous
