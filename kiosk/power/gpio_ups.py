"""A Raspberry Pi UPS HAT: a "mains lost" GPIO line plus an I2C fuel gauge.

Fuel gauges (registers are 16-bit, most significant byte first, read with one I2C
block read of two bytes):

=========  =======  ====================================================================
gauge      address  what is read
=========  =======  ====================================================================
max17048   0x36     VCELL 0x02 (78.125 uV per bit), SOC 0x04 (high byte %, low byte
                    1/256 %), CRATE 0x16 (signed, 0.208 %/hour per bit; gives runtime
                    while discharging)
max17040   0x36     VCELL 0x02 (upper 12 bits, 1.25 mV each: the same 78.125 uV per bit
                    of the whole word), SOC 0x04
ina219     0x40     bus voltage 0x02 (bits 15-3, 4 mV each); the charge is estimated
                    from the voltage on a Li-ion curve scaled between ``empty_voltage``
                    and ``full_voltage`` (rough under load)
none       -        the line alone: charge unknown
=========  =======  ====================================================================

The power-fail line's polarity differs between boards (``power_fail_active_high``: true
when the line goes high on mains loss, e.g. X728-style HATs). The same line may also be
wired to :class:`kiosk.hardware.gpio.KioskGpio` (its ``power_fail_pin``): on a real Pi
only one process can claim a line, so give it to one of them.
"""

from __future__ import annotations

import bisect
import logging
import threading
from typing import Any, ClassVar, Protocol

from kiosk.errors import ConfigError, DeviceNotFound, DeviceTimeout
from kiosk.hardware.base import Options
from kiosk.options import Boolean, GpioPin, Integer, Number, String
from kiosk.power.base import PowerSource, PowerStatus

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire.ups")

GAUGES = ("max17048", "max17040", "ina219", "none")
_DEFAULT_ADDRESS = {"max17048": 0x36, "max17040": 0x36, "ina219": 0x40}

# MAX17040/MAX17048 registers and scales (datasheet register map).
VCELL, SOC, CRATE = 0x02, 0x04, 0x16
_VCELL_V_PER_BIT = 78.125e-6
_CRATE_PERCENT_PER_HOUR = 0.208
# INA219: bus voltage register; bits 2-0 are flags (CNVR, OVF), 4 mV per bit above them.
INA219_BUS = 0x02
_INA219_V_PER_BIT = 0.004

# Resting voltage of one Li-ion cell -> state of charge (%). Typical 18650 discharge
# curve; the pack's empty..full range is mapped onto 3.0..4.2 V before looking it up.
_LIION_CURVE = ((3.00, 0.0), (3.30, 3.0), (3.45, 7.0), (3.60, 15.0), (3.68, 25.0),
                (3.74, 35.0), (3.79, 45.0), (3.84, 55.0), (3.90, 65.0), (3.97, 75.0),
                (4.05, 85.0), (4.12, 93.0), (4.20, 100.0))


class SMBusLike(Protocol):
    """What the backend needs of ``smbus2.SMBus`` (and what test fakes provide)."""

    def read_i2c_block_data(self, i2c_addr: int, register: int, length: int,
                            force: bool | None = None) -> list[int]: ...

    def close(self) -> None: ...


def liion_percent(volts: float, empty: float = 3.0, full: float = 4.2) -> float:
    """State of charge (0-100) of a Li-ion pack from its voltage, ``empty``..``full``."""
    cell = 3.0 + (volts - empty) / (full - empty) * 1.2
    xs = [v for v, _ in _LIION_CURVE]
    if cell <= xs[0]:
        return 0.0
    if cell >= xs[-1]:
        return 100.0
    i = bisect.bisect_right(xs, cell)
    (v0, p0), (v1, p1) = _LIION_CURVE[i - 1], _LIION_CURVE[i]
    return p0 + (p1 - p0) * (cell - v0) / (v1 - v0)


class GpioUps(PowerSource):
    """A UPS HAT: mains state from a GPIO line, charge from an I2C fuel gauge.

    Wiring: the HAT's power-fail output to ``power_fail_pin`` (BCM, default 24; the UPS
    drives it, no pull), the gauge on I2C bus ``i2c_bus`` (1 = GPIO2/3; enable I2C with
    raspi-config). ``low_battery`` is set at or below ``low_battery_percent``. With
    ``pin_factory = "mock"`` the line is a gpiozero MockFactory pin (tests, bench demos).

    Options: ``power_fail_pin``, ``power_fail_active_high``, ``gauge`` (max17048,
    max17040, ina219, none), ``i2c_bus``, ``i2c_address`` (default by gauge),
    ``full_voltage``/``empty_voltage`` (ina219 curve), ``low_battery_percent``,
    ``pin_factory`` (native, mock), ``poweroff_pin``/``poweroff_active_high`` (the HAT's
    power-off input: the shutdown hook drives it after a battery shutdown so the HAT cuts
    its output and restores it with the mains; read by :mod:`kiosk.power.poweroff`, never
    claimed here; docs/power.md). Example::

        with create_device("power", {"type": "gpio", "gauge": "max17048"}) as ups:
            status = ups.read()  # PowerStatus(source="battery", battery_percent=87.5, ...)

    ``bus`` (Python only) hands in an SMBus-like object instead of opening ``i2c_bus``.
    """

    OPTIONS: ClassVar[Options] = {
        "power_fail_pin": GpioPin(24, description="the HAT's power-fail output (BCM number)"),
        "power_fail_active_high": Boolean(True, description=(
            "the power-fail line is high when the mains is gone")),
        "gauge": String("max17048", choices=GAUGES, description="the I2C fuel gauge"),
        "i2c_bus": Integer(1, 0, allowed="an I2C bus number >= 0",
                           description="the gauge's bus (1 = GPIO2/3)"),
        "i2c_address": Integer(None, 0x03, 0x77, allowed="a 7-bit I2C address 0x03-0x77",
                               description="the gauge's address (unset: the gauge's usual)"),
        "full_voltage": Number(4.2, description="ina219: the pack's voltage when full"),
        "empty_voltage": Number(3.0, description="ina219: the pack's voltage when empty"),
        "low_battery_percent": Number(10.0, 0, 100, allowed="0-100",
                                      description="low_battery at or below this charge"),
        "pin_factory": String("native", choices=("native", "mock"),
                              allowed="'native' or 'mock'",
                              description="\"mock\": a gpiozero MockFactory pin (tests, "
                                          "bench demos)"),
        "poweroff_pin": GpioPin(None, description=(
            "the HAT's power-off input, driven by the shutdown hook after a battery "
            "shutdown (BCM number; unset: none; docs/power.md)")),
        "poweroff_active_high": Boolean(True, description="the power-off input's polarity"),
    }

    def __init__(self, *, power_fail_pin: int = OPTIONS["power_fail_pin"].default,
                 power_fail_active_high: bool = OPTIONS["power_fail_active_high"].default,
                 gauge: str = OPTIONS["gauge"].default,
                 i2c_bus: int = OPTIONS["i2c_bus"].default,
                 i2c_address: int | None = OPTIONS["i2c_address"].default,
                 full_voltage: float = OPTIONS["full_voltage"].default,
                 empty_voltage: float = OPTIONS["empty_voltage"].default,
                 low_battery_percent: float = OPTIONS["low_battery_percent"].default,
                 pin_factory: str = OPTIONS["pin_factory"].default,
                 poweroff_pin: int | None = OPTIONS["poweroff_pin"].default,
                 poweroff_active_high: bool = OPTIONS["poweroff_active_high"].default,
                 bus: SMBusLike | None = None) -> None:
        super().__init__()
        self._check_options(locals())
        if not 0 < empty_voltage < full_voltage:
            raise ConfigError("power.full_voltage", full_voltage,
                              f"a voltage above empty_voltage ({empty_voltage})")
        if poweroff_pin is not None and poweroff_pin == power_fail_pin:
            raise ConfigError("power.poweroff_pin", poweroff_pin,
                              "a BCM GPIO number 0-27 other than power.power_fail_pin "
                              f"({power_fail_pin}): the HAT's power-off input")
        self.power_fail_pin = power_fail_pin
        self.power_fail_active_high = power_fail_active_high
        self.poweroff_pin = poweroff_pin
        self.poweroff_active_high = poweroff_active_high
        self.gauge = gauge
        self.i2c_bus = i2c_bus
        self.i2c_address = i2c_address if i2c_address is not None else \
            _DEFAULT_ADDRESS.get(gauge, 0)
        self.full_voltage = float(full_voltage)
        self.empty_voltage = float(empty_voltage)
        self.low_battery_percent = float(low_battery_percent)
        self._factory_kind = pin_factory
        self._given_bus = bus
        self._bus: SMBusLike | None = None
        self._factory: Any = None
        self._line: Any = None
        self._lock = threading.Lock()

    @property
    def pin_factory(self) -> Any:
        """The gpiozero pin factory in use (a MockFactory with ``pin_factory = "mock"``)."""
        return self._factory

    # -- lifecycle ------------------------------------------------------------------------
    def _open(self) -> None:
        try:
            from gpiozero import DigitalInputDevice

            if self._factory_kind == "mock":
                from gpiozero.pins.mock import MockFactory

                self._factory = MockFactory()
                factory = self._factory
            else:  # gpiozero's process-wide default, its fallback warnings held (as
                # hardware.gpio's); never closed here (not self._factory): it is shared
                from kiosk.hardware.gpio import native_pin_factory

                factory = native_pin_factory()
            # The UPS drives the line: no pull; polarity from config.
            self._line = DigitalInputDevice(self.power_fail_pin, pull_up=None,
                                            active_state=self.power_fail_active_high,
                                            pin_factory=factory)
        except Exception as exc:
            self._close()
            raise DeviceNotFound(f"UPS power-fail line GPIO{self.power_fail_pin} not usable "
                                 f"({type(exc).__name__}: {exc}); on a Pi install "
                                 "python3-lgpio, elsewhere use pin_factory = \"mock\"") from exc
        if self._factory_kind == "mock":
            # A sane simulated world, as MockKioskGpio starts: mains present.
            pin = self._factory.pin(self.power_fail_pin)
            if self.power_fail_active_high:
                pin.drive_low()
            else:
                pin.drive_high()
        if self.gauge == "none":
            return
        try:
            self._bus = self._given_bus if self._given_bus is not None else self._open_bus()
        except DeviceNotFound:
            self._close()
            raise
        try:
            self._read_gauge()  # is anything answering at that address?
        except Exception as exc:
            self._close()
            raise DeviceNotFound(f"no {self.gauge} fuel gauge answers at "
                                 f"0x{self.i2c_address:02x} on /dev/i2c-{self.i2c_bus} "
                                 f"({exc}); check `i2cdetect -y {self.i2c_bus}`, the HAT and "
                                 "[power] gauge") from exc

    def _open_bus(self) -> SMBusLike:
        try:
            from smbus2 import SMBus
        except ImportError as exc:
            raise DeviceNotFound("the fuel gauge needs smbus2 (pip install 'kiosk[pi]')"
                                 ) from exc
        try:
            return SMBus(self.i2c_bus)  # type: ignore[no-any-return]
        except (FileNotFoundError, PermissionError) as exc:
            raise DeviceNotFound(f"/dev/i2c-{self.i2c_bus} not usable ({exc}); enable I2C "
                                 "(raspi-config, dtparam=i2c_arm=on)") from exc

    def _close(self) -> None:
        for name in ("_line", "_factory"):
            thing = getattr(self, name)
            setattr(self, name, None)
            if thing is not None:
                try:
                    thing.close()
                except Exception as exc:  # a half-open device must not stop the rest closing
                    log.warning("closing UPS %s failed: %s", name.strip("_"), exc)
        bus, self._bus = self._bus, None
        if bus is not None and bus is not self._given_bus:
            bus.close()

    # -- reading ----------------------------------------------------------------------------
    @property
    def is_mains_lost(self) -> bool:
        """True while the HAT signals that mains power is gone."""
        self._check_open()
        return bool(self._line.is_active)

    def read(self) -> PowerStatus:
        """Line state plus the gauge's charge (``None`` figures with ``gauge = "none"``)."""
        self._check_open()
        with self._lock:
            lost = bool(self._line.is_active)
            percent, volts, runtime = self._read_gauge() if self.gauge != "none" else \
                (None, None, None)
        low = percent is not None and percent <= self.low_battery_percent
        return PowerStatus("battery" if lost else "mains", percent,
                           runtime if lost else None, low_battery=low, battery_voltage=volts)

    def _register(self, register: int) -> int:
        bus = self._bus
        if bus is None:
            raise DeviceNotFound(f"{self.gauge}: the I2C bus is not open")
        try:
            data = bus.read_i2c_block_data(self.i2c_address, register, 2)
        except TimeoutError as exc:
            raise DeviceTimeout(f"I2C read of register 0x{register:02x} timed out") from exc
        except OSError as exc:  # EREMOTEIO/EIO: nothing acknowledged the address
            raise DeviceNotFound(f"{self.gauge} at 0x{self.i2c_address:02x} on "
                                 f"/dev/i2c-{self.i2c_bus} did not answer ({exc})") from exc
        if len(data) != 2:
            raise DeviceNotFound(f"{self.gauge}: short I2C read ({len(data)} bytes)")
        wire.debug("i2c 0x%02x reg 0x%02x -> %02x %02x", self.i2c_address, register, *data)
        return (data[0] << 8) | data[1]

    def _read_gauge(self) -> tuple[float | None, float | None, float | None]:
        """(percent, volts, runtime_s while discharging) from the gauge."""
        if self.gauge == "ina219":
            volts = (self._register(INA219_BUS) >> 3) * _INA219_V_PER_BIT
            return (round(liion_percent(volts, self.empty_voltage, self.full_voltage), 1),
                    volts, None)
        volts = self._register(VCELL) * _VCELL_V_PER_BIT
        word = self._register(SOC)
        # MAX1704x may report a little over 100% right after charging; it is full.
        percent = min((word >> 8) + (word & 0xFF) / 256, 100.0)
        runtime = None
        if self.gauge == "max17048":
            crate = self._register(CRATE)
            rate = (crate - 0x10000 if crate & 0x8000 else crate) * _CRATE_PERCENT_PER_HOUR
            if rate < 0:  # discharging: time to empty at the present rate
                runtime = percent / -rate * 3600
        return percent, volts, runtime

    def _selftest(self) -> tuple[bool, str]:
        ok, detail = super()._selftest()
        gauge = "no gauge" if self.gauge == "none" else \
            f"{self.gauge} at 0x{self.i2c_address:02x} on i2c-{self.i2c_bus}"
        return ok, f"GPIO{self.power_fail_pin} + {gauge}: {detail}"
