"""The UPS policy: what the kiosk does when the mains goes, comes back, or the battery runs out.

:class:`PowerPolicy` is pure: it is fed UPS readings with a timestamp and answers with
events; it owns no device, file or clock, so every rule is tested with a fake clock.
:func:`watch` (``kiosk power watch``, one process under systemd) reads the UPS, feeds the
policy, and carries the events out: audit events in the journal, a WAL checkpoint, the
published state other processes read (``<data_dir>/power.json``), and finally the
configured ``shutdown_command``.

The rules, with thresholds from ``[power]``:

* Mains lost for ``debounce_s`` (a flicker is ignored): ``mains_lost`` is journaled, the
  WAL checkpointed, the screen shows a banner. The session in progress may finish.
* On battery, new enrollments stop (``accepting`` false) once the charge is below
  ``min_battery_percent`` or the projected runtime below ``min_runtime_s`` (one enrollment
  plus the shutdown margin), or the UPS says low battery. They resume if the mains returns.
* Critical (the UPS says FSD, or on battery: LB, charge below
  ``shutdown_battery_percent``, runtime below ``shutdown_runtime_s``): the journal is
  checkpointed, the reason journaled, then ``shutdown_command`` runs, once.
* Low battery while on mains (charging after a cut) never shuts down, so flapping mains or
  a restart on a drained battery cannot cause a shutdown loop.
* A shutdown decided on battery first writes the kill-power flag
  (:mod:`kiosk.power.poweroff`): at the end of the shutdown the UPS cuts its output, and
  restores it with the mains, so the kiosk boots by itself. The flag goes at every start.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kiosk.errors import KioskError
from kiosk.power import PowerStatus
from kiosk.power.options import OPTIONS as _POWER  # type, default, range, what each is for
from kiosk.power.poweroff import clear_flag, write_flag
from kiosk.service import Notifier

log = logging.getLogger(__name__)

STATE_FILE = "power.json"


@dataclass(frozen=True)
class PowerEvent:
    """Something the watcher must act on. ``kind``: mains_lost, mains_restored,
    stop_accepting, resume_accepting, shutdown."""

    kind: str
    reason: str = ""


@dataclass(frozen=True)
class Thresholds:
    """The policy's limits from config ``[power]``; the defaults are the config's."""

    debounce_s: float = float(_POWER["debounce_s"].default)
    min_battery_percent: float = float(_POWER["min_battery_percent"].default)
    min_runtime_s: float = float(_POWER["min_runtime_s"].default)
    shutdown_battery_percent: float = float(_POWER["shutdown_battery_percent"].default)
    shutdown_runtime_s: float = float(_POWER["shutdown_runtime_s"].default)

    @classmethod
    def from_config(cls, section: dict[str, Any]) -> Thresholds:
        return cls(**{k: float(section[k]) for k in cls.__dataclass_fields__ if k in section})


@dataclass
class PowerPolicy:
    """Readings in, events out. ``accepting`` and ``on_battery`` are the current verdicts."""

    thresholds: Thresholds = field(default_factory=Thresholds)
    on_battery: bool = False
    accepting: bool = True
    reason: str = ""
    shutting_down: bool = False
    _battery_since: float | None = None

    def observe(self, status: PowerStatus, now: float) -> list[PowerEvent]:
        t = self.thresholds
        events: list[PowerEvent] = []
        if status.source == "battery":
            if self._battery_since is None:
                self._battery_since = now
            if not self.on_battery and now - self._battery_since >= t.debounce_s:
                self.on_battery = True
                events.append(PowerEvent("mains_lost", _describe(status)))
        elif status.source == "mains":
            self._battery_since = None
            if self.on_battery:
                self.on_battery = False
                events.append(PowerEvent("mains_restored", _describe(status)))
        # "unknown" changes nothing: the last verdict stands until the UPS answers again.

        if not self.shutting_down:
            critical = self._critical(status)
            if critical:
                self.shutting_down = True
                events.append(PowerEvent("shutdown", critical))

        if status.source == "unknown" and not self.shutting_down:
            return events  # no new facts: the acceptance verdict stands
        refusal = self._refusal(status) if self.on_battery else ""
        if self.shutting_down:
            refusal = "shutting down: " + next(
                (e.reason for e in events if e.kind == "shutdown"), self.reason or "power")
        if refusal and self.accepting:
            self.accepting, self.reason = False, refusal
            events.append(PowerEvent("stop_accepting", refusal))
        elif not refusal and not self.accepting:
            self.accepting, self.reason = True, ""
            events.append(PowerEvent("resume_accepting"))
        elif refusal:
            self.reason = refusal
        return events

    def _critical(self, status: PowerStatus) -> str:
        t = self.thresholds
        if status.forced_shutdown:
            return "the UPS ordered a forced shutdown (FSD)"
        if status.source != "battery":
            return ""
        if status.low_battery:
            return "on battery and the UPS reports low battery"
        if status.battery_percent is not None and status.battery_percent < \
                t.shutdown_battery_percent:
            return (f"battery at {status.battery_percent:.0f}%, below "
                    f"power.shutdown_battery_percent={t.shutdown_battery_percent:g}")
        if status.runtime_s is not None and status.runtime_s < t.shutdown_runtime_s:
            return (f"{status.runtime_s:.0f} s of battery left, below "
                    f"power.shutdown_runtime_s={t.shutdown_runtime_s:g}")
        return ""

    def _refusal(self, status: PowerStatus) -> str:
        return refusal_reason(status, self.thresholds)


def refusal_reason(status: PowerStatus, t: Thresholds) -> str:
    """Why no new enrollment may start on battery with this reading ("" if it may)."""
    if status.low_battery:
        return "on battery and the UPS reports low battery"
    if status.battery_percent is not None and status.battery_percent < t.min_battery_percent:
        return (f"on battery at {status.battery_percent:.0f}%, below "
                f"power.min_battery_percent={t.min_battery_percent:g}")
    if status.runtime_s is not None and status.runtime_s < t.min_runtime_s:
        return (f"on battery with {status.runtime_s:.0f} s left, below "
                f"power.min_runtime_s={t.min_runtime_s:g}")
    return ""


def _describe(status: PowerStatus) -> str:
    parts = [status.source]
    if status.battery_percent is not None:
        parts.append(f"battery {status.battery_percent:.0f}%")
    if status.runtime_s is not None:
        parts.append(f"runtime {status.runtime_s:.0f} s")
    return ", ".join(parts)


# -- published state ------------------------------------------------------------------------
def publish_state(path: Path, policy: PowerPolicy, status: PowerStatus | None) -> None:
    """Write the watcher's verdict atomically (temp file, rename) for the UI and tools."""
    doc = {"accepting": policy.accepting, "reason": policy.reason,
           "on_battery": policy.on_battery, "shutting_down": policy.shutting_down,
           "status": asdict(status) if status is not None else None,
           "updated": time.time()}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, path)


def read_published_state(path: Path, *, max_age_s: float = 10.0) -> dict[str, Any] | None:
    """The watcher's last verdict, or None when there is none or it is stale."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict) or time.time() - float(doc.get("updated", 0)) > max_age_s:
        return None
    return doc


# -- the daemon -----------------------------------------------------------------------------
Reader = Callable[[], PowerStatus]
Runner = Callable[[Sequence[str]], Any]


def _run_shutdown(command: Sequence[str]) -> int:
    return subprocess.run(list(command), check=False, timeout=60).returncode


def watch(read: Reader, *, thresholds: Thresholds, state_path: Path,
          journal_factory: Callable[[], Any] | None, shutdown_command: Sequence[str],
          poll_interval_s: float = float(_POWER["poll_interval_s"].default),
          stop: threading.Event | None = None,
          run_shutdown: Callable[[Sequence[str]], int | None] = _run_shutdown,
          clock: Callable[[], float] = time.monotonic,
          notifier: Notifier | None = None, poweroff_flag: Path | None = None,
          poweroff: Mapping[str, str] | None = None) -> int:
    """Run the policy until ``stop`` is set or the shutdown command has been run.

    The journal is opened (``journal_factory``, which runs its integrity check) once, at
    start, and kept open: the single-writer lock is taken only around each write, and a low
    battery never waits for an integrity check of a large journal. ``notifier`` (systemd's
    watchdog) is told READY after the first published state and pinged on every poll.

    ``poweroff_flag`` (:mod:`kiosk.power.poweroff`) is removed at start; on a shutdown
    decided while on battery it is written, with ``poweroff`` (what the shutdown hook must
    do; None: nothing), durably before ``shutdown_command`` runs, and removed again if the
    command fails (a non-zero status or an exception).
    """
    if poweroff_flag is not None and clear_flag(poweroff_flag):
        log.info("removed the UPS poweroff flag %s of an earlier shutdown", poweroff_flag)
    policy = PowerPolicy(thresholds)
    stop = stop or threading.Event()
    last_error = ""
    journal: Any = _open(journal_factory) if journal_factory is not None else None
    notifier = notifier or Notifier({})
    ready = False
    try:
        while not stop.is_set():
            try:
                status: PowerStatus | None = read()
                last_error = ""
            except (KioskError, OSError) as exc:
                if str(exc) != last_error:
                    log.warning("UPS not readable: %s", exc)
                    last_error = str(exc)
                status = None
            events = policy.observe(status, clock()) if status is not None else []
            for event in events:
                log.warning("power: %s %s", event.kind, event.reason)
            if events and journal_factory is not None:
                journal = journal or _open(journal_factory)
                if journal is not None:
                    _journal_events(journal, events)
            publish_state(state_path, policy, status)
            if not ready:
                notifier.ready("watching the UPS")
                ready = True
            notifier.alive()
            if any(e.kind == "shutdown" for e in events):
                if journal is not None:
                    journal.close()  # closing checkpoints, under the writer lock
                    journal = None
                flagged = _flag_poweroff(poweroff_flag, poweroff, status, events)
                log.warning("running shutdown command: %s", " ".join(shutdown_command))
                notifier.stopping()
                try:
                    code = run_shutdown(shutdown_command)
                except BaseException:
                    if flagged:
                        clear_flag(flagged)
                    raise
                if flagged and code:
                    log.error("shutdown command failed (status %s): UPS poweroff flag removed",
                              code)
                    clear_flag(flagged)
                return 0
            notifier.wait(stop, poll_interval_s)
        notifier.stopping()
        return 0
    finally:
        if journal is not None:
            journal.close()


def _flag_poweroff(path: Path | None, fields: Mapping[str, str] | None,
                   status: PowerStatus | None, events: list[PowerEvent]) -> Path | None:
    """Write the kill-power flag when this is a battery shutdown; its path if written."""
    if path is None or fields is None or status is None or status.source != "battery":
        return None
    reason = next((e.reason for e in events if e.kind == "shutdown"), "")
    try:
        write_flag(path, fields, reason=reason)
    except (OSError, ValueError) as exc:
        log.error("cannot write the UPS poweroff flag %s (%s): the UPS will not cut its output "
                  "and the kiosk will stay off when the mains returns", path, exc)
        return None
    log.warning("UPS poweroff flag written (%s): the UPS cuts its output after the shutdown",
                ", ".join(f"{k}={v}" for k, v in fields.items()))
    return path


def _open(journal_factory: Callable[[], Any]) -> Any:
    try:
        return journal_factory()
    except (KioskError, OSError) as exc:
        log.error("cannot open the journal to record power events: %s", exc)
        return None


def _journal_events(journal: Any, events: list[PowerEvent]) -> None:
    try:
        for event in events:
            journal.audit(f"power_{event.kind}", reason=event.reason[:200])
        if any(e.kind in ("mains_lost", "shutdown") for e in events):
            journal.checkpoint()
    except (KioskError, OSError) as exc:
        log.error("cannot journal power events: %s", exc)
