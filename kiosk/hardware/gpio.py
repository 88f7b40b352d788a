"""Status LED, buzzer, help button, tamper switch, UPS power-fail line and PIR, on gpiozero.

The pin factory is chosen by config, never by environment variables: ``type = "mock"``
builds a private :class:`gpiozero.pins.mock.MockFactory` (tests, laptops, the demo),
``type = "native"`` uses gpiozero's default factory (lgpio on Pi OS Bookworm). Each
gpiozero device gets its factory passed explicitly.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Callable
from typing import Any, ClassVar

from kiosk.errors import ConfigError, DeviceError, DeviceNotFound
from kiosk.hardware.base import Device, Options
from kiosk.options import Boolean, GpioPin, Number

log = logging.getLogger(__name__)

Callback = Callable[[], None]

# LED patterns, seconds on / off. Busy is a calm blink, fault a fast one a maintainer
# notices from across the room.
_BUSY_BLINK = (0.5, 0.5)
_FAULT_BLINK = (0.1, 0.1)
_BEEP = (0.1, 0.1)


class KioskGpio(Device):
    """The kiosk's GPIO peripherals as one device.

    Wiring (BCM numbers; defaults, all configurable under ``[hardware.gpio]``):

    ==============  ====  ========================================================
    status LED      17    LED + 330 ohm to GND; on = ready, slow blink = busy,
                          fast blink = fault
    buzzer          27    active buzzer (through a transistor) to GND
    help button     22    momentary switch to GND, internal pull-up
    tamper switch   23    normally-closed enclosure switch to GND, internal pull-up:
                          lid closed pulls the line low; opened (or a cut wire)
                          lets it go high = tampered
    power-fail      24    the UPS HAT's "mains lost" output; ``power_fail_active_high``
                          says which level means lost (X728-style HATs: high)
    PIR (optional)  none  motion sensor output (HC-SR501: 3.3 V out, powered from 5 V),
                          active high, internal pull-down; set ``pir_pin`` (e.g. 25)
                          to enable; ``when_motion`` wakes the screen
    ==============  ====  ========================================================

    Example::

        with create_device("gpio", {"type": "mock"}) as gpio:
            gpio.when_help_pressed = call_staff
            gpio.show_busy()
            if gpio.is_mains_lost:
                ...
    """

    SECTION: ClassVar[str] = "hardware.gpio"

    OPTIONS: ClassVar[Options] = {
        "led_pin": GpioPin(17, description="the status LED (BCM number)"),
        "buzzer_pin": GpioPin(27, description="the buzzer (BCM number)"),
        "help_pin": GpioPin(22, description="the help button, to ground (BCM number)"),
        "tamper_pin": GpioPin(23, description="the enclosure tamper switch (BCM number)"),
        "power_fail_pin": GpioPin(24, description="the UPS power-fail line (BCM number)"),
        "pir_pin": GpioPin(None, description="a PIR presence sensor (BCM number; unset: none)"),
        "power_fail_active_high": Boolean(True, description=(
            "the power-fail line is high when the mains is gone")),
        "help_bounce_s": Number(0.05, 0, allowed="seconds >= 0",
                                description="the help button's debounce"),
    }

    def __init__(self, *, led_pin: int = OPTIONS["led_pin"].default,
                 buzzer_pin: int = OPTIONS["buzzer_pin"].default,
                 help_pin: int = OPTIONS["help_pin"].default,
                 tamper_pin: int = OPTIONS["tamper_pin"].default,
                 power_fail_pin: int = OPTIONS["power_fail_pin"].default,
                 pir_pin: int | None = OPTIONS["pir_pin"].default,
                 power_fail_active_high: bool = OPTIONS["power_fail_active_high"].default,
                 help_bounce_s: float = OPTIONS["help_bounce_s"].default,
                 pin_factory: Any = None) -> None:
        super().__init__()
        pins = {"led_pin": led_pin, "buzzer_pin": buzzer_pin, "help_pin": help_pin,
                "tamper_pin": tamper_pin, "power_fail_pin": power_fail_pin}
        if pir_pin is not None:
            pins["pir_pin"] = pir_pin
        self._check_options(pins)
        seen: dict[int, str] = {}
        for name, pin in pins.items():  # each pin alone is checked above; together:
            if pin in seen:
                raise ConfigError(f"hardware.gpio.{name}", pin,
                                  f"a pin not already used by {seen[pin]}")
            seen[pin] = name
        self._check_options({"help_bounce_s": help_bounce_s})
        self._pins = pins
        self.power_fail_active_high = power_fail_active_high
        self._bounce = float(help_bounce_s) or None
        self._factory = pin_factory
        self._devices: dict[str, Any] = {}
        self._callbacks: dict[tuple[str, str], Callback | None] = {}
        self.status = "off"  # "off" | "ready" | "busy" | "fault"

    # -- lifecycle ------------------------------------------------------------------------
    @property
    def pin_factory(self) -> Any:
        """The gpiozero pin factory in use (a MockFactory for ``type = "mock"``)."""
        return self._factory

    def _make_factory(self) -> Any:
        return self._factory

    def _open(self) -> None:
        try:
            from gpiozero import LED, Button, Buzzer, DigitalInputDevice

            factory = self._make_factory()
            self._factory = factory
            pins = self._pins
            made = self._devices
            made["led"] = LED(pins["led_pin"], pin_factory=factory)
            made["buzzer"] = Buzzer(pins["buzzer_pin"], pin_factory=factory)
            made["help"] = Button(pins["help_pin"], pull_up=True, bounce_time=self._bounce,
                                  pin_factory=factory)
            made["tamper"] = DigitalInputDevice(pins["tamper_pin"], pull_up=True,
                                                pin_factory=factory)
            # The UPS drives this line actively: no pull, and we are told the polarity.
            made["power_fail"] = DigitalInputDevice(
                pins["power_fail_pin"], pull_up=None,
                active_state=self.power_fail_active_high, pin_factory=factory)
            if "pir_pin" in pins:
                made["pir"] = DigitalInputDevice(pins["pir_pin"], pull_up=False,
                                                 pin_factory=factory)
        except Exception as exc:
            self._close()
            raise DeviceNotFound(f"GPIO not usable ({type(exc).__name__}: {exc}); on a Pi "
                                 "install python3-lgpio, elsewhere use type = \"mock\"") from exc

    def _close(self) -> None:
        for name in reversed(list(self._devices)):
            try:
                self._devices[name].close()
            except Exception as exc:  # a half-open device must not stop the others closing
                log.warning("closing GPIO %s failed: %s", name, exc)
        self._devices.clear()
        self._callbacks.clear()
        self.status = "off"

    def _device(self, name: str) -> Any:
        self._check_open()
        return self._devices[name]

    def _selftest(self) -> tuple[bool, str]:
        tampered = self.is_tampered
        lost = self.is_mains_lost
        ok = not tampered
        detail = (f"pins {self._pins}; tamper {'OPEN' if tampered else 'closed'}; "
                  f"mains {'lost' if lost else 'present'}")
        if self.has_motion_sensor:
            detail += f"; PIR {'motion' if self.is_motion_detected else 'quiet'}"
        if tampered:
            detail += " - the enclosure is open (or the tamper wire is cut): close the lid"
        return ok, detail

    # -- status LED and buzzer ------------------------------------------------------------
    def show_ready(self) -> None:
        """LED steadily on: ready for the next citizen."""
        self._device("led").on()
        self.status = "ready"

    def show_busy(self) -> None:
        """LED blinking slowly: a session or capture is running."""
        self._device("led").blink(*_BUSY_BLINK, background=True)
        self.status = "busy"

    def show_fault(self) -> None:
        """LED blinking fast: not accepting enrollments; a maintainer is needed."""
        self._device("led").blink(*_FAULT_BLINK, background=True)
        self.status = "fault"

    def show_off(self) -> None:
        """LED off."""
        self._device("led").off()
        self.status = "off"

    def beep(self, n: int = 1) -> None:
        """Beep ``n`` short times, in the background."""
        if n < 1:
            raise ValueError("beep count must be at least 1")
        self._device("buzzer").beep(*_BEEP, n=n, background=True)

    # -- inputs ---------------------------------------------------------------------------
    @property
    def is_help_pressed(self) -> bool:
        return bool(self._device("help").is_pressed)

    @property
    def when_help_pressed(self) -> Callback | None:
        return self._callback("help", "when_pressed")

    @when_help_pressed.setter
    def when_help_pressed(self, callback: Callback | None) -> None:
        self._set_callback("help", "when_pressed", callback)

    @property
    def is_tampered(self) -> bool:
        """True while the enclosure is open (the normally-closed switch is open)."""
        return not self._device("tamper").is_active

    @property
    def when_tampered(self) -> Callback | None:
        return self._callback("tamper", "when_deactivated")

    @when_tampered.setter
    def when_tampered(self, callback: Callback | None) -> None:
        self._set_callback("tamper", "when_deactivated", callback)

    @property
    def is_mains_lost(self) -> bool:
        """True while the UPS says mains power is gone (running on battery)."""
        return bool(self._device("power_fail").is_active)

    @property
    def when_mains_lost(self) -> Callback | None:
        return self._callback("power_fail", "when_activated")

    @when_mains_lost.setter
    def when_mains_lost(self, callback: Callback | None) -> None:
        self._set_callback("power_fail", "when_activated", callback)

    @property
    def when_mains_restored(self) -> Callback | None:
        return self._callback("power_fail", "when_deactivated")

    @when_mains_restored.setter
    def when_mains_restored(self, callback: Callback | None) -> None:
        self._set_callback("power_fail", "when_deactivated", callback)

    def wait_for_help_press(self, timeout: float) -> bool:
        """Block until the help button is pressed; False after ``timeout`` seconds."""
        _check_timeout(timeout)
        return bool(self._device("help").wait_for_press(timeout=timeout))

    # -- PIR wake sensor (optional) -------------------------------------------------------
    @property
    def has_motion_sensor(self) -> bool:
        """True when config names a ``pir_pin``."""
        return "pir_pin" in self._pins

    @property
    def is_motion_detected(self) -> bool:
        """True while the PIR sensor sees someone; always False without one."""
        self._check_open()
        pir = self._devices.get("pir")
        return bool(pir.is_active) if pir is not None else False

    @property
    def when_motion(self) -> Callback | None:
        """Called (from gpiozero's thread) when someone walks up: wake the screen."""
        return self._callback("pir", "when_activated")

    @when_motion.setter
    def when_motion(self, callback: Callback | None) -> None:
        self._set_callback("pir", "when_activated", callback)

    @property
    def when_no_motion(self) -> Callback | None:
        return self._callback("pir", "when_deactivated")

    @when_no_motion.setter
    def when_no_motion(self, callback: Callback | None) -> None:
        self._set_callback("pir", "when_deactivated", callback)

    def wait_for_motion(self, timeout: float) -> bool:
        """Block until the PIR sees motion; False after ``timeout`` s (or with no PIR)."""
        _check_timeout(timeout)
        self._check_open()
        pir = self._devices.get("pir")
        return bool(pir.wait_for_active(timeout=timeout)) if pir is not None else False

    @property
    def pins(self) -> dict[str, int]:
        """The BCM pin of each configured line: ``{"led_pin": 17, ...}``."""
        return dict(self._pins)

    def _callback(self, device: str, event: str) -> Callback | None:
        self._check_open()
        return self._callbacks.get((device, event))

    def _set_callback(self, device: str, event: str, callback: Callback | None) -> None:
        self._check_open()
        if device not in self._devices:  # only the optional PIR can be missing
            if callback is None:
                return
            raise DeviceError("no PIR motion sensor configured: set hardware.gpio.pir_pin")
        dev = self._devices[device]
        self._callbacks[(device, event)] = callback
        # gpiozero passes the device to one-argument callbacks; ours take none.
        setattr(dev, event, None if callback is None else (lambda: callback()))


def _check_timeout(timeout: float) -> None:
    if not timeout > 0:
        raise ValueError(f"timeout must be a number of seconds > 0, not {timeout!r}")


class MockKioskGpio(KioskGpio):
    """KioskGpio on a private gpiozero MockFactory, starting in a sane simulated world:
    lid closed (tamper line low), mains present, help button up.

    Tests drive the pins: ``gpio.pin_factory.pin(22).drive_low()`` presses help.
    """

    def _make_factory(self) -> Any:
        from gpiozero.pins.mock import MockFactory

        return MockFactory()

    def _open(self) -> None:
        super()._open()
        factory = self._factory
        factory.pin(self._pins["tamper_pin"]).drive_low()
        lost_level = self.power_fail_active_high
        pin = factory.pin(self._pins["power_fail_pin"])
        if lost_level:
            pin.drive_low()
        else:
            pin.drive_high()

    def _close(self) -> None:
        super()._close()
        if self._factory is not None:
            self._factory.close()
            self._factory = None


class NativeKioskGpio(KioskGpio):
    """KioskGpio on gpiozero's default pin factory (lgpio on a Raspberry Pi).

    Needs read/write access to ``/dev/gpiochip*``: the ``gpio`` group on Pi OS, or root.
    """

    def _make_factory(self) -> Any:
        return native_pin_factory()


def native_pin_factory() -> Any:
    """gpiozero's default pin factory, the same process-wide one gpiozero would pick itself
    (GPIOZERO_PIN_FACTORY, else lgpio, ...), made now so ``pin_factory`` can be read back
    for tools and tests. Its "Falling back from lgpio: ..." warnings (one per factory tried,
    raw on stderr before the kiosk's own line) are caught: the first one's reason goes into
    the error where none loads (BadPinFactory), and into the log where a fallback did."""
    from gpiozero import Device as GpioDevice
    from gpiozero.exc import BadPinFactory, PinWarning

    caught: list[warnings.WarningMessage] = []
    try:
        with warnings.catch_warnings(record=True) as recorded:
            warnings.simplefilter("always", PinWarning)
            try:
                GpioDevice.ensure_pin_factory()
            finally:
                caught = list(recorded)
    except BadPinFactory as exc:
        tried = _pin_warnings(caught)
        if tried:
            raise BadPinFactory(f"{exc}; {tried[0].removeprefix('Falling back from ')}"
                                ) from exc
        raise
    finally:
        _pass_on_others(caught, PinWarning)
    for fallback in _pin_warnings(caught):  # a Pi on another factory than lgpio
        log.warning("GPIO: %s", fallback)
    return GpioDevice.pin_factory


def _pin_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    from gpiozero.exc import PinWarning

    return [str(w.message) for w in caught if issubclass(w.category, PinWarning)]


def _pass_on_others(caught: list[warnings.WarningMessage], kind: type[Warning]) -> None:
    """Warn again, as they were, the warnings ``catch_warnings(record=True)`` caught that
    are not of ``kind``."""
    for warning in caught:
        if not issubclass(warning.category, kind):
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno, source=warning.source)
