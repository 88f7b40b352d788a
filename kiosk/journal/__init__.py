"""The journal: an SQLite file holding records, their sealed step blobs and audit events.

Every mutating method commits before it returns. The database runs in WAL mode with
``synchronous=FULL`` (never lower), so a returned commit has been fsync'd: a kill -9 or a
power cut at any instant leaves a file that passes ``quick_check`` and holds every record
whose :meth:`Journal.mark_sealed` returned. Rows are ordered by a per-device sequence number
(``counters.seq``) that only grows; wall-clock timestamps are informational because the Pi
has no RTC (each row also carries the boot id and whether the clock was trusted).

Single-writer rule
------------------
The system SQLite on Debian 12 is 3.40. Versions before 3.51.3 have the WAL-reset bug: when
two connections write or checkpoint at the same moment the WAL can be reset while it still
holds needed frames, losing committed transactions or corrupting the file. So, whatever
SQLite is loaded, this package serialises everything that can write the database files:

* every write transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``), every explicit checkpoint
  and every close of a connection (the last close checkpoints) runs while holding a
  per-process threading lock and an exclusive ``fcntl.flock`` on the sidecar ``<db>.lock``;
* automatic checkpoints run inside ``COMMIT`` (``wal_autocheckpoint``), hence under that lock;
* read-only journals (:meth:`Journal.open_readonly`, URI ``mode=ro``) never write or
  checkpoint, not even when the last one closes (SQLite does not checkpoint from a
  read-only connection, and without that checkpoint keeps the -wal and -shm): they never
  take the lock, so ``kiosk status`` answers at once while a writer hangs on it
  (:func:`database.held_writer_lock` then names who holds it).

Never write to the journal with a tool that does not take ``<db>.lock`` (the ``sqlite3``
shell does not) while the kiosk runs.

Integrity check at open
-----------------------
Sealed step blobs (the payloads: portraits, fingerprints) live in their own ``payloads``
table and are most of the file; ``steps`` holds each one's length and SHA-256. On every open,
``quick_check`` runs on every table *except* ``payloads`` (and their indexes), so start-up
after a power cut reads a few megabytes whatever the backlog of unsent records: on an SD
card a full check of a 5 GB journal would keep the kiosk dark for minutes. A payload is
verified against its digest whenever it is read (:meth:`Journal.step_blobs`, by the uploader
and the export), and a damaged one is named (record and step) instead of being sent.
:func:`database.full_check` (``PRAGMA integrity_check``) reads everything, for maintenance.

A file that fails ``quick_check`` (or is not a database) is never deleted: it is moved aside
with its ``-wal``/``-shm`` to ``<name>.corrupt-<UTC time>``, a fresh journal is started with a
``journal_quarantined`` audit event, and :class:`~kiosk.errors.JournalCorrupt` is raised.
:func:`quarantined_files` lists such files so the kiosk refuses enrollment until a
maintainer has looked at them.

Example::

    with Journal.open(path, kiosk_id="poso-01", boot_id=boot, clock_trusted=lambda: True) as j:
        rec = j.create_record(assisted=False)
        j.save_step(rec.id, "consent", sealed_blob)
        j.mark_sealed(rec.id, manifest)
"""

from kiosk.journal.core import (
    DELETABLE_STATES,
    REFUSED_BY_OFFICE,
    STATES,
    STEPS,
    TRANSITIONS,
    AuditEvent,
    Journal,
    RecordInfo,
)
from kiosk.journal.database import held_writer_lock, quarantined_files

__all__ = [
    "DELETABLE_STATES",
    "REFUSED_BY_OFFICE",
    "STATES",
    "STEPS",
    "TRANSITIONS",
    "AuditEvent",
    "Journal",
    "RecordInfo",
    "held_writer_lock",
    "quarantined_files",
]
