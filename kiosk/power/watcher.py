"""``kiosk power watch``: the daemon that polls the UPS and carries out the policy.

:func:`watch` (one process under systemd) reads the UPS, feeds the pure
:class:`~kiosk.power.policy.PowerPolicy`, and carries its events out: audit events in the
journal, a WAL checkpoint, the published state other processes read
(``<data_dir>/power.json``, :func:`read_published_state`), the kill-power flag
(:mod:`kiosk.power.poweroff`) on a battery shutdown, and finally the configured
``shutdown_command``, once.
"""

from __future__ import annotations

import json
import logging
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kiosk.core.exits import EXIT_FAIL, EXIT_OK
from kiosk.errors import KioskError
from kiosk.fsutil import sweep_temporaries, write_atomic
from kiosk.power import PowerStatus
from kiosk.power.options import OPTIONS as _POWER
from kiosk.power.policy import PowerEvent, PowerPolicy, Thresholds
from kiosk.power.poweroff import clear_flag, write_flag
from kiosk.service import Notifier

log = logging.getLogger(__name__)

STATE_FILE = "power.json"
#: How far ahead of the reader's clock a published ``updated`` may lie and still count.
#: The watcher and its readers share one clock, so a stamp ahead means the clock was
#: stepped back since (no RTC on the Pi: fake-hwclock or a wrong clock ahead, then NTP): by
#: more than this, the state is of unknown age, and taken as stale.
FUTURE_TOLERANCE_S = 2.0


# -- published state ------------------------------------------------------------------------
def publish_state(path: Path, policy: PowerPolicy, status: PowerStatus | None) -> None:
    """Write the watcher's verdict for the UI and tools: atomically (never half), not
    durably (every poll: an fsync each time would wear the SD card for nothing). Its
    readers take a missing, unreadable or stale file for "not known" and read the UPS
    themselves (:func:`read_published_state`). OSError on a full disk, temp file removed.
    """
    doc = {"accepting": policy.accepting, "reason": policy.reason,
           "on_battery": policy.on_battery, "shutting_down": policy.shutting_down,
           "status": asdict(status) if status is not None else None,
           "updated": time.time()}
    write_atomic(path, json.dumps(doc).encode(), 0o600, overwrite=True, durable=False)


def read_published_state(path: Path, *, max_age_s: float = 10.0) -> dict[str, Any] | None:
    """The watcher's last verdict, or None when there is none or it is stale: older than
    ``max_age_s``, stamped in the future (more than :data:`FUTURE_TOLERANCE_S`: a clock
    stepped back), or without a usable ``updated`` time (missing, null, not a number,
    NaN or infinite). The one reader of :data:`STATE_FILE`; its callers then read the UPS
    themselves, as for a missing file."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(doc, dict):
        return None
    updated = doc.get("updated")
    if isinstance(updated, bool) or not isinstance(updated, (int, float)):
        return None
    try:
        age = time.time() - float(updated)
    except OverflowError:  # an integer too large for a float
        return None
    if not -FUTURE_TOLERANCE_S <= age <= max_age_s:  # NaN: False both ways, so stale too
        return None
    return doc


# -- the daemon -----------------------------------------------------------------------------
Reader = Callable[[], PowerStatus]
Runner = Callable[[Sequence[str]], Any]


#: How long ``shutdown_command`` may run: ``systemctl poweroff`` only queues the job and
#: returns; one still running after this is stuck, and is killed (a failure).
SHUTDOWN_TIMEOUT_S = 60.0


def _run_shutdown(command: Sequence[str]) -> int:
    """Run ``command``: its exit status. OSError when it cannot be started,
    ``subprocess.TimeoutExpired`` (after killing it) when it outlives the timeout."""
    return subprocess.run(list(command), check=False, timeout=SHUTDOWN_TIMEOUT_S).returncode


def _shutdown_failure(run: Callable[[Sequence[str]], int | None],
                      command: Sequence[str]) -> str | None:
    """Run the shutdown command through ``run``: None when it succeeded (status 0, or None
    from a runner that has no status), else what went wrong, for the log."""
    try:
        code = run(command)
    except subprocess.TimeoutExpired as exc:
        return f"was still running after {round(exc.timeout, 1):g} s and was killed"
    except OSError as exc:
        return f"could not be started: {exc.strerror or exc}"
    if not code:
        return None
    if code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


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

    Returns :data:`EXIT_OK` when stopped or when the shutdown command succeeded, and
    :data:`EXIT_FAIL` after an error line naming the command when it failed: a non-zero
    status, killed by a signal, not startable (OSError), or still running after
    :data:`SHUTDOWN_TIMEOUT_S`.
    """
    if poweroff_flag is not None and clear_flag(poweroff_flag):
        log.info("removed the UPS poweroff flag %s of an earlier shutdown", poweroff_flag)
    if swept := sweep_temporaries(state_path):  # a power cut while it was being written
        log.info("removed %d temp file(s) an earlier watcher left beside %s",
                 len(swept), state_path.name)
    policy = PowerPolicy(thresholds)
    stop = stop or threading.Event()
    last_error = unpublished = ""
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
            try:
                publish_state(state_path, policy, status)
                unpublished = ""
            except OSError as exc:  # a full disk must not stop the watcher, nor a shutdown
                if (exc.strerror or "?") != unpublished:
                    unpublished = exc.strerror or "?"
                    log.warning("cannot publish the power state in %s: %s (the kiosk reads "
                                "the UPS itself meanwhile)", state_path, unpublished)
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
                    failure = _shutdown_failure(run_shutdown, shutdown_command)
                except BaseException:  # anything else: never leave the flag to a later boot
                    if flagged:
                        clear_flag(flagged)
                    raise
                if failure is None:
                    return EXIT_OK
                # still up: no UPS cut, no retry here; exit 1 (why: _shutdown_failed)
                return _shutdown_failed(shutdown_command, failure, flagged)
            notifier.wait(stop, poll_interval_s)
        notifier.stopping()
        return EXIT_OK
    finally:
        if journal is not None:
            journal.close()


def _shutdown_failed(command: Sequence[str], failure: str, flagged: Path | None) -> int:
    """The shutdown command failed and the kiosk is still up: say so, and exit 1.

    What protects the SD card: the journal is already closed (checkpointed); what can
    still corrupt the card is power lost while its filesystems are mounted and written to.
    So the watcher never has the UPS cut its output now (``upsdrvctl shutdown`` or the
    HAT's pin, not even as a last resort): that is this very power loss, only sooner than
    the battery would bring it. The UPS may cut only after systemd-shutdown has unmounted
    everything, which is what the flag asks of the shutdown hook; the flag goes too, so
    that a later ordinary reboot or poweroff does not cut the power.

    Nor does it retry in this process, on a reading up to a minute old (a hung command):
    it exits 1, a failure systemd shows (not "Deactivated successfully"), and
    ``kiosk-power.service`` (``Restart=always``, ``RestartSec=2``) starts a fresh watcher
    that reads the UPS again, so the clean shutdown is tried again while the battery is
    still low (a transient refusal, systemd busy with another job, then passes), and not
    at all if the mains has come back.
    """
    removed = ""
    if flagged is not None:
        try:
            clear_flag(flagged)
            removed = "; UPS poweroff flag removed"
        except OSError as exc:
            removed = f"; the UPS poweroff flag {flagged} could not be removed ({exc})"
    log.error("shutdown command `%s` failed: it %s%s. The kiosk is still running (its "
              "journal checkpointed): shut it down by hand or fix power.shutdown_command; a "
              "restarted watcher reads the UPS and tries again",
              shlex.join(command), failure, removed)
    return EXIT_FAIL


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
