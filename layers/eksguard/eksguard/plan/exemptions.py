"""The exemption tag: ``true`` (for good) or ``YYYY-MM-DD`` (until the end of that day, UTC)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Exemption:
    active: bool
    until: date | None = None
    # A value we could not read: not exempt, and the alert says why.
    invalid: str | None = None

    @property
    def note(self) -> str:
        if self.invalid:
            return f"exemption tag ignored: {self.invalid}"
        if not self.active:
            return f"exemption expired on {self.until}" if self.until else ""
        return f"exempt until {self.until}" if self.until else "exempt (no expiry)"


def exemption(tags: Mapping[str, str], key: str, today: date) -> Exemption:
    raw = tags.get(key)
    if raw is None:
        return Exemption(active=False)
    value = raw.strip()
    if value.lower() == "true":
        return Exemption(active=True)
    try:
        until = date.fromisoformat(value)
    except ValueError:
        return Exemption(active=False, invalid=f"{key}={raw!r} is neither 'true' nor a YYYY-MM-DD date")
    return Exemption(active=today <= until, until=until)
