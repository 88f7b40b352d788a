"""``kiosk queue export`` and ``kiosk queue import``: sealed records to a USB stick when
there is no link, and the central office's receipts back (``docs/usb.md``; the file formats
are :mod:`kiosk.bundle`'s).

Export, and why it is safe to pull the stick or cut the power at any instant:

* the records go into a hidden temporary file on the stick, oldest first, one packet in
  memory at a time (the packet the uploader would send, built from the journal);
* the file is fsync'd, dropped from the page cache and **read back from the stick**, every
  packet's SHA-256 checked against the index (cheap sticks lie about writes);
* only then does it get its name (``<kiosk>-<first seq>-to-<last seq>.ektp``, never replacing
  a file), and only then are its records marked ``exported``, in one journal commit.

A stick pulled out before that leaves a hidden partial file and the records ``sealed``; a
kill after the rename but before the commit leaves a whole bundle whose records are still
``sealed``: the next export writes them again and the intake counts the second copy as a
duplicate. Nothing is deleted from the kiosk by an export: a record's payload goes only
``retention_days`` after a verified receipt, whichever way the receipt came.

A bundle stops at :data:`~kiosk.bundle.MAX_BUNDLE_BYTES` or
:data:`~kiosk.bundle.MAX_BUNDLE_RECORDS` and the next one begins; when the stick fills, the
oldest records that fit are exported and the rest named, to go on another stick.

Import reads the ``.receipts`` files ``kiosk-intake import`` wrote beside the bundles, and
acknowledges each record whose receipt verifies against the configured intake key and the
packet rebuilt from this kiosk's journal, exactly as an upload's receipt is
(:func:`kiosk.receipts.verify_receipt`). The intake's refusals in the same file are not
signed: they are shown; one of a copy damaged on the stick (:data:`DAMAGED_ON_STICK`) puts
the record back in the outbox and makes the copy no longer count as on the stick, so it is
written again (:func:`damaged_copies`); a bundle is removed only when nothing in it is the
only copy on the stick of a record the office has not confirmed.

Once every record of one of this kiosk's bundles on the stick is acknowledged (its
receipt verified, whichever way it came), the bundle is of no further use: the stick
button and ``kiosk queue import`` remove it (:func:`remove_confirmed_bundles`), so a small
stick does not fill up with what the office already holds. Only a file named as this
kiosk names its bundles, that reads as a bundle of this kiosk listing records of its
journal under that name's span, is removed; the receipts files stay.

The uploader does not send ``exported`` records: the stick carries them. If a stick is
lost, the stick button puts them on the next stick (:func:`stick_waiting`), and ``kiosk
queue export --again`` writes them once more.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import logging
import os
import re
import secrets
import shutil
import stat
import sys
import tarfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from kiosk.bundle import (
    BUNDLE_SUFFIX,
    MAX_BUNDLE_BYTES,
    MAX_BUNDLE_RECORDS,
    MAX_PACKET_BYTES,
    RECEIPTS_SUFFIX,
    BundleError,
    BundleIndex,
    BundleReader,
    BundleWriter,
    bundle_name,
    find_files,
    load_receipts,
    receipts_name,
    refusal_action,
)
from kiosk.config import Config
from kiosk.core.exits import EXIT_CONFIG, EXIT_FAIL, EXIT_OK
from kiosk.core.ids import is_record_id
from kiosk.core.intake_api import RefusalCode
from kiosk.errors import (
    IllegalStateChange,
    JournalCorrupt,
    JournalError,
    SealingError,
    UnknownRecord,
)
from kiosk.fsutil import commit_file, fsync_dir, process_alive
from kiosk.journal import Journal, RecordInfo
from kiosk.journal.states import EXPORTABLE_STATES
from kiosk.receipts import verify_receipt
from kiosk.sealing import build_packet

log = logging.getLogger(__name__)

__all__ = ["CleanupReport", "ExportReport", "ImportReport", "StickReport", "export_records",
           "import_receipts", "read_receipts", "records_on_stick", "remove_confirmed_bundles",
           "stick_problem", "stick_waiting", "sync_configured_stick", "sync_stick"]

#: Left free on the stick whatever it holds: the file system's own needs, the temporary
#: file of a receipts file written again. Room for the receipts files comes on top
#: (:func:`receipts_room`).
STICK_MARGIN_BYTES = 256 * 1024
#: What the office's receipts file takes per record (a receipt, in base64, and its key:
#: about 455-600 bytes).
RECEIPT_BYTES_PER_RECORD = 600
_TAR_BLOCK = 512
_TAR_END = 20 * _TAR_BLOCK  # the end-of-archive blocks and the record's padding, at most
_INDEX_ENTRY_BYTES = 200  # one line of the index, with room
#: Held (``flock``) in the kiosk's data directory while records are written to a stick
#: (``kiosk queue export``, the stick button): two exports at once would each write every
#: waiting record. Not on the stick: FAT and FUSE file systems keep no reliable lock.
EXPORT_LOCK = "usb-export.lock"
#: How long an export waits for another one to finish before it refuses.
EXPORT_WAIT_S = 10.0
EXPORT_BUSY = ("another export to a USB stick is running on this kiosk (the officer's stick "
               "button, or another kiosk queue export): nothing was written; run this again "
               "once it has finished")
MOUNT_HINT = ("mount the stick so user kiosk may write it, e.g. "
              "`sudo mount -o uid=kiosk,gid=kiosk,nodev,nosuid,noexec /dev/sda1 /mnt/usb`")


@dataclass
class ExportReport:
    """What ``kiosk queue export`` did."""

    bundles: list[Path] = field(default_factory=list)
    exported: list[str] = field(default_factory=list)
    bytes_written: int = 0
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (record id, why)
    #: Of ``unreadable``: the records whose packet is larger than a bundle carries (they
    #: read, and go by upload only).
    too_large: list[str] = field(default_factory=list)
    did_not_fit: list[str] = field(default_factory=list)
    error: str = ""
    #: ``error`` is the kiosk's journal's, not the stick's: the last bundle is whole on the
    #: stick, its records not marked exported (they stay in the outbox).
    journal_failed: bool = False


@dataclass
class ImportReport:
    """What reading the receipts files on a stick did (:func:`read_receipts`)."""

    files: int = 0  # receipts files found
    ours: int = 0  # of them, this kiosk's
    acknowledged: list[str] = field(default_factory=list)
    already: int = 0
    #: Lines for the maintainer: a file or receipt that could not be used, a file of
    #: another kiosk (left alone), a record the intake refused (with what to do).
    problems: list[str] = field(default_factory=list)
    others: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)  # record ids the intake refused
    #: Of ``refused``: the records whose copy on the stick the office found damaged
    #: (:data:`DAMAGED_ON_STICK`); they are written again, so they are not ``problems``.
    damaged: list[str] = field(default_factory=list)
    #: A line each for ``damaged``, for the maintainer.
    damaged_lines: list[str] = field(default_factory=list)


@dataclass
class CleanupReport:
    """What :func:`remove_confirmed_bundles` did."""

    removed: list[str] = field(default_factory=list)  # the bundles' names
    records: int = 0  # the records they held that the office confirmed
    #: The copies they held that the office refused as damaged, each written again in
    #: another bundle on the same stick.
    damaged: int = 0
    freed: int = 0  # their bytes
    #: For the log: a bundle of this kiosk that does not read, one that could not be removed.
    problems: list[str] = field(default_factory=list)


#: The states of a record the office has confirmed: its receipt verified and stored.
CONFIRMED_STATES = ("acknowledged", "purged")
#: The office's refusals that another copy cures: the packet's bytes on the stick are not
#: those its bundle's index names (damaged on the stick, or in the copy). The record's
#: copy in that bundle no longer counts as on the stick; it is written again.
DAMAGED_ON_STICK = frozenset({RefusalCode.SHA256_MISMATCH})
#: How :class:`_Bundle` names a bundle after the kiosk id (kiosk.bundle.bundle_name, and
#: ``-<n>`` when that span is on the stick already).
_BUNDLE_NAME = r"-(\d{7,})-to-(\d{7,})(?:-[2-9]|-[1-9]\d+)?" + re.escape(BUNDLE_SUFFIX)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _size(count: int) -> str:
    return f"{count / 2**20:.2f} MiB" if count < 2**20 else f"{count / 2**20:.1f} MiB"


def _tar_bytes(length: int) -> int:
    """What a member of ``length`` bytes takes in the tar: its header and padded data."""
    return _TAR_BLOCK + -(-length // _TAR_BLOCK) * _TAR_BLOCK


def cluster_of(target: Path) -> int:
    """The file system's allocation unit in ``target`` (a FAT or exFAT cluster, up to 128
    KiB or more on a large stick): each file takes a whole number of them."""
    info = os.statvfs(target)
    return max(info.f_frsize, info.f_bsize, _TAR_BLOCK)


def _clusters(length: int, cluster: int) -> int:
    """What ``length`` bytes take on a file system of ``cluster``-byte clusters."""
    return -(-length // cluster) * cluster


def receipts_room(records: int, bundles: int, cluster: int) -> int:
    """Room for the office's receipts files of ``bundles`` bundles holding ``records``
    records: :data:`RECEIPT_BYTES_PER_RECORD` each, and a cluster per file."""
    return RECEIPT_BYTES_PER_RECORD * records + cluster * bundles


def room_on(target: Path, kiosk_id: str | None = None) -> int:
    """Bytes an export may write in ``target``: its free space less
    :data:`STICK_MARGIN_BYTES`, and less the room the receipts files of this kiosk's
    bundles there will take (:func:`receipts_room`; those whose receipts file is there
    already, none); no limit when the file system does not say its size (0 blocks from
    ``statvfs``, as fusefat and some other FUSE file systems answer), where a full stick
    shows as a write that fails instead."""
    usage = shutil.disk_usage(target)
    if usage.total == 0:
        return sys.maxsize
    records = bundles = 0
    if kiosk_id is not None:
        for path, _match, _size, index in _our_bundles(kiosk_id, target):
            if not (target / receipts_name(path.name)).exists():
                records += len(index.records)
                bundles += 1
    return usage.free - STICK_MARGIN_BYTES - receipts_room(records, bundles,
                                                           cluster_of(target))


def packet_of(journal: Journal, info: RecordInfo) -> bytes:
    """The record's sealed packet, as the uploader sends it (built from the journal)."""
    if info.manifest is None:
        raise SealingError("the record has no sealed manifest")
    return build_packet(info.manifest, journal.step_blobs(info.id))


def exportable(journal: Journal, *, again: bool) -> list[RecordInfo]:
    """The records an export takes, oldest first: sealed and uploading ones, and with
    ``again`` those exported before."""
    states = EXPORTABLE_STATES if again else ("sealed", "uploading")
    found = [r for state in states for r in journal.records(state)]
    return sorted(found, key=lambda r: r.seq)


#: The hidden files this process is writing now (their names: random, so unique): the
#: sweep of a stick leaves them, and takes any other of this process's (a stick pulled out
#: during a press in the long-lived ``kiosk run`` leaves one its discard could not remove).
_WRITING: set[str] = set()
_WRITING_LOCK = threading.Lock()


class _Bundle:
    """One bundle being written to a hidden file in ``target``."""

    def __init__(self, target: Path, kiosk_id: str) -> None:
        self.target = target
        self.kiosk_id = kiosk_id
        self.path = target / f".{kiosk_id}-export-{os.getpid()}-{secrets.token_hex(4)}.partial"
        with _WRITING_LOCK:
            _WRITING.add(self.path.name)
        try:
            self.stream = open(self.path, "xb")  # noqa: SIM115 -- closed in finish/discard
        except BaseException:
            self._written()
            raise
        self.writer = BundleWriter(self.stream, kiosk_id, _now())
        self.records: list[RecordInfo] = []

    def room_for(self, length: int) -> int:
        """Bytes the bundle needs in all once a packet of ``length`` joins it."""
        entries = len(self.records) + 1
        return self.writer.size + _tar_bytes(length) + _tar_bytes(
            entries * _INDEX_ENTRY_BYTES + 200) + _TAR_END

    def add(self, info: RecordInfo, packet: bytes) -> None:
        self.writer.add(info.id, packet, hashlib.sha256(packet).hexdigest())
        self.records.append(info)

    def finish(self) -> Path:
        """Close, make durable, read back from the stick, then name it; returns the name."""
        self.writer.close()
        self.stream.flush()
        os.fsync(self.stream.fileno())
        with contextlib.suppress(OSError, AttributeError):  # read back from the stick itself
            os.posix_fadvise(self.stream.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        self.stream.close()
        _verify(self.path, [r.id for r in self.records])
        first, last = self.records[0].seq, self.records[-1].seq
        name = bundle_name(self.kiosk_id, first, last)
        final = self.target / name
        n = 1
        # the same span exported before (--again): never replace it; nor take the name of
        # a bundle removed since, whose receipts file stays (its refusals are not this one's)
        while final.exists() or (self.target / receipts_name(final.name)).exists():
            n += 1
            final = self.target / f"{name[:-len('.ektp')]}-{n}.ektp"
        commit_file(self.path, final, overwrite=False)
        self._written()
        return final

    def _written(self) -> None:
        with _WRITING_LOCK:
            _WRITING.discard(self.path.name)

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.stream.close()
        with contextlib.suppress(OSError):
            self.path.unlink()
        self._written()  # one left (the stick pulled out) goes at the next sweep


@contextlib.contextmanager
def export_lock(data_dir: Path | None, wait_s: float | None = None) -> Iterator[bool]:
    """Hold ``<data_dir>/usb-export.lock`` (:data:`EXPORT_LOCK`) for the export in the
    block: yields True once held, False when another process still holds it after
    ``wait_s`` seconds (:data:`EXPORT_WAIT_S`; then write nothing). The kernel drops a
    flock when its holder dies, so a killed export never blocks the next. No ``data_dir``
    (a test's): no lock."""
    if data_dir is None:
        yield True
        return
    path = Path(data_dir) / EXPORT_LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o640)
    except OSError as exc:
        if exc.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
            raise
        try:  # a card mounted read-only (kiosk queue export --from): its lock as it is
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:  # none there: nothing on that card can change under the export
            log.info("export: no lock file in %s (read-only: %s)", data_dir, exc.strerror)
            yield True
            return
    try:
        if os.geteuid() == 0:  # root's file would lock the kiosk user's touchscreen out
            with contextlib.suppress(OSError):
                owner = os.stat(data_dir)
                if owner.st_uid != 0:
                    os.fchown(fd, owner.st_uid, owner.st_gid)
        deadline = time.monotonic() + (EXPORT_WAIT_S if wait_s is None else wait_s)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
            if time.monotonic() >= deadline:
                yield False
                return
            time.sleep(0.1)
        yield True
    finally:
        os.close(fd)


def _sweep_partials(target: Path, kiosk_id: str) -> None:
    """Remove the hidden files an export of this kiosk left on the stick when it was killed
    (its process is gone), or that this process left (the stick pulled out while written,
    so the file could not be removed then) and is not writing now, so a stick does not
    fill up with them."""
    for path in target.glob(f".{kiosk_id}-export-*.partial"):
        pid = path.name[len(kiosk_id) + len(".-export-"):].split("-", 1)[0]
        if not pid.isdigit():
            continue
        if int(pid) == os.getpid():
            with _WRITING_LOCK:
                if path.name in _WRITING:
                    continue
        elif process_alive(int(pid)):
            continue
        with contextlib.suppress(OSError):
            path.unlink()


def _verify(path: Path, record_ids: list[str]) -> None:
    """Read the bundle back and check every packet against its index (BundleError)."""
    with BundleReader(path) as bundle:
        if [e.record_id for e in bundle] != record_ids:
            raise BundleError(f"{path.name}: read back, it does not list the records written")
        for entry in bundle:
            digest = hashlib.sha256()
            stream = bundle.packet(entry)
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
            if digest.hexdigest() != entry.sha256:
                raise BundleError(f"{path.name}: record {entry.record_id} reads back "
                                  "different from what was written (a failing stick?)")


#: What a salvage takes from a damaged journal: every sealed record not known to be at the
#: intake (``rejected`` too: its cause may be fixed by now; a duplicate costs nothing).
SALVAGE_STATES: tuple[str, ...] = ("sealed", "uploading", "exported", "rejected")


def salvageable(journal: Journal, kiosk_id: str) -> tuple[list[RecordInfo], str]:
    """The records of ``kiosk_id`` a salvage takes from a damaged journal, oldest first, and
    why the list may be incomplete ("" when the records table read whole)."""
    try:
        found = [r for state in SALVAGE_STATES for r in journal.records(state)]
    except JournalError as exc:
        return [], f"its records table cannot be read ({exc})"
    return sorted((r for r in found if is_record_id(r.id, kiosk_id)), key=lambda r: r.seq), ""


def export_records(journal: Journal, kiosk_id: str, target: Path, *, again: bool = False,
                   out: TextIO | None = None, salvage: bool = False,
                   records: list[RecordInfo] | None = None) -> ExportReport:
    """Write the exportable records to bundles in ``target`` (see the module docstring).
    Prints ``exported <record-id>`` on ``out`` per record once its bundle is named and the
    journal says so. Raises nothing for a stick that fails: ``report.error`` says why.

    ``salvage``: ``journal`` is a damaged or quarantined file, opened read-only; every
    sealed record whose payload still reads (each checked against its signed manifest) goes
    on the stick, and nothing is marked anywhere. ``records``: these (exportable) records
    instead of those ``again`` names (the stick button's: :func:`stick_waiting`)."""
    report = ExportReport()
    if salvage:
        records, report.error = salvageable(journal, kiosk_id)
    elif records is None:
        records = exportable(journal, again=again)
    _sweep_partials(target, kiosk_id)
    free = room_on(target, kiosk_id)
    cluster = cluster_of(target)
    bundle: _Bundle | None = None
    try:
        for index, info in enumerate(records):
            try:
                packet = packet_of(journal, info)
            except (JournalError, SealingError) as exc:
                report.unreadable.append((info.id, str(exc)))
                continue
            if len(packet) > MAX_PACKET_BYTES:  # the intake would not take it from a stick
                report.too_large.append(info.id)
                report.unreadable.append((info.id, f"its packet is {_size(len(packet))}, more "
                                          f"than a bundle carries ({_size(MAX_PACKET_BYTES)}); "
                                          "it goes by upload only"))
                continue
            if bundle is not None and (
                    len(bundle.records) >= MAX_BUNDLE_RECORDS
                    or bundle.room_for(len(packet)) > MAX_BUNDLE_BYTES):
                free -= _clusters(_close(bundle, None if salvage else journal, report, out),
                                  cluster) + receipts_room(len(bundle.records), 1, cluster)
                bundle = None
            if bundle is None:
                bundle = _Bundle(target, kiosk_id)
            # the bundle in whole clusters, and its receipts file to come
            if _clusters(bundle.room_for(len(packet)), cluster) + receipts_room(
                    len(bundle.records) + 1, 1, cluster) > free:
                report.did_not_fit = [r.id for r in records[index:]]
                break
            bundle.add(info, packet)
        if bundle is not None and bundle.records:
            _close(bundle, None if salvage else journal, report, out)
        elif bundle is not None:
            bundle.discard()
        bundle = None
    except (OSError, BundleError, tarfile.TarError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        report.error = (f"could not write to {target}: {why}; the records of the bundle being "
                        "written stay in the outbox")
    except JournalError as exc:  # the bundle is whole on the stick; the journal did not say so
        report.journal_failed = True
        report.error = (f"{report.bundles[-1].name if report.bundles else 'the bundle'} is on "
                        f"the stick, but the journal could not mark its records exported "
                        f"({exc}); they stay in the outbox, and a copy the intake gets twice "
                        "counts once")
    finally:
        if bundle is not None:
            bundle.discard()
    return report


def _close(bundle: _Bundle, journal: Journal | None, report: ExportReport,
           out: TextIO | None) -> int:
    """Finish ``bundle``, mark its records exported (in ``journal``: none for a salvage);
    the bytes it took on the stick."""
    try:
        path = bundle.finish()
    except BaseException:
        bundle.discard()
        raise
    size = path.stat().st_size
    report.bundles.append(path)
    report.bytes_written += size
    marked = [r.id for r in bundle.records]
    try:
        if journal is not None:
            journal.mark_exported(marked, path.name)
    except IllegalStateChange:  # the uploader got a receipt meanwhile: that one is done
        assert journal is not None  # noqa: S101 -- raised by it
        marked = [i for i in marked if _state(journal, i) in EXPORTABLE_STATES]
        journal.mark_exported(marked, path.name)
    for record_id in marked:
        report.exported.append(record_id)
        if out is not None:
            print(f"exported {record_id}", file=out, flush=True)
    return size


def _our_bundles(kiosk_id: str, target: Path, problems: list[str] | None = None,
                 ) -> list[tuple[Path, re.Match[str], int, BundleIndex]]:
    """(path, name match, bytes, index) of each bundle of this kiosk in ``target``, by name:
    a regular file named as the kiosk names its bundles whose index reads and names
    ``kiosk_id``. A file so named that does not read is named in ``problems``. Raises
    OSError when ``target`` cannot be listed."""
    pattern = re.compile(re.escape(kiosk_id) + _BUNDLE_NAME)
    found: list[tuple[Path, re.Match[str], int, BundleIndex]] = []
    for path in sorted(target.iterdir()):
        match = pattern.fullmatch(path.name)
        if match is None:
            continue
        try:
            status = path.lstat()
            if not stat.S_ISREG(status.st_mode):
                continue
            with BundleReader(path) as bundle:
                index = bundle.index
        except (BundleError, OSError) as exc:
            if problems is not None:
                why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                problems.append(f"{shown(path.name)} is left on the stick: {shown(why)}")
            continue
        if index.kiosk_id == kiosk_id:
            found.append((path, match, status.st_size, index))
    return found


def damaged_copies(kiosk_id: str, target: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """Bundle name -> {record id: the refusal} of the records whose copy in it the office
    refused as damaged
    (:data:`DAMAGED_ON_STICK`), as this kiosk's receipts files in ``target`` say: a
    receipts file speaks for the bundle of its own name, which the office writes it beside.
    The refusals are not signed: they only make the kiosk write a record once more, never
    remove a copy that is the only one on the stick. Raises OSError when ``target`` cannot
    be listed."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for path in find_files([target], RECEIPTS_SUFFIX):
        try:
            receipts = load_receipts(path)
        except (BundleError, OSError):
            continue  # named by the import that reads the receipts
        bundle = path.name[:-len(RECEIPTS_SUFFIX)] + BUNDLE_SUFFIX
        if receipts.kiosk_id != kiosk_id or receipts.bundle not in ("", bundle):
            continue
        damaged = {record_id: refusal for record_id, refusal in receipts.refused.items()
                   if refusal["code"] in DAMAGED_ON_STICK}
        if damaged:
            found[bundle] = damaged
    return found


def _good_copies(bundles: list[tuple[Path, re.Match[str], int, BundleIndex]],
                 damaged: dict[str, dict[str, dict[str, Any]]]) -> dict[str, set[str]]:
    """Record id -> the names of the bundles holding a copy of it the office has not
    refused as damaged."""
    good: dict[str, set[str]] = {}
    for path, _match, _size, index in bundles:
        refused = damaged.get(path.name, {})
        for entry in index.records:
            if entry.record_id not in refused:
                good.setdefault(entry.record_id, set()).add(path.name)
    return good


def confirmed_bundles(journal: Journal, kiosk_id: str, target: Path,
                      problems: list[str]) -> list[tuple[Path, int, int, int]]:
    """(path, bytes, records confirmed, copies replaced) of each bundle in ``target`` that
    this kiosk wrote and that holds nothing the office still needs: each record it lists
    is confirmed (:data:`CONFIRMED_STATES` in ``journal``), or its copy here was refused as
    damaged (:func:`damaged_copies`) and another bundle on the same stick, not removed
    with these, holds a copy not refused (written again). A file is taken for one only
    when it is named as the kiosk names its bundles, is a regular file that reads as a
    bundle of ``kiosk_id`` (:class:`~kiosk.bundle.BundleReader`), and lists records of
    ``journal`` whose first and last sequence numbers are the name's; anything else is left
    alone (a bundle of the kiosk that does not read is named in ``problems``). Raises
    OSError when ``target`` cannot be listed."""
    bundles = _our_bundles(kiosk_id, target, problems)
    damaged = damaged_copies(kiosk_id, target)
    good = _good_copies(bundles, damaged)
    found: list[tuple[Path, int, int, int]] = []
    for path, match, size, index in bundles:
        if not index.records:
            continue
        try:
            infos = [journal.record(entry.record_id) for entry in index.records]
        except UnknownRecord:  # not of this journal (a salvage of another): not ours to judge
            continue
        except JournalError as exc:
            problems.append(f"{shown(path.name)} is left on the stick: {exc}")
            continue
        if (int(match[1]), int(match[2])) != (infos[0].seq, infos[-1].seq):
            continue  # not the name this kiosk gave it
        refused = damaged.get(path.name, {})
        confirmed = sum(1 for info in infos if info.state in CONFIRMED_STATES)
        replaced = sum(1 for info in infos if info.state not in CONFIRMED_STATES
                       and info.id in refused and good.get(info.id, set()) - {path.name})
        if confirmed + replaced == len(infos):
            found.append((path, size, confirmed, replaced))
            for names in good.values():  # gone with it: no longer a copy for another
                names.discard(path.name)
    return found


def records_on_stick(kiosk_id: str, target: Path) -> set[str]:
    """The ids of the records in this kiosk's bundles on ``target`` (each file named as the
    kiosk names its bundles, a regular file whose index reads and names ``kiosk_id``), but
    for a copy the office refused as damaged (:func:`damaged_copies`): that record is
    written again. A bundle that does not read counts for nothing. Raises OSError when
    ``target`` cannot be listed."""
    return set(_good_copies(_our_bundles(kiosk_id, target), damaged_copies(kiosk_id, target)))


def stick_waiting(journal: Journal, kiosk_id: str, target: Path) -> list[RecordInfo]:
    """What the stick button puts on ``target``: every record the office has not confirmed
    (sealed, uploading, and exported to another stick) that is not on this stick already,
    oldest first. A record exported to a stick that was lost, or broke, or is still in the
    officer's bag, goes on the next stick too: the intake takes a record it holds as a
    duplicate, and its receipt comes back all the same."""
    on_stick = records_on_stick(kiosk_id, target)
    return [r for r in exportable(journal, again=True) if r.id not in on_stick]


def remove_confirmed_bundles(journal: Journal, kiosk_id: str, target: Path) -> CleanupReport:
    """Remove from ``target`` this kiosk's bundles whose every record the office has
    confirmed (:func:`confirmed_bundles`), then fsync the directory, so the removals
    survive a stick pulled out at once. Receipts files, other kiosks' bundles and anything
    else stay. Raises nothing: the report names what could not be done."""
    report = CleanupReport()
    try:
        found = confirmed_bundles(journal, kiosk_id, target, report.problems)
    except OSError as exc:
        report.problems.append(f"{shown(target)} cannot be listed: {exc.strerror or exc}")
        return report
    for path, size, records, damaged in found:
        try:
            path.unlink()
        except FileNotFoundError:  # removed meanwhile (the same stick imported twice at once)
            continue
        except OSError as exc:
            report.problems.append(f"{shown(path.name)} could not be removed: "
                                   f"{exc.strerror or exc}")
            if exc.errno == errno.EROFS:  # the kernel made the stick read-only
                break
            continue
        report.removed.append(path.name)
        report.records += records
        report.damaged += damaged
        report.freed += size
    if report.removed:
        try:
            fsync_dir(target)
        except OSError as exc:
            report.problems.append(f"{shown(target)}: the removals may not be durable: "
                                   f"{exc.strerror or exc}")
    return report


def shown(path: Path | str) -> str:
    """A path from a stick as it may be printed: no control characters (a file named with
    terminal escapes must not drive the maintainer's terminal)."""
    return "".join(c if c.isprintable() else "?" for c in str(path))


#: Why a directory cannot take bundles, by kind (what the touchscreen says to the officer).
NO_STICK, READ_ONLY, NOT_WRITABLE = "no_stick", "read_only", "not_writable"
#: The stick button's, when another export holds the lock (:func:`export_lock`).
BUSY = "busy"


def stick_problem(target: Path, data_dir: Path | None, *,
                  local: bool) -> tuple[str, int, str] | None:
    """(kind, exit status, why) when ``target`` cannot take bundles, else None. Kinds:
    :data:`NO_STICK` (no such directory, or one on the kiosk's own disk: nothing mounted),
    :data:`READ_ONLY`, :data:`NOT_WRITABLE`."""
    try:
        return _stick_problem(target, data_dir, local=local)
    except OSError as exc:  # pulled out while looked at; an automount with no stick behind
        return NO_STICK, EXIT_FAIL, (f"{shown(target)} cannot be read: "
                                     f"{exc.strerror or exc} (is the stick in? {MOUNT_HINT})")


def _stick_problem(target: Path, data_dir: Path | None, *,
                   local: bool) -> tuple[str, int, str] | None:
    if not target.is_dir():
        return NO_STICK, EXIT_CONFIG, (f"no directory {shown(target)} (is the stick mounted? "
                                       f"{MOUNT_HINT})")
    if data_dir is not None and not local:
        try:
            same = target.stat().st_dev == data_dir.stat().st_dev
        except OSError:
            same = False
        if same:  # an empty mount point: the "stick" would be the kiosk's own disk
            return NO_STICK, EXIT_CONFIG, (
                f"{shown(target)} is on the kiosk's own disk, not a stick: is the stick "
                f"mounted there? ({MOUNT_HINT}; --local writes to the kiosk's disk on purpose)")
    if os.statvfs(target).f_flag & os.ST_RDONLY:
        return READ_ONLY, EXIT_FAIL, (
            f"{shown(target)} is read-only: the stick's write-protect switch, or the kernel "
            "remounted it read-only after errors (check it with fsck.vfat on another machine)")
    if not os.access(target, os.W_OK | os.X_OK):
        return NOT_WRITABLE, EXIT_FAIL, (f"cannot write to {shown(target)}: permission denied "
                                         f"({MOUNT_HINT})")
    return None


def target_refusal(target: Path, data_dir: Path | None, *, local: bool) -> tuple[int, str]:
    """(exit status, why) when ``target`` cannot take bundles, else (0, "")."""
    problem = stick_problem(target, data_dir, local=local)
    return (0, "") if problem is None else problem[1:]


@dataclass
class StickReport:
    """What :func:`sync_stick` did: the receipts read and the records written. ``problem``
    (a :func:`stick_problem` kind) and ``why`` when the stick could not be used: with
    ``stick_read`` false nothing was done (no stick, or one that cannot be listed); with it
    true the receipts were read but nothing written (a read-only stick, one the kiosk may
    not write)."""

    problem: str = ""
    why: str = ""
    stick_read: bool = False  # the stick was listed: its receipts read, the records counted
    imported: ImportReport = field(default_factory=ImportReport)
    #: The bundles of this kiosk whose records the office has all confirmed, removed from
    #: the stick before the export (how many, how many bytes freed).
    cleanup: CleanupReport = field(default_factory=CleanupReport)
    exported: ExportReport = field(default_factory=ExportReport)
    waiting: int = 0  # records that were to go on the stick
    #: Records still waiting afterwards that another stick would take (they did not fit,
    #: or the stick failed); not those that could not be read (``exported.unreadable``).
    left: int = 0
    #: Receipts files found but not read: no intake key to check them with.
    receipts_unread: int = 0
    #: Of ``exported.exported``: the records whose copy on this stick the office refused
    #: as damaged, written again (:func:`damaged_copies`).
    rewritten: list[str] = field(default_factory=list)


def sync_configured_stick(config: Config, journal: Journal) -> StickReport:
    """:func:`sync_stick` on the stick at ``[usb] mount_point``, with the receipts checked
    against ``upload.intake_key`` (not read when that is not set or not usable: logged,
    and the records still go on the stick)."""
    from kiosk.receipts import load_intake_public_key

    intake_key = None
    if config.intake_key_path is not None:
        try:
            intake_key = load_intake_public_key(config.intake_key_path)
        except (SealingError, OSError) as exc:
            log.warning("stick: upload.intake_key unusable, receipts not read: %s", exc)
    return sync_stick(journal, config.kiosk_id, intake_key, Path(config["usb"]["mount_point"]),
                      data_dir=config.data_dir)


def sync_stick(journal: Journal, kiosk_id: str, intake_key: bytes | None, target: Path, *,
               data_dir: Path | None) -> StickReport:
    """The officer's one button for a stick (the touchscreen, on a worker): first the
    central office's receipts on it acknowledge their records (when the intake key is
    configured), then every record the office has not confirmed and this stick does not
    carry yet (:func:`stick_waiting`) is written to it, as ``kiosk queue import`` then
    ``kiosk queue export [--again]`` would; between the two, this kiosk's bundles
    whose records are all confirmed are removed from it. A stick that can be read but not
    written (its write-protect switch) still gives its receipts; the report then says why
    nothing was written. Raises nothing for a stick that is missing or fails: the report
    says so."""
    report = StickReport()
    problem = stick_problem(target, data_dir, local=False)
    if problem is not None and problem[0] == NO_STICK:
        report.problem, _status, report.why = problem
        return report
    try:
        files = find_files([target], RECEIPTS_SUFFIX)
    except OSError as exc:  # pulled out meanwhile, or not even readable
        report.problem, report.why = problem[0] if problem else NO_STICK, str(exc)
        return report
    report.stick_read = True
    if intake_key is not None:
        report.imported = read_receipts(journal, kiosk_id, intake_key, files)
    elif files:
        report.receipts_unread = len(files)
        log.warning("stick: %d receipts files not read: upload.intake_key is not set",
                    len(files))
    with export_lock(data_dir) as held:
        if not held:
            report.problem, report.why = BUSY, EXPORT_BUSY
            return report
        return _sync_write(journal, kiosk_id, target, problem, report)


def _sync_write(journal: Journal, kiosk_id: str, target: Path,
                problem: tuple[str, int, str] | None, report: StickReport) -> StickReport:
    """:func:`sync_stick` once it holds the export lock: the records waiting for the stick,
    its confirmed bundles removed, the records written."""
    try:
        damaged = take_damage_refusals(journal, kiosk_id, target)
        waiting = stick_waiting(journal, kiosk_id, target)
    except OSError as exc:  # pulled out meanwhile
        report.problem, report.why = NO_STICK, str(exc)
        return report
    report.waiting = len(waiting)
    if problem is not None:  # read-only, or not the kiosk's to write: nothing goes on it
        report.problem, _status, report.why = problem
        report.left = report.waiting
        return report
    report.cleanup = remove_confirmed_bundles(journal, kiosk_id, target)  # room for these
    if waiting:
        report.exported = export_records(journal, kiosk_id, target, records=waiting)
        report.rewritten = [i for i in report.exported.exported if i in damaged]
        if report.rewritten:
            log.warning("stick: %d records the office refused as damaged on this stick were "
                        "written again: %s", len(report.rewritten), ", ".join(report.rewritten))
            _merge(report.cleanup, remove_confirmed_bundles(journal, kiosk_id, target))
    if report.cleanup.removed:
        log.info("stick: removed %s the office confirmed (%d records, %d damaged copies "
                 "written again, %s): %s", _bundles(len(report.cleanup.removed)),
                 report.cleanup.records, report.cleanup.damaged, _size(report.cleanup.freed),
                 ", ".join(shown(n) for n in report.cleanup.removed))
    unreadable = {record_id for record_id, _why in report.exported.unreadable}
    try:
        report.left = sum(1 for r in stick_waiting(journal, kiosk_id, target)
                          if r.id not in unreadable)
    except OSError:  # pulled out at the end: what did not go is still waiting
        report.left = len(waiting) - len(report.exported.exported) - len(unreadable)
    return report


def export_command(journal: Journal, kiosk_id: str, target: Path, *, again: bool,
                   out: TextIO, err: TextIO = sys.stderr, data_dir: Path | None = None,
                   local: bool = False) -> int:
    """``kiosk queue export --to DIR [--again] [--local]``: 0 everything exported (or
    nothing to export), 1 something was not (the stick full, read-only or failing, a payload
    unreadable), 2 no such directory, or one on the kiosk's own disk (``data_dir``'s)
    without ``local``."""
    verb = "kiosk queue export"
    status, why = target_refusal(target, data_dir, local=local)
    if status:
        print(f"{verb}: {why}", file=err)
        return status
    with export_lock(data_dir) as held:
        if not held:
            print(f"{verb}: {EXPORT_BUSY}", file=err)
            return EXIT_FAIL
        return _export(journal, kiosk_id, target, again=again, out=out, err=err)


def _export(journal: Journal, kiosk_id: str, target: Path, *, again: bool, out: TextIO,
            err: TextIO) -> int:
    """:func:`export_command` once it holds the export lock."""
    verb = "kiosk queue export"
    try:
        damaged = take_damage_refusals(journal, kiosk_id, target)
    except OSError as exc:
        print(f"{verb}: {shown(target)} cannot be read: {exc.strerror or exc}", file=err)
        return EXIT_FAIL
    _clean_up(journal, kiosk_id, [target], err, verb=verb)  # room for what waits
    waiting = exportable(journal, again=again)
    if not waiting:
        before = len(journal.records("exported"))
        hint = (f" ({before} exported before and not yet acknowledged: --again writes them "
                "once more)") if before and not again else ""
        print(f"{verb}: nothing to export: no sealed record is waiting{hint}", file=err)
        return EXIT_OK
    report = export_records(journal, kiosk_id, target, again=again, out=out)
    problems = bool(report.error or report.unreadable or report.did_not_fit)
    if report.bundles:
        names = ", ".join(p.name for p in report.bundles)
        print(f"{verb}: wrote {len(report.exported)} records ({_size(report.bytes_written)}) "
              f"to {target}: {names}. Take the stick to the central office "
              f"(kiosk-intake import), then bring back its .receipts files: "
              f"kiosk queue import {target}", file=err)
    rewritten = [i for i in report.exported if i in damaged]
    if rewritten:
        print(f"{verb}: {len(rewritten)} records were damaged on this stick (the office's "
              f".receipts file refused their copy) and were written again: "
              f"{', '.join(rewritten)}; if this happens again, use another stick", file=err)
        _clean_up(journal, kiosk_id, [target], err, verb=verb)
    for record_id, why in report.unreadable:
        print(f"{verb}: record {record_id} was not exported: {why} "
              "(kiosk journal check says more)", file=err)
    if report.did_not_fit:
        free = shutil.disk_usage(target).free
        kept = max(0, min(free, free - room_on(target, kiosk_id)))
        print(f"{verb}: the stick is full ({_size(free)} free, of which "
              f"{_size(kept)} is kept for the file system and the office's receipts "
              f"files): "
              f"{len(report.did_not_fit)} records did not fit (the oldest is "
              f"{report.did_not_fit[0]}); run the export again with another stick", file=err)
    if report.error:
        print(f"{verb}: {report.error}", file=err)
    return EXIT_FAIL if problems else EXIT_OK


def salvage_command(source: Path, kiosk_id: str, target: Path, *, out: TextIO,
                    err: TextIO = sys.stderr, data_dir: Path | None = None,
                    local: bool = False) -> int:
    """``kiosk queue export --from FILE --to DIR``: the sealed records that still read in a
    damaged or quarantined journal ``source`` (opened read-only, never changed) to bundles
    for the intake. 0 when every one went, 1 when some did not (named), 2 usage."""
    verb = "kiosk queue export"
    status, why = target_refusal(target, data_dir, local=local)
    if status:
        print(f"{verb}: {why}", file=err)
        return status
    try:
        journal = Journal.open_readonly(source)
    except JournalCorrupt as exc:  # not the reader's words: nothing here moves it aside
        why = exc.__cause__ or exc
        print(f"{verb}: {source} is too damaged to be opened ({why}): nothing could be "
              "salvaged from it; keep the file for recovery (sqlite3's .recover may read "
              "more of it)", file=err)
        return EXIT_FAIL
    except JournalError as exc:
        print(f"{verb}: {source}: {exc}", file=err)
        return EXIT_FAIL
    with journal, export_lock(data_dir) as held:
        if not held:
            print(f"{verb}: {EXPORT_BUSY}", file=err)
            return EXIT_FAIL
        report = export_records(journal, kiosk_id, target, out=out, salvage=True)
    own = data_dir is not None and _same_file(source, data_dir / "journal.db")
    if report.bundles:
        names = ", ".join(p.name for p in report.bundles)
        after = (f"nothing was marked in {source} (opened read-only): the office's receipts "
                 "acknowledge its records with kiosk queue import once it can be written; "
                 "a journal that can be written is exported with kiosk queue export --to, "
                 "which marks them") if own else (
                 f"their receipts are of no use on this kiosk: {source} is not its journal")
        print(f"{verb}: salvaged {len(report.exported)} sealed records "
              f"({_size(report.bytes_written)}) from {source} to {target}: {names}. The "
              f"intake takes them like any bundle (kiosk-intake import); {after}", file=err)
    elif not report.error and not report.unreadable:
        print(f"{verb}: {source} holds no sealed record of kiosk {kiosk_id} that is not "
              "at the intake already", file=err)
    for record_id, why in report.unreadable:
        print(f"{verb}: record {record_id} could not be salvaged: {why}", file=err)
    if report.did_not_fit:
        print(f"{verb}: the stick is full: {len(report.did_not_fit)} records did not fit "
              f"(the oldest is {report.did_not_fit[0]}); salvage again with another stick",
              file=err)
    if report.error:
        print(f"{verb}: {source}: {report.error}", file=err)
    problems = report.error or report.unreadable or report.did_not_fit
    return EXIT_FAIL if problems else EXIT_OK


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def read_receipts(journal: Journal, kiosk_id: str, intake_key: bytes,
                  files: list[Path]) -> ImportReport:
    """Acknowledge every record whose receipt in ``files`` (``.receipts`` files) verifies;
    see the module docstring. Raises nothing for a file or receipt that is unusable: the
    report says so."""
    report = ImportReport(files=len(files))
    for path in files:
        try:
            receipts = load_receipts(path)
        except (BundleError, OSError) as exc:
            why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            report.problems.append(f"{shown(path)}: {shown(why)}")
            continue
        if receipts.kiosk_id != kiosk_id:  # a stick several kiosks share
            report.others.append(f"{shown(path.name)} is for kiosk {receipts.kiosk_id}; "
                                 "left alone")
            continue
        report.ours += 1
        for record_id, receipt in receipts.receipts.items():
            outcome = _acknowledge(journal, kiosk_id, intake_key, record_id, receipt)
            if outcome == "acknowledged":
                report.acknowledged.append(record_id)
            elif outcome == "already":
                report.already += 1
            else:
                report.problems.append(f"{shown(path.name)}: record {record_id}: {outcome}")
        bundle = path.name[:-len(RECEIPTS_SUFFIX)] + BUNDLE_SUFFIX
        for record_id, refusal in receipts.refused.items():
            state = _state(journal, record_id)
            if state in ("acknowledged", "purged"):
                continue  # refused once, received since
            report.refused.append(record_id)
            if state is not None and refusal["code"] in DAMAGED_ON_STICK:
                report.damaged.append(record_id)
                _requeue_damaged(journal, record_id, bundle, refusal)
                report.damaged_lines.append(
                    f"{shown(path.name)}: the office refused record {record_id} "
                    f"[{shown(refusal['code'])}]: its copy on the stick was damaged; it is "
                    "written again at the next export (kiosk queue export, or the stick "
                    "button); if this happens again, use another stick")
                continue
            if state is None:
                hint = "it is not a record of this kiosk's journal"
            else:
                hint = ("the record stays on this kiosk; "
                        + refusal_action(refusal["code"], record_id))
            report.problems.append(
                f"{shown(path.name)}: the intake refused record {record_id} "
                f"[{shown(refusal['code'])}]: {shown(refusal['reason'])} ({hint})")
            if state == "exported":  # kept: kiosk queue list/show, status, the home say it
                try:
                    journal.note_refused(record_id, refusal["code"], refusal["reason"])
                except (IllegalStateChange, JournalError) as exc:
                    log.warning("record %s: the office's refusal not noted: %s", record_id,
                                exc)
    return report


def import_receipts(journal: Journal, kiosk_id: str, intake_key: bytes, paths: list[Path],
                    *, out: TextIO, err: TextIO = sys.stderr) -> int:
    """``kiosk queue import PATH...``: 0 when every receipt found acknowledged its record
    (or had already), 1 when a file or receipt was unusable or the intake refused a record,
    2 when a path does not exist or no receipts file is there. Then, in each directory
    named, this kiosk's bundles whose records are all confirmed are removed (one line says
    which; what could not be removed is named, and changes no exit status)."""
    verb = "kiosk queue import"
    try:
        files = find_files(paths, RECEIPTS_SUFFIX)
    except FileNotFoundError as exc:
        print(f"{verb}: {exc} (is the stick mounted?)", file=err)
        return EXIT_CONFIG
    if not files:
        # the office's receipts may have come another way (the uploader asks the intake):
        # the bundles whose records are all confirmed leave the stick all the same
        if _clean_up(journal, kiosk_id, paths, err):
            return EXIT_OK
        where = ", ".join(str(p) for p in paths)
        print(f"{verb}: no {RECEIPTS_SUFFIX} file in {where}: the central office writes one "
              "beside each bundle it imports (kiosk-intake import)", file=err)
        return EXIT_CONFIG
    report = read_receipts(journal, kiosk_id, intake_key, files)
    for record_id in report.acknowledged:
        print(f"acknowledged {record_id}", file=out, flush=True)
    for line in report.others + report.problems + report.damaged_lines:
        print(f"{verb}: {line}", file=err)
    if not report.ours:
        print(f"{verb}: no receipts file for kiosk {kiosk_id} among {len(files)} found",
              file=err)
        _clean_up(journal, kiosk_id, paths, err)
        return EXIT_FAIL
    noun = "file" if report.ours == 1 else "files"
    acknowledged = len(report.acknowledged)
    print(f"{verb}: {acknowledged} records acknowledged from {report.ours} receipts {noun}"
          + (f", {report.already} acknowledged before" if report.already else "")
          + ("; each record's payload is deleted upload.retention_days after its receipt"
             if acknowledged else ""), file=err)
    _clean_up(journal, kiosk_id, paths, err)
    return EXIT_FAIL if report.problems or report.damaged else EXIT_OK


def _merge(into: CleanupReport, more: CleanupReport) -> None:
    into.removed += more.removed
    into.records += more.records
    into.damaged += more.damaged
    into.freed += more.freed
    into.problems += [p for p in more.problems if p not in into.problems]


def _bundles(count: int) -> str:
    return f"{count} bundle" if count == 1 else f"{count} bundles"


def _clean_up(journal: Journal, kiosk_id: str, paths: list[Path], err: TextIO, *,
              verb: str = "kiosk queue import") -> int:
    """``kiosk queue import``'s last step (and ``kiosk queue export``'s first): in each
    directory of ``paths``, the bundles the office has confirmed are removed, whichever
    way their receipts came, and said in one line (on a read-only stick, counted). Returns
    how many were removed."""
    count = 0
    for directory in dict.fromkeys(Path(p) for p in paths if Path(p).is_dir()):
        if stick_problem(directory, None, local=True) is not None:  # read-only, not ours
            problems: list[str] = []
            with contextlib.suppress(OSError):  # it read a moment ago: the receipts did
                kept = confirmed_bundles(journal, kiosk_id, directory, problems)
                if kept:
                    print(f"{verb}: {_bundles(len(kept))} the office confirmed stay on "
                          f"{shown(directory)}: it cannot be written", file=err)
        else:
            report = remove_confirmed_bundles(journal, kiosk_id, directory)
            problems = report.problems
            count += len(report.removed)
            if report.removed:
                damaged = (f", {report.damaged} damaged copies written again on it"
                           if report.damaged else "")
                print(f"{verb}: removed {_bundles(len(report.removed))} the office confirmed "
                      f"({report.records} records{damaged}, {_size(report.freed)}) from "
                      f"{shown(directory)}: {', '.join(shown(n) for n in report.removed)}; "
                      "the receipts files stay", file=err)
        for line in problems:
            print(f"{verb}: {line}", file=err)
    return count


def _state(journal: Journal, record_id: str) -> str | None:
    try:
        return journal.record(record_id).state
    except UnknownRecord:
        return None


def _last_export(journal: Journal, record_id: str) -> str | None:
    """The name of the bundle the record was last exported to (its audit events), if any."""
    for event in reversed(journal.record_events(record_id)):
        if event.event == "record_exported":
            return str(event.details.get("bundle", ""))
        if event.event == "record_state" and event.details.get("to_state") == "exported":
            reason = str(event.details.get("reason", ""))
            return reason.removeprefix("exported to ") if reason.startswith(
                "exported to ") else None
    return None


def _requeue_damaged(journal: Journal, record_id: str, bundle: str,
                     refusal: dict[str, Any]) -> bool:
    """The office refused the record's copy in ``bundle`` as damaged: when that is the
    copy the journal last exported (an older copy's refusal says nothing of the newer
    one), the record goes back to the outbox (``exported`` -> ``uploading``, the refusal
    its last error), so the next export writes it again and the uploader may send it.
    Whether it moved; raises nothing."""
    try:
        if _state(journal, record_id) != "exported" or _last_export(
                journal, record_id) != bundle:
            return False
        journal.set_state(record_id, "uploading", error=(
            f"the office refused its copy in {bundle} as damaged on the stick "
            f"[{refusal['code']}]: {refusal['reason']}; it is written again at the next "
            "export (if this happens again, use another stick)"))
    except (IllegalStateChange, JournalError) as exc:
        log.warning("record %s: not put back in the outbox: %s", record_id, exc)
        return False
    return True


def take_damage_refusals(journal: Journal, kiosk_id: str, target: Path) -> set[str]:
    """Apply the refusals of damaged copies in this kiosk's receipts files on ``target``
    (:func:`damaged_copies`, :func:`_requeue_damaged`); the ids of every record whose copy
    on ``target`` was refused as damaged and that the office has not confirmed since.
    Raises OSError when ``target`` cannot be listed."""
    found: set[str] = set()
    for bundle, refused in damaged_copies(kiosk_id, target).items():
        for record_id, refusal in sorted(refused.items()):
            state = _state(journal, record_id)
            if state is None or state in CONFIRMED_STATES:
                continue
            found.add(record_id)
            _requeue_damaged(journal, record_id, bundle, refusal)
    return found


def _acknowledge(journal: Journal, kiosk_id: str, intake_key: bytes, record_id: str,
                 receipt: bytes) -> str:
    """``acknowledged``, ``already``, or why the receipt was not used."""
    try:
        info = journal.record(record_id)
    except UnknownRecord:
        return "not in this kiosk's journal"
    if info.state in ("acknowledged", "purged"):
        return "already"
    if info.state not in ("sealed", "uploading", "exported"):
        return f"it is {info.state}, not waiting for a receipt (kiosk queue show {record_id})"
    try:
        digest = hashlib.sha256(packet_of(journal, info)).hexdigest()
        verify_receipt(receipt, intake_key, kiosk_id=kiosk_id, record_id=record_id,
                       packet_sha256=digest)
        journal.acknowledge(record_id, receipt)
    except SealingError as exc:  # ReceiptError included
        return f"the receipt is not usable: {exc}"
    except IllegalStateChange:
        return "already" if _state(journal, record_id) in ("acknowledged", "purged") else (
            "it moved on meanwhile")
    except JournalError as exc:
        return f"the journal could not take it: {exc}"
    return "acknowledged"
