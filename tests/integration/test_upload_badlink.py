"""Uploads through a bad link (``tests/badlink.py``): resets, stalls, silence, kills.

The link here is scaled to keep the run short (1 MiB/s, 10 ms one way) but resets every
64 KiB like Poso's: a record of about 580 KiB crosses it in about ten connections. What is
asserted is behaviour: every byte that crossed is kept, a reset costs no resend from the
start, one pass finishes while bytes move, the backoff grows only when nothing moves.
Goodput against the link's floor at 16-256 KB/s is ``benchmarks/bench_upload.py``'s.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from kiosk.config import load_config
from kiosk.journal import Journal
from kiosk.runtime import open_journal
from kiosk.upload.uploader import Uploader, UploadSettings
from tests.badlink import BadLink, LinkProfile
from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import (
    KIOSK_ID,
    IntakeServer,
    Site,
    check_acknowledged,
    demo_site_fixtures,
    kill_upload_daemon,
    stats,
    tus_head,
    unfinished_upload_offsets,
    upload,
)

pytestmark = pytest.mark.timeout(240)

RATE = 1024 * 1024
RESETTING = LinkProfile(rate_bps=RATE, latency_s=0.01, reset_every=64 * 1024)
RECORDS = 4


template, site, ids = demo_site_fixtures(RECORDS, seed=21)


@pytest.fixture
def intake(site: Site) -> Iterator[IntakeServer]:
    with IntakeServer(site.intake_dir) as server:
        yield server


@contextlib.contextmanager
def link_to(intake: IntakeServer, profile: LinkProfile) -> Iterator[BadLink]:
    with BadLink(("127.0.0.1", intake.port), profile) as link:
        yield link


@contextlib.contextmanager
def uploader(site: Site, url: str, *, stop: threading.Event | None = None,
             **settings: Any) -> Iterator[tuple[Journal, Uploader]]:
    site.configure(url)
    config = load_config(site.config)
    base = UploadSettings.from_config(config, site.intake_key)
    with open_journal(config) as journal, Uploader(
            journal, replace(base, **settings), out=io.StringIO(), stop=stop) as run:
        yield journal, run


def packet_bytes(site: Site) -> int:
    return sum(p.stat().st_size
               for p in (site.intake_dir / "records" / KIOSK_ID).glob("*.pkt"))


def moves(journal: Journal, record_id: str) -> list[tuple[str, str]]:
    return [(e.details["from_state"], e.details["to_state"])
            for e in journal.audit_events(1000, event="record_state")
            if e.details["record"] == record_id]


def assert_each_stored_once_never_restarted(site: Site, journal: Journal,
                                            ids: list[str]) -> None:
    assert check_acknowledged(site, journal) == ids
    counts = stats(site)
    assert (counts["received"], counts["rejected"]) == (len(ids), 0)
    for record_id in ids:  # one upload per record, resumed, never forgotten and restarted
        assert moves(journal, record_id) == [("in_progress", "sealed"),
                                             ("sealed", "uploading"),
                                             ("uploading", "acknowledged")], record_id


def test_one_pass_through_a_link_that_resets_every_64_kib_sends_everything_once(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    with link_to(intake, RESETTING) as link, uploader(site, link.url) as (journal, run):
        result = run.drain()
        assert (result.acknowledged, result.link_down, result.failed) == (RECORDS, None, 0)
        assert result.progressed
        assert_each_stored_once_never_restarted(site, journal, ids)
        # nothing failed: the resets were resumed, not journaled as failed attempts
        assert all(r.attempts == 0 and r.last_error is None for r in journal.records())
        total, carried = packet_bytes(site), link.stats
    assert carried.resets >= total // (64 * 1024) - RECORDS  # the link really reset
    # every byte that crossed was kept: the wire carried little more than the packets. A
    # restart from zero after a reset would never finish a 200 KiB record here; what is
    # lost per reset is what sat in the intake's socket buffers, more while other tests
    # load the machine (1.14x seen at load 5). The 1.1x target is the benchmark's
    # (`python benchmarks/run.py upload`: 1.02x).
    assert carried.bytes_up <= 1.2 * total, (carried.bytes_up, total)
    assert stats(site)["duplicates"] == 0


class StopAt:
    """A progress report that asks the uploader to stop once ``limit`` bytes were sent."""

    def __init__(self, stop: threading.Event, limit: int) -> None:
        self.stop, self.limit, self.positions = stop, limit, [0]

    def start(self, _record_id: str, _total: int, kept: int) -> None:
        self.positions.append(kept)

    def sent(self, position: int) -> None:
        self.positions.append(position)
        if position >= self.limit:
            self.stop.set()

    def kept(self, offset: int) -> None:
        self.positions.append(offset)

    def done(self) -> None:
        pass


STOP_AT = 150 * 1024  # inside a demo record (about 185 KiB since #11's compact records)


def test_a_stop_mid_patch_keeps_what_crossed_and_the_next_run_resumes_there(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    """Stopped in the middle of a record's one PATCH (the body still streaming): the intake
    holds what crossed, and the next run goes on from the intake's offset."""
    stop = threading.Event()
    slow = LinkProfile(rate_bps=256 * 1024, latency_s=0.01)
    with link_to(intake, slow) as link:
        with uploader(site, link.url, stop=stop) as (journal, run):
            report = StopAt(stop, STOP_AT)
            run.progress = report  # type: ignore[assignment]
            result = run.drain()
            assert result.stopped and result.acknowledged == 0
            info = journal.record(ids[0])
            assert info.state == "uploading" and info.upload_url
        # bytes still in the link's queue land after the stop: wait until the intake's
        # offset settles (the stopped PATCH's last bytes are committed when it breaks off)
        kept, deadline = -1, time.monotonic() + 10
        while time.monotonic() < deadline:
            now = int(tus_head(info.upload_url, site)["Upload-Offset"])
            if now == kept and link.stats.open_connections <= 1:
                break
            kept = now
            time.sleep(1.0)
        carried = link.stats.bytes_up
        # bytes handed to the socket are close to those carried: little waits in the kernel
        assert STOP_AT <= max(report.positions) < STOP_AT + 100 * 1024
        assert STOP_AT - 100 * 1024 < kept <= carried, (kept, carried)
        with uploader(site, link.url) as (journal, run):
            offsets: list[int] = []
            run.on_progress = lambda rid, offset, _length: (
                offsets.append(offset) if rid == ids[0] else None)
            assert run.drain().acknowledged == RECORDS
            assert_each_stored_once_never_restarted(site, journal, ids)
    # the first record went on from the intake's offset (or a little further: bytes of the
    # stopped PATCH may land after the next run asked) to its end, never from the start
    assert offsets and min(offsets) >= kept and offsets[-1] == info_length(site, ids[0])


def info_length(site: Site, record_id: str) -> int:
    return (site.intake_dir / "records" / KIOSK_ID / f"{record_id}.pkt").stat().st_size


def test_a_stall_is_noticed_within_the_request_timeout_and_the_upload_finishes(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    with link_to(intake, LinkProfile(rate_bps=RATE, latency_s=0.01)) as link, uploader(
            site, link.url, timeout_s=1.0, retries=5) as (journal, run):
        threading.Timer(0.8, link.stall, args=(3.0,)).start()
        started = time.monotonic()
        assert run.run_once() == 0
        elapsed = time.monotonic() - started
        assert_each_stored_once_never_restarted(site, journal, ids)
    assert elapsed >= 3.0  # it did sit through the stall ...
    assert link.stats.resets == 0


class RecordingStop(threading.Event):
    """The daemon's stop event; records each pause and lets the test steer the link."""

    def __init__(self, on_wait: Any) -> None:
        super().__init__()
        self.delays: list[float] = []
        self._on_wait = on_wait

    def wait(self, timeout: float | None = None) -> bool:
        if timeout is not None and timeout >= 0.5:  # the daemon's pause between passes
            self.delays.append(timeout)
            self._on_wait(self)
            return self.is_set()
        return super().wait(timeout)


def test_backoff_grows_only_while_nothing_moves_and_resets_when_bytes_are_kept(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    with link_to(intake, LinkProfile(blackhole=True)) as link:
        def steer(stop: RecordingStop) -> None:
            if len(stop.delays) == 3:  # after three dead passes the link comes back, flaky
                link.set_profile(RESETTING)
            if len(stop.delays) == 4:
                stop.set()

        stop = RecordingStop(steer)
        # timeout_s short enough that a dead pass is quick, long enough that the flaky
        # pass still moves bytes on a loaded machine (0.5 s failed once under CI load)
        with uploader(site, link.url, stop=stop, interval_s=1, max_backoff_s=60,
                      timeout_s=1.5) as (journal, run):
            assert run.run_forever() == 0
            assert stop.delays == [1, 2, 4, 1]
            assert_each_stored_once_never_restarted(site, journal, ids)
            first = journal.record(ids[0])
            assert first.attempts == 3  # the dead passes count; the resets did not




def test_sigkill_at_random_moments_through_a_resetting_link(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    rng = random.Random(5)
    slower = replace(RESETTING, rate_bps=512 * 1024)
    with link_to(intake, slower) as link:
        site.configure(link.url, interval_s=0.2)
        kills = kill_upload_daemon(site, rng, times=8, between=(0.8, 2.0))
        final = upload(site, "--once", timeout=180)
        assert final.returncode == 0, final.stderr[-2000:]
    with Journal.open_readonly(site.journal_path) as journal:
        assert_each_stored_once_never_restarted(site, journal, ids)
    assert stats(site)["duplicates"] <= kills
    # no upload was left behind with bytes in it: none was abandoned for a fresh one
    assert all(offset == 0 for offset in unfinished_upload_offsets(site))


def test_kiosk_status_shows_the_record_in_flight_moving_on_a_slow_link(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    # 16 KB/s: a demo record (about 206 KiB, PNG prints) takes some 13 s to cross, so the
    # first look once it is moving and the next look that sees it further on both find it
    # on its way (fixed looks at 3.5 s and 6.5 s raced the uploader's start-up on a loaded
    # machine; a fixed second look 3 s after the first found the record either through,
    # at 24 and 32 KB/s, or not yet a chunk further, at 16 KB/s)
    slow = LinkProfile(rate_bps=16 * 1024, latency_s=0.05, reset_every=64 * 1024)
    with link_to(intake, slow) as link:
        site.configure(link.url)
        env = kiosk_env(site.config)
        proc = subprocess.Popen([*KIOSK, "upload"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)

        def look() -> Any:
            done = subprocess.run([*KIOSK, "status", "--json"], env=env,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
            return json.loads(done.stdout)["upload"]["in_flight"]

        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                first = look()
                if first is not None and first["bytes_sent"] > 0:
                    break
                time.sleep(0.5)
            # The next look that shows it further on and some of it held by the intake: the
            # whole rest goes in one PATCH and the link resets every 64 KiB, so the intake's
            # offset is first known after a reset (about 4 s in at this rate), while the
            # bytes sent run ahead of it through the socket buffers (a CI run's second look
            # came after more was sent but before the first reset: 0 kept)
            second = first
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                time.sleep(0.5)
                second = look()
                if second is None or first is None or (
                        second["bytes_sent"] > first["bytes_sent"]
                        and second["bytes_kept"] > 0):
                    break
            docs = [first, second]
            text = subprocess.run([*KIOSK, "status"], env=env, capture_output=True,
                                  text=True, timeout=60)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    first, second = docs
    assert first is not None and second is not None
    assert first["record_id"] == second["record_id"] == ids[0]
    assert 0 < first["bytes_sent"] < second["bytes_sent"] < first["bytes_total"]
    assert second["bytes_kept"] > 0
    assert second["rate_bps"] is not None and 8_000 < second["rate_bps"] < 33_000
    assert f"sending {ids[0]}: " in text.stdout and "KiB/s over the last minute" in text.stdout
    # once the uploader has stopped, nothing is shown as in flight
    after = subprocess.run([*KIOSK, "status", "--json"], env=kiosk_env(site.config),
                           capture_output=True, text=True, timeout=60)
    assert json.loads(after.stdout)["upload"]["in_flight"] is None
