"""Storm collapse, the pure part: keys, windows, and which actions may never be collapsed."""

from __future__ import annotations

import pytest
from tests.unit.alert_samples import message

from eksguard.alert.dedupe import COUNTER_RETENTION_SECONDS, StormSettings, storm_key, window_for, with_suppressed
from eksguard.model import ActionKind

SETTINGS = StormSettings(window_seconds=300, table="idempotency")


def test_key_is_resource_and_rule_narrowed_by_the_target() -> None:
    assert storm_key(message(target_id="sgr-9")) == "alert#sg-0123456789abcdef0#SG-002#sgr-9"
    # The security-group guard names its rule in the before-image only.
    assert storm_key(message()) == "alert#sg-0123456789abcdef0#SG-002#sgr-1"
    assert storm_key(message(before={"GroupId": "sg-0123456789abcdef0"})) == "alert#sg-0123456789abcdef0#SG-002"


def test_two_offending_rules_of_one_group_never_share_a_window() -> None:
    ssh = message(action="alert-only", before={"SecurityGroupRuleId": "sgr-22"})
    rdp = message(action="alert-only", before={"SecurityGroupRuleId": "sgr-3389"})
    assert storm_key(ssh) != storm_key(rdp)


@pytest.mark.parametrize("action", list(ActionKind))
def test_only_nothing_changed_messages_are_collapsible(action: ActionKind) -> None:
    window = window_for(message(action=action.value), 1_000.7, SETTINGS)
    assert window.collapsible == (action in (ActionKind.ALERT_ONLY, ActionKind.EXEMPT))


def test_window_bounds() -> None:
    window = window_for(message(action="alert-only"), 1_000.7, SETTINGS)
    assert (window.now, window.until) == (1_000, 1_300)
    assert window.expires_at == 1_300 + COUNTER_RETENTION_SECONDS


def test_settings_from_env() -> None:
    assert StormSettings.from_env({"EKSGUARD_IDEMPOTENCY_TABLE": "t"}) == StormSettings(300, "t")
    assert not StormSettings.from_env({"EKSGUARD_ALERT_WINDOW_SECONDS": "0", "EKSGUARD_IDEMPOTENCY_TABLE": "t"}).enabled
    assert not StormSettings.from_env({"EKSGUARD_ALERT_WINDOW_SECONDS": "300"}).enabled  # no table, no collapse
    for bad in ("-5", "five", "86401"):
        with pytest.raises(ValueError, match="EKSGUARD_ALERT_WINDOW_SECONDS"):
            StormSettings.from_env({"EKSGUARD_ALERT_WINDOW_SECONDS": bad})


def test_with_suppressed_reports_the_count_only_when_there_is_one() -> None:
    assert with_suppressed(message(), 0) == message()
    assert with_suppressed(message(), 4).suppressed == 4
