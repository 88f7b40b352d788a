"""``kiosk status`` and ``kiosk queue list``: what a maintainer asks over SSH.

Reads the journal read-only (never competes with the writer), asks each device for its
self-test, and prints either JSON (stable keys, for scripts and outside checks) or a table.
"""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from kiosk.config import Config
from kiosk.devices import KINDS, create_device
from kiosk.errors import JournalError, KioskError, UnknownRecord
from kiosk.journal import REFUSED_BY_OFFICE, STATES, held_writer_lock, quarantined_files
from kiosk.runtime import check_acceptance, clock_is_synchronized, read_power, readonly_journal
from kiosk.upload.progress import read_progress

# What a device's driver says when another process holds it: pyserial's exclusive lock on
# the sensor's port, EBUSY from a camera or a GPIO chip.
HELD_WORDS = ("Could not exclusively lock port", "Device or resource busy", "[Errno 16]")
#: How a maintainer frees a device the running touchscreen holds (doctor, selftest, capture).
STOP_THE_KIOSK = "`sudo systemctl stop kiosk-ui`"
START_THE_KIOSK = "`sudo systemctl start kiosk-ui`"


def is_held(detail: str) -> bool:
    """Whether a driver's error says another process holds the device (not a fault)."""
    return any(words in detail for words in HELD_WORDS)


def held_by(options: dict[str, Any]) -> str:
    """Who holds a device: ``another program, process N (kiosk run)`` when the serial
    port's lock (pyserial's ``flock``) names it in ``/proc/locks``, else ``another program
    (the running kiosk?)``."""
    from kiosk.fsutil import describe_process, flock_holders

    port = options.get("port")
    if isinstance(port, str) and port:
        holders = [pid for pid in flock_holders(Path(port)) or [] if pid != os.getpid()]
        if holders:
            return f"another program, {describe_process(holders[0])}"
    return "another program (the running kiosk?)"


def device_selftest(config: Config, kind: str, **overrides: Any) -> dict[str, Any]:
    """{"ok": bool, "detail": str, "held": bool} of one configured device's self-test
    (``overrides``: backend options to use instead of the configured ones, e.g. a shorter
    timeout). ``held``: not ok because another process (the running touchscreen) holds the
    device, so it was not tested: the normal state of a working kiosk, not a fault."""
    options = config.backend_options(kind) | overrides
    try:
        device = create_device(kind, options)
        with device:
            ok, detail = device.selftest()
    except (KioskError, OSError) as exc:
        ok, detail = False, str(exc)
    held = not ok and is_held(detail)
    if held:  # not "check the port and the serial console": it works, for someone else
        port = options.get("port")
        detail = (f"{port} is in use" if isinstance(port, str) and port
                  else f"in use ({detail})")
        detail += f": held by {held_by(options)}"
    return {"ok": bool(ok), "detail": detail, "held": held}


def hardware_selftest(config: Config) -> dict[str, dict[str, Any]]:
    """name -> {"ok": bool, "detail": str} for every configured device."""
    return {kind: device_selftest(config, kind) for kind in KINDS}


#: The devices an enrollment opens (Runtime.open's ``kinds``): one that fails its self-test
#: stops `kiosk run` and `kiosk demo` (exit 3, "... device not ready").
ENROLLMENT_DEVICES = ("fingerprint", "camera")


def readiness_refusal(config: Config, devices: dict[str, dict[str, Any]],
                      records: int | None = None) -> str | None:
    """Why an enrollment could not start although power, disk and journal allow it, in
    the words ``kiosk demo`` refuses with; None when nothing else stands in the way.

    The sealing keys (``sealing keys unusable``: the central key missing, or ``dev`` with
    real hardware; a device key that does not load: open to others, or not a key; a
    missing one is made on first use, unless the journal's ``records`` were sealed with
    it: :func:`~kiosk.runtime.lost_device_key`), and the enrollment devices in ``devices``
    (self-test results; one held by the running touchscreen is working).
    """
    from kiosk.config import check_sealing
    from kiosk.runtime import lost_device_key
    from kiosk.sealing import DeviceKey, load_central_public_key

    lost = lost_device_key(config, records)
    if lost is not None:
        return f"sealing keys unusable: {lost}"
    try:
        check_sealing(config)
        if not config.uses_dev_central_key:
            load_central_public_key(config.central_key_path)
        if config.device_key_path.exists():
            DeviceKey.load(config.device_key_path)
    except (KioskError, OSError) as exc:
        return f"sealing keys unusable: {exc}"
    for kind in ENROLLMENT_DEVICES:
        result = devices.get(kind)
        if result is not None and not result["ok"] and not result.get("held"):
            return f"{kind} device not ready: {result['detail']}"
    return None


def collect_status(config: Config, *, hardware: bool = True) -> dict[str, Any]:
    """The status document; keys per DESIGN's contract, and a few more. ``hardware=False``
    leaves the devices alone (``hardware`` is then empty): a metrics timer must not open
    the camera or the sensor under the touchscreen's feet. ``accepting`` is then None
    (unknown) unless something else already refuses: whether the enrollment devices work
    is part of the answer. ``accepting_before_devices``: power, disk, journal and keys
    allow enrollments (the devices not counted), in both modes."""
    try:
        power = read_power(config)
        power_doc = {"source": power.source, "battery_percent": power.battery_percent,
                     "runtime_s": power.runtime_s, "low_battery": power.low_battery}
    except (KioskError, OSError) as exc:
        power = None
        # Unknown is null, not false: "no low battery" is a reading nobody made.
        power_doc = {"source": "unknown", "battery_percent": None, "runtime_s": None,
                     "low_battery": None, "error": str(exc)}
    # A UPS that did not answer is not asked twice (one warning, not two).
    acceptance = check_acceptance(config, power, ask_ups=power is not None)
    counts = {state: 0 for state in STATES}
    upload: dict[str, Any] = {"url": config["upload"]["url"], "pending": 0,
                              "oldest_pending_seq": None, "oldest_pending_created_at": None,
                              "last_error": None, "last_acknowledged_at": None,
                              # on USB sticks, refused by the office (its receipts file)
                              "stick_refused": 0, "stick_refused_error": None}
    journal_error = None
    try:
        with readonly_journal(config) as journal:
            if journal is not None:
                counts.update(journal.counts())
                upload["last_acknowledged_at"] = journal.last_acknowledged_at()
                refused = [r for r in journal.records("exported")
                           if (r.last_error or "").startswith(REFUSED_BY_OFFICE)]
                upload["stick_refused"] = len(refused)
                upload["stick_refused_error"] = refused[-1].last_error if refused else None
                outbox = journal.outbox()
                upload["pending"] = len(outbox)
                if outbox:
                    upload["oldest_pending_seq"] = outbox[0].seq
                    upload["oldest_pending_created_at"] = outbox[0].created_at
                    upload["last_error"] = next(
                        (r.last_error for r in reversed(outbox) if r.last_error), None)
    except JournalError as exc:
        # A damaged journal is when a maintainer needs the rest of the status most: it is
        # still given, the counts unknown (empty, not zeros) and the damage named.
        journal_error = str(exc)
        counts = {}
        upload["pending"] = None
    # Readers never wait for the writer lock; one held this long stops the writers.
    lock_held = held_writer_lock(Path(f"{config.journal_path}.lock"))
    upload["in_flight"] = read_progress(config.data_dir)
    upload["uploader_running"] = uploader_running(config.data_dir)
    disk_path = config.data_dir if config.data_dir.exists() else config.data_dir.parent
    try:
        free = shutil.disk_usage(disk_path).free
    except OSError:
        free = None
    devices = hardware_selftest(config) if hardware else {}
    accepting: bool | None = acceptance.accepting
    reason = acceptance.reason
    if accepting and journal_error is not None:  # the next start moves it aside, refuses
        accepting, reason = False, journal_error
    if accepting and lock_held is not None:  # the first step saved would wait, then fail
        accepting, reason = False, lock_held
    if accepting:  # what else stops `kiosk run` and `kiosk demo` (Runtime.open)
        reason = readiness_refusal(config, devices, sum(counts.values()))
        accepting = reason is None
    # Power, disk, journal and keys allow it; the devices may still stop it.
    before_devices = bool(accepting) or (reason or "").startswith(
        tuple(f"{kind} device not ready" for kind in ENROLLMENT_DEVICES))
    if accepting and not hardware:
        # Not asked: a sensor on a missing port turns every citizen away, and "accepting"
        # here would tell the dashboard otherwise. Unknown (kiosk_accepting left out).
        accepting, reason = None, ("the devices were not checked (kiosk status, or kiosk "
                                   "metrics --hardware, runs their self-tests)")
    return {
        "kiosk_id": config.kiosk_id,
        "accepting": accepting,
        "accepting_before_devices": before_devices,
        "reason": reason,
        "records": counts,
        "upload": upload,
        "power": power_doc,
        "clock": {"trusted": clock_is_synchronized(),
                  "now": datetime.now(UTC).isoformat(timespec="seconds")},
        "hardware": devices,
        "disk": {"free_bytes": free, "reserve_bytes": config["kiosk"]["disk_reserve_bytes"],
                 "data_dir": str(config.data_dir)},
        "journal": {"path": str(config.journal_path),
                    "quarantined": [str(p) for p in quarantined_files(config.journal_path)],
                    "error": journal_error, "writer_lock_held": lock_held},
    }


def queue_entries(config: Config) -> list[dict[str, Any]]:
    """One entry per record, oldest (lowest sequence number) first."""
    with readonly_journal(config) as journal:
        if journal is None:
            return []
        return [{"id": r.id, "state": r.state, "attempts": r.attempts,
                 "last_error": r.last_error, "seq": r.seq, "created_at": r.created_at,
                 "clock_trusted": r.clock_trusted} for r in journal.records()]


def record_history(config: Config, record_id: str) -> dict[str, Any] | None:
    """``kiosk queue show``: a record's state now and every audit event about it; None
    when the journal has no such record. Never its contents (they are sealed anyway).
    A journal that cannot be read raises :class:`JournalError` (not None: "no such record"
    would hide the damage ``kiosk status`` and ``kiosk queue list`` report)."""
    with readonly_journal(config) as journal:
        if journal is None:
            return None
        try:
            info = journal.record(record_id)
        except UnknownRecord:
            return None
        events = journal.record_events(record_id)
    return {
        "id": info.id, "state": info.state, "seq": info.seq, "assisted": info.assisted,
        "attempts": info.attempts, "last_error": info.last_error,
        "created_at": info.created_at, "updated_at": info.updated_at,
        "clock_trusted": info.clock_trusted, "has_receipt": info.has_receipt,
        "upload_url": info.upload_url,
        "events": [{"seq": e.seq, "at": e.created_at, "event": e.event,
                    "clock_trusted": e.clock_trusted, "boot_id": e.boot_id,
                    "details": {k: v for k, v in e.details.items() if k != "record"}}
                   for e in events],
    }


def _describe_event(event: dict[str, Any]) -> str:
    details = dict(event["details"])
    if event["event"] == "step_saved":
        return f"step saved: {details.get('step')} ({details.get('bytes', 0):,} bytes)"
    if event["event"] == "record_state":
        move = f"{details.pop('from_state', '?')} -> {details.pop('to_state', '?')}"
        rest = "; ".join(f"{k}: {v}" for k, v in details.items())
        return move + (f" ({rest})" if rest else "")
    rest = "; ".join(f"{k}: {v}" for k, v in details.items())
    return event["event"] + (f" ({rest})" if rest else "")


def render_history(history: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    clock = "" if history["clock_trusted"] else " (clock not synchronised: times approximate)"
    console.print(f"[bold]{history['id']}[/]  {history['state']}, "
                  f"{'assisted' if history['assisted'] else 'self-service'}, "
                  f"created {history['created_at']}{clock}")
    if history["attempts"] or history["last_error"]:
        console.print(f"upload attempts: {history['attempts']}; last error: "
                      f"{history['last_error'] or 'none'}", markup=False)
    if history["state"] == "rejected":
        console.print("refused by the intake: fix the cause, then "
                      f"kiosk queue retry {history['id']}", markup=False)
    table = Table()  # a narrow terminal folds a long word, never cuts it
    table.add_column("#", no_wrap=True)
    table.add_column("when", overflow="fold")
    table.add_column("what", overflow="fold")
    for event in history["events"]:
        when = event["at"] + ("" if event["clock_trusted"] else " ?")
        table.add_row(str(event["seq"]), when, Text(_describe_event(event)))
    console.print(table)


def uploader_running(data_dir: Path) -> bool | None:
    """Whether a ``kiosk upload`` holds ``<data_dir>/upload.lock`` (None: cannot tell).
    Read from ``/proc/locks``, never by taking the lock: a status run at the moment the
    uploader starts must not make it think another one is running."""
    try:
        st = os.stat(data_dir / "upload.lock")
    except FileNotFoundError:
        return False  # no uploader ever ran here
    except OSError:
        return None
    ours = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    try:
        with open("/proc/locks") as locks:
            return any(line.split()[1:2] == ["FLOCK"] and ours in line.split()
                       for line in locks)
    except OSError:
        return None


def render_status(status: dict[str, Any], console: Console | None = None) -> None:
    console = console or Console()
    # What the journal, the intake and the devices said is shown as said, not as markup
    # (the intake's refusal codes are in brackets: "[wrong_key]").
    ok = "[green]yes[/]" if status["accepting"] else f"[red]no[/] ({escape(str(status['reason']))})"
    console.print(f"[bold]{status['kiosk_id']}[/]  accepting: {ok}")
    records = ", ".join(f"{k} {v}" for k, v in status["records"].items() if v) or "none"
    if status.get("journal", {}).get("error"):
        records = "unknown: the journal cannot be read"
    console.print(f"records: {records}")
    held = status.get("journal", {}).get("writer_lock_held")
    if held and held != status.get("reason"):  # said on the accepting line otherwise
        console.print(f"[red]journal:[/] {escape(held)} (kiosk doctor: journal)")
    upload = status["upload"]
    rejected = status["records"].get("rejected", 0)
    if rejected:
        console.print(f"[red]refused by the intake: {rejected}[/] (kiosk queue list shows "
                      "why; fix the cause, then kiosk queue retry ID)")
    if upload["pending"]:
        why = f" (last error: {escape(upload['last_error'])})" if upload["last_error"] else ""
        console.print(f"waiting to upload: {upload['pending']}{why}")
    running = upload.get("uploader_running")
    if upload["pending"] or upload.get("last_acknowledged_at"):
        last = upload.get("last_acknowledged_at") or "never"
        state = {True: "running", False: "[red]not running[/] (systemctl status kiosk-upload)",
                 None: "unknown"}[running]
        console.print(f"uploader: {state}; last record acknowledged: {escape(last)}")
    exported = status["records"].get("exported", 0)
    refused_on_sticks = upload.get("stick_refused") or 0
    if exported > refused_on_sticks:
        console.print(f"on USB sticks, waiting for their receipts: "
                      f"{exported - refused_on_sticks} (kiosk queue import DIR reads the "
                      "office's .receipts files; the uploader asks the intake for them "
                      "whenever the link is up)", markup=False)
    if refused_on_sticks:
        console.print(f"on USB sticks, refused by the office: {refused_on_sticks} (last: "
                      f"{upload.get('stick_refused_error')}; kiosk queue list shows each: "
                      "fix the cause, then kiosk queue export --again)", markup=False)
    if upload.get("in_flight"):
        console.print(describe_in_flight(upload["in_flight"]))
    power = status["power"]
    pct = "" if power["battery_percent"] is None else f", battery {power['battery_percent']:.0f}%"
    console.print(f"power: {power['source']}{pct}", markup=False)
    if power["source"] == "unknown":
        why = f" ({power['error']})" if power.get("error") else ""
        console.print(f"  the UPS cannot be read{why}: enrollments are not stopped for "
                      "it, but a power cut would not be seen (kiosk doctor: ups)",
                      markup=False)
    console.print("clock: " + ("synchronised" if status["clock"]["trusted"] else
                               "not synchronised (records keep their order by sequence; "
                               "their times are marked untrusted)"))
    free = status["disk"]["free_bytes"]
    console.print("disk free: " + ("unknown" if free is None else f"{free / 2**20:.0f} MiB"))
    table = Table()
    table.add_column("device", no_wrap=True)
    table.add_column("ok", no_wrap=True)
    table.add_column("detail", overflow="fold")
    for name, result in status["hardware"].items():
        table.add_row(name, "[green]ok[/]" if result["ok"] else "[red]FAIL[/]",
                      Text(result["detail"]))
    console.print(table)


def render_queue(entries: list[dict[str, Any]], console: Console | None = None) -> None:
    """One line per record. On a terminal a table whose id column is never cut (the
    maintainer needs it whole for ``kiosk queue retry ID``; the last error is cut instead:
    ``kiosk queue show ID`` has it whole); in a pipe or a file, or on a terminal too narrow
    for the ids, plain lines ``ID STATE ATTEMPTS LAST-ERROR`` without a header, for grep
    and awk ("queue empty" only on a terminal)."""
    console = console or Console()
    rows = [(e["id"], e["state"], str(e["attempts"]),
             " ".join((e["last_error"] or "").split()))  # one line, whatever it said
            for e in entries]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    # the table: id, state, attempts, and what is left for the error (10 at least), in a
    # box of 3 characters a column and 1
    header = ("id", "state", "attempts", "last error")
    fixed = sum(max(w, len(h)) for w, h in zip(widths, header[:3], strict=True))
    error_width = console.width - fixed - 13
    if not console.is_terminal or error_width < len(header[3]):
        for row in rows:
            line = (f"{row[0]:<{widths[0]}}  {row[1]:<{widths[1]}}  {row[2]:>{widths[2]}}  "
                    f"{row[3]}")
            console.print(line.rstrip(), markup=False, highlight=False, soft_wrap=True)
        if not rows and console.is_terminal:
            console.print("queue empty")
        return
    if not rows:
        console.print("queue empty")
        return
    table = Table()
    table.add_column("id", no_wrap=True)  # its full width: the error's is set to what is left
    table.add_column("state", no_wrap=True)
    table.add_column("attempts", no_wrap=True, justify="right")
    table.add_column("last error", no_wrap=True, overflow="ellipsis",
                     width=min(error_width, max(len(header[3]), *(len(r[3]) for r in rows))))
    for row in rows:
        table.add_row(row[0], row[1], row[2], Text(row[3]))
    console.print(table)


def _kib(n: float) -> str:
    return f"{n / 1024:,.0f} KiB" if n >= 10 * 1024 else f"{n / 1024:,.1f} KiB"


def describe_in_flight(doc: dict[str, Any]) -> str:
    """One line on the record the uploader is sending, e.g. ``sending poso-01-...: 192 KiB
    of 570 KiB (the intake holds 160 KiB), 31.5 KiB/s over the last minute``."""
    rate = doc.get("rate_bps")
    speed = ("rate not known yet" if rate is None
             else f"{rate / 1024:,.1f} KiB/s over the last minute")
    return (f"sending {doc.get('record_id')}: {_kib(doc.get('bytes_sent', 0))} of "
            f"{_kib(doc.get('bytes_total', 0))} (the intake holds "
            f"{_kib(doc.get('bytes_kept', 0))}), {speed}; as of {doc.get('updated_at')}")
