"""GPIO contract suite: the same checks on mock pins and on the Pi's own pins.

The one suite for ``KioskGpio`` (gpiozero's ``tests/test_real_pins.py`` way): a fixture
parametrised over every pin factory. Always runs on gpiozero's MockFactory (the real
driver code on mock pins: the kiosk's "sim" and emulator in one). With
``KIOSK_HIL_GPIO=1`` it also runs on the native pin factory (lgpio on Pi OS Bookworm) with
the kiosk's pins from ``KIOSK_HIL_GPIO_PINS``
(``led=17,buzzer=27,help=22,tamper=23,power_fail=24,pir=25``; the defaults are KioskGpio's,
without a PIR); those cases carry the ``hil`` mark.

Inputs cannot be pressed by software on real pins, so the rig wires a spare *driver* GPIO
to each input through a 1 kOhm resistor, named by ``KIOSK_HIL_GPIO_DRIVE``
(``help=5,tamper=6,power_fail=13,pir=19``); input tests on real pins are skipped for each
input without a driver. On the rig, disconnect the real switches from the driven inputs.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import pytest

from kiosk.errors import DeviceError
from kiosk.hardware.registry import create_device
from tests.contract.backends import real_param

NATIVE = os.environ.get("KIOSK_HIL_GPIO", "") == "1"


def parse_pins(text: str) -> dict[str, int]:
    """``"led=17,help=22"`` -> ``{"led": 17, "help": 22}``."""
    pins: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, number = item.partition("=")
        pins[name.strip()] = int(number)
    return pins


KIOSK_PINS = parse_pins(os.environ.get("KIOSK_HIL_GPIO_PINS", ""))
DRIVE_PINS = parse_pins(os.environ.get("KIOSK_HIL_GPIO_DRIVE", ""))
MOCK_PINS = {"led": 17, "buzzer": 27, "help": 22, "tamper": 23, "power_fail": 24, "pir": 25}


class Driver:
    """Sets an input line's level: a mock pin, or a wired driver GPIO on the rig."""

    def __init__(self, gpio: Any, native: bool) -> None:
        self.gpio = gpio
        self.native = native
        self.outputs: dict[str, Any] = {}

    def can(self, line: str) -> bool:
        return not self.native or line in DRIVE_PINS

    def set(self, line: str, high: bool) -> None:
        if not self.can(line):
            pytest.skip(f"no driver pin wired to {line}: set KIOSK_HIL_GPIO_DRIVE={line}=N")
        if not self.native:
            pin = self.gpio.pin_factory.pin(self.gpio.pins[f"{line}_pin"])
            (pin.drive_high if high else pin.drive_low)()
            return
        from gpiozero import DigitalOutputDevice

        if line not in self.outputs:
            self.outputs[line] = DigitalOutputDevice(DRIVE_PINS[line],
                                                     pin_factory=self.gpio.pin_factory)
        self.outputs[line].value = high

    def close(self) -> None:
        for device in self.outputs.values():
            device.close()


@pytest.fixture(params=["mock", real_param(
    "native", named=NATIVE,
    reason="no real GPIO: set KIOSK_HIL_GPIO=1 on a Pi (pins: KIOSK_HIL_GPIO_PINS)")])
def rig(request):
    if request.param == "native":
        pins = KIOSK_PINS
        options: dict[str, Any] = {"type": "native"}
    else:
        pins = MOCK_PINS
        options = {"type": "mock"}
    options |= {f"{name}_pin": number for name, number in pins.items()}
    gpio = create_device("gpio", options)
    with gpio:
        driver = Driver(gpio, native=request.param == "native")
        if driver.can("tamper"):
            driver.set("tamper", False)  # lid closed
        if driver.can("power_fail"):
            driver.set("power_fail", not gpio.power_fail_active_high)  # mains present
        if driver.can("help"):
            driver.set("help", True)  # button up (pull-up)
        if driver.can("pir") and gpio.has_motion_sensor:
            driver.set("pir", False)
        time.sleep(0.1)
        yield gpio, driver
        driver.close()


def wait_for(event: threading.Event, timeout: float = 2.0) -> bool:
    return event.wait(timeout)


def led_level(gpio) -> bool:
    return bool(gpio.pin_factory.pin(gpio.pins["led_pin"]).state)


def test_gpio_rests_with_lid_closed_and_mains_present(rig):
    gpio, driver = rig
    if not driver.can("tamper") and gpio.is_tampered:
        pytest.fail("the enclosure's tamper switch reads OPEN: close the lid")
    assert not gpio.is_tampered
    assert not gpio.is_mains_lost
    assert not gpio.is_help_pressed
    if driver.can("pir"):  # a real PIR without a driver pin may see the tester
        assert not gpio.is_motion_detected
    ok, detail = gpio.selftest()
    assert ok, detail
    assert "tamper closed" in detail and "mains present" in detail


def led_changes(gpio, seconds: float) -> int:
    """How often the LED's level changes in the next ``seconds`` (read every 5 ms)."""
    changes, last = 0, led_level(gpio)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.005)
        level = led_level(gpio)
        changes += level != last
        last = level
    return changes


def test_gpio_led_patterns(rig):
    gpio, _ = rig
    gpio.show_ready()
    assert led_level(gpio)
    gpio.show_off()
    assert not led_level(gpio)
    gpio.show_ready()
    time.sleep(0.3)
    assert led_level(gpio) and gpio.status == "ready"  # steady, not blinking
    # Over the same 1.2 s: busy (0.5 s on/off) changes at 0.5 and 1.0 s; fault (0.1 s
    # on/off) about 12 times, so a maintainer tells them apart across the room.
    gpio.show_busy()
    assert gpio.status == "busy"
    busy = led_changes(gpio, 1.2)
    gpio.show_fault()
    assert gpio.status == "fault"
    fault = led_changes(gpio, 1.2)
    assert busy >= 2, f"show_busy did not keep blinking ({busy} changes in 1.2 s)"
    assert fault >= 4, f"show_fault did not keep blinking ({fault} changes in 1.2 s)"
    assert fault > busy, f"fault ({fault} changes) blinks no faster than busy ({busy})"
    gpio.show_off()
    time.sleep(0.05)
    assert not led_level(gpio)


def test_gpio_buzzer_beeps_as_often_as_asked(rig):
    gpio, _ = rig
    pin = gpio.pin_factory.pin(gpio.pins["buzzer_pin"])
    for count in (1, 2):
        gpio.beep(count)  # 0.1 s on, 0.1 s off, count times
        beeps, last = 0, False
        deadline = time.monotonic() + 0.2 * count + 0.4
        while time.monotonic() < deadline:
            level = bool(pin.state)
            beeps += level and not last
            last = level
            time.sleep(0.005)
        assert beeps == count, f"beep({count}) sounded {beeps} times"
        assert not pin.state


def test_gpio_beep_needs_a_positive_count(rig):
    gpio, _ = rig
    with pytest.raises(ValueError):
        gpio.beep(0)


def test_gpio_help_button(rig):
    gpio, driver = rig
    pressed = threading.Event()
    presses: list[bool] = []

    def press() -> None:
        presses.append(True)
        pressed.set()

    gpio.when_help_pressed = press
    driver.set("help", False)
    assert wait_for(pressed) and gpio.is_help_pressed
    driver.set("help", True)
    time.sleep(0.1)
    assert not gpio.is_help_pressed
    gpio.when_help_pressed = None
    time.sleep(0.1)  # past the debounce time
    driver.set("help", False)
    time.sleep(0.1)
    assert presses == [True]  # no callback any more
    driver.set("help", True)


def test_gpio_wait_for_help_press_times_out_then_sees_a_press(rig):
    gpio, driver = rig
    assert not gpio.wait_for_help_press(timeout=0.05)
    driver.set("help", False)
    assert gpio.wait_for_help_press(timeout=1.0)
    driver.set("help", True)


def test_gpio_waits_need_a_positive_timeout(rig):
    gpio, _ = rig
    with pytest.raises(ValueError):
        gpio.wait_for_help_press(timeout=0)


def test_gpio_tamper_switch(rig):
    gpio, driver = rig
    opened = threading.Event()
    events: list[str] = []
    gpio.when_tampered = lambda: (events.append("tamper"), opened.set())
    driver.set("tamper", True)
    assert wait_for(opened) and gpio.is_tampered
    time.sleep(0.05)
    assert events == ["tamper"]  # once per opening
    ok, detail = gpio.selftest()
    assert not ok and "tamper OPEN" in detail and "close the lid" in detail
    driver.set("tamper", False)
    time.sleep(0.05)
    assert not gpio.is_tampered


def test_gpio_power_fail_line(rig):
    gpio, driver = rig
    lost, restored = threading.Event(), threading.Event()
    gpio.when_mains_lost = lost.set
    gpio.when_mains_restored = restored.set
    driver.set("power_fail", gpio.power_fail_active_high)
    assert wait_for(lost) and gpio.is_mains_lost
    driver.set("power_fail", not gpio.power_fail_active_high)
    assert wait_for(restored) and not gpio.is_mains_lost


def test_gpio_pir_wakes(rig):
    gpio, driver = rig
    if "pir_pin" not in gpio.pins:
        pytest.skip("no PIR in KIOSK_HIL_GPIO_PINS (pir=N)")
    assert gpio.has_motion_sensor
    events: list[str] = []
    moved, quiet = threading.Event(), threading.Event()
    gpio.when_motion = lambda: (events.append("motion"), moved.set())
    gpio.when_no_motion = lambda: (events.append("quiet"), quiet.set())
    assert not gpio.wait_for_motion(timeout=0.05)
    driver.set("pir", True)
    assert gpio.wait_for_motion(timeout=1.0)
    assert wait_for(moved) and gpio.is_motion_detected
    driver.set("pir", False)
    assert wait_for(quiet)
    time.sleep(0.05)
    assert not gpio.is_motion_detected
    assert events == ["motion", "quiet"]
    ok, detail = gpio.selftest()
    assert ok and "PIR quiet" in detail


def test_gpio_closes_and_reopens(rig):
    gpio, _ = rig
    gpio.close()
    gpio.close()
    assert gpio.closed and gpio.pin_factory is None
    with pytest.raises(DeviceError):
        gpio.show_ready()
    gpio.open()  # the pins are free again
    gpio.show_ready()
    assert led_level(gpio)
