"""The GPIO UPS HAT backend: gpiozero MockFactory for the line, a fake SMBus for the gauge
(``tests/smbus_fake.py``). What every power backend does is checked once, in
``tests/contract/test_power.py``."""

from __future__ import annotations

import errno
import sys
import types

import pytest

from kiosk.devices import create_device
from kiosk.errors import DeviceNotFound
from kiosk.power import PowerStatus
from kiosk.power.gpio_ups import GpioUps, liion_percent
from tests.smbus_fake import FakeSMBus, max17048


def _ups(bus: FakeSMBus | None = None, **options: object) -> GpioUps:
    return GpioUps(pin_factory="mock", bus=bus, **options)  # type: ignore[arg-type]


def _drive(ups: GpioUps, lost: bool) -> None:
    pin = ups.pin_factory.pin(ups.power_fail_pin)
    high = lost if ups.power_fail_active_high else not lost
    if high:
        pin.drive_high()
    else:
        pin.drive_low()


# -- the power-fail line -------------------------------------------------------------------
@pytest.mark.parametrize("active_high", [True, False])
def test_gpio_ups_line_polarity_is_configurable(active_high):
    with _ups(gauge="none", power_fail_active_high=active_high, power_fail_pin=5) as ups:
        _drive(ups, lost=False)
        assert ups.read() == PowerStatus("mains", None, None, low_battery=False)
        _drive(ups, lost=True)
        assert ups.is_mains_lost
        assert ups.read().source == "battery"
        _drive(ups, lost=False)
        assert ups.read().source == "mains"


def test_gpio_ups_active_high_line_reads_mains_at_low_level():
    with _ups(gauge="none") as ups:
        ups.pin_factory.pin(24).drive_low()
        assert ups.read().source == "mains"
        ups.pin_factory.pin(24).drive_high()
        assert ups.read().source == "battery"


# -- MAX17048 / MAX17040 ---------------------------------------------------------------------
def test_gpio_ups_max17048_reads_voltage_soc_and_runtime():
    # VCELL 0xD000 * 78.125 uV = 4.16 V; SOC 0x57 0x80 = 87.5 %; CRATE -50 * 0.208 %/h.
    bus = max17048(crate=0x10000 - 50)
    with _ups(bus) as ups:
        _drive(ups, lost=True)
        status = ups.read()
    assert status.source == "battery"
    assert status.battery_voltage == pytest.approx(4.16)
    assert status.battery_percent == pytest.approx(87.5)
    assert status.runtime_s == pytest.approx(87.5 / (50 * 0.208) * 3600)
    assert status.low_battery is False
    assert {reg for _, reg in bus.reads} == {0x02, 0x04, 0x16}
    assert all(addr == 0x36 for addr, _ in bus.reads)
    assert not bus.closed  # a bus handed in belongs to the caller


def test_gpio_ups_max17048_charging_or_on_mains_has_no_runtime():
    with _ups(max17048(crate=120)) as ups:
        _drive(ups, lost=True)
        assert ups.read().runtime_s is None  # charging: no time-to-empty
        _drive(ups, lost=False)
        assert ups.read().runtime_s is None


def test_gpio_ups_max17040_reads_soc_and_12_bit_vcell():
    # MAX17040: VCELL upper 12 bits at 1.25 mV: 0xC80 * 1.25 mV = 4.0 V; SOC 0x32 0x40.
    bus = FakeSMBus(0x36, {0x02: 0xC800, 0x04: 0x3240})
    with _ups(bus, gauge="max17040") as ups:
        status = ups.read()
    assert status.battery_voltage == pytest.approx(4.0)
    assert status.battery_percent == pytest.approx(50.25)
    assert status.runtime_s is None
    assert 0x16 not in {reg for _, reg in bus.reads}  # MAX17040 has no CRATE


def test_gpio_ups_soc_over_100_is_full():
    with _ups(max17048(soc=0x6580)) as ups:  # 101.5 % right after charging
        assert ups.read().battery_percent == 100.0


@pytest.mark.parametrize(("soc", "low"), [(0x0A00, True), (0x0A01, False), (0x0500, True)])
def test_gpio_ups_low_battery_at_threshold(soc, low):
    with _ups(max17048(soc=soc)) as ups:
        _drive(ups, lost=True)
        assert ups.read().low_battery is low


# -- INA219 --------------------------------------------------------------------------------
@pytest.mark.parametrize(("volts", "percent"), [(8.4, 100.0), (6.0, 0.0), (5.5, 0.0),
                                                (9.0, 100.0)])
def test_gpio_ups_ina219_bus_voltage_to_charge(volts, percent):
    raw = round(volts / 0.004) << 3 | 0b10  # bits 2-0 are flags (CNVR set here)
    bus = FakeSMBus(0x40, {0x02: raw})
    with _ups(bus, gauge="ina219", full_voltage=8.4, empty_voltage=6.0) as ups:
        status = ups.read()
    assert status.battery_voltage == pytest.approx(volts)
    assert status.battery_percent == pytest.approx(percent)
    assert status.runtime_s is None


def test_liion_curve_is_monotonic_and_scaled():
    values = [liion_percent(3.0 + i * 0.01) for i in range(121)]
    assert values == sorted(values)
    assert liion_percent(3.8) == pytest.approx(47.0)
    assert liion_percent(7.6, empty=6.0, full=8.4) == pytest.approx(47.0)


# -- errors and config -----------------------------------------------------------------------
def test_gpio_ups_missing_gauge_fails_open_with_what_to_check():
    bus = FakeSMBus(0x55, {})  # nothing at 0x36
    ups = _ups(bus)
    with pytest.raises(DeviceNotFound, match=r"0x36.*i2c-1.*i2cdetect"):
        ups.open()
    assert ups.closed
    ok, detail = ups.selftest()
    assert ok is False and "DeviceNotFound" in detail


def test_gpio_ups_gauge_vanishing_later_raises_not_found():
    bus = max17048()
    with _ups(bus) as ups:
        bus.fail = OSError(errno.EREMOTEIO, "Remote I/O error")
        with pytest.raises(DeviceNotFound, match="did not answer"):
            ups.read()


def test_gpio_ups_from_config_through_the_registry():
    ups = create_device("power", {"type": "gpio", "gauge": "none", "pin_factory": "mock",
                                  "power_fail_pin": 6, "power_fail_active_high": False})
    assert isinstance(ups, GpioUps)
    with ups:
        assert ups.read().source == "mains"  # the mock line starts at mains present
        ups.pin_factory.pin(6).drive_low()
        assert ups.read().source == "battery"


def test_gpio_ups_opens_and_closes_its_own_smbus(monkeypatch):
    opened: list[FakeSMBus] = []

    def smbus(number: int) -> FakeSMBus:
        assert number == 3
        opened.append(max17048())
        return opened[-1]

    monkeypatch.setitem(sys.modules, "smbus2", types.SimpleNamespace(SMBus=smbus))
    with GpioUps(pin_factory="mock", i2c_bus=3) as ups:
        assert ups.read().battery_percent == pytest.approx(87.5)
    assert opened and opened[0].closed


def test_gpio_ups_without_smbus2_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "smbus2", None)  # import fails
    with pytest.raises(DeviceNotFound, match="smbus2"):
        GpioUps(pin_factory="mock").open()
