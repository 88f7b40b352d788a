"""The kill-power flag: after a battery shutdown, have the UPS cut its output and restore
it when the mains returns, so a kiosk left alone boots by itself.

NUT's own design (``upsmon`` primary + ``POWERDOWNFLAG`` + the ``nutshutdown`` hook of
``/usr/lib/systemd/system-shutdown``), carried by the kiosk:

1. ``kiosk power watch`` decides a battery shutdown (LB, FSD or a shutdown threshold while
   on battery). Before it runs ``shutdown_command`` it writes ``<data_dir>/ups-poweroff``
   durably (temporary file, fsync, rename, fsync of the directory). Only then: a
   maintainer's ``poweroff``, a shutdown on mains, or an FSD with the mains present never
   writes it.
2. systemd-shutdown, after every filesystem is unmounted or read-only, runs
   ``/usr/lib/systemd/system-shutdown/kiosk-ups-poweroff poweroff``
   (``systemd/system-shutdown/kiosk-ups-poweroff``). With the flag present and written in
   this boot, it runs ``upsdrvctl shutdown <ups>`` (``type=nut``: the driver sends the UPS
   its shutdown.return, which cuts the output after the UPS's delay and restores it when
   the mains is back) or drives the HAT's power-off pin (``type=gpio``). With ``wait_s``
   (``power.ups_poweroff_wait_s``) it reboots if the power is still on that long after:
   the mains came back during the shutdown and the UPS kept its output on (the power race
   NUT's ``POWEROFF_WAIT`` guards against).
3. The watcher removes the flag whenever it starts, so an ordinary reboot or poweroff later
   never cuts the power; the hook also ignores a flag written in another boot.

The flag is a few ``key=value`` lines the hook reads without sourcing them.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kiosk.fsutil import fsync_dir, write_atomic
from kiosk.netutil import is_loopback_url

log = logging.getLogger(__name__)

FLAG_NAME = "ups-poweroff"
#: Where the hook looks by default: the power watcher's only writable directory
#: (``ReadWritePaths=/var/lib/kiosk`` of kiosk-power.service), on the root filesystem.
DEFAULT_FLAG = Path("/var/lib/kiosk") / FLAG_NAME
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")
_UNSAFE = re.compile(r"[^A-Za-z0-9._:@/ %=,()+-]")  # a reason is for people reading the file


def flag_path(data_dir: Path) -> Path:
    return Path(data_dir) / FLAG_NAME


def current_boot_id() -> str:
    try:
        return _BOOT_ID.read_text().strip()
    except OSError:
        return ""


def plan(power: Mapping[str, Any]) -> dict[str, str] | None:
    """What the flag must tell the hook for this ``[power]`` section; None when the kiosk
    cannot (or must not) cut the UPS's output: ``ups_poweroff = false``, the simulator, a
    NUT UPS whose driver runs on another machine (that machine's upsmon primary cuts the
    power), a GPIO HAT without ``poweroff_pin``."""
    fields = _plan(power)
    wait_s = int(_option(power, "ups_poweroff_wait_s"))
    if fields is not None and wait_s > 0:
        fields["wait_s"] = str(wait_s)
    return fields


def _option(power: Mapping[str, Any], key: str) -> Any:
    """``power[key]``, or the declared default when the section leaves it out (callers and
    tests may hand a partial section)."""
    if key in power:
        return power[key]
    from kiosk.power.gpio_ups import GpioUps  # here: the shutdown hook needs only this module
    from kiosk.power.options import OPTIONS

    return (OPTIONS.get(key) or GpioUps.OPTIONS[key]).default


def _plan(power: Mapping[str, Any]) -> dict[str, str] | None:
    if not _option(power, "ups_poweroff"):
        return None
    kind = power.get("type")
    if kind == "nut":
        if not is_loopback_url(f"nut://{_option(power, 'host')}/"):
            log.info("UPS driver on %s: its own NUT primary cuts the power, not this kiosk",
                     power.get("host"))
            return None
        return {"type": "nut", "ups": str(_option(power, "ups"))}
    if kind == "gpio":
        pin = power.get("poweroff_pin")
        if pin is None:
            return None
        active = "high" if _option(power, "poweroff_active_high") else "low"
        return {"type": "gpio", "pin": str(int(pin)), "active": active}
    return None


def write_flag(path: Path, fields: Mapping[str, str], *, reason: str = "") -> None:
    """Write the flag durably: a power cut right after must not lose it (nor leave half)."""
    doc = dict(fields)
    doc["boot_id"] = current_boot_id()
    doc["written"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if reason:
        doc["reason"] = _UNSAFE.sub(" ", reason)[:160]
    for key, value in doc.items():
        if not re.fullmatch(r"[a-z_]+", key) or _UNSAFE.search(value):
            raise ValueError(f"poweroff flag field {key}={value!r}")
    text = "# kiosk power watch: cut the UPS output at poweroff (docs/power.md)\n" + \
        "".join(f"{key}={value}\n" for key, value in doc.items())
    tmp = _temporary(path)
    tmp.unlink(missing_ok=True)  # left by a watcher killed while writing it
    write_atomic(path, text.encode(), 0o644, overwrite=True, temporary=tmp.name)


def _temporary(path: Path) -> Path:
    """The flag's temporary file (a fixed name: :func:`clear_flag` removes it too)."""
    return path.with_name(path.name + ".tmp")


def clear_flag(path: Path) -> bool:
    """Remove the flag (durably); True when there was one."""
    removed = False
    for name in (path, _temporary(path)):
        try:
            name.unlink()
            removed = True
        except FileNotFoundError:
            continue
    if removed:
        fsync_dir(path.parent)
    return removed
