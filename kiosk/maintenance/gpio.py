"""``kiosk hw gpio test``: exercise every GPIO line of the kiosk and say what each did.

Outputs are cycled (LED ready / busy / fault / off, two beeps) while the maintainer watches;
inputs (help button, tamper switch, UPS power-fail line, PIR) are read and printed. What
happens next depends on the pin factory:

* ``type = "mock"``: the tool drives the mock pins itself (press help, open the lid, lose
  mains, walk past the PIR) and checks that each event reaches the kiosk's callbacks, so
  the command proves the event path end to end on a laptop too;
* ``type = "native"`` with ``interactive=True``: it asks the maintainer to press the help
  button, open and close the lid and walk past the PIR, each within a time limit;
* ``type = "native"`` without: it only reads the lines (safe on an unattended kiosk).

Every line starts with ``ok``, ``FAIL`` or ``--`` (information, not a test); the exit status
is 1 when any line is ``FAIL``. A tamper switch that is open is reported, not failed: that
is ``kiosk hw selftest``'s job.
"""

from __future__ import annotations

import itertools
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TextIO

from kiosk.config import Config
from kiosk.core.exits import EXIT_FAIL, EXIT_OK
from kiosk.errors import KioskError
from kiosk.hardware.gpio import KioskGpio, MockKioskGpio
from kiosk.hardware.registry import create_device

EVENT_TIMEOUT_S = 2.0  # mock pins: callbacks arrive within milliseconds
PROMPT_TIMEOUT_S = 15.0  # a person walking to the kiosk and pressing a button


class _Report:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.failed = 0

    def line(self, ok: bool | None, text: str) -> None:
        mark = "--  " if ok is None else ("ok  " if ok else "FAIL")
        self.failed += ok is False
        print(f"{mark} {text}", file=self.out, flush=True)


def gpio_test_command(config: Config, *, interactive: bool = False,
                      stdout: TextIO | None = None, stderr: TextIO | None = None,
                      pause_s: float | None = None, prompt_timeout_s: float = PROMPT_TIMEOUT_S
                      ) -> int:
    """Cycle the outputs and check the inputs of ``[hardware.gpio]``; 0 all ok, 1 otherwise.

    ``pause_s`` is how long each LED pattern is shown (default 2 s on real pins, 0.7 s on
    mock ones). ``prompt_timeout_s`` bounds each interactive step. Never raises for a
    device problem: it prints ``gpio test failed: <reason>`` on stderr and returns 1.
    """
    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    report = _Report(stdout)
    try:
        options = config.backend_options("gpio")
        gpio = create_device("gpio", options)
        if not isinstance(gpio, KioskGpio):  # a broken registry entry, not a device fault
            raise TypeError(f"{type(gpio).__name__} is not a KioskGpio")
        mock = isinstance(gpio, MockKioskGpio)
        with gpio:
            report.line(None, f"GPIO {options['type']}: "
                        + ", ".join(f"{k.removesuffix('_pin')} {v}"
                                    for k, v in gpio.pins.items()))
            _outputs(gpio, report, mock, pause_s if pause_s is not None else
                     (0.7 if mock else 2.0))
            _read_inputs(gpio, report)
            if mock:
                _drive_mock_events(gpio, report)
            elif interactive:
                _ask_for_events(gpio, report, prompt_timeout_s)
            else:
                report.line(None, "inputs read only; --interactive asks you to press help, "
                                  "open the lid and walk past the PIR")
    except (KioskError, OSError) as exc:
        print(f"gpio test failed: {exc}", file=stderr)
        return EXIT_FAIL
    if report.failed:
        print(f"gpio test: {report.failed} check(s) failed", file=stderr)
        return EXIT_FAIL
    return EXIT_OK


# -- outputs ---------------------------------------------------------------------------------
def _transitions(pin: Any) -> int:
    states = [s.state for s in pin.states]
    return sum(1 for a, b in itertools.pairwise(states) if a != b)


def _outputs(gpio: KioskGpio, report: _Report, mock: bool, pause_s: float) -> None:
    led = gpio.pin_factory.pin(gpio.pins["led_pin"]) if mock else None
    patterns: list[tuple[str, Callable[[], None], str]] = [
        ("ready", gpio.show_ready, "steady on"),
        ("busy", gpio.show_busy, "slow blink, 1 per second"),
        ("fault", gpio.show_fault, "fast blink, 5 per second"),
    ]
    for name, show, looks in patterns:
        if led is not None:
            led.clear_states()
        show()
        time.sleep(pause_s)
        if led is None:
            report.line(None, f"status LED {name}: should be {looks}")
            continue
        changes = _transitions(led)
        ok = (led.state is True and changes <= 1) if name == "ready" else changes >= 1
        report.line(ok, f"status LED {name} ({looks}): pin {gpio.pins['led_pin']} changed "
                        f"{changes} time(s) in {pause_s:g} s")
    gpio.show_off()
    buzzer = gpio.pin_factory.pin(gpio.pins["buzzer_pin"]) if mock else None
    if buzzer is not None:
        buzzer.clear_states()
    gpio.beep(2)
    time.sleep(0.5)  # two 0.1 s beeps with a 0.1 s gap
    if buzzer is None:
        report.line(None, "buzzer: should have beeped twice")
    else:
        beeps = sum(1 for s in buzzer.states if s.state)
        report.line(beeps == 2, f"buzzer: {beeps} beep(s), expected 2")


def _read_inputs(gpio: KioskGpio, report: _Report) -> None:
    report.line(None, f"help button: {'PRESSED' if gpio.is_help_pressed else 'up'}")
    report.line(None, "tamper switch: " + ("OPEN (enclosure open or wire cut)"
                                           if gpio.is_tampered else "closed"))
    report.line(None, "power-fail line: " + ("mains LOST (on battery)" if gpio.is_mains_lost
                                             else "mains present"))
    if gpio.has_motion_sensor:
        report.line(None, "PIR: " + ("motion" if gpio.is_motion_detected else "quiet"))
    else:
        report.line(None, "PIR: not configured (hardware.gpio.pir_pin)")


# -- events ----------------------------------------------------------------------------------
class _Seen:
    """A callback that records that it ran."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self) -> None:
        self.event.set()

    def wait(self, timeout: float) -> bool:
        return self.event.wait(timeout)


def _event_checks(gpio: KioskGpio) -> list[tuple[str, str, str, str]]:
    """(what, callback attribute, pin option, level that triggers it) per input."""
    lost = "high" if gpio.power_fail_active_high else "low"
    checks = [
        ("help button press", "when_help_pressed", "help_pin", "low"),
        ("tamper switch opening", "when_tampered", "tamper_pin", "high"),
        ("mains lost", "when_mains_lost", "power_fail_pin", lost),
        ("mains restored", "when_mains_restored", "power_fail_pin",
         "low" if lost == "high" else "high"),
    ]
    if gpio.has_motion_sensor:
        checks.append(("PIR motion", "when_motion", "pir_pin", "high"))
    return checks


def _drive_mock_events(gpio: KioskGpio, report: _Report) -> None:
    factory = gpio.pin_factory
    for what, attr, pin_option, level in _event_checks(gpio):
        seen = _Seen()
        setattr(gpio, attr, seen)
        pin = factory.pin(gpio.pins[pin_option])
        before = pin.state
        (pin.drive_high if level == "high" else pin.drive_low)()
        ok = seen.wait(EVENT_TIMEOUT_S)
        setattr(gpio, attr, None)
        report.line(ok, f"{what}: drove mock pin {gpio.pins[pin_option]} {level} -> "
                        f"{attr} {'called' if ok else f'NOT called within {EVENT_TIMEOUT_S:g} s'}")
        if attr not in ("when_mains_lost", "when_mains_restored"):  # these two pair up
            (pin.drive_high if before else pin.drive_low)()
            time.sleep(0.06)  # past the help button's 50 ms debounce


def _ask_for_events(gpio: KioskGpio, report: _Report, timeout: float) -> None:
    steps = [("press the help button", "when_help_pressed")]
    if not gpio.is_tampered:
        steps.append(("open the enclosure lid (then close it again)", "when_tampered"))
    else:
        report.line(False, "tamper switch is already open: close the lid and run again")
    if gpio.has_motion_sensor:
        steps.append(("walk in front of the PIR sensor", "when_motion"))
    for ask, attr in steps:
        seen = _Seen()
        setattr(gpio, attr, seen)
        print(f"   -> {ask} within {timeout:g} s ...", file=report.out, flush=True)
        ok = seen.wait(timeout)
        setattr(gpio, attr, None)
        report.line(ok, f"{ask.split(' (')[0]}: {attr} "
                        f"{'seen' if ok else f'not seen within {timeout:g} s'}")
    report.line(None, "power-fail line is read only: pull the UPS mains plug and watch "
                      "`kiosk status` to test it")
