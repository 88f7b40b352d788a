"""The doctor's checks of the journal: its integrity (the start-up check, then ``kiosk
journal check``'s deep one) and its outbox (the oldest unsent record, refused records)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from kiosk.clock import FUTURE_TOLERANCE_S
from kiosk.config import Config
from kiosk.core.intake_api import RefusalCode
from kiosk.doctor.findings import Finding, fail, ok, skip, warn
from kiosk.errors import JournalError
from kiosk.journal import RecordInfo

JOURNAL_BUDGET_S = 20.0  # the deep check reads every page; past this it says so, as a warning


def check_journal(config: Config, budget_s: float = JOURNAL_BUDGET_S) -> Finding:
    """The start-up check (every table but the payloads), then ``kiosk journal check``'s
    deep one (every page and payload) for as long as ``budget_s`` allows."""
    from kiosk.journal import Journal, database, held_writer_lock, quarantined_files

    path = config.journal_path
    kept = quarantined_files(path)
    if kept:
        return fail("journal", f"a corrupt journal was kept as {kept[0]}; enrollment is "
                    "refused until it is moved away",
                    f"salvage its sealed records to a stick (`kiosk queue export --from "
                    f"{kept[0]} --to /mnt/usb`, docs/usb.md), copy it off the kiosk, then "
                    f"move it out of {config.data_dir}")
    if config.data_dir.exists() and not config.data_dir.is_dir():
        return fail("journal", f"data directory {config.data_dir} is not a directory: no "
                    "journal can be read or written there",
                    f"set kiosk.data_dir to the kiosk's data directory, or move the file "
                    f"{config.data_dir} aside")
    if not config.data_dir.exists():  # the installer makes it: a mistyped kiosk.data_dir
        return fail("journal", f"data directory {config.data_dir} does not exist: no "
                    "journal to read", "set kiosk.data_dir to the kiosk's data directory "
                    "(`kiosk config show`); on a new kiosk not installed by the installer, "
                    "its first start makes it (`kiosk run`)")
    if not path.exists():
        return ok("journal", f"no journal at {path} yet (made by the first enrollment)")
    held = held_writer_lock(Path(f"{path}.lock"))
    if held is not None:
        return fail("journal", held,
                    "if that process is not one of the kiosk's at work, stop it (`kill PID`); "
                    "a kiosk service stuck on it: `sudo systemctl restart kiosk-ui "
                    "kiosk-upload kiosk-power`")
    if database.is_empty(path):  # one verdict, status's: not "no journal yet"
        verdict, _, fix = database.empty_verdict(path).partition(": if this kiosk")
        return fail("journal", f"{verdict}: possibly truncated, a lost journal",
                    "if this kiosk" + fix)
    stop_fix = (f"stop the kiosk (`sudo systemctl stop kiosk-ui kiosk-upload`), copy "
                f"{path}* off the kiosk for recovery, then start it again: it moves the "
                "damaged file aside and starts a new journal")
    try:
        problem = database.check(path)
    except (JournalError, OSError) as exc:
        return fail("journal", str(exc), stop_fix)
    if problem is not None:
        return fail("journal", f"{path} is corrupt: {problem}", stop_fix)
    result: dict[str, object] = {}

    def deep() -> None:
        try:
            with Journal.open_readonly(path) as journal:
                result["problems"] = journal.verify()
                result["records"] = sum(journal.counts().values())
        except (JournalError, OSError) as exc:
            result["error"] = str(exc)

    worker = threading.Thread(target=deep, name="doctor-journal-deep", daemon=True)
    worker.start()
    worker.join(budget_s)
    if worker.is_alive():
        return warn("journal", f"the tables are sound; reading every payload took more than "
                    f"{budget_s:g} s", "run `kiosk journal check` (it reads every page)")
    if "error" in result:  # the tables passed the start-up check: the damage is deeper
        return fail("journal", str(result["error"]),
                    "the start-up check passes, so the kiosk goes on with this file: copy "
                    f"{path}* off the kiosk for recovery; `kiosk journal check` names the "
                    "records it can; `kiosk queue export --from` salvages sealed ones")
    problems = list(result["problems"])  # type: ignore[call-overload]
    if problems:
        more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
        return fail("journal", "; ".join(problems[:3]) + more,
                    "`kiosk journal check` lists every damaged payload; such a record cannot "
                    "be sent: keep the journal file and report the record ids")
    return ok("journal", f"{result['records']} records; every page and payload read")


def _age(created_at: str, now: datetime) -> float | None:
    """Seconds since ``created_at``; None when it does not read. Negative when stamped in
    the future: within :data:`~kiosk.clock.FUTURE_TOLERANCE_S` read as 0 (NTP stepping the
    clock back), beyond it an unknown age (:func:`_ahead`)."""
    try:
        then = datetime.fromisoformat(created_at.replace("Z", "+00:00"))
    except ValueError:
        return None
    if then.tzinfo is None:
        then = then.replace(tzinfo=UTC)
    return (now - then).total_seconds()


def _ahead(age: float | None) -> bool:
    """Whether ``age`` (:func:`_age`) says the row is stamped in the future."""
    return age is not None and age < -FUTURE_TOLERANCE_S


def _in_the_future(age: float) -> str:
    return (f"is stamped {describe_age(-age)} in the future (its age is unknown: the clock "
            "was ahead when it was made, or is behind now)")


CLOCK_FIX = ("check the clock: `timedatectl` (synchronised? the time right?); records keep "
             "their order by sequence, not by time")


def describe_age(seconds: float) -> str:
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def check_outbox(config: Config, now: datetime | None = None) -> Iterator[Finding]:
    """The oldest unsent record's age against ``doctor.max_unsent_age_s`` (and the records
    exported to USB sticks, a warning once their receipts are that late), then the records
    the intake refused (kept until a maintainer requeues them)."""
    from kiosk.runtime import readonly_journal

    limit = float(config["doctor"]["max_unsent_age_s"])
    now = now or datetime.now(UTC)
    try:
        with readonly_journal(config) as journal:
            if journal is None:
                yield ok("backlog", "nothing to send (no journal yet)")
                yield ok("rejected", "none")
                yield ok("unfinished", "none")
                return
            outbox = journal.outbox()
            rejected = journal.records("rejected")
            exported = journal.records("exported")
            unfinished = [r for r in journal.records("in_progress") if r.assisted]
    except (JournalError, sqlite3.Error, OSError):
        yield skip("backlog", "not read: the journal does not open (see journal)")
        yield skip("rejected", "not read: the journal does not open (see journal)")
        yield skip("unfinished", "not read: the journal does not open (see journal)")
        return
    on_sticks, late_sticks = "", False
    if exported:  # on their way by USB stick (docs/usb.md): not waiting to be sent
        since = _age(min(r.updated_at for r in exported), now)
        on_sticks = (f"{len(exported)} exported to USB, waiting for their receipts" + (
            "" if since is None else " (the first exported at a time in the future)"
            if _ahead(since) else f" (the first for {describe_age(max(since, 0.0))})"))
        late_sticks = since is not None and since > limit
    resend = float(config["upload"]["stick_resend_days"])
    sticks_fix = ("bring the office's .receipts files back: `kiosk queue import DIR` (with a "
                  "link, the uploader fetches the receipts of a stick the office has imported)"
                  "; if the stick was lost, `kiosk queue export --to DIR --again`" + (
                      f", or the uploader sends its records over the link {resend:g} days "
                      "after their export (upload.stick_resend_days)" if resend > 0 else ""))
    if not outbox:
        detail = "nothing waiting to be sent" + (f"; {on_sticks}" if on_sticks else "")
        yield warn("backlog", detail, sticks_fix) if late_sticks else ok("backlog", detail)
    else:
        oldest = outbox[0]
        age = _age(oldest.created_at, now)
        approx = "" if oldest.clock_trusted else " (its clock was not synchronised: approximate)"
        detail = f"{len(outbox)} waiting; the oldest, {oldest.id}, " + (
            "has an unreadable time" if age is None else _in_the_future(age) if _ahead(age)
            else f"since {describe_age(max(age, 0.0))}{approx}")
        if oldest.last_error:
            detail += f"; last error: {oldest.last_error}"
        if on_sticks:
            detail += f"; {on_sticks}"
        if _ahead(age):
            yield warn("backlog", detail, CLOCK_FIX + "; `kiosk upload --once` sends now")
        elif age is not None and age > limit:
            yield fail("backlog", detail + f"; over doctor.max_unsent_age_s "
                       f"({describe_age(limit)})",
                       "see the intake and registration lines above; is the uploader running "
                       "(`systemctl status kiosk-upload`)? `kiosk upload --once` sends now"
                       + (f"; for the records on sticks: {sticks_fix}" if late_sticks else ""))
        elif late_sticks:
            yield warn("backlog", detail, sticks_fix)
        else:
            yield ok("backlog", detail)
    sealed_wrong = [r for r in rejected
                    if f"[{RefusalCode.UNDECRYPTABLE}]" in (r.last_error or "")]
    if sealed_wrong:  # every new record goes the same way: sealed to a key nobody opens
        yield fail("rejected", f"{len(sealed_wrong)} record(s) refused as undecryptable: "
                   f"{(sealed_wrong[-1].last_error or '')[:200]}",
                   "this kiosk seals to another central key than the intake holds: set "
                   "sealing.central_key to the intake's DIR/keys/central.pub and restart the "
                   "kiosk; the records sealed before open only where their key's private key "
                   "is (kiosk queue list names them)")
    elif rejected:
        ids = ", ".join(r.id for r in rejected[:3]) + (" ..." if len(rejected) > 3 else "")
        yield warn("rejected", f"{len(rejected)} record(s) refused by the intake: {ids}",
                   "`kiosk queue list` shows why; fix the cause, then `kiosk queue retry ID`")
    else:
        yield ok("rejected", "none")
    yield _unfinished(unfinished, now, limit)


def _unfinished(records: list[RecordInfo], now: datetime, limit: float) -> Finding:
    """Assisted enrollments kept to continue (a power cut, a session left idle): a warning
    once the oldest has waited longer than ``doctor.max_unsent_age_s``: its person has
    likely gone, and it waits for an officer to continue or delete it."""
    if not records:
        return ok("unfinished", "none")
    oldest = min(records, key=lambda r: r.seq)
    age = _age(oldest.created_at, now)
    detail = (f"{len(records)} assisted enrollment(s) kept to continue; the oldest, "
              f"{oldest.id}, " + ("begun at an unreadable time" if age is None
                                  else _in_the_future(age) if _ahead(age)
                                  else f"begun {describe_age(max(age, 0.0))} ago"))
    if _ahead(age):
        return warn("unfinished", detail, CLOCK_FIX)
    if age is not None and age > limit:
        return warn("unfinished", detail, "an officer continues or deletes them on the "
                    "touchscreen (log in with the staff card: the officer's home lists them)")
    return ok("unfinished", detail)
