"""The rollback pipeline's request, result and refusal: shared by the dispatcher and every restorer."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from eksguard.alert.dedupe import NO_STORM_WINDOW, StormSettings

# How long a restored resource stays exempt, so the guard leaves the restore alone.
EXEMPT_DAYS = 7


class RollbackError(RuntimeError):
    """The rollback cannot be done as asked; nothing was changed. The message says why and what to do."""


@dataclass(frozen=True)
class RollbackRequest:
    remediation_id: str
    actor: str
    today: date
    time: str  # ISO-8601 UTC, for the records
    exempt_tag_key: str = "eksguard:exempt"
    alert_topic_arn: str = ""
    dry_run: bool = False
    force: bool = False  # restore even though the resource changed after eksguard's change
    # The storm windows the rollback alert resets (a change is never collapsed): the function's own, or none.
    storm: StormSettings = NO_STORM_WINDOW


@dataclass(frozen=True)
class RollbackResult:
    remediation_id: str
    resource_type: str
    resource_id: str
    status: str  # rolled-back | would-roll-back | already-restored | failed
    rollback_id: str | None = None
    restored: Mapping[str, Any] | None = None  # the before-image put back (or that would be)
    replaced: Mapping[str, Any] | None = None  # what the resource held just before
    exempt_until: str | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
