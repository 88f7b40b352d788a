"""A citizen who called an officer and waits, as the help overlay asks ("Please wait
here"): the idle wipe may take their data away, but the call must stand, the status LED
still blinking fast for the officer (README: "blink the status LED fast until the citizen
closes it"). Found while building the touch monkey (tests/integration/app_monkey.py)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.screens.harness import Kit, power_cut


def test_the_idle_wipe_does_not_cancel_a_call_for_an_officer(tmp_path: Path) -> None:
    kit = Kit(tmp_path, idle_timeout_s=60, idle_warning_s=30)
    try:
        kit.to("identity")
        kit.tap("call_help")
        gpio = kit.runtime.devices["gpio"]
        assert kit.flow.help_active and gpio.status == "fault"
        for _ in range(95):  # nobody touches the screen: the officer is on the way
            kit.clock.now += 1
            kit.flow.tick()
        assert kit.flow.screen == "welcome"  # the citizen's data is wiped: that may stay
        assert gpio.status == "fault"  # ...but the officer is still called
        assert kit.flow.help_active
        kit.flow.close_help()  # the officer came: the call ends, the LED says ready
        assert not kit.flow.help_active and gpio.status == "ready"
    finally:
        kit.close()


def _cut(kit: Kit) -> None:
    """What a crash or a power cut the UPS did not carry leaves (harness.power_cut)."""
    power_cut(kit.runtime)


def test_a_restart_that_deleted_a_citizens_recording_says_so_on_the_welcome(
        tmp_path: Path) -> None:
    first = Kit(tmp_path)
    first.to("portrait", "en")
    rid = first.flow.session.record_id
    _cut(first)
    second = Kit(tmp_path)  # the next start, on the same data directory
    try:
        assert rid not in {r.id for r in second.runtime.journal.records()}
        assert second.runtime.recovery.discarded == [rid]
        assert second.flow.screen == "welcome"
        assert second.flow.notice.text("en").startswith("The kiosk restarted before")
        assert second.flow.notice.text("id").startswith("Kios dimulai ulang")
        second.tap("touch")  # whoever reads it goes on: the notice goes
        assert not second.flow.notice
    finally:
        second.close()
    third = Kit(tmp_path)  # a start with nothing cut short says nothing
    try:
        assert not third.flow.notice and third.runtime.recovery.discarded == []
    finally:
        third.close()
