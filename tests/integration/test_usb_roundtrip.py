"""The whole USB path as field staff and the central office run it (docs/usb.md): the
kiosk exports to a stick, the office imports the stick, the kiosk imports the receipts the
office wrote on it; every record ends acknowledged with a receipt for the packet the intake
stored, and the intake counts each record once, however often the stick goes round."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kiosk.journal import Journal
from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import (
    INTAKE,
    IntakeServer,
    Site,
    check_acknowledged,
    demo_site_fixtures,
    intake_env,
    stats,
)

template, site, ids = demo_site_fixtures(3, seed=31)


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)


def test_a_stick_there_and_back_acknowledges_every_record(site: Site, ids: list[str],
                                                          tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    env = kiosk_env(site.config)
    export = run([*KIOSK, "queue", "export", "--local", "--to", str(stick)], env)
    assert export.returncode == 0, export.stderr
    # at the central office
    office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick)], intake_env())
    assert office.returncode == 0, office.stderr
    assert [line for line in office.stdout.splitlines() if line.startswith("received")] == [
        f"received {i}" for i in ids]
    assert stats(site)["received"] == len(ids)
    # the same stick imported twice at the office changes nothing and counts nothing twice
    again = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick)], intake_env())
    assert again.returncode == 0, again.stderr
    assert stats(site)["received"] == len(ids)
    (bundle,) = stick.glob("*.ektp")
    # back at the kiosk: every record acknowledged, so the bundle leaves the stick (the
    # office's receipts file stays)
    back = run([*KIOSK, "queue", "import", str(stick)], env)
    assert back.returncode == 0, back.stderr
    assert back.stdout.splitlines() == [f"acknowledged {i}" for i in ids]
    with Journal.open_readonly(site.journal_path) as journal:
        assert sorted(check_acknowledged(site, journal)) == sorted(ids)
    assert f"removed 1 bundle the office confirmed ({len(ids)} records" in back.stderr
    assert sorted(p.name for p in stick.iterdir()) == [bundle.with_suffix(".receipts").name]
    # imported twice at the kiosk: nothing counted twice, nothing more removed
    twice = run([*KIOSK, "queue", "import", str(stick)], env)
    assert twice.returncode == 0 and twice.stdout == ""
    assert "removed" not in twice.stderr
    assert f"{len(ids)} acknowledged before" in twice.stderr


def test_an_unregistered_kiosk_is_refused_then_taken_after_registering(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.mkdir()
    env = kiosk_env(site.config)
    assert run([*KIOSK, "queue", "export", "--local", "--to", str(stick)], env).returncode == 0
    # the office never registered this kiosk: every record refused, the kiosk keeps them
    devices = site.intake_dir / "devices"
    registration = (devices / f"{site.kiosk_id}.json").read_bytes()
    (devices / f"{site.kiosk_id}.json").unlink()
    office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick)], intake_env())
    assert office.returncode == 1
    back = run([*KIOSK, "queue", "import", str(stick)], env)
    assert back.returncode == 1 and "[unknown_kiosk]" in back.stderr
    assert "the office registers this kiosk" in back.stderr  # not "export it again"
    with Journal.open_readonly(site.journal_path) as journal:
        assert {r.state for r in journal.records()} == {"exported"}
    # registered, imported again: the receipts file is rewritten and the kiosk takes it
    (devices / f"{site.kiosk_id}.json").write_bytes(registration)
    office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick)], intake_env())
    assert office.returncode == 0, office.stderr
    back = run([*KIOSK, "queue", "import", str(stick)], env)
    assert back.returncode == 0, back.stderr
    with Journal.open_readonly(site.journal_path) as journal:
        assert sorted(check_acknowledged(site, journal)) == sorted(ids)


def test_the_sealed_records_of_a_damaged_journal_are_salvaged_for_the_intake(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """A journal kept aside as corrupt (or a copy off a failing SD card) still holds sealed
    records: `kiosk queue export --from FILE` takes every one whose payload reads and
    matches its signed manifest, read-only, and the intake takes them as any bundle."""
    import shutil
    import sqlite3

    stick = tmp_path / "stick"
    stick.mkdir()
    old = tmp_path / "journal.db.corrupt-20261201T040000Z"
    conn = sqlite3.connect(site.journal_path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    shutil.copy(site.journal_path, old)
    conn = sqlite3.connect(old)  # bit rot in one record's portrait
    (blob,) = conn.execute("SELECT blob FROM payloads WHERE record_id = ? AND step = "
                           "'portrait'", (ids[1],)).fetchone()
    rotten = bytearray(blob)
    rotten[len(rotten) // 2] ^= 0x40
    conn.execute("UPDATE payloads SET blob = ? WHERE record_id = ? AND step = 'portrait'",
                 (bytes(rotten), ids[1]))
    conn.commit()
    conn.close()
    before = old.read_bytes()
    env = kiosk_env(site.config)
    salvage = run([*KIOSK, "queue", "export", "--from", str(old), "--local", "--to",
                   str(stick)], env)
    assert salvage.returncode == 1  # one record could not be salvaged: named
    assert salvage.stdout.splitlines() == [f"exported {i}" for i in ids if i != ids[1]]
    assert f"record {ids[1]} could not be salvaged" in salvage.stderr
    assert old.read_bytes() == before  # read-only: the damaged file is evidence
    with Journal.open_readonly(site.journal_path) as journal:  # the live journal untouched
        assert {r.state for r in journal.records()} == {"sealed"}
    office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick)], intake_env())
    assert office.returncode == 0, office.stderr
    assert stats(site)["received"] == len(ids) - 1


def test_records_on_a_stick_the_office_imported_are_acknowledged_over_the_link(
        site: Site, ids: list[str], tmp_path: Path) -> None:
    """The stick went to the office; the kiosk then finds a link before the stick comes
    back. The uploader asks the intake for those records' receipts and is acknowledged
    with them, sending nothing; a record the office has not received waits for its
    stick (never sent: the stick carries it)."""
    stick = tmp_path / "stick"
    stick.mkdir()
    env = kiosk_env(site.config)
    first = run([*KIOSK, "queue", "export", "--local", "--to", str(stick)], env)
    assert first.returncode == 0, first.stderr
    (bundle,) = stick.glob("*.ektp")
    at_office = tmp_path / "at-office"  # the office received a stick with the first two
    at_office.mkdir()
    from kiosk.bundle import BundleReader, BundleWriter

    with BundleReader(bundle) as reader, open(at_office / bundle.name, "wb") as out:
        writer = BundleWriter(out, site.kiosk_id, "2026-12-02T08:00:00Z")
        for entry in reader:
            if entry.record_id in ids[:2]:
                writer.add(entry.record_id, reader.packet(entry).read(), entry.sha256)
        writer.close()
    office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(at_office)],
                 intake_env())
    assert office.returncode == 0, office.stderr
    assert stats(site)["received"] == 2
    with IntakeServer(site.intake_dir) as intake:
        site.configure(intake.url)
        upload = run([*KIOSK, "upload", "--once"], env)
    assert upload.returncode == 0, upload.stderr
    assert upload.stdout.splitlines() == [f"acknowledged {i}" for i in ids[:2]]
    with Journal.open_readonly(site.journal_path) as journal:
        assert sorted(check_acknowledged(site, journal)) == sorted(ids[:2])
        assert [journal.record(i).state for i in ids[2:]] == ["exported"] * (len(ids) - 2)
    counts = stats(site)
    assert (counts["received"], counts["duplicates"]) == (2, 0)  # nothing was sent
    # back at the kiosk with the stick: the rest come by the office's receipts file
    office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick)],
                 intake_env())
    assert office.returncode == 0, office.stderr
    back = run([*KIOSK, "queue", "import", str(stick)], env)
    assert back.returncode == 0, back.stderr
    assert back.stdout.splitlines() == [f"acknowledged {i}" for i in ids[2:]]


def test_a_stick_whose_receipts_never_come_back_is_sent_over_the_link_in_the_end(
        site: Site, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stick lost on the way: after ``upload.stick_resend_days`` without a receipt its
    records go back to the outbox and are sent over the link in the same pass; a stick
    found later counts its copies once. Only by a synchronised clock: with none, nothing
    is resent however old the export looks, and an export stamped while the clock was not
    (this machine's: a tour without a link) counts from when the uploader first saw it
    with one."""
    import io
    import time

    from kiosk.config import load_config
    from kiosk.runtime import open_journal
    from kiosk.upload import uploader
    from kiosk.upload.uploader import Uploader, UploadSettings

    stick = tmp_path / "stick"
    stick.mkdir()
    env = kiosk_env(site.config)
    assert run([*KIOSK, "queue", "export", "--local", "--to", str(stick)], env).returncode == 0
    monkeypatch.setattr(uploader, "STICK_ASK_S", 0.0)  # ask at every pass
    with IntakeServer(site.intake_dir) as intake:
        site.configure(intake.url, stick_resend_days=1 / 86400 / 2)  # half a second
        config = load_config(site.config)
        settings = UploadSettings.from_config(config, site.intake_key)
        with open_journal(config, owner=False) as journal:
            with Uploader(journal, settings, clock_trusted=lambda: False) as unsure:
                unsure.drain()
                time.sleep(0.6)
                unsure.drain()
            assert {r.state for r in journal.records()} == {"exported"}
            assert stats(site)["received"] == 0
            out = io.StringIO()
            with Uploader(journal, settings, out=out, clock_trusted=lambda: True) as sure:
                sure.drain()  # first seen with a synchronised clock: waits from now
                assert stats(site)["received"] == 0
                time.sleep(0.6)
                sure.drain()  # overdue: back in the outbox and sent in this pass
    assert sorted(out.getvalue().splitlines()) == sorted(f"acknowledged {i}" for i in ids)
    with Journal.open_readonly(site.journal_path) as journal:
        assert sorted(check_acknowledged(site, journal)) == sorted(ids)
        moves = [(e.details.get("from_state"), e.details.get("to_state"))
                 for e in journal.record_events(ids[0]) if e.event == "record_state"]
        assert moves[-2:] == [("exported", "uploading"), ("uploading", "acknowledged")]
    assert stats(site)["received"] == len(ids)
    office = run([*INTAKE, "import", "--data", str(site.intake_dir), str(stick)], intake_env())
    assert office.returncode == 0, office.stderr
    counts = stats(site)
    assert (counts["received"], counts["duplicates"]) == (len(ids), len(ids))
