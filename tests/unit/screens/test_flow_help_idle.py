"""A citizen who called an officer and waits, as the help overlay asks ("Please wait
here"): the idle wipe may take their data away, but the call must stand, the status LED
still blinking fast for the officer (README: "blink the status LED fast until the citizen
closes it"). Found while building the touch monkey (tests/integration/app_monkey.py)."""

from __future__ import annotations

from pathlib import Path

from tests.unit.screens.harness import Kit


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
