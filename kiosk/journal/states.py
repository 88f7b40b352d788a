"""The record state machine: the table of moves and the one method that makes them.

Every change of a record's state goes through :meth:`RecordStates._change_state`, inside
the caller's write transaction: it reads the current state, refuses a move the table does
not allow (or the calling method's own, narrower rule) with
:class:`~kiosk.errors.IllegalStateChange`, updates the row, writes the ``record_state``
audit event (``from_state``, ``to_state``, and a ``reason`` when there is one) and, once
the transaction has committed, logs ``old -> new``. The public methods below say what each
move stores beside the state (a manifest, an upload URL, a receipt, a reason) and call it.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Mapping

from kiosk.errors import IllegalStateChange, UnknownRecord
from kiosk.journal import database
from kiosk.journal.connection import JournalConnection
from kiosk.journal.model import RECORD_COLUMNS, RecordInfo, as_blob, record_from_row

log = logging.getLogger(__name__)

STATES: tuple[str, ...] = (
    "in_progress", "sealed", "uploading", "exported", "acknowledged", "purged", "rejected")
TRANSITIONS: dict[str, frozenset[str]] = {
    "in_progress": frozenset({"sealed"}),  # only through mark_sealed (it stores the manifest)
    # -> acknowledged: the intake's receipt turned up before this kiosk journaled the upload;
    # -> rejected: the intake refused the upload's creation for good (an unknown kiosk)
    "sealed": frozenset({"uploading", "exported", "acknowledged", "rejected"}),
    # -> sealed: upload given up for now; -> rejected: the intake refused it for good;
    # -> exported: the link stayed down, the record went by USB stick (docs/usb.md)
    "uploading": frozenset({"acknowledged", "sealed", "rejected", "exported"}),
    "exported": frozenset({"acknowledged", "uploading"}),
    "acknowledged": frozenset({"purged"}),
    "purged": frozenset(),
    # kept with its reason, never deleted, never resent by itself: only a maintainer's
    # `kiosk queue retry` puts it back in the outbox (requeue)
    "rejected": frozenset({"sealed"}),
}
# An aborted session's record goes entirely; a purged one's receipt row may go later.
DELETABLE_STATES = frozenset({"in_progress", "purged"})
# Records waiting for the uploader, oldest first.
OUTBOX_STATES: tuple[str, ...] = ("sealed", "uploading")
# Records a USB bundle takes (``kiosk queue export``; ``exported`` only with ``--again``).
EXPORTABLE_STATES: tuple[str, ...] = ("sealed", "uploading", "exported")
MAX_ERROR_CHARS = 1000
#: How ``last_error`` begins for an ``exported`` record the central office refused in a
#: USB stick's receipts file (:meth:`RecordStates.note_refused`).
REFUSED_BY_OFFICE = "refused by the office"

Params = Mapping[str, object]
#: A method's own rule on top of the table: the refusal for a current state, or None.
Rule = Callable[[str], str | None]
#: Makes a record's signed manifest from the record and its steps' (length, SHA-256 hex).
MakeManifest = Callable[[RecordInfo, dict[str, tuple[int, str]]], bytes]


def _only_in_progress(record_id: str) -> Rule:
    def rule(old: str) -> str | None:
        if old == "in_progress":
            return None
        return f"record {record_id}: {old} -> sealed is not allowed"
    return rule


class RecordStates(JournalConnection):
    """The state-changing methods of :class:`~kiosk.journal.Journal`."""

    def _change_state(self, conn: sqlite3.Connection, record_id: str, new: str, *,
                      rule: Rule | None = None, may_stay: bool = False, also: str = "",
                      params: Params | None = None, reason: str | None = None,
                      current: str | None = None) -> str:
        """Move ``record_id`` to ``new`` inside the caller's transaction; return the old state.

        Refused (:class:`IllegalStateChange`, nothing changed) when ``rule(old)`` gives a
        reason, or when ``old -> new`` is not in :data:`TRANSITIONS`; with ``may_stay``, a
        record already in ``new`` stays there (its columns updated, no event: no move).
        ``also`` is more ``, column = :name`` assignments with their ``params``; ``reason``
        goes into the audit event. ``current`` is the state the caller has just read in this
        same transaction (else it is read here). The log line follows the commit.
        """
        old = self._state_in(conn, record_id) if current is None else current
        refusal = rule(old) if rule is not None else None
        if refusal is None and new not in TRANSITIONS[old] and not (may_stay and new == old):
            allowed = ", ".join(sorted(TRANSITIONS[old])) or "nothing"
            refusal = f"record {record_id}: {old} -> {new} is not allowed (from {old}: {allowed})"
        if refusal is not None:
            raise IllegalStateChange(refusal)
        conn.execute(f"UPDATE records SET state = :state, updated_at = :now{also}"  # noqa: S608
                     " WHERE id = :id",
                     {**(params or {}), "state": new, "now": database.utc_now(),
                      "id": record_id})
        if new == old:
            return old
        details: dict[str, database.Detail] = {
            "record": record_id, "from_state": old, "to_state": new}
        if reason is not None:
            details["reason"] = reason[:database.MAX_DETAIL_CHARS]
        database.insert_audit(conn, "record_state", details, self.boot_id, self._trusted())
        level = logging.WARNING if new == "rejected" else logging.INFO
        if reason is None:
            self._after_commit(lambda: log.log(level, "record %s: %s -> %s",
                                               record_id, old, new))
        else:
            self._after_commit(lambda: log.log(level, "record %s: %s -> %s (%s)",
                                               record_id, old, new, reason))
        return old

    def mark_sealed(self, record_id: str, manifest: bytes) -> None:
        """``in_progress`` -> ``sealed`` with its signed manifest; durable on return."""
        manifest = bytes(manifest)
        # The audit event in the same transaction, so `kiosk queue show` tells when.
        self._write(lambda conn: self._change_state(
            conn, record_id, "sealed", rule=_only_in_progress(record_id),
            also=", manifest = :manifest, resume_check = NULL", params={"manifest": manifest}))

    def seal(self, record_id: str, make_manifest: MakeManifest) -> bytes:
        """``in_progress`` -> ``sealed`` with the manifest ``make_manifest(record, digests)``
        returns, made inside the same write transaction from the record and its steps'
        ``(length, SHA-256 hex)`` (:meth:`step_digests`) as read there; durable on return,
        the manifest returned. What :meth:`mark_sealed` does after reading the record and
        the digests, in one transaction instead of two reads and a write. Refused like
        :meth:`mark_sealed`; nothing changes when ``make_manifest`` raises."""
        rule = _only_in_progress(record_id)

        def body(conn: sqlite3.Connection) -> bytes:
            row = conn.execute(f"SELECT {RECORD_COLUMNS} FROM records WHERE id = ?",  # noqa: S608
                               (record_id,)).fetchone()
            if row is None:
                raise UnknownRecord(f"no record {record_id!r} in the journal")
            info = record_from_row(row)
            refusal = rule(info.state)
            if refusal is not None:
                raise IllegalStateChange(refusal)
            manifest = bytes(make_manifest(info, self._digests_in(conn, record_id)))
            self._change_state(conn, record_id, "sealed", rule=rule, current=info.state,
                               also=", manifest = :manifest, resume_check = NULL",
                               params={"manifest": manifest})
            return manifest

        return self._write(body)

    # -- the outbox (see docs/upload.md) ----------------------------------------------------
    def start_upload(self, record_id: str, url: str) -> None:
        """``sealed`` -> ``uploading`` (or a new URL for an ``uploading`` record): the tus
        upload ``url`` is journaled, so a restarted uploader resumes it; durable on return."""
        if not url:
            raise ValueError("an upload URL is required")

        def in_outbox(old: str) -> str | None:
            if old in OUTBOX_STATES:
                return None
            return f"record {record_id} is {old}; only sealed records are uploaded"

        self._write(lambda conn: self._change_state(
            conn, record_id, "uploading", rule=in_outbox, may_stay=True,
            also=", upload_url = :url", params={"url": url}))

    def upload_failed(self, record_id: str, error: str, *, forget_url: bool = False) -> None:
        """One failed attempt: ``attempts`` + 1 and ``last_error``. With ``forget_url`` the
        journaled upload is dropped (the intake lost or refused it) and the record goes back
        to ``sealed``, to be uploaded afresh."""
        error = error[:MAX_ERROR_CHARS]

        def in_outbox(old: str) -> str | None:
            if old in OUTBOX_STATES:
                return None
            return f"record {record_id} is {old}, not in the outbox"

        def body(conn: sqlite3.Connection) -> None:
            new = "sealed" if forget_url else self._state_in(conn, record_id)
            self._change_state(
                conn, record_id, new, rule=in_outbox, may_stay=True,
                also=", attempts = attempts + 1, last_error = :error, upload_url ="
                     " CASE WHEN :forget THEN NULL ELSE upload_url END",
                params={"error": error, "forget": int(forget_url)})

        self._write(body)

    def reject(self, record_id: str, reason: str) -> None:
        """``sealed``/``uploading`` -> ``rejected``: the intake refused the record for good.

        ``reason`` (the intake's, one line, no personal data) becomes ``last_error``; the
        journaled upload is dropped; the payload stays. Durable on return."""
        reason = reason[:MAX_ERROR_CHARS]
        self._write(lambda conn: self._change_state(
            conn, record_id, "rejected",
            also=", attempts = attempts + 1, last_error = :reason, upload_url = NULL",
            params={"reason": reason}, reason=reason))

    def requeue(self, record_id: str, why: str) -> None:
        """``rejected`` -> ``sealed`` (a maintainer fixed the cause): back in the outbox, its
        attempts counted from zero, the last reason kept until the next attempt. Audited
        with ``why``."""
        database.check_details({"reason": why})

        def only_rejected(old: str) -> str | None:
            if old == "rejected":
                return None
            return f"record {record_id} is {old}; only rejected records are requeued"

        self._write(lambda conn: self._change_state(
            conn, record_id, "sealed", rule=only_rejected, also=", attempts = 0", reason=why))

    def mark_exported(self, record_ids: list[str], bundle: str) -> None:
        """``sealed``/``uploading`` -> ``exported``: the records' packets are in the USB
        bundle named ``bundle``, written and read back (``kiosk queue export``). One commit
        for all; the audit events name the bundle. A record exported before (``--again``)
        stays ``exported`` and gets a ``record_exported`` event. A journaled upload is
        dropped: the record is acknowledged by the receipts file that comes back. Refused
        for all (nothing changed) when one is in no :data:`EXPORTABLE_STATES`."""
        database.check_details({"bundle": bundle})
        reason = f"exported to {bundle}"

        def exportable(record_id: str) -> Rule:
            def rule(old: str) -> str | None:
                if old in EXPORTABLE_STATES:
                    return None
                return f"record {record_id} is {old}; only sealed or uploading records are exported"
            return rule

        def body(conn: sqlite3.Connection) -> None:
            for record_id in record_ids:
                old = self._change_state(conn, record_id, "exported", rule=exportable(record_id),
                                         may_stay=True, also=", upload_url = NULL",
                                         reason=reason)
                if old == "exported":
                    database.insert_audit(conn, "record_exported",
                                          {"record": record_id, "bundle": bundle},
                                          self.boot_id, self._trusted())

        self._write(body)

    def note_refused(self, record_id: str, code: str, reason: str) -> bool:
        """The central office refused an ``exported`` record's packet from a stick (its
        receipts file; not signed, so the record does not move): ``last_error`` becomes
        ``refused by the office [code]: reason`` (:data:`REFUSED_BY_OFFICE`) and a
        ``record_refused`` audit event says it, until the record is acknowledged or moves
        on. Whether anything changed: the same refusal read again changes nothing. Refused
        (:class:`IllegalStateChange`) for a record in another state."""
        error = f"{REFUSED_BY_OFFICE} [{code}]: {reason}"[:MAX_ERROR_CHARS]

        def only_exported(old: str) -> str | None:
            if old == "exported":
                return None
            return f"record {record_id} is {old}, not on a USB stick"

        def body(conn: sqlite3.Connection) -> bool:
            row = conn.execute("SELECT last_error FROM records WHERE id = ?",
                               (record_id,)).fetchone()
            if row is not None and row[0] == error:
                return False
            self._change_state(conn, record_id, "exported", rule=only_exported,
                               may_stay=True, also=", last_error = :error",
                               params={"error": error})
            database.insert_audit(conn, "record_refused", {
                "record": record_id, "reason": error[:database.MAX_DETAIL_CHARS]},
                self.boot_id, self._trusted())
            return True

        return self._write(body)

    def acknowledge(self, record_id: str, receipt: bytes) -> None:
        """-> ``acknowledged`` with the intake's receipt, in one commit (so no record is ever
        acknowledged without its receipt); the caller has verified the receipt."""
        receipt = as_blob(receipt)
        if not receipt:
            raise ValueError("a receipt is required to acknowledge a record")
        self._write(lambda conn: self._change_state(
            conn, record_id, "acknowledged",
            also=", receipt = :receipt, acknowledged_at = :now, upload_url = NULL,"
                 " last_error = NULL", params={"receipt": receipt}))

    def set_state(self, record_id: str, state: str, *, error: str | None = None) -> None:
        """Move a record along the state machine (:data:`TRANSITIONS`); audited.

        Each move to ``uploading`` counts an attempt. ``error`` replaces ``last_error``;
        without it the last error is kept, until ``acknowledged`` clears it. Moving to
        ``purged`` deletes the step blobs (the payload) and keeps the row and manifest.
        The moves that store something (a manifest, a receipt, a reason) have their own
        method and are refused here, naming it.
        """
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; states are {', '.join(STATES)}")
        if error is not None:
            error = error[:MAX_ERROR_CHARS]

        def has_own_method(old: str) -> str | None:
            if old == "in_progress" and state == "sealed":
                return f"record {record_id}: use mark_sealed(), which stores the manifest"
            if state == "acknowledged":
                return f"record {record_id}: use acknowledge(), which stores the receipt"
            if state == "rejected" or old == "rejected":
                return f"record {record_id}: use reject() (it stores the reason) or requeue()"
            return None

        def body(conn: sqlite3.Connection) -> None:
            self._change_state(
                conn, record_id, state, rule=has_own_method,
                also=", attempts = attempts + :attempt, last_error = coalesce(:error,"
                     " last_error)",
                params={"attempt": int(state == "uploading"), "error": error})
            if state == "purged":
                conn.execute("DELETE FROM steps WHERE record_id = ?", (record_id,))

        self._write(body)
