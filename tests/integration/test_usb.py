"""Records by USB stick (docs/usb.md): ``kiosk queue export`` writes bundles a stick can
carry, never marking a record exported before its bundle is whole and read back;
``kiosk queue import`` acknowledges only with receipts that verify. The kiosk's half, with
receipts signed here by the site's own intake key exactly as ``kiosk-intake import`` signs
them; the round trip through the intake is in ``test_usb_roundtrip.py``."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import io
import os
import random
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk.bundle import BundleReader, Receipts
from kiosk.config import load_config
from kiosk.journal import Journal
from kiosk.receipts import IntakeKey, make_receipt, verify_receipt
from kiosk.runtime import open_journal
from kiosk.sealing import build_packet
from kiosk.upload import usb
from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import KIOSK_ID, Site, closed_port_url, demo_site_fixtures

template, site, ids = demo_site_fixtures(4, seed=29)


def kiosk(site: Site, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, "queue", *args], env=kiosk_env(site.config),
                          capture_output=True, text=True, timeout=120)


def states(site: Site) -> dict[str, str]:
    with Journal.open_readonly(site.journal_path) as journal:
        return {r.id: r.state for r in journal.records()}


def packets(site: Site) -> dict[str, bytes]:
    with Journal.open_readonly(site.journal_path) as journal:
        return {r.id: build_packet(r.manifest, journal.step_blobs(r.id))
                for r in journal.records() if r.manifest is not None}


def sign_receipts(site: Site, bundle: Path) -> Path:
    """What the central office writes beside ``bundle``: a receipt per packet."""
    key = IntakeKey.load_or_create(site.intake_dir / "keys" / "intake.key")
    receipts = Receipts(site.kiosk_id, bundle.name, "2026-12-01T05:00:00Z")
    with BundleReader(bundle) as reader:
        for entry in reader:
            receipts.receipts[entry.record_id] = make_receipt(
                key, site.kiosk_id, entry.record_id, reader.packet(entry).read(),
                "2026-12-01T05:00:00Z")
    path = bundle.with_suffix(".receipts")
    path.write_bytes(receipts.dumps())
    return path


def visible(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@contextlib.contextmanager
def tmpfs_stick(where: Path, kib: int) -> Iterator[Path]:
    """A real stick's stand-in: a ``kib`` KiB tmpfs mounted at ``where`` (its own file
    system, so it fills up and can be remounted read-only); skips when not root."""
    where.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs as the stick takes root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={kib}k,mode=0755", "tmpfs",
                              str(where)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def remount(stick: Path, mode: str) -> None:
    """``ro``: the stick's write-protect switch; ``rw``: switched back."""
    subprocess.run(["mount", "-o", f"remount,{mode}", str(stick)], check=True)


def test_export_writes_a_whole_bundle_and_marks_its_records(site: Site, ids: list[str],
                                                            tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    result = kiosk(site, "export", "--local", "--to", str(stick))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"exported {i}" for i in ids]
    assert "kiosk queue import" in result.stderr  # what to do next
    (bundle,) = stick.iterdir()
    assert bundle.name.startswith(f"{KIOSK_ID}-") and bundle.suffix == ".ektp"
    ours = packets(site)
    with BundleReader(bundle) as reader:
        assert [e.record_id for e in reader] == ids
        for entry in reader:
            assert reader.packet(entry).read() == ours[entry.record_id]
    assert set(states(site).values()) == {"exported"}
    # nothing waits now; the uploader leaves exported records to the stick
    again = kiosk(site, "export", "--local", "--to", str(stick))
    assert again.returncode == 0 and again.stdout == ""
    assert "--again" in again.stderr
    upload = subprocess.run([*KIOSK, "upload", "--once"], env=kiosk_env(site.configure(
        closed_port_url())), capture_output=True, text=True, timeout=120)
    assert upload.returncode == 0, upload.stderr
    # a lost stick: --again writes them once more, beside (never over) the first bundle
    lost = kiosk(site, "export", "--local", "--to", str(stick), "--again")
    assert lost.returncode == 0, lost.stderr
    assert lost.stdout.splitlines() == [f"exported {i}" for i in ids]
    second = [p for p in stick.iterdir() if p != bundle]
    assert len(second) == 1 and second[0].name.endswith("-2.ektp")
    with Journal.open_readonly(site.journal_path) as journal:
        events = [e.event for e in journal.audit_events(event="record_exported")]
    assert len(events) == len(ids)


def test_a_revoked_kiosks_records_wait_for_the_same_stick(site: Site, ids: list[str],
                                                         tmp_path: Path) -> None:
    """The office refused a record because this kiosk is revoked: the kiosk says the office
    trusts it again and imports the same stick again; nothing is to be exported again."""
    stick = tmp_path / "stick"
    stick.mkdir()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    (bundle,) = stick.iterdir()
    receipts_path = sign_receipts(site, bundle)
    from kiosk.bundle import load_receipts
    from kiosk.core.intake_api import RefusalCode

    receipts = load_receipts(receipts_path)
    del receipts.receipts[ids[0]]
    receipts.refused[ids[0]] = {"code": RefusalCode.REVOKED_KIOSK.value,
                                "reason": f"kiosk {KIOSK_ID} is revoked", "permanent": True}
    receipts_path.write_bytes(receipts.dumps())
    result = kiosk(site, "import", str(stick))
    assert result.returncode == 1
    (line,) = [x for x in result.stderr.splitlines() if "refused record" in x]
    assert f"refused record {ids[0]} [{RefusalCode.REVOKED_KIOSK.value}]" in line
    assert "kiosk-intake register --unrevoke" in line
    assert "imports the same stick again; nothing needs exporting again" in line
    assert "--again" not in line
    assert states(site)[ids[0]] == "exported"


def test_import_acknowledges_only_with_receipts_that_verify(site: Site, ids: list[str],
                                                            tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    (bundle,) = stick.iterdir()
    receipts_path = sign_receipts(site, bundle)
    from kiosk.bundle import load_receipts

    receipts = load_receipts(receipts_path)
    # one receipt is for other bytes, one record the intake refused
    other = make_receipt(IntakeKey.load_or_create(site.intake_dir / "keys" / "intake.key"),
                         KIOSK_ID, ids[1], b"not this packet", "2026-12-01T05:00:00Z")
    receipts.receipts[ids[1]] = other
    del receipts.receipts[ids[2]]
    receipts.refused[ids[2]] = {"code": "bad_signature", "reason": "the signature does not "
                                "verify", "permanent": True}
    receipts_path.write_bytes(receipts.dumps())
    result = kiosk(site, "import", str(stick))
    assert result.returncode == 1
    assert sorted(result.stdout.splitlines()) == sorted(
        f"acknowledged {i}" for i in (ids[0], ids[3]))
    assert "different packet" in result.stderr and ids[1] in result.stderr
    assert "refused record" in result.stderr and "[bad_signature]" in result.stderr
    # a packet at fault: a maintainer's, never "export it again" (the same packet)
    assert "exporting it again gives the same packet" in result.stderr
    assert "--again" not in result.stderr
    now = states(site)
    assert [now[i] for i in ids] == ["acknowledged", "exported", "exported", "acknowledged"]
    with Journal.open_readonly(site.journal_path) as journal:
        ours = packets(site)
        for record_id in (ids[0], ids[3]):
            receipt = journal.receipt(record_id)
            assert receipt is not None
            verify_receipt(receipt, site.intake_key, kiosk_id=KIOSK_ID, record_id=record_id,
                           packet_sha256=hashlib.sha256(ours[record_id]).hexdigest())
    # the office fixes it and writes the file again: the rest are acknowledged, the first
    # two are not counted twice
    sign_receipts(site, bundle)
    result = kiosk(site, "import", str(receipts_path))
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(
        f"acknowledged {i}" for i in (ids[1], ids[2]))
    assert "2 acknowledged before" in result.stderr
    assert set(states(site).values()) == {"acknowledged"}


def test_import_refuses_what_is_not_for_this_kiosk(site: Site, ids: list[str],
                                                   tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    assert kiosk(site, "import", str(tmp_path / "nothing")).returncode == 2
    none = kiosk(site, "import", str(stick))
    assert none.returncode == 2 and "kiosk-intake import" in none.stderr
    foreign = Receipts("palu-02", "x.ektp", "now")
    (stick / "x.receipts").write_bytes(foreign.dumps())
    (stick / "y.receipts").write_bytes(b'{"format": 1, "kind": "ektp-rece')
    result = kiosk(site, "import", str(stick))
    assert result.returncode == 1
    assert "is for kiosk palu-02" in result.stderr and "not JSON" in result.stderr
    assert "no receipts file for kiosk test-01" in result.stderr
    assert "Traceback" not in result.stderr
    assert set(states(site).values()) == {"sealed"}
    # a stick several kiosks share: the others' files are left alone, not an error
    (stick / "y.receipts").unlink()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    (bundle,) = stick.glob("*.ektp")
    sign_receipts(site, bundle)
    result = kiosk(site, "import", str(stick))
    assert result.returncode == 0, result.stderr
    assert "palu-02; left alone" in result.stderr
    assert set(states(site).values()) == {"acknowledged"}


def _open(site: Site) -> Journal:
    return open_journal(load_config(site.config), owner=False)


def test_a_full_stick_takes_the_oldest_records_that_fit(site: Site, ids: list[str],
                                                        tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    sizes = {i: len(p) for i, p in packets(site).items()}
    room = usb.STICK_MARGIN_BYTES + sum(sizes[i] for i in ids[:2]) + 40_000
    real = usb.shutil.disk_usage
    monkeypatch.setattr(usb.shutil, "disk_usage", lambda p: real(p)._replace(free=room))
    out, err = io.StringIO(), io.StringIO()
    with _open(site) as journal:
        code = usb.export_command(journal, KIOSK_ID, stick, again=False, out=out, err=err)
    assert code == 1
    assert out.getvalue().splitlines() == [f"exported {i}" for i in ids[:2]]
    assert "the stick is full" in err.getvalue() and ids[2] in err.getvalue()
    assert [states(site)[i] for i in ids] == ["exported", "exported", "sealed", "sealed"]
    assert len(visible(stick)) == 1
    # nothing fits at all
    monkeypatch.setattr(usb.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    with _open(site) as journal:
        code = usb.export_command(journal, KIOSK_ID, stick, again=False, out=out, err=err)
    assert code == 1 and len(visible(stick)) == 1


def test_a_failing_stick_marks_nothing_and_leaves_no_file(site: Site, ids: list[str],
                                                         tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    calls = {"n": 0}
    real_add = usb.BundleWriter.add

    def add(self: usb.BundleWriter, *args: object) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.EIO, "Input/output error")
        real_add(self, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(usb.BundleWriter, "add", add)
    err = io.StringIO()
    with _open(site) as journal:
        code = usb.export_command(journal, KIOSK_ID, stick, again=False, out=io.StringIO(),
                                  err=err)
    assert code == 1 and "Input/output error" in err.getvalue()
    assert set(states(site).values()) == {"sealed"}
    assert list(stick.iterdir()) == []
    monkeypatch.undo()

    # a stick that reads back other bytes than were written
    real_verify = usb._verify

    def flip_then_verify(path: Path, record_ids: list[str]) -> None:
        data = bytearray(path.read_bytes())
        data[700] ^= 0x01  # inside the first packet
        path.write_bytes(bytes(data))
        real_verify(path, record_ids)

    monkeypatch.setattr(usb, "_verify", flip_then_verify)
    err = io.StringIO()
    with _open(site) as journal:
        code = usb.export_command(journal, KIOSK_ID, stick, again=False, out=io.StringIO(),
                                  err=err)
    assert code == 1 and "reads back different" in err.getvalue()
    assert set(states(site).values()) == {"sealed"}
    assert list(stick.iterdir()) == []


def test_export_refuses_what_is_not_a_writable_stick(site: Site, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    result = kiosk(site, "export", "--to", str(tmp_path / "not-mounted"))
    assert result.returncode == 2 and "is the stick mounted" in result.stderr
    # an empty mount point is a directory of the kiosk's own disk: not taken for a stick
    mount_point = tmp_path / "usb"
    mount_point.mkdir()
    result = kiosk(site, "export", "--to", str(mount_point))
    assert result.returncode == 2, result.stderr
    assert "on the kiosk's own disk" in result.stderr and "--local" in result.stderr
    assert list(mount_point.iterdir()) == [] and set(states(site).values()) == {"sealed"}
    # a stick mounted read-only (its switch, or remounted after errors)
    real = os.statvfs

    class ReadOnly:
        def __init__(self, path: object) -> None:
            self._real = real(path)  # type: ignore[arg-type]
            self.f_flag = self._real.f_flag | os.ST_RDONLY

    monkeypatch.setattr(usb.os, "statvfs", ReadOnly)
    err = io.StringIO()
    with _open(site) as journal:
        code = usb.export_command(journal, KIOSK_ID, mount_point, again=False,
                                  out=io.StringIO(), err=err)
    assert code == 1 and "is read-only" in err.getvalue()
    # a file name with terminal escapes is printed without them
    assert usb.shown(tmp_path / "\x1b[2Jx") == f"{tmp_path}/?[2Jx"


def test_a_kill_at_any_instant_loses_nothing(site: Site, ids: list[str],
                                            tmp_path: Path) -> None:
    """SIGKILL ``kiosk queue export`` at random instants: a record is ``exported`` only
    when a whole, named bundle on the stick holds exactly its packet; whatever the kills
    left, the next export completes."""
    stick = tmp_path / "stick"
    stick.mkdir()
    rng = random.Random(29)
    ours = packets(site)
    for _ in range(6):
        proc = subprocess.Popen([*KIOSK, "queue", "export", "--local", "--to", str(stick),
                                 "--again"],
                                env=kiosk_env(site.config), stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.2, 1.5))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        held: dict[str, bytes] = {}
        for bundle in stick.glob("*.ektp"):
            with BundleReader(bundle) as reader:  # a named bundle is always whole
                held |= {e.record_id: reader.packet(e).read() for e in reader}
        for record_id, state in states(site).items():
            assert state in ("sealed", "exported")
            if state == "exported":
                assert held[record_id] == ours[record_id]
    partial = stick / f".{KIOSK_ID}-export-999999999-0a1b2c3d.partial"
    partial.write_bytes(b"what a killed export left")
    final = kiosk(site, "export", "--local", "--to", str(stick), "--again")
    assert final.returncode == 0, final.stderr
    assert set(states(site).values()) == {"exported"}
    assert not [p for p in stick.iterdir() if p.name.endswith(".partial")]


def test_the_doctor_counts_records_on_sticks_and_warns_when_receipts_are_late(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from kiosk.doctor.journal import check_outbox

    stick = tmp_path / "stick"
    stick.mkdir()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    config = load_config(site.config)
    now = datetime.now(UTC)
    backlog = next(f for f in check_outbox(config, now=now) if f.check == "backlog")
    assert backlog.status == "ok"
    assert f"{len(ids)} exported to USB, waiting for their receipts" in backlog.detail
    late = next(f for f in check_outbox(config, now=now + timedelta(days=3))
                if f.check == "backlog")
    assert late.status == "warn" and "3.0 days" in late.detail
    assert "kiosk queue import" in late.fix and "--again" in late.fix
    assert "sends its records over the link 7 days after their export" in late.fix
    # the team enrolls on after the export: a record waits to be sent, the stick is late
    enrolled = subprocess.run([*KIOSK, "demo", "--citizens", "1"], env=kiosk_env(site.config),
                              capture_output=True, text=True, timeout=120)
    assert enrolled.returncode == 0, enrolled.stderr
    both = next(f for f in check_outbox(config, now=now + timedelta(days=3))
                if f.check == "backlog")
    assert both.status in ("warn", "fail") and "exported to USB" in both.detail
    assert "kiosk queue import" in both.fix


def test_a_packet_too_large_for_a_bundle_stays_for_the_upload(
        site: Site, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    sizes = {i: len(p) for i, p in packets(site).items()}
    limit = sorted(sizes.values())[-1] - 1  # the largest record no longer fits
    monkeypatch.setattr(usb, "MAX_PACKET_BYTES", limit)
    out, err = io.StringIO(), io.StringIO()
    with _open(site) as journal:
        code = usb.export_command(journal, KIOSK_ID, stick, again=False, out=out, err=err)
    big = max(sizes, key=lambda i: sizes[i])
    assert code == 1 and big in err.getvalue() and "upload only" in err.getvalue()
    assert out.getvalue().splitlines() == [f"exported {i}" for i in ids if i != big]
    assert states(site)[big] == "sealed"
    with _open(site) as journal:  # the stick button: not "cannot be read", it reads
        report = usb.sync_stick(journal, KIOSK_ID, None, stick, data_dir=None)
    assert report.exported.too_large == [big] and [i for i, _ in report.exported.unreadable
                                                   ] == [big]


def test_the_officers_stick_button_takes_receipts_then_writes_the_rest(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """``sync_stick``, what the touchscreen's USB button runs: nothing mounted is said as
    such; a stick with the office's receipts acknowledges those records first, then takes
    every record still waiting; a second press has nothing left to write."""
    from kiosk.receipts import load_intake_public_key

    config = load_config(site.config)
    intake_key = load_intake_public_key(site.intake_dir / "keys" / "intake.pub")
    empty = tmp_path / "usb"
    empty.mkdir()
    with _open(site) as journal:
        report = usb.sync_stick(journal, KIOSK_ID, intake_key, empty,
                                data_dir=config.data_dir)
    assert report.problem == usb.NO_STICK and "own disk" in report.why
    assert set(states(site).values()) == {"sealed"}
    # A stick: every waiting record goes on it.
    stick = tmp_path / "stick"
    stick.mkdir()
    with _open(site) as journal:
        report = usb.sync_stick(journal, KIOSK_ID, intake_key, stick, data_dir=None)
    assert report.problem == "" and report.imported.files == 0
    assert report.waiting == 4 and report.exported.exported == ids and report.left == 0
    assert set(states(site).values()) == {"exported"}
    # Back from the office with its receipts: they acknowledge; nothing is left to write.
    (bundle,) = report.exported.bundles
    sign_receipts(site, bundle)
    with _open(site) as journal:  # a kiosk without upload.intake_key: said, not skipped
        unread = usb.sync_stick(journal, KIOSK_ID, None, stick, data_dir=None)
    assert unread.receipts_unread == 1 and unread.imported.acknowledged == []
    assert set(states(site).values()) == {"exported"}
    with _open(site) as journal:
        report = usb.sync_stick(journal, KIOSK_ID, intake_key, stick, data_dir=None)
    assert report.problem == "" and report.imported.acknowledged == ids
    assert report.imported.problems == [] and report.waiting == 0 and report.left == 0
    assert set(states(site).values()) == {"acknowledged"}
    with _open(site) as journal:
        again = usb.sync_stick(journal, KIOSK_ID, intake_key, stick, data_dir=None)
    assert again.imported.already == 4 and not again.imported.acknowledged
    assert again.exported.exported == [] and again.waiting == 0


def test_a_lost_stick_s_records_go_on_the_next_one(site: Site, ids: list[str],
                                                  tmp_path: Path) -> None:
    """A stick goes missing on the tour: the next one pressed takes every record the office
    has not confirmed, those already exported too (never twice on the same stick); the
    office takes the second copy of any record it holds as a duplicate."""
    from kiosk.receipts import load_intake_public_key

    intake_key = load_intake_public_key(site.intake_dir / "keys" / "intake.pub")
    lost, spare = tmp_path / "lost", tmp_path / "spare"
    lost.mkdir()
    spare.mkdir()
    with _open(site) as journal:
        first = usb.sync_stick(journal, KIOSK_ID, intake_key, lost, data_dir=None)
    assert first.exported.exported == ids and set(states(site).values()) == {"exported"}
    with _open(site) as journal:  # the same stick again: it carries them all
        again = usb.sync_stick(journal, KIOSK_ID, intake_key, lost, data_dir=None)
    assert again.waiting == 0 and again.exported.exported == []
    with _open(site) as journal:  # the lost stick's records, on the spare
        second = usb.sync_stick(journal, KIOSK_ID, intake_key, spare, data_dir=None)
    assert second.waiting == 4 and second.exported.exported == ids and second.left == 0
    (bundle,) = second.exported.bundles
    with BundleReader(bundle) as reader:
        assert [e.record_id for e in reader.index.records] == ids
    # Back from the office: the spare's receipts confirm them; nothing goes anywhere again.
    sign_receipts(site, bundle)
    with _open(site) as journal:
        back = usb.sync_stick(journal, KIOSK_ID, intake_key, spare, data_dir=None)
        assert usb.stick_waiting(journal, KIOSK_ID, lost) == []
    assert back.imported.acknowledged == ids and back.waiting == 0
    assert set(states(site).values()) == {"acknowledged"}


def test_a_mount_point_that_cannot_be_read_is_no_stick(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """An automount whose stick was pulled answers a look with an error (or after a device
    timeout): the officer reads "no stick", not "the stick failed"."""
    stick = tmp_path / "usb"
    stick.mkdir()

    def gone(path: object) -> None:
        raise OSError(errno.ENODEV, "No such device")

    monkeypatch.setattr(usb.os, "statvfs", gone)
    kind, status, why = usb.stick_problem(stick, None, local=False)
    assert kind == usb.NO_STICK and status == 1 and "No such device" in why


def test_a_write_protected_stick_still_gives_the_offices_receipts(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """The stick comes back from the office with its receipts and the write-protect switch
    on: the receipts acknowledge their records (as ``kiosk queue import`` would on it); the
    report then says the stick could not be written, and the officer reads both."""
    from kiosk.receipts import load_intake_public_key
    from kiosk.screens.flow_staff import usb_summary

    config = load_config(site.config)
    intake_key = load_intake_public_key(site.intake_dir / "keys" / "intake.pub")
    with tmpfs_stick(tmp_path / "stick", 4096) as stick:
        with _open(site) as journal:
            report = usb.sync_stick(journal, KIOSK_ID, intake_key, stick,
                                    data_dir=config.data_dir)
        assert report.problem == "" and report.exported.exported == ids
        (bundle,) = report.exported.bundles
        sign_receipts(site, bundle)
        remount(stick, "ro")
        with _open(site) as journal:
            report = usb.sync_stick(journal, KIOSK_ID, intake_key, stick,
                                    data_dir=config.data_dir)
        assert report.problem == usb.READ_ONLY and "read-only" in report.why
        assert report.imported.acknowledged == ids and report.stick_read
        assert set(states(site).values()) == {"acknowledged"}
        assert [line.text("en") for line in usb_summary(report)] == [
            "Records confirmed by the office: 4.",
            "The stick cannot be written: it is write-protected or damaged.",
            "No records are waiting for the stick.",
            "You may remove the stick."]
        assert visible(stick) == sorted([bundle.name, bundle.with_suffix(".receipts").name])


def test_a_record_that_cannot_be_read_is_not_sent_to_another_stick(
        site: Site, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A record the journal cannot give (damaged) is counted once, for the maintainer: not
    among the records "still waiting" that another stick would take."""
    from kiosk.errors import JournalError
    from kiosk.screens.flow_staff import usb_summary

    real = usb.packet_of

    def damaged(journal: Journal, info: usb.RecordInfo) -> bytes:
        if info.id == ids[1]:
            raise JournalError("a page of the journal does not read")
        return real(journal, info)

    monkeypatch.setattr(usb, "packet_of", damaged)
    stick = tmp_path / "stick"
    stick.mkdir()
    with _open(site) as journal:
        report = usb.sync_stick(journal, KIOSK_ID, None, stick, data_dir=None)
    assert [i for i, _why in report.exported.unreadable] == [ids[1]]
    assert report.waiting == 4 and report.left == 0
    assert [line.text("en") for line in usb_summary(report)] == [
        "Records copied to the stick: 3.",
        "Records that could not be read: 1. A maintainer must check the journal.",
        "You may remove the stick. Take it to the office."]


def test_a_journal_that_cannot_note_the_export_is_not_blamed_on_the_stick(
        site: Site, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The bundle is whole on the stick, the kiosk's journal cannot mark its records (its
    disk full, a page that does not write): the officer reads that the records are on the
    stick and the kiosk needs a maintainer, not "try another stick"; the records stay in
    the outbox, and the stick may go to the office."""
    from kiosk.errors import JournalError
    from kiosk.screens.flow_staff import usb_summary

    def fails(self: Journal, record_ids: list[str], bundle: str) -> None:
        raise JournalError("database or disk is full")

    monkeypatch.setattr(Journal, "mark_exported", fails)
    stick = tmp_path / "stick"
    stick.mkdir()
    with _open(site) as journal:
        report = usb.sync_stick(journal, KIOSK_ID, None, stick, data_dir=None)
    assert report.exported.journal_failed and report.exported.exported == []
    assert len(report.exported.bundles) == 1 and report.exported.bundles[0].exists()
    assert set(states(site).values()) == {"sealed"}  # still waiting: nothing lost
    assert [line.text("en") for line in usb_summary(report)] == [
        "The records are on the stick, but the kiosk could not note it: a maintainer must "
        "check the kiosk. Nothing was lost: the records stay on the kiosk too.",
        "You may remove the stick. Take it to the office."]
    assert all(line.text("id") != line.text("en") for line in usb_summary(report))


def test_a_stick_too_full_for_any_record_is_not_sent_to_the_office(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """A real file system too small for even one record: nothing is copied, the officer
    reads that the stick is full and may be removed, not that it goes to the office."""
    from kiosk.screens.flow_staff import usb_summary

    smallest = min(len(p) for p in packets(site).values())
    with tmpfs_stick(tmp_path / "stick", (usb.STICK_MARGIN_BYTES + smallest // 2) // 1024) as stick:
        with _open(site) as journal:
            report = usb.sync_stick(journal, KIOSK_ID, None, stick, data_dir=None)
        assert report.exported.did_not_fit == ids and report.left == 4
        assert visible(stick) == []
    assert set(states(site).values()) == {"sealed"}
    assert [line.text("en") for line in usb_summary(report)] == [
        "The stick is full: no record could be copied.",
        "Records still waiting on the kiosk: 4. Use another stick.",
        "You may remove the stick."]


def test_the_stick_button_removes_the_bundles_the_office_confirmed(
        site: Site, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A small stick on a tour: day 1 it takes the two oldest records and is full; back
    from the office with their receipts, day 2 those records are acknowledged, their bundle
    leaves the stick (the directory fsync'd: the removal is durable) before the export,
    and the room it freed takes the other two. The office's receipts file stays."""
    from kiosk.receipts import load_intake_public_key
    from kiosk.screens.flow_staff import usb_summary

    sizes = [len(packets(site)[i]) for i in ids]
    room = max(sizes[0] + sizes[1], sizes[2] + sizes[3]) + 40_000
    assert room < sizes[0] + sizes[1] + sizes[2]  # never three at once
    config = load_config(site.config)
    intake_key = load_intake_public_key(site.intake_dir / "keys" / "intake.pub")
    with tmpfs_stick(tmp_path / "stick", (usb.STICK_MARGIN_BYTES + room) // 1024) as stick:
        with _open(site) as journal:
            day1 = usb.sync_stick(journal, KIOSK_ID, intake_key, stick,
                                  data_dir=config.data_dir)
        assert day1.exported.exported == ids[:2] and day1.left == 2
        (bundle,) = day1.exported.bundles
        size = bundle.stat().st_size
        receipts = sign_receipts(site, bundle)
        synced: list[Path] = []
        real_fsync_dir = usb.fsync_dir
        monkeypatch.setattr(usb, "fsync_dir",
                            lambda d: (synced.append(Path(d)), real_fsync_dir(d)))
        with _open(site) as journal:
            day2 = usb.sync_stick(journal, KIOSK_ID, intake_key, stick,
                                  data_dir=config.data_dir)
        assert day2.imported.acknowledged == ids[:2]
        assert day2.cleanup.removed == [bundle.name] and day2.cleanup.records == 2
        assert day2.cleanup.freed == size and synced == [stick]
        assert day2.exported.exported == ids[2:] and day2.left == 0
        (new,) = day2.exported.bundles
        assert visible(stick) == sorted([receipts.name, new.name])
    assert [states(site)[i] for i in ids] == ["acknowledged"] * 2 + ["exported"] * 2
    assert [line.text("en") for line in usb_summary(day2)] == [
        "Records confirmed by the office: 2.",
        "Old records the office confirmed were removed from the stick: 2.",
        "Records copied to the stick: 2.",
        "You may remove the stick. Take it to the office."]


def test_only_the_kiosks_own_confirmed_bundles_leave_the_stick(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """``kiosk queue import`` removes a bundle only when this kiosk wrote it (its name, a
    bundle of this kiosk listing records of its journal under that name's span) and the
    office confirmed every record in it; it says so in one line. A bundle with a record
    not yet confirmed, receipts files, another kiosk's files, a file renamed, one that is
    not a bundle, a directory or a link stay."""
    from kiosk.bundle import bundle_name, load_receipts
    from tests.bundles import write_bundle

    stick = tmp_path / "stick"
    stick.mkdir()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    (whole,) = stick.glob("*.ektp")  # all four records: the office confirms two
    receipts_path = sign_receipts(site, whole)
    receipts = load_receipts(receipts_path)
    for record_id in ids[2:]:
        del receipts.receipts[record_id]
    receipts_path.write_bytes(receipts.dumps())
    with Journal.open_readonly(site.journal_path) as journal:
        seq = {r.id: r.seq for r in journal.records()}
    ours = packets(site)
    pair = {i: ours[i] for i in ids[:2]}
    name = bundle_name(KIOSK_ID, seq[ids[0]], seq[ids[1]])
    removable = [write_bundle(stick / name, KIOSK_ID, pair),  # as an export names them
                 write_bundle(stick / name.replace(".ektp", "-2.ektp"), KIOSK_ID, pair)]
    write_bundle(stick / bundle_name(KIOSK_ID, seq[ids[0]], seq[ids[2]]), KIOSK_ID, pair)
    stranger = f"{KIOSK_ID}-{9_000_000:07d}-{ids[0].rsplit('-', 1)[1]}"  # not in the journal
    write_bundle(stick / bundle_name(KIOSK_ID, 9_000_000, 9_000_000), KIOSK_ID,
                 {stranger: ours[ids[0]]})
    (stick / "palu-02-0000001-to-0000002.ektp").write_bytes(removable[0].read_bytes())
    (stick / "copy.ektp").write_bytes(removable[0].read_bytes())
    (stick / bundle_name(KIOSK_ID, 9_999_998, 9_999_999)).write_bytes(b"not a bundle")
    (stick / bundle_name(KIOSK_ID, 9_999_990, 9_999_991)).mkdir()
    (stick / name.replace(".ektp", "-3.ektp")).symlink_to(removable[0])
    (stick / f".{KIOSK_ID}-export-1-0a1b2c3d.partial").write_bytes(b"hidden")
    before = visible(stick)
    result = kiosk(site, "import", str(stick))
    assert result.returncode == 0, result.stderr
    assert sorted(result.stdout.splitlines()) == sorted(f"acknowledged {i}" for i in ids[:2])
    (removed,) = [line for line in result.stderr.splitlines() if "removed" in line]
    assert removed.startswith("kiosk queue import: removed 2 bundles the office confirmed "
                              "(4 records, ")
    assert removed.endswith(f"from {stick}: {removable[1].name}, {removable[0].name}; the "
                            "receipts files stay")
    assert "9999998-to-9999999.ektp is left on the stick" in result.stderr
    assert visible(stick) == sorted(set(before) - {p.name for p in removable})
    # imported again: nothing more goes
    again = kiosk(site, "import", str(stick))
    assert again.returncode == 0 and "removed" not in again.stderr
    assert visible(stick) == sorted(set(before) - {p.name for p in removable})


def test_queue_import_on_a_write_protected_stick_removes_nothing_and_says_so(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    with tmpfs_stick(tmp_path / "stick", 4096) as stick:
        assert kiosk(site, "export", "--to", str(stick)).returncode == 0
        (bundle,) = stick.glob("*.ektp")
        sign_receipts(site, bundle)
        remount(stick, "ro")
        result = kiosk(site, "import", str(stick))
        assert result.returncode == 0, result.stderr
        assert len(result.stdout.splitlines()) == len(ids)
        assert f"1 bundle the office confirmed stay on {stick}: it cannot be written" in (
            result.stderr)
        assert bundle.exists()
        remount(stick, "rw")
        result = kiosk(site, "import", str(stick))
        assert result.returncode == 0 and "removed 1 bundle" in result.stderr
        assert not bundle.exists()


def test_salvage_from_a_file_too_damaged_to_open_says_so_in_its_own_words(
        site: Site, tmp_path: Path) -> None:
    """The reader's words ("the process that enrolls moves it aside when it starts") do not
    apply to a file named with --from: nothing moves it, and nothing came out of it."""
    garbage = tmp_path / "journal.db.corrupt-20261201T040000Z"
    garbage.write_bytes(random.Random(5).randbytes(8192))
    stick = tmp_path / "stick"
    stick.mkdir()
    result = kiosk(site, "export", "--from", str(garbage), "--local", "--to", str(stick))
    assert result.returncode == 1 and result.stdout == ""
    assert "too damaged to be opened" in result.stderr and "keep the file" in result.stderr
    assert "moves it aside" not in result.stderr and "Traceback" not in result.stderr
    assert visible(stick) == []


def office_finds_damaged(site: Site, bundle: Path, damaged: list[str]) -> Path:
    """The receipts file ``kiosk-intake import`` writes for ``bundle`` when the packets of
    ``damaged`` do not match the index: refused ``sha256_mismatch``, the others receipted."""
    from kiosk.bundle import load_receipts

    path = sign_receipts(site, bundle)
    receipts = load_receipts(path)
    for record_id in damaged:
        del receipts.receipts[record_id]
        receipts.refused[record_id] = {
            "code": "sha256_mismatch", "permanent": False,
            "reason": "the packet's bytes are not those the bundle's index names (damaged on "
                      "the stick or in the copy); export it again"}
    path.write_bytes(receipts.dumps())
    return path


def test_a_record_damaged_on_the_stick_is_written_again_and_its_old_bundle_goes(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """The office refuses one packet of a bundle as damaged on the stick: the next press
    acknowledges the others, writes that record again in a new bundle, says so, and the old
    bundle (nothing in it the office still needs) leaves the stick; a press after that has
    nothing to write (the older refusal says nothing of the new copy); the new copy's
    receipt confirms the record and its bundle goes too."""
    from kiosk.receipts import load_intake_public_key
    from kiosk.screens.flow_staff import queue_summary, usb_summary

    intake_key = load_intake_public_key(site.intake_dir / "keys" / "intake.pub")
    stick = tmp_path / "stick"
    stick.mkdir()
    with _open(site) as journal:
        first = usb.sync_stick(journal, KIOSK_ID, intake_key, stick, data_dir=None)
    (bundle,) = first.exported.bundles
    receipts = office_finds_damaged(site, bundle, [ids[1]])
    with _open(site) as journal:
        second = usb.sync_stick(journal, KIOSK_ID, intake_key, stick, data_dir=None)
        home = [m.text("en") for m in queue_summary(journal.counts())]
    assert sorted(second.imported.acknowledged) == sorted([ids[0], *ids[2:]])
    assert second.imported.damaged == [ids[1]] and second.imported.problems == []
    assert second.exported.exported == [ids[1]] and second.rewritten == [ids[1]]
    assert second.cleanup.removed == [bundle.name] and second.cleanup.damaged == 1
    (again,) = second.exported.bundles
    assert again.name != bundle.name
    assert visible(stick) == sorted([receipts.name, again.name])
    assert [m.text("en") for m in usb_summary(second)] == [
        "Records confirmed by the office: 3.",
        "Old records the office confirmed were removed from the stick: 3.",
        "Records copied to the stick: 1.",
        "Records the office found damaged on the stick, copied again: 1. If this happens "
        "again, use another stick.",
        "You may remove the stick. Take it to the office."]
    assert home == ["Records on a USB stick, waiting for the office's confirmation: 1."]
    with _open(site) as journal:
        third = usb.sync_stick(journal, KIOSK_ID, intake_key, stick, data_dir=None)
    assert third.waiting == 0 and third.exported.exported == [] and third.rewritten == []
    assert states(site)[ids[1]] == "exported"
    sign_receipts(site, again)
    with _open(site) as journal:
        last = usb.sync_stick(journal, KIOSK_ID, intake_key, stick, data_dir=None)
    assert last.imported.acknowledged == [ids[1]] and last.cleanup.removed == [again.name]
    assert set(states(site).values()) == {"acknowledged"}


def test_the_cli_writes_a_damaged_record_again_and_frees_the_old_bundle(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """``kiosk queue import`` names the damaged record and puts it back in the outbox;
    ``kiosk queue export`` (no --again) writes it again, says so, and removes the old
    bundle."""
    stick = tmp_path / "stick"
    stick.mkdir()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    (bundle,) = stick.glob("*.ektp")
    office_finds_damaged(site, bundle, [ids[2]])
    result = kiosk(site, "import", str(stick))
    assert result.returncode == 1
    assert "its copy on the stick was damaged" in result.stderr
    assert "use another stick" in result.stderr and bundle.exists()
    assert states(site)[ids[2]] == "uploading"
    result = kiosk(site, "export", "--local", "--to", str(stick))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"exported {ids[2]}"]
    assert "1 records were damaged on this stick" in result.stderr
    assert not bundle.exists() and len(list(stick.glob("*.ektp"))) == 1


def test_a_damaged_copy_stays_while_no_other_copy_is_on_the_stick(
        site: Site, ids: list[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing that is the only copy on the stick of a record the office has not confirmed
    goes: a stick too full to take the damaged record again keeps its old bundle."""
    stick = tmp_path / "stick"
    stick.mkdir()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    (bundle,) = stick.glob("*.ektp")
    office_finds_damaged(site, bundle, [ids[1]])
    real = usb.shutil.disk_usage
    monkeypatch.setattr(usb.shutil, "disk_usage", lambda p: real(p)._replace(free=1000))
    with _open(site) as journal:
        full = usb.sync_stick(journal, KIOSK_ID, site.intake_key, stick, data_dir=None)
    assert full.exported.did_not_fit == [ids[1]] and full.cleanup.removed == []
    assert bundle.exists() and full.left == 1
    assert states(site)[ids[1]] == "uploading"  # back in the outbox meanwhile


def test_two_exports_at_once_put_each_record_on_the_stick_once(
        site: Site, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An export holds a lock in the kiosk's data directory: another one (the officer's
    button, a second ``kiosk queue export``) waits for it, and refuses after a while
    (one line, exit 1; the officer is told not to pull the stick), writing nothing; two
    started together put each record on the stick once."""
    from kiosk.screens.flow_staff import usb_summary

    config = load_config(site.config)
    stick = tmp_path / "stick"
    stick.mkdir()
    with open(config.data_dir / "usb-export.lock", "a") as lock:  # an export runs
        fcntl.flock(lock, fcntl.LOCK_EX)
        busy = kiosk(site, "export", "--local", "--to", str(stick))
        assert busy.returncode == 1 and busy.stdout == ""
        (line,) = busy.stderr.splitlines()
        assert line.startswith("kiosk queue export: another export to a USB stick is "
                               "running on this kiosk") and "run this again" in line
        monkeypatch.setattr(usb, "EXPORT_WAIT_S", 0.3)
        with tmpfs_stick(tmp_path / "usb", 4096) as mounted, _open(site) as journal:
            report = usb.sync_stick(journal, KIOSK_ID, site.intake_key, mounted,
                                    data_dir=config.data_dir)
            assert report.problem == "busy" and visible(mounted) == []
    assert [m.text("en") for m in usb_summary(report)] == [
        "The kiosk is already writing records to a USB stick. Do not remove the stick; try "
        "again in a minute."]
    assert visible(stick) == [] and set(states(site).values()) == {"sealed"}
    both = [subprocess.Popen([*KIOSK, "queue", "export", "--local", "--to", str(stick)],
                             env=kiosk_env(site.config), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in both]
    assert [p.returncode for p in both] == [0, 0], outs
    assert sorted(line for out, _err in outs for line in out.splitlines()) == sorted(
        f"exported {i}" for i in ids)
    assert len(visible(stick)) == 1


def test_a_partial_file_the_running_kiosk_left_is_swept_at_the_next_press(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """A stick pulled out during a press in ``kiosk run`` (one long-lived process) leaves a
    hidden file its discard could not remove; the next press in the same process removes
    it, but never a file this process is writing at that moment."""
    stick = tmp_path / "stick"
    stick.mkdir()
    left = stick / f".{KIOSK_ID}-export-{os.getpid()}-0a1b2c3d.partial"
    left.write_bytes(b"half a bundle")
    writing = usb._Bundle(stick, KIOSK_ID)
    try:
        usb._sweep_partials(stick, KIOSK_ID)
        assert writing.path.exists() and not left.exists()
    finally:
        writing.discard()
    left.write_bytes(b"half a bundle")
    with _open(site) as journal:
        report = usb.sync_stick(journal, KIOSK_ID, site.intake_key, stick, data_dir=None)
    assert report.exported.exported == ids
    assert [p.name for p in stick.iterdir() if p.name.startswith(".")] == []


def test_bundles_confirmed_another_way_leave_the_stick_without_its_receipts_file(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """The office's receipts came by another way (the uploader, a receipts file on another
    stick): ``kiosk queue import STICK`` with no receipts file there, and ``kiosk queue
    export`` before it writes, remove the bundles whose records the journal knows as all
    acknowledged, and say so."""
    stick, elsewhere = tmp_path / "stick", tmp_path / "elsewhere"
    stick.mkdir()
    elsewhere.mkdir()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    (bundle,) = stick.glob("*.ektp")
    receipts = sign_receipts(site, bundle)
    moved = receipts.rename(elsewhere / receipts.name)
    assert kiosk(site, "import", str(moved)).returncode == 0  # the records are confirmed
    assert set(states(site).values()) == {"acknowledged"} and bundle.exists()
    copy = bundle.read_bytes()
    export = kiosk(site, "export", "--local", "--to", str(stick))  # nothing waits
    assert export.returncode == 0, export.stderr
    assert ("kiosk queue export: removed 1 bundle the office confirmed (4 records"
            in export.stderr)
    assert visible(stick) == []
    bundle.write_bytes(copy)
    result = kiosk(site, "import", str(stick))
    assert result.returncode == 0, result.stderr
    assert "kiosk queue import: removed 1 bundle the office confirmed (4 records" in (
        result.stderr)
    assert visible(stick) == []


def test_the_offices_refusal_stays_the_records_last_error(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """A refusal in the stick's receipts file (not signed: the record stays ``exported``)
    is kept as the record's last error: ``kiosk queue list`` and ``queue show`` say it,
    ``kiosk status`` and the officer's home count it apart from the records still waiting
    for their receipts; read again, it is not noted twice."""
    import json

    from kiosk.bundle import load_receipts

    stick = tmp_path / "stick"
    stick.mkdir()
    assert kiosk(site, "export", "--local", "--to", str(stick)).returncode == 0
    (bundle,) = stick.glob("*.ektp")
    path = sign_receipts(site, bundle)
    receipts = load_receipts(path)
    del receipts.receipts[ids[2]]
    receipts.refused[ids[2]] = {"code": "revoked_kiosk", "permanent": True,
                                "reason": "the kiosk's registration was revoked"}
    path.write_bytes(receipts.dumps())
    for _ in range(2):
        assert kiosk(site, "import", str(stick)).returncode == 1
    listed = {e["id"]: e for e in json.loads(kiosk(site, "list", "--json").stdout)}
    assert listed[ids[2]]["state"] == "exported"
    assert listed[ids[2]]["last_error"] == ("refused by the office [revoked_kiosk]: the "
                                            "kiosk's registration was revoked")
    shown_ = kiosk(site, "show", ids[2])
    assert shown_.returncode == 0 and shown_.stdout.count("record_refused") == 1
    status = subprocess.run([*KIOSK, "status"], env=kiosk_env(site.config),
                            capture_output=True, text=True, timeout=120)
    assert "on USB sticks, refused by the office: 1" in status.stdout
    assert "waiting for their receipts" not in status.stdout
    from kiosk.screens.flow_staff import queue_summary, record_counts

    with _open(site) as journal:
        home = [m.text("en") for m in queue_summary(record_counts(journal))]
    assert home == ["Records on a USB stick that the office refused: 1. A maintainer must "
                    "check them."]


#: Loaded into ``kiosk queue export`` (sitecustomize): the fsync of a bundle's hidden file
#: waits, so a signal comes while the bundle is being written.
SLOW_FSYNC = """
import os, time
_fsync = os.fsync
def _slow(fd):
    try:
        slow = os.readlink(f"/proc/self/fd/{fd}").endswith(".partial")
    except OSError:
        slow = False
    if slow:
        time.sleep(60)
    return _fsync(fd)
os.fsync = _slow
"""


def test_sigterm_during_an_export_removes_its_partial_file_and_says_so(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """``kill -TERM`` while a bundle is being written: the hidden file goes, the records
    stay sealed, one line on stderr says what was done and to run the export again, exit
    143; the next export writes them all."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_FSYNC)
    stick = tmp_path / "stick"
    stick.mkdir()
    env = kiosk_env(site.config)
    env["PYTHONPATH"] = f"{hook}{os.pathsep}{env['PYTHONPATH']}"
    proc = subprocess.Popen([*KIOSK, "queue", "export", "--local", "--to", str(stick)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 60
    while not list(stick.glob(".*.partial")):
        assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.5)  # in the fsync's wait
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err
    assert out == ""
    (line,) = err.splitlines()
    assert line.startswith("kiosk queue export: stopped by SIGTERM: ")
    assert "nothing was lost" in line and "run the export again" in line
    assert visible(stick) == [] and set(states(site).values()) == {"sealed"}
    again = kiosk(site, "export", "--local", "--to", str(stick))
    assert again.returncode == 0 and len(again.stdout.splitlines()) == len(ids)
