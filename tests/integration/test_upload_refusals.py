"""Each refusal of the intake reaches the kiosk as `rejected`, with its own reason, sent once.

A real `kiosk-intake serve` and the kiosk's uploader; the refusals are made the way they
happen: a registration that names another key, a revoked kiosk, a packet damaged after it
was built, a packet larger than the intake takes, and a different packet for a record the
intake already holds. Then `kiosk queue list`, `kiosk status` and `kiosk queue retry`, as a
maintainer runs them.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from kiosk.config import load_config
from kiosk.journal import Journal
from kiosk.runtime import open_journal
from kiosk.sealing import DeviceKey
from kiosk.upload.uploader import Uploader, UploadSettings
from tests.conftest import KIOSK, kiosk_env
from tests.polling import wait_until
from tests.upload_helpers import (
    KIOSK_ID,
    IntakeServer,
    Site,
    check_acknowledged,
    demo_site_fixtures,
    intake_cli,
    stats,
)

pytestmark = pytest.mark.timeout(180)


template, site, ids = demo_site_fixtures(2, seed=31)


@contextlib.contextmanager
def uploader(site: Site, url: str, **settings: Any) -> Iterator[tuple[Journal, Uploader]]:
    site.configure(url)
    config = load_config(site.config)
    base = UploadSettings.from_config(config, site.intake_key)
    with open_journal(config, owner=False) as journal, Uploader(
            journal, replace(base, **{"retries": 2, **settings}), out=io.StringIO()) as run:
        yield journal, run


def uploads_started(intake: IntakeServer, record_id: str) -> int:
    return sum(f"record {record_id} of kiosk" in line and "started" in line
               for line in intake.log.read_text().splitlines())


def assert_rejected(journal: Journal, ids: list[str], code: str) -> list[str]:
    reasons = []
    for record_id in ids:
        info = journal.record(record_id)
        assert (info.state, info.attempts) == ("rejected", 1), info
        assert info.last_error is not None and f"[{code}]" in info.last_error, info.last_error
        reasons.append(info.last_error)
    return reasons


def test_a_registration_for_another_key_is_the_forgery_refused(
        site: Site, ids: list[str]) -> None:
    other = DeviceKey.generate()
    intake_cli("register", "--data", str(site.intake_dir), "--kiosk", KIOSK_ID,
               "--key", other.public_bytes.hex(), "--replace")
    with IntakeServer(site.intake_dir) as intake, uploader(site, intake.url) as (journal, run):
        assert run.run_once() == 1
        (reason, _) = assert_rejected(journal, ids, "wrong_key")
        # the request's own signature gives it away, before a byte is stored
        assert "HTTP 403 creating the upload" in reason
        assert ("signature does not verify with the key registered for kiosk "
                f"{KIOSK_ID}") in reason
        assert all(uploads_started(intake, r) == 0 for r in ids)
    assert stats(site)["received"] == 0


def test_a_revoked_kiosk_is_refused_before_a_byte_then_retry_after_re_registering(
        site: Site, ids: list[str]) -> None:
    registration = (site.intake_dir / "devices" / f"{KIOSK_ID}.json").read_text()
    intake_cli("revoke", "--data", str(site.intake_dir), "--kiosk", KIOSK_ID)
    with IntakeServer(site.intake_dir) as intake:
        site.configure(intake.url)
        env = kiosk_env(site.config)
        done = subprocess.run([*KIOSK, "upload", "--once"], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 1
        assert "2 records refused by the intake" in done.stderr
        assert all(uploads_started(intake, r) == 0 for r in ids)
        listed = json.loads(subprocess.run([*KIOSK, "queue", "list", "--json"], env=env,
                                           capture_output=True, text=True,
                                           timeout=60).stdout)
        assert [(e["state"], e["attempts"]) for e in listed] == [("rejected", 1)] * 2
        assert all(f"kiosk {KIOSK_ID} is revoked" in e["last_error"] for e in listed)
        status = subprocess.run([*KIOSK, "status"], env=env, capture_output=True, text=True,
                                timeout=60)
        assert "refused by the intake: 2" in status.stdout
        # the intake trusts the kiosk again; the maintainer requeues; it goes through
        (site.intake_dir / "devices" / f"{KIOSK_ID}.json").write_text(registration)
        retry = subprocess.run([*KIOSK, "queue", "retry", "--all"], env=env,
                               capture_output=True, text=True, timeout=60)
        assert retry.returncode == 0 and retry.stdout.splitlines() == [
            f"requeued {r}" for r in ids]
        again = subprocess.run([*KIOSK, "queue", "retry", ids[0]], env=env,
                               capture_output=True, text=True, timeout=60)
        assert again.returncode == 1 and "only rejected records are requeued" in again.stderr
        assert subprocess.run([*KIOSK, "upload", "--once"], env=env, capture_output=True,
                              text=True, timeout=120).returncode == 0
        with Journal.open_readonly(site.journal_path) as journal:
            assert check_acknowledged(site, journal) == ids


_BUILD = Uploader._packet


def _flip(byte_index: int) -> Any:
    def damaged(self: Uploader, info: Any) -> bytes:
        packet = bytearray(_BUILD(self, info))
        packet[byte_index] ^= 0x01
        return bytes(packet)
    return damaged


@pytest.mark.parametrize(("where", "code"), [(-1, "malformed_packet"), (60, "bad_signature")])
def test_a_one_bit_flip_after_the_packet_was_built_is_refused(
        site: Site, ids: list[str], monkeypatch: pytest.MonkeyPatch, where: int,
        code: str) -> None:
    """The bit flips before the SHA-256 is taken (a fault in the kiosk, or a forger): the
    bytes arrive as sent, and the packet itself does not open."""
    monkeypatch.setattr(Uploader, "_packet", _flip(where))
    with IntakeServer(site.intake_dir) as intake, uploader(site, intake.url) as (journal, run):
        assert run.run_once() == 1
        assert_rejected(journal, ids, code)
        assert all(uploads_started(intake, r) == 1 for r in ids)
    assert stats(site)["rejected"] == 2


def test_a_packet_larger_than_the_intake_takes_is_refused_at_creation(
        site: Site, ids: list[str]) -> None:
    with IntakeServer(site.intake_dir, 0, "--max-packet-mib", "0.1") as intake, uploader(
            site, intake.url) as (journal, run):
        assert run.run_once() == 1
        (reason, _) = assert_rejected(journal, ids, "too_large")
        assert "HTTP 413 creating the upload" in reason
        assert all(uploads_started(intake, r) == 0 for r in ids)


def test_a_different_packet_for_a_record_already_received_is_refused(
        site: Site, ids: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = Site(tmp_path / "before")
    shutil.copytree(site.root, before.root)  # the same kiosk, before its upload
    with IntakeServer(site.intake_dir) as intake:
        with uploader(site, intake.url) as (journal, run):
            assert run.run_once() == 0
        # the old copy now holds other bytes for the same records: the intake's receipt
        # (asked first, as the records were tried before) proves it holds another packet
        shutil.rmtree(before.intake_dir)
        shutil.copytree(site.intake_dir, before.intake_dir, ignore=shutil.ignore_patterns(
            "records", "tus", "intake.db*", "intake.lock"))
        monkeypatch.setattr(Uploader, "_packet", _flip(-1))
        with uploader(before, intake.url) as (journal, run):
            journal.start_upload(ids[0], f"{intake.url}files/00")  # it had tried before
            journal.start_upload(ids[1], f"{intake.url}files/01")
            assert run.run_once() == 1
            reasons = assert_rejected(journal, ids, "different_packet")
    assert all("is for a different packet" in r for r in reasons)
    assert all(uploads_started(intake, r) == 1 for r in ids)  # the first copy's only
    assert stats(site)["received"] == 2


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_an_intake_refusing_everything_gets_each_record_once_and_an_idle_uploader(
        site: Site, ids: list[str]) -> None:
    """The daemon against an intake that refuses this kiosk: each record is tried once,
    then the uploader idles (well under 5 % of a core), however short its interval."""
    intake_cli("revoke", "--data", str(site.intake_dir), "--kiosk", KIOSK_ID)
    with IntakeServer(site.intake_dir) as intake:
        site.configure(intake.url, interval_s=0.2)
        proc = subprocess.Popen([*KIOSK, "upload"], env=kiosk_env(site.config),
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            # start-up and the first pass: every record refused and journaled as such,
            # then a moment for the pass to end (the 4 s this used to sleep blindly)
            def first_pass_done() -> bool:
                with Journal.open_readonly(site.journal_path) as journal:
                    return all(journal.record(r).state == "rejected" for r in ids)

            assert wait_until(first_pass_done, 30, interval=0.1)
            time.sleep(0.5)
            start_cpu, start = _cpu_s(proc.pid), time.monotonic()
            time.sleep(6.0)
            share = (_cpu_s(proc.pid) - start_cpu) / (time.monotonic() - start)
        finally:
            proc.terminate()
            assert proc.wait(timeout=30) == 0
        with Journal.open_readonly(site.journal_path) as journal:
            assert_rejected(journal, ids, "revoked_kiosk")
        creations = intake.log.read_text().count("POST /files/ refused (revoked_kiosk)")
    assert creations == len(ids)  # one refused creation per record, never again
    assert share < 0.05, share
