"""The instant every in-process test runs at: eksguard's clock is frozen here (tests/conftest.py), so a test
that passes a date to one stage and lets another read the clock sees the same day, whatever the machine's date.
Subprocesses (e2e) read the real clock; their tests compare with what the command printed."""

from datetime import UTC, datetime

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
