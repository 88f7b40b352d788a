"""Fuzzing what a USB stick brings in (:mod:`kiosk.bundle`): ``BundleReader`` on the bundles
``kiosk-intake import`` reads, ``load_receipts`` on the receipts files ``kiosk queue import``
reads, and ``kiosk.upload.usb.import_receipts`` on a damaged receipts file. A stick is
untrusted at both ends. Everything wrong must be a :class:`~kiosk.bundle.BundleError` naming
the file (or an OSError for I/O), found without reading more than the bounds allow: no hang,
no member read whole because its header declares a size. A bundle that opens yields, for
each packet, exactly the length its index declares, or an error ``intake/imports.py``'s
``_stage`` catches (:data:`CALLERS_CATCH`). A receipt that is valid base64 of garbage is
then refused by ``verify_receipt`` with a :class:`~kiosk.errors.SealingError`, and
``import_receipts`` acknowledges only records whose receipt verifies.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
import tempfile
import tracemalloc
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import event, example, given
from hypothesis import strategies as st

from kiosk.bundle import (
    INDEX_NAME,
    MAX_BUNDLE_RECORDS,
    MAX_INDEX_BYTES,
    MAX_PACKET_BYTES,
    BundleError,
    BundleIndex,
    BundleReader,
    BundleWriter,
    Receipts,
    load_receipts,
)
from kiosk.errors import SealingError
from kiosk.receipts import IntakeKey, make_receipt, verify_receipt
from tests.fuzz.budget import fuzz
from tests.fuzz.mutate import damaged

KIOSK = "poso-01"
NAME = "poso-01-0000001-to-0000003.ektp"  # every BundleError must name it
#: What intake/imports.py's _stage catches around a packet stream's read() (and turns into
#: BundleError); anything else out of read() would crash ``kiosk-intake import``.
CALLERS_CATCH = (OSError, tarfile.TarError, EOFError)
BLOCK = 512


def rid(seq: int) -> str:
    return f"{KIOSK}-{seq:07d}-a1b2c3"


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


PACKETS = {rid(1): b"EKTP\x01" + bytes(range(256)) * 3, rid(2): b"EKTP\x01" + b"\xa5" * 700,
           rid(3): b"EKTP\x01 small"}


def write_bundle(packets: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    writer = BundleWriter(out, KIOSK, "2026-12-01T04:00:00Z")
    for record_id, packet in packets.items():
        writer.add(record_id, packet, sha(packet))
    writer.close()
    return out.getvalue()


VALID = write_bundle(PACKETS)
with tarfile.open(fileobj=io.BytesIO(VALID)) as _tar:
    HEADERS = [m.offset for m in _tar.getmembers()]  # where each member's header starts
    _index = _tar.getmember(INDEX_NAME)
    INDEX_SPAN = (_index.offset_data, _index.offset_data + _index.size)
CONTENT_END = INDEX_SPAN[1]  # cut anywhere before this and something is missing
PADDED_END = INDEX_SPAN[0] + -(-_index.size // 512) * 512  # then only end-of-archive zeros


# -- raw tar headers, for what tarfile will not write ------------------------------------------
def octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def size_field(size: int) -> bytes:
    """The 12-byte size field: octal when it fits, else GNU base-256 (negative too)."""
    if 0 <= size < 8**11:
        return octal(size, 12)
    return bytes([0xFF if size < 0 else 0x80]) + (size % 2**88).to_bytes(11, "big")


def header(name: bytes, size: int | bytes, typeflag: bytes = b"0", *, linkname: bytes = b"",
           checksum: bool = True) -> bytes:
    """One ustar header block, its checksum right unless ``checksum`` is False."""
    block = bytearray(BLOCK)
    block[0:100] = name[:100].ljust(100, b"\0")
    block[100:108] = octal(0o600, 8)
    block[108:116] = block[116:124] = octal(0, 8)
    block[124:136] = size_field(size) if isinstance(size, int) else size[:12].ljust(12, b"\0")
    block[136:148] = octal(0, 12)
    block[156:157] = typeflag[:1] or b"\0"
    block[157:257] = linkname[:100].ljust(100, b"\0")
    block[257:265] = b"ustar\x0000"
    return fix_checksum(bytes(block)) if checksum else bytes(block)


def fix_checksum(block: bytes) -> bytes:
    raw = bytearray(block)
    raw[148:156] = b" " * 8
    raw[148:156] = b"%06o\0 " % sum(raw)
    return bytes(raw)


def padded(data: bytes) -> bytes:
    return data + bytes(-len(data) % BLOCK)


def member(name: str, data: bytes, typeflag: bytes = b"0") -> bytes:
    return header(name.encode(), len(data), typeflag) + padded(data)


def index_json(entries: list[dict[str, Any]], **over: Any) -> bytes:
    return json.dumps({"format": 1, "kind": "ektp-bundle", "kiosk_id": KIOSK,
                       "created_at": "2026-12-01T04:00:00Z", "records": entries,
                       **over}).encode()


def entries_of(packets: dict[str, bytes]) -> list[dict[str, Any]]:
    return [{"record_id": r, "sha256": sha(p), "length": len(p)} for r, p in packets.items()]


END = bytes(2 * BLOCK)
ONE = {rid(1): b"p" * 10}
ONE_PKT = member(f"{rid(1)}.pkt", b"p" * 10)
ONE_INDEX = member(INDEX_NAME, index_json(entries_of(ONE)))
TEN_GB = 10 * 2**30


# -- the property --------------------------------------------------------------------------------
@dataclass
class Opened:
    index: BundleIndex
    packets: dict[str, bytes]


def read_packet(reader: BundleReader, length: int, stream: Any) -> bytes:
    """What intake/imports.py's _stage does: read at most ``length`` bytes, in blocks."""
    chunks, left = [], length
    while left:
        block = stream.read(min(64 * 1024, left))
        assert block, "an opened bundle's packet ended before its declared length"
        chunks.append(block)
        left -= len(block)
    assert stream.read(1) == b"", "a packet stream gave more than its member's size"
    return b"".join(chunks)


def open_bundle(data: bytes) -> Opened | None:
    """BundleReader on ``data`` (written to a file named NAME): the packets it yields when it
    opens, None when it refused with a BundleError naming the file; nothing else."""
    with tempfile.TemporaryDirectory(prefix="fuzz-bundle-") as tmp:
        path = Path(tmp) / NAME
        path.write_bytes(data)
        try:
            reader = BundleReader(path)
        except BundleError as exc:
            assert NAME in str(exc), str(exc)
            return None
        with reader:
            assert [e.record_id for e in reader] == [e.record_id for e in reader.index.records]
            packets = {}
            for entry in reader:
                assert 0 < entry.length <= MAX_PACKET_BYTES
                try:
                    with reader.packet(entry) as stream:
                        packets[entry.record_id] = read_packet(reader, entry.length, stream)
                except CALLERS_CATCH:  # the file did not change: this would be a surprise
                    raise AssertionError("an opened bundle's packet could not be read") from None
            return Opened(reader.index, packets)


def test_the_valid_bundle_opens() -> None:
    opened = open_bundle(VALID)
    assert opened is not None and opened.packets == PACKETS
    assert [e.sha256 for e in opened.index.records] == [sha(p) for p in PACKETS.values()]


# -- random bytes and damaged bundles ------------------------------------------------------------
@fuzz(100)
@given(data=st.binary(max_size=3 * BLOCK))
@example(data=b"")
@example(data=bytes(BLOCK * 2))                        # an empty archive
@example(data=END[:100] + b"\xff" * BLOCK)
@example(data=header(b"x", 0) + header(b"y", -BLOCK * 2) + END)  # a size pointing back
def test_random_bytes_are_refused(data: bytes) -> None:
    assert open_bundle(data) is None


def check_damaged(data: bytes) -> None:
    opened = open_bundle(data)
    if opened is None:
        return
    # Whatever opened reads back whole; every packet is one member's bytes, as declared.
    for entry in opened.index.records:
        assert len(opened.packets[entry.record_id]) == entry.length


@fuzz(150)
@given(data=damaged(VALID, length_fields=[]))
def test_damaged_bundles_are_refused_or_read_back(data: bytes) -> None:
    check_damaged(data)


@fuzz(100)
@given(cut=st.integers(0, len(VALID) - 1))
@example(cut=0)
@example(cut=CONTENT_END - 1)
@example(cut=HEADERS[-1] + BLOCK)
@example(cut=PADDED_END - 1)
@example(cut=PADDED_END)
def test_a_bundle_cut_short_anywhere_is_refused(cut: int) -> None:
    opened = open_bundle(VALID[:cut])
    if cut < CONTENT_END:
        assert opened is None
    elif cut >= PADDED_END:  # only the end-of-archive zeros are gone: nothing is lost
        assert opened is not None and opened.packets == PACKETS
    else:  # the index's padding cut: tarfile refuses, which is as well
        assert opened is None or opened.packets == PACKETS


@st.composite
def header_damage(draw: st.DrawFn) -> bytes:
    """A byte of one member header set to anything, its checksum made right again (so tarfile
    parses the field instead of stopping at a bad header) or, sometimes, left wrong."""
    start = draw(st.sampled_from(HEADERS))
    position = draw(st.integers(0, BLOCK - 1).filter(lambda p: not 148 <= p < 156))
    value = draw(st.one_of(st.integers(0, 255), st.sampled_from(b"0123456789LKSxgXV7/ .\xff")))
    block = bytearray(VALID[start:start + BLOCK])
    block[position] = value
    fixed = fix_checksum(bytes(block)) if draw(st.integers(0, 3)) else bytes(block)
    return VALID[:start] + fixed + VALID[start + BLOCK:]


@fuzz(200)
@given(data=header_damage())
@example(data=VALID[:HEADERS[-1]] + fix_checksum(  # the index made a pax header
    VALID[HEADERS[-1]:HEADERS[-1] + 156] + b"x" + VALID[HEADERS[-1] + 157:HEADERS[-1] + 512])
    + VALID[HEADERS[-1] + 512:])
@example(data=VALID[:HEADERS[0]] + fix_checksum(  # the first packet made a symlink
    VALID[:156] + b"2" + VALID[157:512]) + VALID[512:])
def test_flipped_header_bytes_are_refused_or_read_back(data: bytes) -> None:
    check_damaged(data)


@fuzz(150)
@given(data=st.data())
def test_flipped_index_bytes_are_refused_or_read_back(data: st.DataObject) -> None:
    start, end = INDEX_SPAN
    index = data.draw(damaged(VALID[start:end], max_mutations=2).filter(
        lambda b: len(b) == end - start))  # same length: the member's size stays right
    check_damaged(VALID[:start] + index + VALID[end:])


# -- hand-made tars with hostile members -------------------------------------------------------
LINK_TARGETS = [INDEX_NAME, f"{rid(1)}.pkt", "/etc/passwd", "../../etc/shadow", "."]
HOSTILE_NAMES = [f"{rid(1)}.pkt", f"{rid(2)}.pkt", INDEX_NAME, f"../{INDEX_NAME}",
                 f"/{INDEX_NAME}", f"./{INDEX_NAME}", f"/tmp/{rid(1)}.pkt", f"../{rid(1)}.pkt",
                 f"{rid(1)}.pkt/", "a/" * 60 + "long.pkt", "é" * 80 + ".pkt", "", ".", "..",
                 f"{INDEX_NAME}\0hidden", "palu-02-0000001-a1b2c3.pkt"]
KINDS = {"file": tarfile.REGTYPE, "contiguous": tarfile.CONTTYPE, "symlink": tarfile.SYMTYPE,
         "hardlink": tarfile.LNKTYPE, "directory": tarfile.DIRTYPE, "chardev": tarfile.CHRTYPE,
         "blockdev": tarfile.BLKTYPE, "fifo": tarfile.FIFOTYPE}
FORMATS = [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]

json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
odd_numbers = st.sampled_from([0, -1, 1.0, True, 2**63, 10**30, MAX_PACKET_BYTES + 1, 1e400])


@st.composite
def index_bytes(draw: st.DrawFn, packets: dict[str, bytes]) -> bytes:
    """The index for ``packets``: true, lying (lengths, sha256, ids, entries), deeply nested,
    with huge numbers, or anything."""
    entries = entries_of(packets)
    kind = draw(st.sampled_from(["true", "lie", "lie", "nested", "number", "json", "bytes"]))
    if kind == "true":
        return index_json(entries)
    if kind == "lie" and entries:
        entry = entries[draw(st.integers(0, len(entries) - 1))]
        field = draw(st.sampled_from(["length", "sha256", "record_id", "extra", "drop", "dup"]))
        if field == "length":
            entry["length"] = draw(st.one_of(st.integers(-2, MAX_PACKET_BYTES + 2), odd_numbers))
        elif field == "sha256":
            entry["sha256"] = draw(st.sampled_from([sha(b"other"), "0" * 64, "A" * 64, ""]))
        elif field == "record_id":
            entry["record_id"] = draw(st.sampled_from(
                [rid(9), "../" + rid(1), INDEX_NAME[:-5], "palu-02-0000001-a1b2c3", 7]))
        elif field == "extra":
            entries.append({"record_id": rid(8), "sha256": sha(b""), "length": 1})
        elif field == "drop":
            entries.remove(entry)
        else:
            entries.append(dict(entry))
        return index_json(entries)
    if kind == "nested":
        depth = draw(st.sampled_from([100, 1000, 100_000]))
        where = draw(st.sampled_from(["top", "records", "length"]))
        deep = "[" * depth + "]" * depth
        if where == "top":
            return deep.encode()
        if where == "records":
            return index_json([]).replace(b'"records": []', b'"records": ' + deep.encode())
        return index_json(entries).replace(b'"length": ', b'"length": ' + b"[" * depth, 1)
    if kind == "number":
        number = draw(st.sampled_from(["1" * 5000, "1e999999", "-0", "1" * 4300, "9" * 20]))
        return index_json([{**e, "length": 0} for e in entries]).replace(
            b'"length": 0', f'"length": {number}'.encode()).replace(
            b'"format": 1', f'"format": {number}'.encode())
    if kind == "json":
        return json.dumps(draw(json_value)).encode()
    return draw(st.binary(max_size=200))


@st.composite
def hostile_tar(draw: st.DrawFn) -> bytes:
    """A tar written by tarfile (ustar, GNU or pax: long names then take extended headers)
    with packets, an index, and hostile members among them."""
    packets = draw(st.dictionaries(st.sampled_from([rid(1), rid(2), rid(3)]),
                                   st.binary(min_size=1, max_size=300), max_size=3))
    members: list[tuple[str, str, bytes, str]] = [
        ("file", f"{r}.pkt", p, "") for r, p in packets.items()]
    members.append(("file", INDEX_NAME, draw(index_bytes(packets)), ""))
    for _ in range(draw(st.integers(0, 3))):
        extra = (draw(st.sampled_from(sorted(KINDS))),
                 draw(st.one_of(st.sampled_from(HOSTILE_NAMES), st.text(max_size=120))),
                 draw(st.binary(max_size=40)), draw(st.sampled_from(LINK_TARGETS)))
        members.insert(draw(st.integers(0, len(members))), extra)
    if draw(st.booleans()) and members:  # one member twice
        members.append(members[draw(st.integers(0, len(members) - 1))])
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=draw(st.sampled_from(FORMATS))) as tar:
        for kind, name, data, link in members:
            info = tarfile.TarInfo(name)
            info.type = KINDS[kind]
            info.linkname = link if kind in ("symlink", "hardlink") else ""
            body = data if info.type in (tarfile.REGTYPE, tarfile.CONTTYPE) else b""
            info.size = len(body)
            try:
                tar.addfile(info, io.BytesIO(body))
            except ValueError:  # a name the format cannot hold (ustar): left out
                continue
    return out.getvalue()


@fuzz(200)
@given(data=hostile_tar())
@example(data=member(f"{rid(1)}.pkt", b"x", b"2") + ONE_INDEX + END)  # a symlink
@example(data=ONE_PKT + ONE_PKT + ONE_INDEX + END)                      # a packet twice
@example(data=ONE_PKT + member(f"../{rid(1)}.pkt", b"y") + ONE_INDEX + END)
@example(data=ONE_PKT + member(INDEX_NAME, b"[" * 100_000 + b"]" * 100_000) + END)
def test_hostile_tars_are_refused_or_read_back(data: bytes) -> None:
    opened = open_bundle(data)
    if opened is not None:
        for entry in opened.index.records:
            assert len(opened.packets[entry.record_id]) == entry.length


# -- hand-made headers tarfile would not write -------------------------------------------------
SIZES = [0, 1, BLOCK, MAX_INDEX_BYTES + 1, MAX_PACKET_BYTES + 1, 2**31, TEN_GB, 2**63 - 1,
         2**63, 2**80, -1, -BLOCK, -2 * BLOCK, -TEN_GB]
TYPEFLAGS = b"0\x00123456789LKSxgXAV"


@st.composite
def raw_member(draw: st.DrawFn) -> bytes:
    """A header of any type with a declared size of anything (huge, past sys.maxsize,
    negative), followed by a little data or none."""
    typeflag = bytes([draw(st.sampled_from(TYPEFLAGS))])
    name = draw(st.sampled_from([INDEX_NAME, f"{rid(1)}.pkt", "././@PaxHeader",
                                 "././@LongLink", "x"])).encode()
    size = draw(st.one_of(st.sampled_from(SIZES), st.integers(-2**40, 2**90)))
    body = draw(st.sampled_from([b"", b"30 GNU.sparse.map=0,1,a\n", b"1" * 600, b"\n" * 64,
                                 b"27 path=" + b"a" * 100 + b"\n", b"x" * BLOCK]))
    return header(name, size, typeflag) + padded(body)


@fuzz(200)
@given(data=st.data())
# A pax ('x') or GNU long-name ('L') header declaring a size past sys.maxsize: tarfile raised
# OverflowError ("cannot fit 'int' into an index-sized integer") before the fix.
@example(data=header(b"././@PaxHeader", 2**80, b"x") + ONE_PKT + ONE_INDEX + END)
@example(data=header(b"././@LongLink", 2**80, b"L") + ONE_PKT + ONE_INDEX + END)
# A plain member declaring 2**63 - 1 bytes (base-256): tarfile's seek past it raised
# ValueError ("cannot fit 'int' into an offset-sized integer") before the fix.
@example(data=header(INDEX_NAME.encode(), 2**63 - 1) + END)
@example(data=ONE_PKT + header(f"{rid(2)}.pkt".encode(), 2**63 - 1) + ONE_INDEX + END)
# GNU sparse 1.0 / 0.1 in a pax header with a malformed map: ValueError before the fix.
@example(data=member("p", b"22 GNU.sparse.major=1\n22 GNU.sparse.minor=0\n", b"x")
         + member(INDEX_NAME, b"no newline here") + END)
@example(data=member("p", b"23 GNU.sparse.map=1,a\n", b"x") + ONE_PKT + ONE_INDEX + END)
# A pax header of digits: tarfile's hdrcharset regex is quadratic (CVE-2024-6232, Python
# < 3.11.10): 32 KB took 1.6 s, 1 MiB would take half an hour, before the fix.
@example(data=member("p", b"1" * 2**20, b"x") + ONE_PKT + ONE_INDEX + END)
def test_raw_hostile_headers_are_refused(data: Any) -> None:
    if isinstance(data, bytes):
        raw = data
    else:
        parts = [ONE_PKT, ONE_INDEX]
        parts.insert(data.draw(st.integers(0, 2)), data.draw(raw_member()))
        raw = b"".join(parts) + END
    opened = open_bundle(raw)
    if opened is not None:  # the hostile header was read as a harmless one
        assert opened.packets == ONE


@pytest.mark.parametrize(("first", "what"), [
    (header(INDEX_NAME.encode(), TEN_GB), "the index declaring 10 GB"),
    (header(f"{rid(1)}.pkt".encode(), TEN_GB), "a packet declaring 10 GB"),
    (header(b"././@PaxHeader", TEN_GB, b"x"), "a pax header declaring 10 GB"),
    (header(b"././@LongLink", TEN_GB, b"L"), "a GNU long name declaring 10 GB"),
    (header(b"x", TEN_GB, b"S"), "a GNU sparse member declaring 10 GB"),
], ids=["index", "packet", "pax", "gnu-longname", "gnu-sparse"])
def test_a_member_declaring_10_gb_is_refused_without_reading_it(
        tmp_path: Path, first: bytes, what: str) -> None:
    """The file really is 10 GB long (sparse, where the file system allows), so a reader
    that trusted the header would read it; the index says 10 bytes for the packet."""
    path = tmp_path / NAME
    path.write_bytes(first + ONE_INDEX + END)
    with contextlib.suppress(OSError):  # no sparse files here: the header alone will do
        os.truncate(path, TEN_GB + 4 * BLOCK)
    tracemalloc.start()
    try:
        with pytest.raises(BundleError, match=NAME):
            BundleReader(path).close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, f"{what}: {peak} bytes allocated"


def test_a_tar_of_more_members_than_any_bundle_is_refused_early(tmp_path: Path) -> None:
    path = tmp_path / NAME
    empty = header(b"x.pkt", 0)
    path.write_bytes(empty * (MAX_BUNDLE_RECORDS + 50) + END)
    with pytest.raises(BundleError, match="more members than any bundle"):
        BundleReader(path).close()


# -- receipts files ------------------------------------------------------------------------------
@dataclass(frozen=True)
class Signed:
    intake: IntakeKey
    receipts: Receipts
    raw: bytes


@pytest.fixture(scope="module")
def signed() -> Signed:
    intake = IntakeKey.generate()
    receipts = Receipts(KIOSK, NAME, "2026-12-01T05:00:00Z")
    for record_id, packet in PACKETS.items():
        receipts.receipts[record_id] = make_receipt(intake, KIOSK, record_id, packet,
                                                    "2026-12-01T05:00:00Z")
    receipts.refused[rid(4)] = {"code": "bad_signature", "reason": "no", "permanent": True}
    return Signed(intake, receipts, receipts.dumps())


def load(data: bytes) -> Receipts | None:
    with tempfile.TemporaryDirectory(prefix="fuzz-receipts-") as tmp:
        path = Path(tmp) / "poso-01-0000001-to-0000003.receipts"
        path.write_bytes(data)
        try:
            return load_receipts(path)
        except BundleError as exc:
            assert path.name in str(exc), str(exc)
            return None


def test_the_valid_receipts_file_loads(signed: Signed) -> None:
    loaded = load(signed.raw)
    assert loaded is not None and loaded.receipts == signed.receipts.receipts
    assert loaded.refused == signed.receipts.refused


@fuzz(100)
@given(data=st.binary(max_size=600))
@example(data=b"")
@example(data=b"\xef\xbb\xbf{}")                   # a byte-order mark
@example(data=b"[" * 100_000)                      # RecursionError inside json
@example(data=b'{"format": ' + b"1" * 5000 + b"}")  # past int's digit limit
def test_load_receipts_refuses_random_bytes(data: bytes) -> None:
    assert load(data) is None


@fuzz(150)
@given(data=st.data())
def test_load_receipts_on_damaged_files(signed: Signed, data: st.DataObject) -> None:
    loaded = load(data.draw(damaged(signed.raw)))
    if loaded is not None:
        assert all(isinstance(v, bytes) for v in loaded.receipts.values())
        assert all(set(v) == {"code", "reason", "permanent"} and v["reason"].isprintable()
                   for v in loaded.refused.values())


@fuzz(100)
@given(code=st.text(max_size=60), reason=st.text(max_size=400))
# ESC sequences in the code reached the maintainer's terminal before the fix (the reason's
# were already blanked): kiosk queue import prints "[code]: reason".
@example(code="\x1b]0;owned\x07\x1b[2J", reason="ok")
@example(code="bad_signature", reason="\x1b[31mred\u202e\n")
def test_a_refusal_reaches_the_terminal_printable(signed: Signed, code: str,
                                                  reason: str) -> None:
    body = json.loads(signed.raw)
    body["refused"][rid(4)] = {"code": code, "reason": reason, "permanent": False}
    loaded = load(json.dumps(body).encode())
    assert loaded is not None
    refusal = loaded.refused[rid(4)]
    assert refusal["code"].isprintable() and refusal["reason"].isprintable()
    assert len(refusal["code"]) <= 40 and len(refusal["reason"]) <= 300


@fuzz(100)
@given(garbage=st.one_of(st.binary(max_size=300), damaged(make_receipt(
    IntakeKey.generate(), KIOSK, rid(1), PACKETS[rid(1)], "2026-12-01T05:00:00Z"))),
    value=st.one_of(json_value, st.text(max_size=40)))
@example(garbage=b"", value=None)
@example(garbage=b"[" * 3000 + bytes(64), value=None)
def test_a_receipt_of_garbage_loads_then_fails_to_verify(signed: Signed, garbage: bytes,
                                                          value: Any) -> None:
    body = json.loads(signed.raw)
    body["receipts"][rid(1)] = base64.b64encode(garbage).decode()
    body["created_at"] = value  # the unsigned fields may be anything
    body["bundle"] = value
    loaded = load(json.dumps(body).encode())
    assert loaded is not None and loaded.receipts[rid(1)] == garbage
    with pytest.raises(SealingError):
        verify_receipt(garbage, signed.intake.public_bytes, kiosk_id=KIOSK, record_id=rid(1),
                       packet_sha256=sha(PACKETS[rid(1)]))


# -- end to end: kiosk queue import on a damaged receipts file ----------------------------------
@dataclass(frozen=True)
class Outbox:
    """A kiosk journal whose records are exported, and the receipts file for them."""

    data: Path  # the kiosk's data directory (journal.db)
    kiosk_id: str
    intake_public: bytes
    receipts: bytes
    packets: dict[str, bytes]


@pytest.fixture(scope="module")
def outbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Outbox]:
    from kiosk.config import load_config
    from kiosk.runtime import open_journal
    from kiosk.upload import usb
    from tests.upload_helpers import demo, make_site

    with pytest.MonkeyPatch.context() as mp:  # the autouse isolation is per test
        mp.setenv("KIOSK_SYSTEM_CONFIG", str(tmp_path_factory.getbasetemp() / "no-etc.toml"))
        mp.delenv("KIOSK_CONFIG", raising=False)
        site = make_site(tmp_path_factory.mktemp("usb-outbox"))
        demo(site, 2, seed=29)
        config = load_config(site.config)
        stick = tmp_path_factory.mktemp("stick")
        with open_journal(config, owner=False) as journal:
            report = usb.export_records(journal, site.kiosk_id, stick)
            assert not report.error and len(report.bundles) == 1
            packets = {r.id: usb.packet_of(journal, r) for r in journal.records()}
    intake = IntakeKey.load_or_create(site.intake_dir / "keys" / "intake.key")
    receipts = Receipts(site.kiosk_id, report.bundles[0].name, "2026-12-01T05:00:00Z")
    for record_id, packet in packets.items():
        receipts.receipts[record_id] = make_receipt(intake, site.kiosk_id, record_id, packet,
                                                    "2026-12-01T05:00:00Z")
    yield Outbox(config.data_dir, site.kiosk_id, site.intake_key, receipts.dumps(), packets)


def run_import(outbox: Outbox, raw: bytes) -> tuple[int, dict[str, bytes]]:
    """``kiosk queue import`` on ``raw`` against a copy of the outbox's journal: the exit
    code and the receipts the journal holds afterwards."""
    from kiosk.journal import Journal
    from kiosk.upload.usb import import_receipts

    with tempfile.TemporaryDirectory(prefix="fuzz-usb-") as tmp:
        data = Path(tmp) / "data"
        shutil.copytree(outbox.data, data)
        stick = Path(tmp) / "stick"
        stick.mkdir()
        (stick / "b.receipts").write_bytes(raw)
        with Journal.open(data / "journal.db", kiosk_id=outbox.kiosk_id, boot_id="fuzz",
                          clock_trusted=lambda: True, owner=False) as journal:
            code = import_receipts(journal, outbox.kiosk_id, outbox.intake_public, [stick],
                                   out=io.StringIO(), err=io.StringIO())
        with Journal.open_readonly(data / "journal.db") as journal:
            held = {r.id: journal.receipt(r.id) for r in journal.records("acknowledged")}
    return code, {k: v for k, v in held.items() if v is not None}


@st.composite
def receipts_swapped(draw: st.DrawFn, outbox: Outbox) -> bytes:
    """The receipts file still well formed, its receipts damaged, swapped between records,
    or signed by another intake key: loads, and must acknowledge nothing it should not."""
    body = json.loads(outbox.receipts)
    receipts = body["receipts"]
    ids = sorted(receipts)
    target = draw(st.sampled_from(ids))
    kind = draw(st.sampled_from(["damage", "swap", "other-key"]))
    if kind == "damage":
        good = base64.b64decode(receipts[target])
        receipts[target] = base64.b64encode(draw(damaged(good, max_mutations=2))).decode()
    elif kind == "swap":
        receipts[target], receipts[ids[0]] = receipts[ids[-1]], receipts[target]
    else:
        receipts[target] = base64.b64encode(make_receipt(
            IntakeKey.generate(), outbox.kiosk_id, target, outbox.packets[target],
            "2026-12-01T05:00:00Z")).decode()
    return json.dumps(body).encode()


def test_import_of_the_valid_receipts_file_acknowledges_all(outbox: Outbox) -> None:
    code, held = run_import(outbox, outbox.receipts)
    assert code == 0 and set(held) == set(outbox.packets)


@fuzz(50)
@given(data=st.data())
def test_import_of_a_damaged_receipts_file_acknowledges_only_what_verifies(
        outbox: Outbox, data: st.DataObject) -> None:
    raw = data.draw(st.one_of(damaged(outbox.receipts), receipts_swapped(outbox)))
    code, held = run_import(outbox, raw)
    event(f"exit {code}, {len(held)} acknowledged")
    for record_id, receipt in held.items():
        verify_receipt(receipt, outbox.intake_public, kiosk_id=outbox.kiosk_id,
                       record_id=record_id, packet_sha256=sha(outbox.packets[record_id]))
    assert code in (0, 1, 2)
    if code == 0:  # a harmless damage (whitespace, created_at...): the receipts are the same
        loaded = load(raw)
        good = load(outbox.receipts)
        assert loaded is not None and good is not None
        assert all(good.receipts.get(k) == v for k, v in loaded.receipts.items())
