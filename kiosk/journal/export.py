"""A read-only copy of the journal's metadata, for support (``kiosk journal export``).

A maintainer sends this file when a kiosk misbehaves; support opens it with sqlite-utils,
Datasette or the ``sqlite3`` shell without the kiosk, its keys or its lock. It holds what
``kiosk queue show`` shows, for every record at once: each record's state, attempts and last
error; each step's name, size, digest and time; the audit trail. It never holds a payload
(the sealed portraits, fingerprints, data), a manifest, a receipt or an upload URL.

The rows are read in one read transaction (a consistent snapshot while the kiosk writes),
written with sqlite-utils into a temporary file beside ``out``, then given its name with
:func:`kiosk.fsutil.commit_file` (fsync'd, renamed, directory fsync'd): a half-written export
never carries the final name, and a file of that name is never replaced.
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Any

from kiosk import __version__
from kiosk.errors import JournalError
from kiosk.fsutil import commit_file

#: What the support copy holds of each journal table: (its column in the copy, the SQL
#: over the journal's row), ordered by ``seq``. Columns are named one by one so a new
#: journal column (say, one that holds a payload) is left out until someone decides it
#: belongs here.
EXPORTED: dict[str, tuple[tuple[str, str], ...]] = {
    "records": (("id", "id"), ("seq", "seq"), ("state", "state"), ("assisted", "assisted"),
                ("boot_id", "boot_id"), ("clock_trusted", "clock_trusted"),
                ("created_at", "created_at"), ("updated_at", "updated_at"),
                ("acknowledged_at", "acknowledged_at"), ("attempts", "attempts"),
                ("last_error", "last_error"), ("has_receipt", "receipt IS NOT NULL"),
                ("manifest_bytes", "length(manifest)"),
                ("upload_open", "upload_url IS NOT NULL")),
    "steps": (("record_id", "record_id"), ("step", "step"), ("seq", "seq"),
              ("length", "length"), ("sha256", "sha256"), ("boot_id", "boot_id"),
              ("clock_trusted", "clock_trusted"), ("created_at", "created_at")),
    "audit": (("seq", "seq"), ("event", "event"), ("details", "details"),
              ("boot_id", "boot_id"), ("clock_trusted", "clock_trusted"),
              ("created_at", "created_at")),
}


def _rows(conn: sqlite3.Connection, table: str) -> list[dict[str, Any]]:
    columns = EXPORTED[table]
    sql = (f"SELECT {', '.join(expr for _, expr in columns)}"  # noqa: S608 -- constant names
           f" FROM {table} ORDER BY seq")
    names = [name for name, _ in columns]
    return [dict(zip(names, row, strict=True)) for row in conn.execute(sql)]


def read_snapshot(conn: sqlite3.Connection) -> dict[str, list[dict[str, Any]]]:
    """The metadata rows, read in one transaction so they agree with each other."""
    conn.execute("BEGIN")
    try:
        records, steps, audit = (_rows(conn, table) for table in ("records", "steps", "audit"))
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.execute("COMMIT")
    for row in records:
        for flag in ("assisted", "clock_trusted", "has_receipt", "upload_open"):
            row[flag] = bool(row[flag])
    for row in (*steps, *audit):
        row["clock_trusted"] = bool(row["clock_trusted"])
    return {"records": records, "steps": steps, "audit": audit,
            "export": [{"kiosk_software": __version__, "journal_schema": version}]}


def write_export(snapshot: dict[str, list[dict[str, Any]]], out: Path, *,
                 kiosk_id: str, exported_at: str) -> dict[str, int]:
    """Write ``snapshot`` to a new SQLite file ``out`` (which must not exist); return the
    number of rows per table."""
    import sqlite_utils  # a quarter of a second to import: only this command pays it

    out = Path(out)
    if out.exists():
        raise FileExistsError(f"{out} exists; choose another name or remove it first")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    try:
        db = sqlite_utils.Database(tmp, recursive_triggers=False, execute_plugins=False)
        try:
            db["export"].insert({**snapshot["export"][0], "kiosk_id": kiosk_id,
                                 "exported_at": exported_at})
            db["records"].create({"id": str, "seq": int, "state": str, "assisted": bool,
                                  "boot_id": str, "clock_trusted": bool, "created_at": str,
                                  "updated_at": str, "acknowledged_at": str, "attempts": int,
                                  "last_error": str, "has_receipt": bool,
                                  "manifest_bytes": int, "upload_open": bool}, pk="id")
            db["records"].insert_all(snapshot["records"])
            db["steps"].create({"record_id": str, "step": str, "seq": int, "length": int,
                                "sha256": str, "boot_id": str, "clock_trusted": bool,
                                "created_at": str}, pk=("record_id", "step"),
                               foreign_keys=[("record_id", "records", "id")])
            db["steps"].insert_all(snapshot["steps"])
            db["audit"].create({"seq": int, "event": str, "details": str, "boot_id": str,
                                "clock_trusted": bool, "created_at": str}, pk="seq")
            db["audit"].insert_all(snapshot["audit"])
            db["records"].create_index(["state", "seq"])
            db["audit"].create_index(["event", "seq"])
            counts = {name: db[name].count for name in ("records", "steps", "audit")}
        finally:
            db.close()
        commit_file(tmp, out, overwrite=False)  # nor over a file made meanwhile
    except (sqlite3.Error, OSError) as exc:
        # A full USB stick or a read-only one: one line for the maintainer, no half file.
        tmp.unlink(missing_ok=True)
        raise JournalError(f"cannot write {out}: {exc} (nothing was written; the journal "
                           "is untouched)") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return counts
