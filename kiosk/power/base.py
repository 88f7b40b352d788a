"""The UPS reading and the device base every power backend implements, plus the simulator.

``PowerSource`` is the device the power watcher and ``kiosk status`` read; backends are
chosen by ``[power] type``: ``sim`` (here), ``nut`` (:mod:`kiosk.power.nut`, Network UPS
Tools over TCP 3493) and ``gpio`` (:mod:`kiosk.power.gpio_ups`, the UPS HAT's power-fail
line plus an I2C fuel gauge).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from kiosk.hardware.base import Device, Options
from kiosk.options import Boolean, Number, String

log = logging.getLogger(__name__)

Source = Literal["mains", "battery", "unknown"]
_SOURCES = ("mains", "battery", "unknown")


@dataclass(frozen=True)
class PowerStatus:
    """One reading of the UPS. ``None`` where the UPS does not say.

    ``low_battery`` is the UPS's own low-battery flag (NUT ``LB``; for a GPIO HAT, the
    charge at or below its ``low_battery_percent``). ``forced_shutdown`` is NUT's ``FSD``:
    the UPS (or the upsmon primary) has ordered every client down, whatever the charge.
    ``status`` is the raw status the UPS gave (NUT ``ups.status``, e.g. ``"OB LB"``), for
    logs and maintainers; ``battery_voltage`` the battery (cell or pack) voltage in volts.
    """

    source: Source
    battery_percent: float | None
    runtime_s: float | None
    low_battery: bool
    forced_shutdown: bool = False
    status: str | None = None
    battery_voltage: float | None = None

    def __post_init__(self) -> None:
        if self.source not in _SOURCES:
            raise ValueError(f"power source {self.source!r}; expected one of {_SOURCES}")
        if self.battery_percent is not None and not 0 <= self.battery_percent <= 100:
            raise ValueError(f"battery_percent {self.battery_percent} outside 0-100")
        if self.runtime_s is not None and self.runtime_s < 0:
            raise ValueError(f"runtime_s {self.runtime_s} is negative")


class PowerSource(Device):
    """A UPS the kiosk can ask about mains, charge and remaining runtime.

    Backend notes: NUT answers ``GET VAR <ups> ups.status`` (``OL`` on line, ``OB`` on
    battery, ``LB`` low battery), ``battery.charge`` and ``battery.runtime``; a GPIO UPS
    HAT gives the mains-lost line (see :class:`kiosk.hardware.gpio.KioskGpio`) and a fuel
    gauge over I2C. A backend that cannot tell returns ``source="unknown"`` rather than
    guessing; ``read`` raises :class:`~kiosk.errors.DeviceError` only when the UPS cannot
    be reached at all. Example::

        with create_device("power", {"type": "sim"}) as ups:
            status = ups.read()
            if status.source == "battery" and status.low_battery:
                ...
    """

    SECTION: ClassVar[str] = "power"

    def read(self) -> PowerStatus:
        """The current reading."""
        raise NotImplementedError

    def _selftest(self) -> tuple[bool, str]:
        status = self.read()
        return status.source != "unknown", describe(status)


def describe(status: PowerStatus) -> str:
    """One line for maintainers: ``source battery, battery 42%, runtime 900 s, LOW BATTERY``."""
    detail = f"source {status.source}"
    if status.battery_percent is not None:
        detail += f", battery {status.battery_percent:.0f}%"
    if status.battery_voltage is not None:
        detail += f", {status.battery_voltage:.2f} V"
    if status.runtime_s is not None:
        detail += f", runtime {status.runtime_s:.0f} s"
    if status.low_battery:
        detail += ", LOW BATTERY"
    if status.forced_shutdown:
        detail += ", FORCED SHUTDOWN"
    if status.status is not None:
        detail += f" (UPS status {status.status!r})"
    return detail


class SimPower(PowerSource):
    """A UPS whose readings are set by config or by ``set()`` (tests, demos, drills).

    Example::

        ups = SimPower(source="battery", battery_percent=25.0, runtime_s=300.0)
        with ups:
            ups.set(low_battery=True)
            assert ups.read().low_battery
    """

    OPTIONS: ClassVar[Options] = {
        "source": String("mains", choices=_SOURCES, description="the simulated power source"),
        "battery_percent": Number(100.0, 0, 100, allowed="a number from 0 to 100",
                                  description="the simulated charge"),
        "runtime_s": Number(3600.0, 0, allowed="a number of seconds >= 0",
                            description="the simulated runtime left"),
        "low_battery": Boolean(False, description="the UPS's low-battery flag (NUT LB)"),
    }

    def __init__(self, *, source: str = OPTIONS["source"].default,
                 battery_percent: float = OPTIONS["battery_percent"].default,
                 runtime_s: float = OPTIONS["runtime_s"].default,
                 low_battery: bool = OPTIONS["low_battery"].default) -> None:
        super().__init__()
        self._check_options(locals())
        self._lock = threading.Lock()
        self._status = PowerStatus(source, float(battery_percent),  # type: ignore[arg-type]
                                   float(runtime_s), low_battery)

    def read(self) -> PowerStatus:
        self._check_open()
        with self._lock:
            return self._status

    def set(self, **changes: object) -> PowerStatus:
        """Change some fields of the simulated reading; returns the new reading."""
        with self._lock:
            self._status = replace(self._status, **changes)  # type: ignore[arg-type]
            log.info("simulated power: %s", self._status)
            return self._status

