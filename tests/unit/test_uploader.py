"""The Uploader, in process, against a real `kiosk-intake serve` subprocess.

Three demo records are sealed once per module; each test works on a copy of that site (the
journal, the device key, the intake's keys), so every test starts from the same outbox.
"""

from __future__ import annotations

import base64
import contextlib
import io
import socket
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import requests

from kiosk.config import load_config
from kiosk.journal import Journal
from kiosk.receipts import IntakeKey
from kiosk.runtime import open_journal
from kiosk.upload.uploader import PassResult, Uploader, UploadSettings
from tests.upload_helpers import (
    KIOSK_ID,
    IntakeServer,
    Site,
    check_acknowledged,
    closed_port_url,
    demo_site_fixtures,
    kiosk_auth,
    stats,
    tus_head,
)

CHUNK = 16384


template, site, ids = demo_site_fixtures(3, seed=11)


@pytest.fixture
def intake(site: Site) -> Iterator[IntakeServer]:
    with IntakeServer(site.intake_dir) as server:
        yield server


class Run:
    """An Uploader on the site's journal; ``out`` holds its stdout lines."""

    def __init__(self, journal: Journal, uploader: Uploader, out: io.StringIO) -> None:
        self.journal = journal
        self.uploader = uploader
        self.out = out

    @property
    def lines(self) -> list[str]:
        return self.out.getvalue().splitlines()


@contextlib.contextmanager
def uploading(site: Site, url: str, *, key: bytes | None = None,
              stop: threading.Event | None = None, on_progress: Any = None,
              **settings: Any) -> Iterator[Run]:
    site.configure(url)
    config = load_config(site.config)
    base = UploadSettings.from_config(config, key or site.intake_key)
    out = io.StringIO()
    with open_journal(config) as journal, Uploader(
            journal, replace(base, **{"retries": 0, **settings}), out=out, stop=stop,
            on_progress=on_progress) as uploader:
        yield Run(journal, uploader, out)


def moves(journal: Journal, record_id: str) -> list[tuple[str, str]]:
    return [(e.details["from_state"], e.details["to_state"])
            for e in journal.audit_events(1000, event="record_state")
            if e.details["record"] == record_id]


# -- the happy path ----------------------------------------------------------------------------
def test_drain_acknowledges_every_record_with_a_verified_receipt(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    with uploading(site, intake.url) as run:
        assert run.uploader.run_once() == 0
        assert run.lines == [f"acknowledged {rid}" for rid in ids]
        assert check_acknowledged(site, run.journal) == ids
        assert run.journal.outbox() == []
        assert all(r.attempts == 0 and r.last_error is None and r.upload_url is None
                   for r in run.journal.records())
    counts = stats(site)
    assert (counts["received"], counts["duplicates"], counts["rejected"]) == (3, 0, 0)


# -- the link ----------------------------------------------------------------------------------
def test_link_down_ends_the_pass_and_the_records_wait_for_the_intake(
        site: Site, ids: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with uploading(site, closed_port_url(), retries=2) as run:
        assert run.uploader.run_once() == 1
        assert run.lines == []
        records = {r.id: r for r in run.journal.records()}
    assert capsys.readouterr().err.strip() == (
        "kiosk upload: 3 records still pending: connection refused")
    assert [records[r].state for r in ids] == ["sealed"] * 3
    # Three passes; each stopped at the first record rather than failing all three.
    assert [(records[r].attempts, records[r].last_error) for r in ids] == [
        (3, "connection refused"), (0, None), (0, None)]
    assert not any(records[r].has_receipt for r in ids)

    with IntakeServer(site.intake_dir) as server, uploading(site, server.url) as run:
        assert run.uploader.run_once() == 0
        assert check_acknowledged(site, run.journal) == ids


def test_an_intake_that_does_not_answer_times_out_as_link_down(
        site: Site, ids: list[str]) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with uploading(site, url, timeout_s=0.5) as run:
            result = run.uploader.drain()
            records = {r.id: r for r in run.journal.records()}
    assert result.link_down == "no answer from the intake within 0.5 s"
    assert [records[r].attempts for r in ids] == [1, 0, 0]


def test_once_says_what_it_is_about_to_send_before_the_first_wait(
        site: Site, ids: list[str], caplog: pytest.LogCaptureFixture) -> None:
    """A maintainer running ``kiosk upload --once`` against a silent intake learns at once
    what it is doing, not after the first request's timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        with caplog.at_level("INFO", logger="kiosk.upload.uploader"), uploading(
                site, url, timeout_s=0.5) as run:
            assert run.uploader.run_once() == 1
    first = caplog.records[0].getMessage()
    assert first == (f"3 records to send to {url} (up to 1 pass; each request waits up to "
                     "0.5 s for an answer)"), first
    assert "no answer from the intake within 0.5 s" in caplog.records[1].getMessage()


@contextlib.contextmanager
def captive_portal() -> Iterator[str]:
    """What village Wi-Fi often puts between a kiosk and the internet: every request, of
    any method, answered ``200`` with a login page."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Portal(BaseHTTPRequestHandler):
        def _page(self) -> None:
            body = b"<html><body>Login ke WiFi desa</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_POST = do_HEAD = do_PATCH = do_OPTIONS = _page

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Portal)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_captive_portal_is_a_link_down_not_a_bad_receipt(
        site: Site, ids: list[str]) -> None:
    with captive_portal() as url, uploading(site, url) as run:
        result = run.uploader.drain()
        records = {r.id: r for r in run.journal.records()}
        # the first record has now been tried, so it asks for its receipt first: the login
        # page is no receipt
        again = run.uploader.drain()
        assert again.link_down is not None and "text/html" in again.link_down
        assert "fetching the receipt" in again.link_down
    assert result.link_down is not None and "captive portal" in result.link_down
    # a record never sent starts with the tus creation, which the portal answers 200
    assert "HTTP 200 without tus headers while creating the upload" in result.link_down
    # The pass stopped at the first record; nothing was acknowledged on a login page.
    assert [records[r].attempts for r in ids] == [1, 0, 0]
    assert [records[r].state for r in ids] == ["sealed"] * 3
    assert not any(records[r].has_receipt for r in ids)


def test_daemon_backs_off_exponentially_while_the_link_is_down(
        site: Site, intake: IntakeServer) -> None:
    class Stop(threading.Event):
        """Records each pause instead of sleeping; stops after ``n`` of them."""

        def __init__(self, n: int) -> None:
            super().__init__()
            self.n, self.pauses = n, []

        def wait(self, timeout: float | None = None) -> bool:
            self.pauses.append(timeout)
            if len(self.pauses) >= self.n:
                self.set()
            return self.is_set()

    down = Stop(6)
    with uploading(site, closed_port_url(), stop=down, interval_s=1, max_backoff_s=5) as run:
        assert run.uploader.run_forever() == 0
    assert down.pauses == [1, 2, 4, 5, 5, 5]
    up = Stop(2)
    with uploading(site, intake.url, stop=up, interval_s=1, max_backoff_s=5) as run:
        assert run.uploader.run_forever() == 0
        assert len(run.lines) == 3
    assert up.pauses == [1, 1]


def test_the_bearer_token_is_sent(site: Site, ids: list[str]) -> None:
    token_file = site.root / "token"
    token_file.write_text("s3cret-token\n")
    with IntakeServer(site.intake_dir, 0, "--token-file", str(token_file)) as server:
        with uploading(site, server.url) as run:
            result = run.uploader.drain()
        assert result.link_down is not None
        assert "refused this kiosk's credentials (HTTP 401)" in result.link_down
        with uploading(site, server.url, token="s3cret-token") as run:
            assert run.uploader.run_once() == 0
            assert len(run.lines) == 3


# -- receipts and refusals ---------------------------------------------------------------------
def test_a_receipt_signed_by_another_key_acknowledges_nothing(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    stranger = IntakeKey.generate().public_bytes
    with uploading(site, intake.url, key=stranger) as run:
        assert run.uploader.run_once() == 1
        assert run.lines == []
        for info in run.journal.records():
            assert info.state == "uploading"
            assert not info.has_receipt
            assert info.last_error is not None
            assert info.last_error.startswith("receipt signature does not verify")
    assert stats(site)["received"] == 3  # the intake has them; the kiosk has no proof
    with uploading(site, intake.url) as run:  # the right key: the stored receipts do
        assert run.uploader.run_once() == 0
        assert check_acknowledged(site, run.journal) == ids
    counts = stats(site)
    assert (counts["received"], counts["duplicates"]) == (3, 0)  # not uploaded again


def test_an_unknown_kiosk_is_refused_for_good_before_a_byte_and_requeued_by_hand(
        site: Site, ids: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    device = site.intake_dir / "devices" / f"{KIOSK_ID}.json"
    registration = device.read_text()
    device.unlink()  # the intake does not know this kiosk
    with IntakeServer(site.intake_dir) as server:
        with uploading(site, server.url, retries=3) as run:
            assert run.uploader.run_once() == 1
            for info in run.journal.records():
                assert (info.state, info.upload_url, info.attempts) == ("rejected", None, 1)
                assert info.last_error == (
                    "intake refused the record [unknown_kiosk] (HTTP 403 creating the "
                    f"upload): kiosk {KIOSK_ID} is not registered at this intake "
                    "(kiosk-intake register)")
            # refused for good: another pass sends nothing
            assert run.uploader.drain() == PassResult()
        assert "3 records refused by the intake" in capsys.readouterr().err
        counts = stats(site)
        # refused at creation: nothing was stored, no packet was even counted
        assert (counts["received"], counts["rejected"]) == (0, 0)
        assert not list((site.intake_dir / "tus" / "uploads").iterdir())
        device.write_text(registration)  # registered now; the maintainer requeues
        with uploading(site, server.url) as run:
            for record_id in ids:
                run.journal.requeue(record_id, "kiosk queue retry")
            assert run.uploader.run_once() == 0
            assert check_acknowledged(site, run.journal) == ids
    assert stats(site)["received"] == 3


def test_a_damaged_payload_fails_only_its_own_record(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    conn = sqlite3.connect(site.journal_path)  # no kiosk process runs on this copy
    try:
        (blob,) = conn.execute("SELECT blob FROM payloads WHERE record_id = ? AND step ="
                               " 'portrait'", (ids[1],)).fetchone()
        damaged = bytes(blob[:100]) + bytes([blob[100] ^ 0xFF]) + bytes(blob[101:])
        with conn:
            conn.execute("UPDATE payloads SET blob = ? WHERE record_id = ? AND step ="
                         " 'portrait'", (damaged, ids[1]))
    finally:
        conn.close()
    with uploading(site, intake.url) as run:
        assert run.uploader.run_once() == 1
        assert run.lines == [f"acknowledged {ids[0]}", f"acknowledged {ids[2]}"]
        bad = run.journal.record(ids[1])
        assert (bad.state, bad.attempts) == ("sealed", 1)
        assert bad.last_error is not None
        assert bad.last_error.startswith("payload unreadable: ")
        assert "portrait: payload is damaged" in bad.last_error
    assert stats(site)["received"] == 2


# -- resuming ----------------------------------------------------------------------------------
def test_an_interrupted_upload_resumes_at_the_intakes_offset(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    stop = threading.Event()
    seen: list[tuple[str, int]] = []

    def progress(record_id: str, offset: int, length: int) -> None:
        seen.append((record_id, offset))
        if offset >= 3 * CHUNK:
            stop.set()  # "killed" between two chunks of the first record

    with uploading(site, intake.url, stop=stop, on_progress=progress,
                   chunk_size=CHUNK) as run:
        assert run.uploader.run_once() == 1
        info = run.journal.record(ids[0])
    assert seen == [(ids[0], CHUNK), (ids[0], 2 * CHUNK), (ids[0], 3 * CHUNK)]
    assert info.state == "uploading" and info.upload_url
    assert int(tus_head(info.upload_url, site)["Upload-Offset"]) == 3 * CHUNK

    seen.clear()
    with uploading(site, intake.url, on_progress=progress, chunk_size=CHUNK) as run:
        assert run.uploader.run_once() == 0
        assert seen[0] == (ids[0], 4 * CHUNK)  # the first three chunks were not resent
        assert check_acknowledged(site, run.journal) == ids
        # The journaled upload was resumed: never forgotten, never a second one.
        assert moves(run.journal, ids[0]) == [("in_progress", "sealed"),
                                              ("sealed", "uploading"),
                                              ("uploading", "acknowledged")]
        assert run.journal.record(ids[0]).attempts == 0
    counts = stats(site)
    assert (counts["received"], counts["duplicates"]) == (3, 0)


def test_an_upload_the_intake_lost_is_started_afresh(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    lost = f"{intake.url}files/{uuid.uuid4()}"  # well-formed, unknown to the intake
    with uploading(site, intake.url) as run:
        run.journal.start_upload(ids[0], lost)
        assert run.uploader.run_once() == 0
        assert check_acknowledged(site, run.journal) == ids
        assert moves(run.journal, ids[0]) == [
            ("in_progress", "sealed"), ("sealed", "uploading"), ("uploading", "sealed"),
            ("sealed", "uploading"), ("uploading", "acknowledged")]
        assert run.journal.record(ids[0]).attempts == 1
    assert stats(site)["received"] == 3


def test_a_kiosk_at_its_quota_of_unfinished_uploads_waits_and_rejects_nothing(
        site: Site, ids: list[str]) -> None:
    """The intake's 429 ``too_many_uploads`` (``--max-unfinished``) is temporary: the pass
    ends as for an intake that is unavailable, with its Retry-After, and every record stays
    in the outbox."""
    with IntakeServer(site.intake_dir, 0, "--max-unfinished", "1") as server:
        orphan = requests.post(f"{server.url}files/", timeout=10, auth=kiosk_auth(site),
                               headers={"Tus-Resumable": "1.0.0", "Upload-Length": "10",
                                        "Upload-Metadata": ",".join(
                                            f"{k} {base64.b64encode(v.encode()).decode()}"
                                            for k, v in {"kiosk_id": KIOSK_ID,
                                                         "record_id": f"{ids[0]}",
                                                         "sha256": "0" * 64}.items())})
        assert orphan.status_code == 201  # an upload this kiosk's journal lost track of
        with uploading(site, server.url) as run:
            result = run.uploader.drain()
            records = {r.id: r for r in run.journal.records()}
    assert result.rejected == 0 and result.acknowledged == 0
    assert result.link_down is not None and "HTTP 429" in result.link_down
    assert "unfinished uploads, the most this intake allows" in result.link_down
    assert result.retry_after == 300
    assert [records[r].state for r in ids] == ["sealed"] * 3


# -- configuration -----------------------------------------------------------------------------
def test_upload_config_defaults_and_relative_intake_key(tmp_path: Path) -> None:
    site = Site(tmp_path)
    config = load_config(site.configure("https://intake.example/"))
    section = config["upload"]
    assert (section["interval_s"], section["retries"], section["max_backoff_s"],
            section["timeout_s"], section["chunk_size"]) == (30, 3, 600, 30, 0)
    assert config.intake_key_path == (tmp_path / "intake" / "keys" / "intake.pub").resolve()
    assert load_config(site.configure(intake_key=None)).intake_key_path is None


def test_a_tus_success_without_tus_headers_is_not_the_intake(site: Site) -> None:
    """A proxy that answers the creation POST ``200`` (no ``Location``): link down, so the
    pass stops instead of failing every record on the same page."""
    from kiosk.upload.tus import TusCommunicationError

    with uploading(site, closed_port_url()) as run:
        failure = run.uploader._tus_failure(
            TusCommunicationError("creating the upload: HTTP 200", 200, b"<html>"),
            "creating the upload")
    assert failure.link_down and not failure.forget_url
    assert "HTTP 200 without tus headers" in failure.reason


class _Cutter:
    """A TCP proxy to the intake that resets the connection carrying the first request
    that starts with each of ``cuts`` (a reset mid-exchange: the request is lost)."""

    def __init__(self, upstream: str, cuts: list[bytes]) -> None:
        host, port = upstream.split("//", 1)[1].rstrip("/").split(":")
        self.upstream = (host, int(port))
        self.pending = list(cuts)
        self.done: list[bytes] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}/"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False),
                             daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, up: bool) -> None:
        try:
            while data := src.recv(65536):
                hit = next((c for c in self.pending if up and data.startswith(c)), None)
                if hit is not None:
                    self.pending.remove(hit)
                    self.done.append(hit)
                    for sock in (src, dst):  # RST both ways, the request unanswered
                        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                        b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        sock.close()
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self.listener.close()


def test_a_request_cut_mid_exchange_is_sent_again_at_once_not_after_a_pause(
        site: Site, ids: list[str], intake: IntakeServer) -> None:
    """On a link that resets every 64 KB the creation POST or the receipt GET is sometimes
    the request a reset hits: that is a flaky link, not a dead one (issue #9: one such
    reset used to cost the pass, and interval_s of idle link). The receipt comes with the
    final PATCH's answer; a record tried before asks ``receipts/`` first, and that GET is
    the one cut here."""
    cutter = _Cutter(intake.url, [b"POST /files", b"GET /receipts"])
    try:
        with uploading(site, cutter.url) as run:  # retries=0: a single pass
            run.journal.upload_failed(ids[2], "an earlier pass failed")
            assert run.uploader.run_once() == 0
            assert check_acknowledged(site, run.journal) == ids
            assert all(r.attempts == (r.id == ids[2]) and r.last_error is None
                       for r in run.journal.records())
    finally:
        cutter.close()
    assert cutter.done == [b"POST /files", b"GET /receipts"]
    counts = stats(site)
    assert (counts["received"], counts["duplicates"]) == (3, 0)


# -- round trips per record (issue #9's goodput) --------------------------------------------
class RequestLog:
    """Every request the uploader makes, as (thread, method, path kind, "sent"/"answered"),
    in the order they happen (``requests.Session.send`` wrapped)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.events: list[tuple[str, str, str, str]] = []
        self._lock = threading.Lock()
        original = requests.Session.send

        def send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
            path = str(request.url).split("/", 3)[3]
            kind = path.split("/", 1)[0]  # files, receipts
            self._add((threading.current_thread().name, str(request.method), kind, "sent"))
            answer = original(session, request, **kwargs)
            self._add((threading.current_thread().name, str(request.method), kind,
                       "answered"))
            return answer

        monkeypatch.setattr(requests.Session, "send", send)

    def _add(self, event: tuple[str, str, str, str]) -> None:
        with self._lock:
            self.events.append(event)

    def sequence(self, thread: str) -> list[str]:
        return [f"{method} {kind}" for name, method, kind, step in self.events
                if name == thread and step == "sent"]


def test_a_record_costs_no_round_trip_of_its_own_beside_its_bytes(
        site: Site, ids: list[str], intake: IntakeServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Through a link with latency, the uploader's own thread sends one creation (the first
    record's) and then only PATCHes: each next record's upload is created on the second
    connection while the record before it is still sending, and each receipt comes with
    the PATCH that completes the upload (no GET receipts/...). Before, a record cost a
    POST and a GET in series with its bytes: two round trips of idle link."""
    from tests.badlink import BadLink, LinkProfile

    log = RequestLog(monkeypatch)
    slow = LinkProfile(rate_bps=256 * 1024, latency_s=0.05)  # a record takes about 1 s
    with BadLink(("127.0.0.1", intake.port), slow) as link, uploading(site, link.url) as run:
        assert run.uploader.run_once() == 0
        assert check_acknowledged(site, run.journal) == ids
        moved = {r: moves(run.journal, r) for r in ids}
    main = threading.main_thread().name
    assert log.sequence(main) == ["POST files", "PATCH files", "PATCH files", "PATCH files"]
    assert log.sequence("upload-ahead") == ["POST files", "POST files"]
    # each creation ahead was answered (and journaled) while the PATCH before it was out
    for n in range(2):
        patch_sent = [i for i, e in enumerate(log.events)
                      if e[0] == main and e[1] == "PATCH" and e[3] == "sent"][n]
        patch_answered = [i for i, e in enumerate(log.events)
                          if e[0] == main and e[1] == "PATCH" and e[3] == "answered"][n]
        ahead_answered = [i for i, e in enumerate(log.events)
                          if e[0] == "upload-ahead" and e[3] == "answered"][n]
        assert patch_sent < ahead_answered < patch_answered, log.events
    for record_id in ids:  # one upload per record, as ever
        assert moved[record_id] == [("in_progress", "sealed"), ("sealed", "uploading"),
                                    ("uploading", "acknowledged")]
    counts = stats(site)
    assert (counts["received"], counts["duplicates"], counts["rejected"]) == (3, 0, 0)


@pytest.mark.parametrize("answer", ["missing", "not base64", "signature broken"])
def test_a_receipt_missing_or_unusable_in_the_patch_answer_is_fetched_instead(
        site: Site, ids: list[str], intake: IntakeServer, monkeypatch: pytest.MonkeyPatch,
        answer: str) -> None:
    """The receipt in the final PATCH's answer acknowledges only once it verifies, exactly
    as GET receipts/...'s body; absent (an older intake) or unusable, the kiosk asks."""
    from kiosk.upload.tus import TimedTusUploader

    original = TimedTusUploader.patch

    def patch(self: TimedTusUploader, *args: Any, **kwargs: Any) -> int:
        offset = original(self, *args, **kwargs)
        if self.receipt_header is not None:
            if answer == "missing":
                self.receipt_header = None
            elif answer == "not base64":
                self.receipt_header = "%%%" + self.receipt_header
            else:
                raw = bytearray(base64.b64decode(self.receipt_header))
                raw[-1] ^= 1
                self.receipt_header = base64.b64encode(bytes(raw)).decode()
        return offset

    monkeypatch.setattr(TimedTusUploader, "patch", patch)
    log = RequestLog(monkeypatch)
    with uploading(site, intake.url) as run:
        assert run.uploader.run_once() == 0
        assert check_acknowledged(site, run.journal) == ids
        assert all(r.attempts == 0 and r.last_error is None for r in run.journal.records())
    assert log.sequence(threading.main_thread().name).count("GET receipts") == 3


def test_creations_ahead_respect_the_intakes_quota_of_unfinished_uploads(
        site: Site, ids: list[str]) -> None:
    """A creation ahead counts against ``--max-unfinished`` like any other: at a quota of
    one it is refused (429) while the record before it is unfinished, and that costs
    nothing: the record creates its upload in its turn; no failure, nothing rejected."""
    with IntakeServer(site.intake_dir, 0, "--max-unfinished", "1") as server, uploading(
            site, server.url) as run:
        result = run.uploader.drain()
        assert (result.acknowledged, result.failed, result.rejected) == (3, 0, 0)
        assert result.link_down is None
        assert check_acknowledged(site, run.journal) == ids
        assert all(r.attempts == 0 and r.last_error is None for r in run.journal.records())
    counts = stats(site)
    assert (counts["received"], counts["duplicates"], counts["rejected"]) == (3, 0, 0)
    assert "too_many_uploads" in server.log.read_text()  # the quota did refuse one ahead
