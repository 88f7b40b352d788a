"""Power-source contract suite: one set of checks for every UPS backend.

The one suite for the ``PowerSource`` API (gpiozero's ``tests/test_real_pins.py`` way): the
``rig`` fixture is parametrised over every backend:

* ``sim``: the simulated UPS, always;
* ``nut-dummy``: the real ``nut`` backend against a real upsd serving NUT's dummy-ups
  driver (the process's ``nut_session``, ``tests/conftest.py``), always; missing NUT
  daemons FAIL (``make test`` installs nut-server and nut-client);
* ``gpio-mock``: the real ``gpio`` HAT backend on gpiozero's MockFactory with a fake I2C
  fuel gauge (``tests/smbus_fake.py``), always;
* ``nut-real``: a real UPS when ``KIOSK_HIL_NUT`` names one (``ups@host[:port]``), marked
  ``hil``; read-only checks only, the real UPS's state is not changed;
* ``gpio-real``: the UPS HAT on the Pi's own pins and I2C bus when ``KIOSK_HIL_UPS_GPIO`` is
  set: ``1`` for the backend's defaults (power-fail line BCM 24, high on mains loss;
  MAX17048 on i2c-1), else its options as ``option=value`` pairs
  (``gauge=ina219,power_fail_pin=6,power_fail_active_high=false``); marked ``hil``,
  read-only like ``nut-real`` (nobody pulls the mains plug).

What one backend alone does (NUT's protocol and daemons going away, the gauge chips and
line polarity) stays in ``tests/hil/test_power_nut.py``, ``tests/unit/test_power_nut.py``,
``tests/unit/test_power_gpio.py`` and ``tests/unit/test_power.py``.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from kiosk.devices import create_device
from kiosk.errors import DeviceError
from kiosk.power import PowerSource, PowerStatus
from tests.contract.backends import real_param, rig_for
from tests.hil.nut_harness import wait_read
from tests.smbus_fake import FakeSMBus, max17048


def _hat_value(text: str) -> Any:
    """``true``/``false``, an integer (``0x40`` too), a number, else the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for convert in (lambda t: int(t, 0), float):
        try:
            return convert(text)
        except ValueError:
            pass
    return text


def _real_hat() -> dict[str, Any] | None:
    """The GPIO UPS HAT's options from ``KIOSK_HIL_UPS_GPIO``, or None when it is unset."""
    spec = os.environ.get("KIOSK_HIL_UPS_GPIO", "").strip()
    if not spec:
        return None
    options: dict[str, Any] = {"type": "gpio"}
    if spec != "1":
        for item in filter(None, (part.strip() for part in spec.split(","))):
            name, _, text = item.partition("=")
            options[name.strip()] = _hat_value(text.strip())
    return options


def _real_target() -> tuple[str, str, int] | None:
    spec = os.environ.get("KIOSK_HIL_NUT")
    if not spec:
        return None
    ups, _, where = spec.partition("@")
    host, _, port = (where or "127.0.0.1").partition(":")
    return ups, host, int(port or 3493)


class Rig:
    """A UPS, opened, and the hands that change what it reports."""

    hands = True  # can take the mains away and set the charge
    #: What read() gives at rest (on mains), or None where only plausibility is known.
    rest: PowerStatus | None = None
    selftest_words: tuple[str, ...] = ()
    ups: Any
    options: dict[str, Any]

    def make(self) -> Any:
        """Another UPS device like this one, closed."""
        return create_device("power", dict(self.options))

    def on_battery(self, percent: int, low: bool) -> None:
        raise NotImplementedError

    def on_mains(self) -> None:
        raise NotImplementedError

    def plausible(self, status: PowerStatus) -> None:
        """Check a reading of real hardware, whose state is not known beforehand."""
        raise NotImplementedError

    def close(self) -> None:
        self.ups.close()


class SimRig(Rig):
    rest = PowerStatus("mains", 100.0, 3600.0, low_battery=False)
    selftest_words = ("mains", "100%")

    def __init__(self) -> None:
        self.options = {"type": "sim"}
        self.ups = self.make()
        self.ups.open()

    def on_battery(self, percent: int, low: bool) -> None:
        self.ups.set(source="battery", battery_percent=float(percent), low_battery=low)

    def on_mains(self) -> None:
        self.ups.set(source="mains", battery_percent=100.0, low_battery=False)


class NutRig(Rig):
    rest = PowerStatus("mains", 100.0, 3600.0, low_battery=False, forced_shutdown=False,
                       status="OL", battery_voltage=13.6)

    def __init__(self, server: Any) -> None:
        server.reset()
        self.server = server
        self.options = {"type": "nut", "host": server.host, "port": server.port,
                        "ups": server.ups}
        self.selftest_words = (f"ups@{server.host}:{server.port}", "source mains", "100%",
                               "'OL'")
        self.ups = self.make()
        self.ups.open()

    def on_battery(self, percent: int, low: bool) -> None:
        self.server.set_status("OB LB" if low else "OB DISCHRG",
                               **{"battery.charge": str(percent)})

    def on_mains(self) -> None:
        self.server.set_status("OL CHRG", **{"battery.charge": "100"})


class GpioRig(Rig):
    # MAX17048 at rest: VCELL 0xD000 * 78.125 uV = 4.16 V, SOC 0x5780 = 87.5 %, no CRATE.
    rest = PowerStatus("mains", 87.5, None, low_battery=False, battery_voltage=4.16)
    selftest_words = ("GPIO24", "max17048 at 0x36", "88%")

    def __init__(self) -> None:
        self.bus: FakeSMBus = max17048()
        self.options = {"type": "gpio", "pin_factory": "mock"}
        self.ups = self.make()
        self.ups.open()

    def make(self) -> Any:
        from kiosk.power.gpio_ups import GpioUps

        return GpioUps(pin_factory="mock", bus=self.bus)  # type: ignore[arg-type]

    def _line(self, lost: bool) -> None:
        pin = self.ups.pin_factory.pin(self.ups.power_fail_pin)
        high = lost if self.ups.power_fail_active_high else not lost
        (pin.drive_high if high else pin.drive_low)()

    def on_battery(self, percent: int, low: bool) -> None:
        assert low == (percent <= 10), "the HAT's low flag is the charge at or below 10 %"
        self.bus.registers[0x04] = percent << 8  # SOC: the high byte is whole percent
        self._line(lost=True)

    def on_mains(self) -> None:
        self.bus.registers[0x04] = 100 << 8
        self._line(lost=False)


class RealRig(Rig):
    """Real hardware: read-only, its state is not changed."""

    hands = False

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.ups = self.make()
        self.ups.open()

    def on_battery(self, percent: int, low: bool) -> None:
        pytest.skip("read-only on a real UPS: its state is not changed")

    def on_mains(self) -> None:
        pytest.skip("read-only on a real UPS: its state is not changed")


class RealNutRig(RealRig):
    def __init__(self) -> None:
        target = _real_target()
        assert target is not None
        ups, host, port = target
        super().__init__({"type": "nut", "host": host, "port": port, "ups": ups})
        self.selftest_words = (f"{ups}@{host}:{port}",)

    def plausible(self, status: PowerStatus) -> None:
        assert status.status, "the UPS gave no ups.status"


class RealGpioRig(RealRig):
    def __init__(self) -> None:
        options = _real_hat()
        assert options is not None
        super().__init__(options)
        self.selftest_words = (f"GPIO{self.ups.power_fail_pin}",)
        if self.ups.gauge != "none":
            self.selftest_words += (f"{self.ups.gauge} at 0x{self.ups.i2c_address:02x}",)

    def plausible(self, status: PowerStatus) -> None:
        if self.ups.gauge != "none":  # every gauge gives the pack's voltage and charge
            assert status.battery_voltage is not None and status.battery_percent is not None


@pytest.fixture(params=["sim", "nut-dummy", "gpio-mock", real_param(
    "nut-real", named=_real_target() is not None,
    reason="no real UPS: set KIOSK_HIL_NUT=ups@host[:port] to test one"), real_param(
    "gpio-real", named=_real_hat() is not None,
    reason="no UPS HAT: set KIOSK_HIL_UPS_GPIO=1 on a Pi (or its options, "
           "gauge=ina219,power_fail_pin=6,...) to test one")])
def rig(request: pytest.FixtureRequest) -> Iterator[Rig]:
    yield from rig_for(request.param, {
        "sim": SimRig,
        "nut-dummy": lambda: NutRig(request.getfixturevalue("nut_session")),
        "gpio-mock": GpioRig,
        "nut-real": RealNutRig,
        "gpio-real": RealGpioRig,
    })


def test_power_backend_is_a_power_source(rig: Rig) -> None:
    assert isinstance(rig.ups, PowerSource)


def test_power_reads_mains_and_battery_figures_at_rest(rig: Rig) -> None:
    status = rig.ups.read()
    assert isinstance(status, PowerStatus)
    if rig.rest is not None:
        assert status == rig.rest
    else:  # real hardware: whatever it says, it says it plainly
        assert status.source in ("mains", "battery")
        rig.plausible(status)


def test_power_on_battery_low_battery_and_back_on_mains(rig: Rig) -> None:
    ups = rig.ups
    rig.on_battery(80, low=False)
    wait_read(ups, {"source": "battery", "battery_percent": 80.0, "low_battery": False})
    rig.on_battery(9, low=True)
    wait_read(ups, {"source": "battery", "battery_percent": 9.0, "low_battery": True})
    ok, detail = ups.selftest()
    assert ok is True, detail  # on battery, the UPS is doing its job
    assert "source battery" in detail and "LOW BATTERY" in detail
    rig.on_mains()
    wait_read(ups, {"source": "mains", "battery_percent": 100.0, "low_battery": False})


def test_power_selftest_describes_the_reading(rig: Rig) -> None:
    ok, detail = rig.ups.selftest()
    assert ok is True, detail
    for word in rig.selftest_words:
        assert word in detail


def test_power_closed_refuses_to_read_and_close_twice_is_safe(rig: Rig) -> None:
    with pytest.raises(DeviceError):
        rig.make().read()  # created closed
    ups = rig.ups
    ups.close()
    ups.close()
    assert ups.closed
    with pytest.raises(DeviceError):
        ups.read()
    ups.open()
    assert ups.read().source in ("mains", "battery")


def test_power_concurrent_reads_are_safe(rig: Rig) -> None:
    errors: list[BaseException] = []
    source = rig.ups.read().source
    if rig.rest is not None:
        assert source == rig.rest.source

    def reader() -> None:
        try:
            for _ in range(20):
                assert rig.ups.read().source == source
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    assert not errors
    assert not any(t.is_alive() for t in threads)
