"""Is the wall clock to be trusted? A Pi has no RTC: until NTP has synced, it may be days off.

Two views of one fact, the kernel's synchronisation flag:

* :func:`clock_is_synchronized` asks the kernel directly (``adjtimex``): cheap, no
  subprocess; the journal asks it for every row (the ``clock_trusted`` flag).
* :func:`clock_state` asks ``timedatectl`` (systemd-timedated), which reads the same flag and
  also says whether an NTP client is enabled (``NTP``), so a maintainer learns what to fix.
  Where ``timedatectl`` cannot answer (no systemd, a container) it falls back to the kernel.
  ``kiosk doctor`` uses it; the probe is injectable (``run``) for tests.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import subprocess
from collections.abc import Callable
from dataclasses import dataclass

_TIME_ERROR = 5  # adjtimex(2): "clock not synchronized"
#: A row stamped further ahead of the clock now than this has no age to tell: the clock was
#: ahead when it was written (a Pi without RTC before its first sync), or is behind now. A
#: smaller step back (NTP correcting a few seconds) counts as age 0.
FUTURE_TOLERANCE_S = 300.0
TIMEDATECTL = ("timedatectl", "show", "--property=NTPSynchronized", "--property=NTP")


def clock_is_synchronized() -> bool:
    """True once the kernel says the clock is NTP-synchronized (adjtimex != TIME_ERROR).

    Records carry this flag; ordering never depends on the clock.
    """
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return False
    try:
        libc = ctypes.CDLL(libc_name, use_errno=True)
        timex = ctypes.create_string_buffer(512)  # struct timex, modes = 0: read only
        state = libc.adjtimex(timex)
    except (OSError, AttributeError):
        return False
    return state not in (-1, _TIME_ERROR)


@dataclass(frozen=True)
class ClockState:
    """``synchronized``: the kernel's flag; ``ntp_enabled``: an NTP client is switched on
    (None when not known); ``source``: who said so (``timedatectl`` or ``kernel``)."""

    synchronized: bool
    ntp_enabled: bool | None
    source: str


Runner = Callable[..., subprocess.CompletedProcess[str]]


def clock_state(*, run: Runner = subprocess.run, timeout_s: float = 3.0,
                kernel: Callable[[], bool] = clock_is_synchronized) -> ClockState:
    """What ``timedatectl show`` says (``NTPSynchronized``, ``NTP``), or the kernel's flag
    when timedatectl is missing, fails or does not answer within ``timeout_s``."""
    try:
        done = run(list(TIMEDATECTL), capture_output=True, text=True, timeout=timeout_s,
                   check=False)
    except (OSError, subprocess.SubprocessError):
        done = None
    if done is not None and done.returncode == 0:
        values = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        synced = values.get("NTPSynchronized")
        if synced in ("yes", "no"):
            ntp = values.get("NTP")
            return ClockState(synced == "yes", None if ntp not in ("yes", "no") else ntp == "yes",
                              "timedatectl")
    return ClockState(kernel(), None, "kernel")
