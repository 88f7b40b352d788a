"""A UPS watched by Network UPS Tools: upsd's variables turned into a :class:`PowerStatus`.

:class:`NutUps` is the ``[power] type = "nut"`` backend; it talks to upsd through
:class:`~kiosk.power.nut_client.NutClient` (the protocol, with a deadline on every socket
operation) and reads ``ups.status``, ``battery.charge``, ``battery.runtime`` and
``battery.voltage`` with ``GET VAR``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Mapping
from typing import ClassVar

from kiosk.errors import DeviceError, DeviceProtocolError
from kiosk.hardware.base import Options
from kiosk.options import String
from kiosk.power.base import PowerSource, PowerStatus
from kiosk.power.nut_client import CONNECTION_OPTIONS, NutClient

log = logging.getLogger(__name__)

#: What read() asks upsd for: everything status_from_vars uses.
_READ_VARS = ("ups.status", "battery.charge", "battery.runtime", "battery.voltage")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # ups.conf section names, var names


def status_from_vars(variables: Mapping[str, str]) -> PowerStatus:
    """Turn NUT variables into a :class:`PowerStatus`.

    ``ups.status`` is a list of flags: ``OL`` on line (mains), ``OB`` on battery, ``LB``
    low battery, ``FSD`` forced shutdown (plus CHRG, DISCHRG, RB, ... which change
    nothing here). Without OL or OB (``WAIT`` while the driver starts, ``OFF``) the source
    is unknown. A value that is not a number is logged and left out, never guessed.
    """
    raw = variables.get("ups.status")
    flags = raw.split() if raw else []
    source = "battery" if "OB" in flags else "mains" if "OL" in flags else "unknown"
    charge = _number(variables, "battery.charge")
    if charge is not None and not 0 <= charge <= 100:
        log.warning("UPS reports battery.charge %s; clamping to 0-100", charge)
        charge = min(max(charge, 0.0), 100.0)
    runtime = _number(variables, "battery.runtime")
    if runtime is not None and runtime < 0:
        runtime = None
    return PowerStatus(source, charge, runtime, low_battery="LB" in flags,  # type: ignore[arg-type]
                       forced_shutdown="FSD" in flags, status=raw,
                       battery_voltage=_number(variables, "battery.voltage"))


def _number(variables: Mapping[str, str], name: str) -> float | None:
    text = variables.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):  # "nan" and "inf" read as floats, but are no reading
        log.warning("UPS variable %s = %r is not a number; ignored", name, text[:40])
        return None
    return value


class NutUps(PowerSource):
    """A UPS watched by NUT: reads ``ups.status``, ``battery.charge``, ``battery.runtime``
    and ``battery.voltage`` from upsd with ``GET VAR``.

    Set-up on the Pi: ``apt-get install nut-server nut-client``, a driver section in
    ``/etc/nut/ups.conf`` (``[ups] driver = usbhid-ups  port = auto`` for most USB UPSes),
    ``MODE=standalone`` in ``nut.conf``; the kiosk connects to ``host:port`` (default
    127.0.0.1:3493) and needs no upsd user for reading.

    ``open()`` does not fail when upsd is not up yet (at boot the kiosk may start first):
    it logs a warning and ``read()`` connects. ``read()`` keeps one connection and
    reconnects once when upsd dropped it (a restart); otherwise it raises
    :class:`~kiosk.errors.DeviceNotFound` (upsd or the driver not running, unknown UPS
    name), :class:`~kiosk.errors.DeviceTimeout` (no answer within ``timeout``; DATA-STALE)
    or :class:`~kiosk.errors.DeviceProtocolError`, each saying what to check. Example::

        with create_device("power", {"type": "nut", "ups": "ups"}) as ups:
            status = ups.read()  # PowerStatus(source="battery", ..., status="OB DISCHRG")
    """

    OPTIONS: ClassVar[Options] = {
        "host": CONNECTION_OPTIONS["host"],
        "port": CONNECTION_OPTIONS["port"],
        "ups": String("ups", pattern=_NAME.pattern,
                      allowed="a ups.conf section name (letters, digits, '.', '_', '-')",
                      description="the UPS's name in ups.conf"),
        "timeout": CONNECTION_OPTIONS["timeout"],
    }

    def __init__(self, *, host: str = OPTIONS["host"].default,
                 port: int = OPTIONS["port"].default, ups: str = OPTIONS["ups"].default,
                 timeout: float = OPTIONS["timeout"].default) -> None:
        super().__init__()
        self._check_options(locals())
        self.ups = ups
        self._client = NutClient(host, port, timeout=float(timeout))
        self._lock = threading.Lock()

    @property
    def where(self) -> str:
        return f"{self.ups}@{self._client.host}:{self._client.port}"

    def _open(self) -> None:
        try:
            self._client.connect()
        except DeviceError as exc:
            log.warning("UPS %s not reachable yet (%s); will retry on each read", self.where,
                        exc)

    def _close(self) -> None:
        with self._lock:
            self._client.close()

    def read(self) -> PowerStatus:
        """The UPS's current reading; raises DeviceError when upsd cannot tell."""
        self._check_open()
        with self._lock:
            try:
                variables = self._fetch()
            except DeviceProtocolError:
                # A connection kept from an earlier read may have died with a restarted
                # upsd: one fresh try before calling the UPS unreachable.
                log.info("UPS %s: connection dropped; reconnecting", self.where)
                variables = self._fetch()
        return status_from_vars(variables)

    def variables(self) -> dict[str, str]:
        """Every variable upsd has for this UPS (``LIST VAR``; for maintainer tools)."""
        self._check_open()
        with self._lock:
            self._client.connect()
            return self._client.list_var(self.ups)

    def _fetch(self) -> dict[str, str]:
        self._client.connect()
        values = self._client.get_vars(self.ups, list(_READ_VARS))
        return {name: value for name, value in values.items() if value is not None}

    def _selftest(self) -> tuple[bool, str]:
        ok, detail = super()._selftest()
        return ok, f"NUT {self.where}: {detail}"
