"""``kiosk-intake import``: USB bundles taken in as uploads are (intake.imports).

Real packets sealed by the kiosk's own code to a real intake's central key, real bundles
(kiosk.bundle), the real store; the command run in process through ``intake.cli.main``."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import tarfile
from pathlib import Path

import pytest

from intake.backend import lock_data_dir
from intake.cli import main
from kiosk.bundle import bundle_name, load_receipts, receipts_name
from kiosk.receipts import ensure_intake_keypair, load_intake_public_key, verify_receipt
from kiosk.sealing import DeviceKey, Sealer, generate_central_keypair, load_central_public_key
from tests.bundles import write_bundle
from tests.fuzz.sealed import KIOSK, RECORD, meta, seal


class World:
    """An intake data directory with its keys, a kiosk's device key and a sealer."""

    def __init__(self, root: Path) -> None:
        self.data = root / "intake"
        keys = self.data / "keys"
        generate_central_keypair(keys)
        ensure_intake_keypair(keys)
        self.device = DeviceKey.load_or_create(root / "kiosk" / "device.key")
        self.sealer = Sealer(load_central_public_key(keys / "central.pub"), self.device, KIOSK)
        self.stick = root / "stick"
        self.stick.mkdir()

    def register(self) -> None:
        assert main(["register", "--data", str(self.data), "--kiosk", KIOSK,
                     "--key", self.device.public_bytes.hex()]) == 0

    def packets(self, first: int, count: int, portrait_bytes: int = 0) -> dict[str, bytes]:
        """``count`` sealed records from seq ``first``; ``portrait_bytes``: that large a
        portrait (a real record is 0.2-1 MB; the test records are a few KB)."""
        record = dict(RECORD)
        if portrait_bytes:
            record["portrait"] = {"portrait.jpg": os.urandom(portrait_bytes)}
        out = {}
        for seq in range(first, first + count):
            record_meta = meta(seq, f"{seq:06x}")
            out[record_meta.record_id] = seal(self.sealer, record_meta, record)
        return out

    def bundle(self, packets: dict[str, bytes], first: int, last: int,
               where: Path | None = None) -> Path:
        return write_bundle((where or self.stick) / bundle_name(KIOSK, first, last), KIOSK,
                            packets)

    def stats(self, *db: str) -> dict[str, object]:
        buffer = io.StringIO()
        with contextlib.redirect_stdout(buffer):
            assert main(["stats", "--data", str(self.data), "--json", *db]) == 0
        return json.loads(buffer.getvalue())

    def stored(self) -> list[str]:
        kiosk = self.data / "records" / KIOSK
        return sorted(p.name for p in kiosk.iterdir()) if kiosk.exists() else []


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def run_import(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    capsys.readouterr()
    status = main(["import", *args])
    captured = capsys.readouterr()
    return status, captured.out.splitlines(), captured.err


def check_receipts(world: World, bundle: Path, packets: dict[str, bytes],
                   where: Path | None = None) -> None:
    receipts = load_receipts((where or bundle.parent) / receipts_name(bundle.name))
    assert receipts.kiosk_id == KIOSK and receipts.bundle == bundle.name
    assert sorted(receipts.receipts) == sorted(packets)
    key = load_intake_public_key(world.data / "keys" / "intake.pub")
    for record_id, packet in packets.items():
        verify_receipt(receipts.receipts[record_id], key, kiosk_id=KIOSK, record_id=record_id,
                       packet_sha256=hashlib.sha256(packet).hexdigest())


def no_temporaries(data: Path) -> None:
    """Nothing staged or half-written is left anywhere in the data directory."""
    for root, _dirs, files in os.walk(data):
        for name in files:
            assert ".tmp" not in name, os.path.join(root, name)


def test_a_bundle_imports_and_its_receipts_verify(world: World,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    world.register()
    packets = world.packets(1, 3)
    bundle = world.bundle(packets, 1, 3)
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    assert out[:3] == [f"received {rid}" for rid in packets]
    receipts_path = world.stick / receipts_name(bundle.name)
    assert out[3] == (f"{bundle.name}: 3 received, 0 already held, 0 refused; receipts in "
                      f"{receipts_path}")
    check_receipts(world, bundle, packets)
    assert load_receipts(receipts_path).refused == {}
    assert world.stats()["received"] == 3
    # the stored packets are the bundle's, byte for byte
    for record_id, packet in packets.items():
        assert (world.data / "records" / KIOSK / f"{record_id}.pkt").read_bytes() == packet
    no_temporaries(world.data)

    # the same bundle again: already held, receipts still good, nothing counted twice
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    assert out[:3] == [f"duplicate {rid}" for rid in packets]
    assert out[3].startswith(f"{bundle.name}: 0 received, 3 already held, 0 refused")
    check_receipts(world, bundle, packets)
    assert world.stats()["received"] == 3
    no_temporaries(world.data)


def test_an_unknown_kiosk_is_refused_then_taken_once_registered(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    packets = world.packets(1, 2)
    bundle = world.bundle(packets, 1, 2)
    status, out, _err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 1
    assert [line.split(" ", 3)[:3] for line in out[:2]] == [
        ["refused", rid, "[unknown_kiosk]:"] for rid in packets]
    # what to do: register, then this stick again (its records need no export)
    assert all(line.endswith("(the office registers this kiosk (kiosk-intake register), "
                             "then imports the same stick again; nothing needs exporting "
                             "again)") for line in out[:2])
    assert out[2].startswith(f"{bundle.name}: 0 received, 0 already held, 2 refused")
    receipts = load_receipts(world.stick / receipts_name(bundle.name))
    assert receipts.receipts == {}
    assert sorted(receipts.refused) == sorted(packets)
    assert all(r["code"] == "unknown_kiosk" and r["permanent"] for r in receipts.refused.values())
    assert world.stored() == []
    assert not (world.data / "records" / KIOSK).exists()  # no trace of an unknown kiosk
    world.register()
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    assert out[:2] == [f"received {rid}" for rid in packets]
    check_receipts(world, bundle, packets)
    assert load_receipts(world.stick / receipts_name(bundle.name)).refused == {}
    assert world.stats()["received"] == 2


def test_a_revoked_kiosk_is_refused_and_told_to_import_the_same_stick_again(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.register()
    packets = world.packets(1, 1)
    bundle = world.bundle(packets, 1, 1)
    assert main(["revoke", "--data", str(world.data), "--kiosk", KIOSK]) == 0
    status, out, _err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 1
    record_id = next(iter(packets))
    assert out[0].startswith(f"refused {record_id} [revoked_kiosk]: kiosk {KIOSK} is revoked")
    assert out[0].endswith("(once the kiosk is back in safe hands the office trusts it again "
                           "(kiosk-intake register --unrevoke), then imports the same stick "
                           "again; nothing needs exporting again)")
    assert "--again" not in out[0]
    refused = load_receipts(world.stick / receipts_name(bundle.name)).refused[record_id]
    assert "again" not in refused["reason"]  # the kiosk says what to do from the code
    assert main(["register", "--data", str(world.data), "--kiosk", KIOSK, "--unrevoke",
                 "--key", world.device.public_bytes.hex()]) == 0
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    assert out[0] == f"received {record_id}"
    check_receipts(world, bundle, packets)


def _flip_one_packet(bundle: Path, record_id: str) -> None:
    """Rewrite the tar with one byte of ``record_id``'s packet flipped, index unchanged."""
    members = []
    with tarfile.open(bundle) as tar:
        for info in tar.getmembers():
            stream = tar.extractfile(info)
            assert stream is not None
            data = bytearray(stream.read())
            if info.name == f"{record_id}.pkt":
                data[len(data) // 2] ^= 0x01
            members.append((info, bytes(data)))
    with tarfile.open(bundle, "w", format=tarfile.USTAR_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))


def test_an_altered_packet_is_refused_and_the_others_received(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.register()
    packets = world.packets(1, 3)
    bundle = world.bundle(packets, 1, 3)
    altered = list(packets)[1]
    _flip_one_packet(bundle, altered)
    status, out, _err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 1
    good = {rid: p for rid, p in packets.items() if rid != altered}
    assert [out[0], out[2]] == [f"received {rid}" for rid in good]
    assert out[1].startswith(f"refused {altered} [sha256_mismatch]: ")
    assert "export it again to another stick" in out[1] and "upload" not in out[1]
    assert out[3].startswith(f"{bundle.name}: 2 received, 0 already held, 1 refused")
    check_receipts(world, bundle, good)
    refused = load_receipts(world.stick / receipts_name(bundle.name)).refused
    assert list(refused) == [altered] and refused[altered]["code"] == "sha256_mismatch"
    assert world.stored() == sorted(f"{rid}.{ext}" for rid in good for ext in ("pkt", "receipt"))
    stats = world.stats()
    assert (stats["received"], stats["rejected"]) == (2, 1)
    no_temporaries(world.data)


def test_a_damaged_copy_of_a_record_held_already_gets_its_receipt(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The stick imported once, then one of its packets damaged and the stick imported
    again: the intake holds that record (the very packet the index names), so the record
    is a duplicate with its stored receipt, not a refusal; nothing counted as rejected."""
    world.register()
    packets = world.packets(1, 3)
    bundle = world.bundle(packets, 1, 3)
    status, _out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    stored = {rid: (world.data / "records" / KIOSK / f"{rid}.receipt").read_bytes()
              for rid in packets}
    damaged = list(packets)[1]
    _flip_one_packet(bundle, damaged)
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    assert out[:3] == [f"duplicate {rid}" for rid in packets]
    assert out[3].startswith(f"{bundle.name}: 0 received, 3 already held, 0 refused")
    check_receipts(world, bundle, packets)
    receipts = load_receipts(world.stick / receipts_name(bundle.name))
    assert receipts.refused == {} and receipts.receipts == stored  # the receipts it holds
    stats = world.stats()
    assert (stats["received"], stats["duplicates"], stats["rejected"]) == (3, 3, 0)
    # the packet held is the good one, unchanged
    assert (world.data / "records" / KIOSK / f"{damaged}.pkt").read_bytes() == packets[damaged]
    no_temporaries(world.data)


def test_a_packet_held_without_its_receipt_is_completed_from_a_damaged_copy(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """A kill left the packet linked, without receipt or row; the next copy of it is
    damaged: the packet held is the one the index names, so its receipt is signed now."""
    world.register()
    packets = world.packets(1, 2)
    bundle = world.bundle(packets, 1, 2)
    first = next(iter(packets))
    kiosk = world.data / "records" / KIOSK
    kiosk.mkdir(parents=True)
    (kiosk / f"{first}.pkt").write_bytes(packets[first])  # linked; no receipt, no row
    _flip_one_packet(bundle, first)
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    assert out[:2] == [f"received {rid}" for rid in packets]
    check_receipts(world, bundle, packets)
    stats = world.stats()
    assert (stats["received"], stats["rejected"]) == (2, 0)


def test_a_damaged_copy_of_a_record_held_as_another_packet_is_refused(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """The intake holds another packet for the record: a damaged copy of this one is
    refused as damaged (never given the receipt of the packet held)."""
    world.register()
    held = world.packets(1, 1)
    status, _out, err = run_import(capsys, "--data", str(world.data),
                                   str(world.bundle(held, 1, 1)))
    assert status == 0, err
    record_id = next(iter(held))
    other = {record_id: seal(world.sealer, meta(1, f"{1:06x}"), dict(RECORD))}
    assert other[record_id] != held[record_id]  # sealed again: another packet
    (world.stick / receipts_name(bundle_name(KIOSK, 1, 1))).unlink()
    bundle = world.bundle(other, 1, 1)
    _flip_one_packet(bundle, record_id)
    status, out, _err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 1
    assert out[0].startswith(f"refused {record_id} [sha256_mismatch]: ")
    assert load_receipts(world.stick / receipts_name(bundle.name)).receipts == {}


def _another_intake(root: Path, same_keys_as: Path, *, receipt_key: bool = False) -> Path:
    """An intake data directory with no kiosk registered and ``same_keys_as``'s keys (a
    standby intake), or with its central key but a receipt key of its own (another
    intake that opens the packets and signs its receipts with another key)."""
    data = root / "intake2"
    shutil.copytree(same_keys_as / "keys", data / "keys")
    if receipt_key:
        for name in ("intake.key", "intake.pub"):
            (data / "keys" / name).unlink()
        ensure_intake_keypair(data / "keys")
    return data


def test_a_refusal_never_replaces_a_receipt_in_the_receipts_file(
        world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The stick imported at the office's intake, then at an intake with the same receipt
    key that does not know the kiosk: the receipts file keeps every receipt (a receipt
    beats a refusal, record by record), and says so."""
    world.register()
    packets = world.packets(1, 3)
    bundle = world.bundle(packets, 1, 3)
    status, _out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    path = world.stick / receipts_name(bundle.name)
    first = load_receipts(path)
    standby = _another_intake(tmp_path, same_keys_as=world.data)
    status, out, err = run_import(capsys, "--data", str(standby), str(bundle))
    assert status == 1, err  # refused there: the standby does not know the kiosk
    assert [line.split(" ", 3)[:3] for line in out[:3]] == [
        ["refused", rid, "[unknown_kiosk]:"] for rid in packets]
    assert out[3] == (f"{bundle.name}: 0 received, 0 already held, 3 refused; receipts in "
                      f"{path} (it keeps the receipts this intake gave before for 3 of the "
                      "records refused now)")
    after = load_receipts(path)
    assert after.receipts == first.receipts and after.refused == {}
    check_receipts(world, bundle, packets)


def test_a_refusal_stays_until_a_receipt_comes(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """Two bundles' worth of merging: a record refused (damaged copy) keeps its refusal
    when the next import does not decide it, and a receipt replaces it when it comes."""
    world.register()
    packets = world.packets(1, 2)
    bundle = world.bundle(packets, 1, 2)
    damaged, good = list(packets)
    _flip_one_packet(bundle, damaged)
    status, _out, _err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 1
    path = world.stick / receipts_name(bundle.name)
    assert list(load_receipts(path).refused) == [damaged]
    # the kiosk exports the damaged record again: a bundle of its own, elsewhere
    again = world.bundle({damaged: packets[damaged]}, 1, 2, where=world.stick.parent)
    status, _out, err = run_import(capsys, "--data", str(world.data), "--out",
                                   str(world.stick), str(again))
    assert status == 0, err
    merged = load_receipts(path)
    assert merged.refused == {} and sorted(merged.receipts) == sorted([damaged, good])
    check_receipts(world, bundle, packets)


def test_another_intakes_receipts_file_is_kept(
        world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """The stick imported at the office's intake, then by mistake at another intake: the
    receipts file the kiosk needs is kept byte for byte, the import says why and names
    --out; with --out the other intake's results go there."""
    world.register()
    packets = world.packets(1, 3)
    bundle = world.bundle(packets, 1, 3)
    status, _out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    path = world.stick / receipts_name(bundle.name)
    good = path.read_bytes()
    other = _another_intake(tmp_path, world.data, receipt_key=True)
    for registered in (False, True):  # refusals, or receipts signed by the other key
        if registered:
            assert main(["register", "--data", str(other), "--kiosk", KIOSK,
                         "--key", world.device.public_bytes.hex()]) == 0
        status, out, err = run_import(capsys, "--data", str(other), str(bundle))
        assert status == 1
        # each record's line, and no summary: the receipts file was not written
        assert [line.split(" ", 3)[:2] for line in out] == [
            ["received" if registered else "refused", rid] for rid in packets]
        assert err.startswith(f"kiosk-intake import: {path.name} is there already with "
                              "receipts another intake signed (intake key ")
        assert "--out DIR" in err
        assert ("the records this import took are stored" in err) == registered
        assert err.count("\n") == 1
        assert path.read_bytes() == good
        assert {p.name for p in world.stick.iterdir()} == {bundle.name, path.name}
    check_receipts(world, bundle, packets)
    elsewhere = tmp_path / "out"
    elsewhere.mkdir()
    status, out, err = run_import(capsys, "--data", str(other), "--out", str(elsewhere),
                                  str(bundle))
    assert status == 0, (out, err)
    assert out[:3] == [f"duplicate {rid}" for rid in packets]
    assert sorted(load_receipts(elsewhere / path.name).receipts) == sorted(packets)
    assert path.read_bytes() == good
    # and the office's intake still merges into the file it wrote itself
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    check_receipts(world, bundle, packets)


def test_a_damaged_receipts_file_is_replaced(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.register()
    packets = world.packets(1, 2)
    bundle = world.bundle(packets, 1, 2)
    path = world.stick / receipts_name(bundle.name)
    path.write_bytes(b'{"format": 1, "kind": "ektp-rece')  # cut short: nothing in it reads
    status, _out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    check_receipts(world, bundle, packets)


def test_a_directory_of_bundles_one_cut_short(world: World,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    world.register()
    first, second = world.packets(1, 2), world.packets(3, 2)
    whole = world.bundle(first, 1, 2)
    cut = world.bundle(second, 3, 4)
    data = cut.read_bytes()
    cut.write_bytes(data[: len(data.rstrip(b"\0")) // 2])  # tar pads with zeros: cut data
    (world.stick / ".half-copied.ektp").write_bytes(b"hidden: skipped")
    (world.stick / "notes.txt").write_text("not a bundle")
    status, out, err = run_import(capsys, "--data", str(world.data), str(world.stick))
    assert status == 1
    assert err.startswith(f"kiosk-intake import: {cut.name}") and err.count("\n") == 1
    assert out == [f"received {rid}" for rid in first] + [
        f"{whole.name}: 2 received, 0 already held, 0 refused; receipts in "
        f"{world.stick / receipts_name(whole.name)}"]
    check_receipts(world, whole, first)
    assert not (world.stick / receipts_name(cut.name)).exists()
    assert world.stored() == sorted(f"{rid}.{ext}" for rid in first for ext in ("pkt", "receipt"))
    assert world.stats()["received"] == 2


def test_two_bundles_in_a_directory_and_receipts_elsewhere(
        world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    world.register()
    # packets larger than the copy's block (1 MiB): streamed in pieces
    first, second = world.packets(1, 2), world.packets(3, 3, portrait_bytes=2_500_000)
    one, two = world.bundle(first, 1, 2), world.bundle(second, 3, 5)
    out_dir = tmp_path / "receipts"
    out_dir.mkdir()
    status, out, err = run_import(capsys, "--data", str(world.data), "--out", str(out_dir),
                                  str(world.stick))
    assert status == 0, err
    assert [line for line in out if not line.startswith("received ")] == [
        f"{one.name}: 2 received, 0 already held, 0 refused; receipts in "
        f"{out_dir / receipts_name(one.name)}",
        f"{two.name}: 3 received, 0 already held, 0 refused; receipts in "
        f"{out_dir / receipts_name(two.name)}"]
    check_receipts(world, one, first, out_dir)
    check_receipts(world, two, second, out_dir)
    assert not list(world.stick.glob("*.receipts"))
    assert world.stats()["received"] == 5


def test_usage_mistakes_exit_2(world: World, capsys: pytest.CaptureFixture[str],
                               tmp_path: Path) -> None:
    world.register()
    bundle = world.bundle(world.packets(1, 1), 1, 1)
    missing = tmp_path / "no-such-stick"
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle), str(missing))
    assert (status, out) == (2, [])
    assert err == f"kiosk-intake import: no such file or directory: {missing}\n"
    empty = tmp_path / "empty"
    empty.mkdir()
    status, _out, err = run_import(capsys, "--data", str(world.data), str(empty))
    assert status == 2 and "no bundle" in err and err.count("\n") == 1
    status, _out, err = run_import(capsys, "--data", str(tmp_path / "nowhere"), str(bundle))
    assert status == 2 and "is not a directory" in err
    status, _out, err = run_import(capsys, "--data", str(empty), str(bundle))
    # a mistyped --data is named; never "keys init" there (a new central key in the wrong
    # directory would open nothing)
    assert status == 2 and "not an intake's data directory" in err and "keys init" not in err
    assert "central.key is missing" in err
    assert not (empty / "intake.lock").exists()  # not an intake's: nothing made there
    status, _out, err = run_import(capsys, "--data", str(world.data), "--db", "sqlite:///x",
                                   str(bundle))
    assert status == 2 and "postgresql://" in err
    assert world.stats()["received"] == 0


def test_a_running_sqlite_server_keeps_the_import_out(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.register()
    bundle = world.bundle(world.packets(1, 1), 1, 1)
    fd = lock_data_dir(world.data)  # as serve without --db holds it
    try:
        status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    finally:
        os.close(fd)
    assert (status, out) == (1, [])
    assert err == (f"kiosk-intake import: kiosk-intake serve (or another import) is running "
                   f"on {world.data}; stop it for the import, "
                   "or serve and import with --db so both can share it\n")
    assert world.stored() == []
    assert not (world.stick / receipts_name(bundle.name)).exists()


def test_a_receipts_file_that_cannot_be_written(world: World,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    world.register()
    packets = world.packets(1, 2)
    bundle = world.bundle(packets, 1, 2)
    # a directory where the receipts file goes: no rename onto it, even for root (a
    # read-only or full stick fails the same way, earlier)
    in_the_way = world.stick / receipts_name(bundle.name)
    in_the_way.mkdir()
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 1
    assert out == [f"received {rid}" for rid in packets]
    assert err.startswith(f"kiosk-intake import: cannot write the receipts file {in_the_way}")
    assert err.count("\n") == 1
    assert [p.name for p in world.stick.iterdir() if p.name.startswith(".")] == []
    # stored: the next import (where it can write) finds them held and writes the receipts
    in_the_way.rmdir()
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    assert out[:2] == [f"duplicate {rid}" for rid in packets]
    check_receipts(world, bundle, packets)


def test_import_with_postgresql(world: World, capsys: pytest.CaptureFixture[str],
                                pg_url: str) -> None:
    world.register()
    packets = world.packets(1, 3)
    bundle = world.bundle(packets, 1, 3)
    fd = lock_data_dir(world.data, shared=True)  # a PostgreSQL-mode serve: shares DIR
    try:
        status, out, err = run_import(capsys, "--data", str(world.data), "--db", pg_url,
                                      str(bundle))
    finally:
        os.close(fd)
    assert status == 0, err
    assert out[:3] == [f"received {rid}" for rid in packets]
    check_receipts(world, bundle, packets)
    assert world.stats("--db", pg_url)["received"] == 3
    no_temporaries(world.data)


def test_what_a_killed_import_left_the_next_one_completes(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    """A kill after the packet was linked into place, before its receipt and row: the next
    import stores nothing twice, signs the missing receipt, counts the record once; and a
    staged copy the killed process left is swept."""
    import subprocess
    import sys

    from intake import staging

    world.register()
    packets = world.packets(1, 2)
    bundle = world.bundle(packets, 1, 2)
    first, second = list(packets)
    kiosk = world.data / "records" / KIOSK
    kiosk.mkdir(parents=True)
    (kiosk / f"{first}.pkt").write_bytes(packets[first])  # linked; no receipt, no row
    gone = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True, check=True).stdout)
    left = staging.staged_name(kiosk / f"{second}.pkt").replace(f"-{os.getpid()}-",
                                                                 f"-{gone}-")
    (kiosk / left).write_bytes(packets[second][:100])  # a staged copy, half written
    status, out, err = run_import(capsys, "--data", str(world.data), str(bundle))
    assert status == 0, err
    # the first was on disk without its row: received now (its first row), counted once
    assert out[:2] == [f"received {first}", f"received {second}"]
    check_receipts(world, bundle, packets)
    assert world.stored() == sorted(f"{rid}.{ext}" for rid in packets
                                    for ext in ("pkt", "receipt"))
    assert world.stats()["received"] == 2
    no_temporaries(world.data)
