"""The USB bundle and receipts file formats (kiosk.bundle): what one end writes, the
other reads; anything cut short, altered or out of shape is refused with its reason."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from kiosk.bundle import (
    INDEX_NAME,
    BundleError,
    BundleReader,
    Receipts,
    bundle_name,
    find_files,
    load_receipts,
    receipts_name,
    refusal_action,
)
from kiosk.core.intake_api import REFUSALS, RefusalCode
from tests.bundles import write_bundle

KIOSK = "poso-01"


def rid(seq: int) -> str:
    return f"{KIOSK}-{seq:07d}-a1b2c3"


def write(path: Path, packets: dict[str, bytes]) -> Path:
    return write_bundle(path, KIOSK, packets)


def test_round_trip_keeps_order_bytes_and_digests(tmp_path: Path) -> None:
    packets = {rid(i): bytes([i]) * (700 + i) for i in (3, 1, 2)}
    path = write(tmp_path / bundle_name(KIOSK, 1, 3), packets)
    assert path.name == "poso-01-0000001-to-0000003.ektp"
    with BundleReader(path) as bundle:
        assert bundle.index.kiosk_id == KIOSK
        assert [e.record_id for e in bundle] == list(packets)
        for entry in bundle:
            data = bundle.packet(entry).read()
            assert data == packets[entry.record_id]
            assert hashlib.sha256(data).hexdigest() == entry.sha256
    # plain tar: a maintainer can look inside with the usual tools
    with tarfile.open(path) as tar:
        assert tar.getnames()[-1] == INDEX_NAME


def test_cut_short_anywhere_is_refused(tmp_path: Path) -> None:
    whole = write(tmp_path / "whole.ektp", {rid(i): bytes([i]) * 3000 for i in range(3)})
    data = whole.read_bytes()
    end = len(data.rstrip(b"\0"))  # tar pads with zeros: a cut there loses nothing
    for cut in (0, 100, 512, 2000, end // 2, end - 1):
        short = tmp_path / f"cut-{cut}.ektp"
        short.write_bytes(data[:cut])
        with pytest.raises(BundleError, match="cut-"):
            BundleReader(short).close()


def _tar(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def _index(records: list[dict[str, object]], **over: object) -> bytes:
    return json.dumps({"format": 1, "kind": "ektp-bundle", "kiosk_id": KIOSK,
                       "created_at": "x", "records": records, **over}).encode()


def test_index_and_members_must_agree(tmp_path: Path) -> None:
    pkt = b"p" * 10
    entry = {"record_id": rid(1), "sha256": hashlib.sha256(pkt).hexdigest(), "length": 10}
    cases = {
        "missing": ({INDEX_NAME: _index([entry])}, "not in the bundle"),
        "extra": ({f"{rid(1)}.pkt": pkt, "../evil": b"x", INDEX_NAME: _index([entry])},
                  "not in the index"),
        "size": ({f"{rid(1)}.pkt": pkt + b"!", INDEX_NAME: _index([entry])}, "the index says"),
        "no-index": ({f"{rid(1)}.pkt": pkt}, "did not finish"),
        "other-kiosk": ({f"{rid(1)}.pkt": pkt, INDEX_NAME: _index([entry], kiosk_id="palu-02")},
                        "malformed entry"),
        "format": ({INDEX_NAME: _index([], format=9)}, "format 9"),
        "twice": ({f"{rid(1)}.pkt": pkt, INDEX_NAME: _index([entry, entry])}, "twice"),
        "bool-length": ({f"{rid(1)}.pkt": b"p", INDEX_NAME: _index([entry | {"length": True}])},
                        "malformed entry"),
    }
    for name, (members, message) in cases.items():
        with pytest.raises(BundleError, match=message):
            BundleReader(_tar(tmp_path / f"{name}.ektp", members)).close()


def test_links_and_directories_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "link.ektp"
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo(f"{rid(1)}.pkt")
        info.type = tarfile.SYMTYPE
        info.linkname = "/etc/passwd"
        tar.addfile(info)
    with pytest.raises(BundleError, match="not a regular file"):
        BundleReader(path).close()


def test_not_a_tar(tmp_path: Path) -> None:
    path = tmp_path / "photo.ektp"
    path.write_bytes(b"\xff\xd8" + b"junk" * 400)
    with pytest.raises(BundleError, match="not a bundle"):
        BundleReader(path).close()


def test_receipts_round_trip_and_checks(tmp_path: Path) -> None:
    receipts = Receipts(KIOSK, "b.ektp", "now", {rid(1): b"body" + bytes(64)},
                        {rid(2): {"code": "bad_signature", "reason": "no\x1b[31m",
                                  "permanent": True}})
    path = tmp_path / receipts_name("b.ektp")
    assert path.name == "b.receipts"
    path.write_bytes(receipts.dumps())
    back = load_receipts(path)
    assert back.receipts == receipts.receipts
    assert back.refused[rid(2)]["reason"] == "no [31m"  # no terminal escapes reach a screen
    data = json.loads(path.read_bytes())
    data["receipts"][rid(1)] = "%%%"
    path.write_bytes(json.dumps(data).encode())
    with pytest.raises(BundleError, match="not base64"):
        load_receipts(path)
    data["receipts"] = {"palu-02-0000001-a1b2c3": "AAAA"}
    path.write_bytes(json.dumps(data).encode())
    with pytest.raises(BundleError, match="malformed"):
        load_receipts(path)
    path.write_bytes(b'{"format": 1, "kind": "ektp-rec')
    with pytest.raises(BundleError, match="not JSON"):
        load_receipts(path)


def test_find_files_skips_hidden_and_other_files(tmp_path: Path) -> None:
    for name in ("b.ektp", ".b.ektp.partial", ".c.ektp", "notes.txt", "a.ektp"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in find_files([tmp_path], ".ektp")] == ["a.ektp", "b.ektp"]
    with pytest.raises(FileNotFoundError):
        find_files([tmp_path / "gone"], ".ektp")


def test_each_refusal_says_what_to_do_about_its_record() -> None:
    """A bundle's record refused because of the kiosk's registration needs the same stick
    imported again, never an export; a damaged copy needs an export to another stick; a
    packet at fault needs a maintainer, exporting it again giving the same packet."""
    record = rid(7)
    actions = {code: refusal_action(code, record) for code in REFUSALS}
    for code in (RefusalCode.UNKNOWN_KIOSK, RefusalCode.REVOKED_KIOSK):
        assert "imports the same stick again" in actions[code]
        assert "nothing needs exporting again" in actions[code]
        assert "--again" not in actions[code]
    assert "kiosk-intake register)" in actions[RefusalCode.UNKNOWN_KIOSK]
    assert "kiosk-intake register --unrevoke" in actions[RefusalCode.REVOKED_KIOSK]
    damaged = actions[RefusalCode.SHA256_MISMATCH]
    assert "export it again to another stick" in damaged and "--again" in damaged
    for code in (RefusalCode.BAD_SIGNATURE, RefusalCode.MALFORMED_PACKET,
                 RefusalCode.LAYOUT_MISMATCH, RefusalCode.IDS_MISMATCH,
                 RefusalCode.MALFORMED_METADATA, RefusalCode.DIFFERENT_PACKET,
                 RefusalCode.TOO_LARGE):
        assert f"kiosk queue show {record}" in actions[code]
    for code in set(REFUSALS) - {RefusalCode.SHA256_MISMATCH}:
        assert "--again" not in actions[code], code
        assert "export it again" not in actions[code], code
    for code in (RefusalCode.UNDECRYPTABLE, RefusalCode.WRONG_KEY, RefusalCode.BAD_SIGNATURE,
                 RefusalCode.DIFFERENT_PACKET, RefusalCode.TOO_LARGE):
        assert "exporting it again gives the same packet" in actions[code]
    assert "kiosk queue show" in refusal_action("not-a-code-yet", record)
