"""USB bundles and receipts files: sealed records carried by hand when there is no link.

A field team may have no link for days. ``kiosk queue export --to DIR`` copies the sealed
records to a USB stick as a **bundle**; at the central office ``kiosk-intake import`` takes
each packet in as if it had been uploaded (the same checks, the same receipts) and writes a
**receipts file** beside the bundle; back at the kiosk ``kiosk queue import DIR`` verifies
each receipt exactly as an upload's (:func:`kiosk.receipts.verify_receipt`) and
acknowledges the record. Both ends take the format from here (``docs/usb.md``).

Bundle format 1: ``<kiosk>-<first seq>-to-<last seq>.ektp``, an uncompressed POSIX tar
(readable with ``tar tvf``) of regular files only::

    <record-id>.pkt     one record's sealed packet (docs/packet.md), oldest first
    ...
    index.json          {"format": 1, "kind": "ektp-bundle", "kiosk_id", "created_at",
                         "records": [{"record_id", "sha256", "length"}, ...]}

The index comes last: it is written once every packet is in, and it lists each packet's
SHA-256, so a stick pulled out mid-copy, a truncated file or a flipped bit is found before
anything is imported. The index is not signed and needs no signature: every packet is
signed by its kiosk and encrypted to the central key, and the intake trusts nothing else.
A bundle therefore holds nothing readable without the central office's key.

Receipts format 1: ``<same stem>.receipts``, JSON::

    {"format": 1, "kind": "ektp-receipts", "kiosk_id", "bundle", "created_at",
     "receipts": {record_id: base64 receipt},
     "refused": {record_id: {"code", "reason", "permanent"}}}

Only the receipts are trusted by the kiosk (each is signed by the intake key); ``refused``
is shown to the maintainer, kept as the record's last error, and makes the kiosk write a
copy refused as damaged once more; it never moves a record to ``rejected``.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import os
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from kiosk.core.canonical import SHA256_HEX
from kiosk.core.ids import is_kiosk_id, is_record_id
from kiosk.core.intake_api import RefusalCode

__all__ = [
    "BUNDLE_FORMAT",
    "BUNDLE_SUFFIX",
    "INDEX_NAME",
    "MAX_BUNDLE_BYTES",
    "MAX_BUNDLE_RECORDS",
    "MAX_PACKET_BYTES",
    "RECEIPTS_SUFFIX",
    "BundleError",
    "BundleIndex",
    "BundleReader",
    "BundleWriter",
    "IndexEntry",
    "Receipts",
    "bundle_name",
    "find_files",
    "load_receipts",
    "receipts_name",
    "refusal_action",
]

BUNDLE_FORMAT = 1
BUNDLE_KIND = "ektp-bundle"
RECEIPTS_KIND = "ektp-receipts"
BUNDLE_SUFFIX = ".ektp"
RECEIPTS_SUFFIX = ".receipts"
INDEX_NAME = "index.json"
PACKET_SUFFIX = ".pkt"
#: A bundle is closed at about this size, far below FAT32's 4 GiB file limit (sticks come
#: formatted FAT32) and small enough to copy again when one is lost.
MAX_BUNDLE_BYTES = 1024 * 1024 * 1024
#: ... or at this many records, whichever comes first.
MAX_BUNDLE_RECORDS = 5000
#: The intake's own bound on one packet (``kiosk-intake serve --max-packet-mib`` default).
MAX_PACKET_BYTES = 16 * 1024 * 1024
MAX_INDEX_BYTES = 4 * 1024 * 1024  # 5000 entries of about 150 bytes, with room
MAX_RECEIPTS_BYTES = 16 * 1024 * 1024  # 5000 receipts of about 450 bytes in base64, and reasons
MAX_REASON_CHARS = 300


class BundleError(ValueError):
    """A bundle or receipts file is malformed, truncated or not what it claims to be; the
    message names the file and what is wrong, never a packet's content."""


def bundle_name(kiosk_id: str, first_seq: int, last_seq: int) -> str:
    """``poso-01-0000042-to-0000097.ektp``: the kiosk and the span of records it holds
    (not two bare numbers side by side: a log would take them for a NIK and mask them)."""
    return f"{kiosk_id}-{first_seq:07d}-to-{last_seq:07d}{BUNDLE_SUFFIX}"


def receipts_name(bundle: str) -> str:
    """The receipts file's name for the bundle named ``bundle``."""
    stem = bundle[: -len(BUNDLE_SUFFIX)] if bundle.endswith(BUNDLE_SUFFIX) else bundle
    return stem + RECEIPTS_SUFFIX


def find_files(paths: list[Path], suffix: str) -> list[Path]:
    """The files named in ``paths``, and those ending in ``suffix`` directly inside the
    directories named there (not hidden ones: half-written files are hidden), sorted by
    name per directory. A missing path raises FileNotFoundError."""
    found: list[Path] = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.name.endswith(suffix)
                            and not p.name.startswith(".") and p.is_file())
        elif path.exists():
            found.append(path)
        else:
            raise FileNotFoundError(f"no such file or directory: {path}")
    return found


@dataclass(frozen=True)
class IndexEntry:
    """One packet of a bundle, as its index lists it."""

    record_id: str
    sha256: str
    length: int


@dataclass(frozen=True)
class BundleIndex:
    kiosk_id: str
    created_at: str
    records: tuple[IndexEntry, ...]


def _tarinfo(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = 0  # the index carries the time; a member's mtime says nothing
    info.type = tarfile.REGTYPE
    return info


class BundleWriter:
    """Writes one bundle to an open binary file (the caller makes it durable and names it).

    Example::

        with open(tmp, "wb") as out:
            writer = BundleWriter(out, "poso-01", "2026-12-01T04:00:00Z")
            writer.add(record_id, packet, digest)
            writer.close()
    """

    def __init__(self, out: IO[bytes], kiosk_id: str, created_at: str) -> None:
        if not is_kiosk_id(kiosk_id):
            raise BundleError(f"kiosk id {kiosk_id!r} is not valid")
        self.kiosk_id = kiosk_id
        self.created_at = created_at
        self.entries: list[IndexEntry] = []
        self._tar = tarfile.open(fileobj=out, mode="w",  # noqa: SIM115 -- closed by close()
                                 format=tarfile.USTAR_FORMAT)

    def add(self, record_id: str, packet: bytes, sha256: str) -> None:
        if not is_record_id(record_id, self.kiosk_id):
            raise BundleError(f"record id {record_id!r} is not one of kiosk {self.kiosk_id}")
        if any(e.record_id == record_id for e in self.entries):
            raise BundleError(f"record {record_id} is in the bundle already")
        self._tar.addfile(_tarinfo(record_id + PACKET_SUFFIX, len(packet)), io.BytesIO(packet))
        self.entries.append(IndexEntry(record_id, sha256, len(packet)))

    @property
    def size(self) -> int:
        """Bytes written so far (the tar's offset)."""
        return int(self._tar.offset)

    def close(self) -> None:
        """Add the index and end the archive."""
        index = json.dumps({
            "format": BUNDLE_FORMAT, "kind": BUNDLE_KIND, "kiosk_id": self.kiosk_id,
            "created_at": self.created_at,
            "records": [{"record_id": e.record_id, "sha256": e.sha256, "length": e.length}
                        for e in self.entries]}, indent=1, sort_keys=True).encode()
        self._tar.addfile(_tarinfo(INDEX_NAME, len(index)), io.BytesIO(index))
        self._tar.close()


#: Member types tarfile reads by loading their declared size whole and parsing it: pax and
#: GNU long-name and sparse headers. BundleWriter writes plain ustar, so none belongs here.
_EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE,
                   tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK, tarfile.GNUTYPE_SPARSE)


class _PlainMember(tarfile.TarInfo):
    """A member header, refused before anything after it is read when it is a pax or GNU
    extended header, or declares a size no packet has: on such headers Python's tarfile
    raises OverflowError or ValueError (a size past sys.maxsize, a malformed sparse map),
    allocates the declared size at once, or takes hours in a quadratic regex
    (CVE-2024-6232, before Python 3.11.10). tarfile documents _proc_member as the method a
    subclass overrides."""

    def _proc_member(self, tar: tarfile.TarFile) -> tarfile.TarInfo:
        where = Path(os.fsdecode(tar.name)).name if tar.name else "the bundle"
        if self.type in _EXTENDED_TYPES:
            raise BundleError(f"{where}: a pax or GNU extended header (type "
                              f"{self.type.decode('latin-1')!r}) at byte {self.offset}: a "
                              "bundle is a plain ustar archive")
        if not 0 <= self.size <= MAX_PACKET_BYTES:
            raise BundleError(f"{where}: member {self.name[:80]!r} at byte {self.offset} "
                              f"declares {self.size} bytes, more than any packet")
        member: tarfile.TarInfo = super()._proc_member(tar)  # type: ignore[attr-defined]
        return member


def _check_index(raw: bytes, where: str) -> BundleIndex:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"{where}: {INDEX_NAME} is not JSON") from exc
    if not isinstance(data, dict) or data.get("kind") != BUNDLE_KIND:
        raise BundleError(f"{where}: {INDEX_NAME} is not an e-KTP bundle index")
    if data.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{where}: bundle format {repr(data.get('format'))[:40]} is not "
                          f"supported (this software reads format {BUNDLE_FORMAT})")
    kiosk_id, created_at, records = (data.get("kiosk_id"), data.get("created_at"),
                                     data.get("records"))
    if not is_kiosk_id(kiosk_id) or not isinstance(created_at, str) or not isinstance(
            records, list) or len(records) > MAX_BUNDLE_RECORDS:
        raise BundleError(f"{where}: {INDEX_NAME} lacks a valid kiosk_id, created_at or "
                          "records list")
    entries = []
    for item in records:
        if not isinstance(item, dict) or not is_record_id(item.get("record_id"), kiosk_id) or (
                not isinstance(item.get("sha256"), str)
                or not SHA256_HEX.fullmatch(item["sha256"])) or type(  # not a bool
                item.get("length")) is not int or not 0 < item["length"] <= MAX_PACKET_BYTES:
            raise BundleError(f"{where}: {INDEX_NAME} has a malformed entry")
        entries.append(IndexEntry(item["record_id"], item["sha256"], item["length"]))
    if len({e.record_id for e in entries}) != len(entries):
        raise BundleError(f"{where}: {INDEX_NAME} lists a record twice")
    return BundleIndex(kiosk_id, created_at[:40], tuple(entries))


class BundleReader:
    """A bundle opened for import: every member checked against the index before any
    packet is read (names, types, sizes, nothing missing or extra).

    Example::

        with BundleReader(path) as bundle:
            for entry in bundle.index.records:
                with bundle.packet(entry) as stream:
                    ...   # the packet's bytes; compare their SHA-256 with entry.sha256
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        where = self.path.name
        try:
            self._tar = tarfile.open(self.path, mode="r:",  # noqa: SIM115 -- closed by close()
                                     tarinfo=_PlainMember)
        except (tarfile.TarError, EOFError) as exc:
            raise BundleError(f"{where} is not a bundle (not a tar file: it may be cut short "
                              "or damaged; export it again)") from exc
        try:
            self.index, self._members = self._check(where)
        except BaseException:
            self._tar.close()
            raise

    def _check(self, where: str) -> tuple[BundleIndex, dict[str, tarfile.TarInfo]]:
        members: list[tarfile.TarInfo] = []
        try:
            for member in self._tar:  # not getmembers(): memory bounded by the count
                members.append(member)
                if len(members) > MAX_BUNDLE_RECORDS + 1:
                    raise BundleError(f"{where} has more members than any bundle "
                                      f"({MAX_BUNDLE_RECORDS} packets and an index)")
        except (tarfile.TarError, EOFError, OSError) as exc:
            raise BundleError(f"{where} is damaged or cut short ({exc}); export it "
                              "again") from exc
        by_name: dict[str, tarfile.TarInfo] = {}
        for member in members:
            if not member.isreg():
                raise BundleError(f"{where}: member {member.name[:80]!r} is not a regular "
                                  "file; a bundle holds only packets and its index")
            if member.name in by_name:
                raise BundleError(f"{where}: member {member.name[:80]!r} appears twice")
            by_name[member.name] = member
        info = by_name.pop(INDEX_NAME, None)
        if info is None:
            raise BundleError(f"{where} has no {INDEX_NAME}: the copy did not finish "
                              "(export it again)")
        if info.size > MAX_INDEX_BYTES:
            raise BundleError(f"{where}: {INDEX_NAME} is {info.size} bytes, too large")
        stream = self._tar.extractfile(info)
        assert stream is not None  # noqa: S101 -- a regular file
        raw = stream.read()
        if len(raw) != info.size:
            raise BundleError(f"{where} is cut short in its {INDEX_NAME}; export it again")
        index = _check_index(raw, where)
        packets: dict[str, tarfile.TarInfo] = {}
        for entry in index.records:
            member = by_name.pop(entry.record_id + PACKET_SUFFIX, None)
            if member is None:
                raise BundleError(f"{where}: record {entry.record_id} is in the index but "
                                  "not in the bundle")
            if member.size != entry.length:
                raise BundleError(f"{where}: record {entry.record_id} is {member.size} bytes, "
                                  f"the index says {entry.length}")
            packets[entry.record_id] = member
        if by_name:
            extra = sorted(by_name)[0][:80]
            raise BundleError(f"{where}: {extra!r} is not in the index")
        return index, packets

    def packet(self, entry: IndexEntry) -> IO[bytes]:
        """A read-only stream of the packet ``entry`` names (its bytes are not checked
        here: hash them against ``entry.sha256`` as you read)."""
        stream = self._tar.extractfile(self._members[entry.record_id])
        assert stream is not None  # noqa: S101 -- checked regular in _check
        return stream

    def __iter__(self) -> Iterator[IndexEntry]:
        return iter(self.index.records)

    def close(self) -> None:
        self._tar.close()

    def __enter__(self) -> BundleReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# -- receipts files --------------------------------------------------------------------------
@dataclass
class Receipts:
    """A receipts file: the intake's signed receipts for a bundle's records, and the
    records it refused (unsigned: for the maintainer to read)."""

    kiosk_id: str
    bundle: str
    created_at: str
    receipts: dict[str, bytes] = field(default_factory=dict)
    refused: dict[str, dict[str, Any]] = field(default_factory=dict)

    def dumps(self) -> bytes:
        return (json.dumps({
            "format": BUNDLE_FORMAT, "kind": RECEIPTS_KIND, "kiosk_id": self.kiosk_id,
            "bundle": self.bundle, "created_at": self.created_at,
            "receipts": {rid: base64.b64encode(body).decode("ascii")
                         for rid, body in sorted(self.receipts.items())},
            "refused": {rid: self.refused[rid] for rid in sorted(self.refused)},
        }, indent=1, sort_keys=True) + "\n").encode()


#: Exporting a refused record again gives the very same packet (sealed and signed once, in
#: the journal): said where only a maintainer can help.
_SAME_PACKET = "exporting it again gives the same packet"
_MAINTAINER = ("a maintainer checks the record on the kiosk (kiosk queue show {record_id}); "
               + _SAME_PACKET)
#: What to do about a record of a bundle the intake refused, per refusal code.
_ACTIONS: dict[str, str] = {
    RefusalCode.UNKNOWN_KIOSK: (
        "the office registers this kiosk (kiosk-intake register), then imports the same "
        "stick again; nothing needs exporting again"),
    RefusalCode.REVOKED_KIOSK: (
        "once the kiosk is back in safe hands the office trusts it again (kiosk-intake "
        "register --unrevoke), then imports the same stick again; nothing needs exporting "
        "again"),
    RefusalCode.SHA256_MISMATCH: (
        "the stick's copy is damaged: export it again to another stick (the stick button, "
        "or kiosk queue export --again), and the office imports that stick"),
    RefusalCode.UNDECRYPTABLE: (
        "the kiosk seals to another central key than this intake's: import the stick at the "
        "intake whose central.pub is the kiosk's sealing.central_key, or a maintainer checks "
        "that key (kiosk doctor); " + _SAME_PACKET),
    RefusalCode.WRONG_KEY: (
        "the intake knows this kiosk by another device key: a maintainer compares the "
        "kiosk's key (kiosk keys show) with its registration (kiosk-intake register); "
        + _SAME_PACKET),
    RefusalCode.DIFFERENT_PACKET: (
        "the intake holds another packet for this record: a maintainer compares them "
        "(kiosk queue show {record_id}); " + _SAME_PACKET),
    RefusalCode.BAD_SIGNATURE: _MAINTAINER,
    RefusalCode.MALFORMED_PACKET: _MAINTAINER,
    RefusalCode.LAYOUT_MISMATCH: _MAINTAINER,
    RefusalCode.IDS_MISMATCH: _MAINTAINER,
    RefusalCode.MALFORMED_METADATA: _MAINTAINER,
    RefusalCode.TOO_LARGE: (
        "a step is larger than the intake takes: a maintainer checks the intake's limit "
        "and the record (kiosk queue show {record_id}); " + _SAME_PACKET),
}
#: Refusals of a request, never of a bundle's record (a future code: the same).
_OTHER_ACTION = "the office imports the same stick again later; if it is refused again, " + (
    _MAINTAINER)


def refusal_action(code: str, record_id: str) -> str:
    """What to do about the record ``record_id`` of a bundle the intake refused with
    ``code`` (a :class:`~kiosk.core.intake_api.RefusalCode`), in words for the office
    (``kiosk-intake import``) and the kiosk's maintainer (``kiosk queue import``): who
    acts, and whether the same stick is imported again (the kiosk unknown or revoked)
    or the record exported again (the stick's copy damaged). Exporting again gives the
    same packet, so it is said only where it helps."""
    return _ACTIONS.get(code, _OTHER_ACTION).format(record_id=record_id)


def _refusal(value: object) -> dict[str, Any] | None:
    if not isinstance(value, Mapping):
        return None
    code, reason, permanent = value.get("code"), value.get("reason"), value.get("permanent")
    if not isinstance(code, str) or not isinstance(reason, str) or not isinstance(
            permanent, bool):
        return None
    return {"code": _printable(code, 40), "reason": _printable(reason, MAX_REASON_CHARS),
            "permanent": permanent}


def _printable(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, the unprintable ones (ESC...) made spaces: the
    kiosk prints a refusal's code and reason on the maintainer's terminal."""
    return "".join(c if c.isprintable() else " " for c in text[:limit])


def load_receipts(path: Path) -> Receipts:
    """Read and check a receipts file (its shape only: the caller verifies each receipt)."""
    where = Path(path).name
    with open(path, "rb") as stream:
        raw = stream.read(MAX_RECEIPTS_BYTES + 1)
    if len(raw) > MAX_RECEIPTS_BYTES:
        raise BundleError(f"{where} is larger than any receipts file")
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise BundleError(f"{where} is not a receipts file (not JSON: cut short?)") from exc
    if not isinstance(data, dict) or data.get("kind") != RECEIPTS_KIND:
        raise BundleError(f"{where} is not a receipts file")
    if data.get("format") != BUNDLE_FORMAT:
        raise BundleError(f"{where}: receipts format {repr(data.get('format'))[:40]} is not "
                          "supported")
    kiosk_id = data.get("kiosk_id")
    receipts, refused = data.get("receipts"), data.get("refused")
    if not is_kiosk_id(kiosk_id) or not isinstance(receipts, dict) or not isinstance(
            refused, dict):
        raise BundleError(f"{where}: receipts file lacks kiosk_id, receipts or refused")
    result = Receipts(kiosk_id, str(data.get("bundle", ""))[:200],
                      str(data.get("created_at", ""))[:40])
    for record_id, text in receipts.items():
        if not is_record_id(record_id, kiosk_id) or not isinstance(text, str):
            raise BundleError(f"{where}: a receipt entry is malformed")
        try:
            result.receipts[record_id] = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise BundleError(f"{where}: the receipt for {record_id} is not base64") from exc
    for record_id, value in refused.items():
        refusal = _refusal(value)
        if not is_record_id(record_id, kiosk_id) or refusal is None:
            raise BundleError(f"{where}: a refusal entry is malformed")
        result.refused[record_id] = refusal
    return result
