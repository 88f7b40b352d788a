"""What one `kiosk-intake serve` lets its clients cost (docs/upload.md, "Limits").

* a 64 MiB packet is received, checked, stored and receipted within 100 MB peak RSS;
* a crafted 64 MiB packet (a signed head, then zero-length blobs) is refused from its
  layout, while another kiosk's upload completes beside it and 1,000 connections trickle
  headers, and SIGTERM still stops the intake within seconds;
* a kiosk's unfinished uploads have a quota (429 ``too_many_uploads``, Retry-After);
* completions beyond the worker pool wait, then get 503 ``busy`` with Retry-After before
  their last byte is kept, so the upload finishes later.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import resource
import socket
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from intake.cli import main as intake_main
from intake.connections import BoundedHTTPServer
from intake.handler import IntakeHandler
from intake.receiver import Intake
from kiosk.core.ids import make_record_id
from kiosk.request_signing import KioskAuth
from kiosk.sealing import (
    STEPS,
    DeviceKey,
    RecordMeta,
    Sealer,
    build_packet,
    load_central_public_key,
)
from tests.integration.test_intake_server import (  # noqa: F401 -- an autouse fixture
    BACKENDS,
    DB_ARGS,
    KIOSK,
    SIGNING,
    Server,
    _create,
    _offset,
    _signed_requests,
    assert_verified,
    get_receipt,
    make_packet,
    register_signer,
    sign_as,
    stats,
    uploader,
)

pytestmark = pytest.mark.timeout(120)

MIB = 1024 * 1024
TUS = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream"}




@pytest.fixture
def data(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """As test_intake_server's: SQLite, or per backend with ``parametrize(..., indirect)``."""
    directory = tmp_path / "intake"
    assert intake_main(["keys", "init", "--data", str(directory)]) == 0
    if getattr(request, "param", "sqlite") == "postgresql":
        DB_ARGS[directory] = ["--db", request.getfixturevalue("pg_url")]
    return directory


@pytest.fixture
def device(data: Path) -> DeviceKey:
    return register_signer(data)


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _meta(kiosk: str, seq: int) -> RecordMeta:
    return RecordMeta(record_id=make_record_id(kiosk, seq, "a1b2c3"), kiosk_id=kiosk, seq=seq,
                      boot_id="b00t-1", clock_trusted=False,
                      created_at="2024-03-01T02:00:00Z", sealed_at="2024-03-01T02:07:00Z",
                      assisted=False)


def big_packet(data: Path, device: DeviceKey, seq: int, total: int) -> tuple[str, bytes]:
    """A valid packet of about ``total`` bytes: six steps, each a random part."""
    sealer = Sealer(load_central_public_key(data / "keys" / "central.pub"), device, KIOSK)
    meta = _meta(KIOSK, seq)
    size = total // len(STEPS) - 2048
    blobs = {step: sealer.seal_step(meta.record_id, step, {f"{step}.bin": os.urandom(size)})
             for step in STEPS}
    return meta.record_id, build_packet(sealer.seal_record(meta, blobs), blobs)


def crafted_packet(data: Path, key: DeviceKey, kiosk: str, seq: int,
                   total: int) -> tuple[str, bytes]:
    """The red-team packet: a head signed by a registered key, then zero-length blobs."""
    sealer = Sealer(load_central_public_key(data / "keys" / "central.pub"), key, kiosk)
    meta = _meta(kiosk, seq)
    blobs = {"identity": sealer.seal_step(meta.record_id, "identity", {"i": b"x"})}
    signed = sealer.seal_record(meta, blobs)
    head = (b"EKTP\x01" + struct.pack(">I", len(signed)) + signed
            + struct.pack(">I", len(blobs["identity"])) + blobs["identity"])
    return meta.record_id, head + bytes(total - len(head))


def send_whole(url: str, packet: bytes, record_id: str, auth: KioskAuth,
               kiosk: str) -> requests.Response:
    """Create an upload and send the packet in one streamed PATCH, signed as ``kiosk``."""
    created = requests.post(f"{url}files/", auth=auth, timeout=30, headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(len(packet)),
        "Upload-Metadata": f"kiosk_id {_b64(kiosk)},record_id {_b64(record_id)},"
                           f"sha256 {_b64(hashlib.sha256(packet).hexdigest())}"})
    assert created.status_code == 201, created.text
    return requests.patch(requests.compat.urljoin(url, created.headers["Location"]),
                          data=packet, auth=auth, timeout=60,
                          headers={**TUS, "Upload-Offset": "0"})


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")  # pragma: no cover


def register(data: Path, kiosk: str) -> tuple[DeviceKey, KioskAuth]:
    key = DeviceKey.generate()
    assert intake_main(["register", "--data", str(data), "--kiosk", kiosk,
                        "--key", key.public_bytes.hex()]) == 0
    return key, KioskAuth(kiosk, key)


# -- memory -----------------------------------------------------------------------------------
def test_a_64_mib_upload_is_stored_and_receipted_within_100_mb(
        data: Path, device: DeviceKey) -> None:
    server = Server(data, "--max-packet-mib", "80")
    try:
        record_id, packet = big_packet(data, device, 40, 64 * MIB)
        assert len(packet) > 63 * MIB
        done = send_whole(server.url, packet, record_id, SIGNING[KIOSK], KIOSK)
        assert done.status_code == 204, done.text
        assert_verified(data, get_receipt(server.url, record_id), record_id, packet)
        peak = peak_rss_mb(server.proc.pid)
    finally:
        assert server.stop() == 0
    stored = data / "records" / KIOSK / f"{record_id}.pkt"
    assert stored.stat().st_size == len(packet)
    del packet
    assert peak < 100, f"peak RSS {peak:.0f} MB"


# -- the red-team packet beside a kiosk, 1,000 tricklers and a stop --------------------------
def _raise_nofile(want: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE,
                           (want if hard == resource.RLIM_INFINITY else min(want, hard), hard))


def test_a_crafted_packet_and_1000_tricklers_leave_a_kiosk_its_receipt_and_a_quick_stop(
        data: Path, device: DeviceKey) -> None:
    _raise_nofile(4096)
    attacker_key, attacker = register(data, "poso-09")
    server = Server(data, "--max-packet-mib", "80")
    tricklers: list[socket.socket] = []
    try:
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
            tricklers.append(sock)
        crafted_id, crafted = crafted_packet(data, attacker_key, "poso-09", 1, 64 * MIB)
        verdict: dict[str, object] = {}

        def attack() -> None:
            started = time.monotonic()
            verdict["patch"] = send_whole(server.url, crafted, crafted_id, attacker,
                                          "poso-09").status_code
            verdict["took"] = time.monotonic() - started

        thread = threading.Thread(target=attack)
        thread.start()
        time.sleep(0.2)  # the crafted body is streaming in
        started = time.monotonic()
        record_id, packet = make_packet(data, device, 41, portrait_bytes=300_000)
        uploader(server.url, packet, record_id).upload()
        assert_verified(data, get_receipt(server.url, record_id), record_id, packet)
        assert time.monotonic() - started < 30  # a kiosk's request timeout (timeout_s)
        thread.join(timeout=60)
        assert verdict.get("patch") == 204, verdict
        assert float(verdict["took"]) < 30  # type: ignore[arg-type]
        refused = requests.get(f"{server.url}receipts/poso-09/{crafted_id}", auth=attacker,
                               timeout=10)
        assert refused.status_code == 422
        assert refused.json()["code"] == "layout_mismatch"
        assert refused.json()["permanent"] is True
        for sock in tricklers:  # still there, still trickling
            with contextlib.suppress(OSError):
                sock.sendall(b"X-Slow: 1\r\n")
        stopping = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - stopping < 10
    finally:
        if server.proc.poll() is None:
            server.kill()
        for sock in tricklers:
            sock.close()
    assert stats(data)["kiosks"] == {KIOSK: 1}
    assert "layout_mismatch" in server.log


# -- the quota of unfinished uploads ----------------------------------------------------------
@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_a_kiosk_beyond_its_unfinished_uploads_is_asked_to_wait(
        data: Path, device: DeviceKey) -> None:
    server = Server(data, "--max-unfinished", "2")
    try:
        record_id, packet = make_packet(data, device, 50)
        first = _create(server.url, packet, record_id)
        _create(server.url, packet, record_id)
        refused = requests.post(f"{server.url}files/", timeout=10, headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": "10",
            "Upload-Metadata": f"kiosk_id {_b64(KIOSK)},record_id {_b64(record_id)},"
                               f"sha256 {_b64('0' * 64)}"})
        assert refused.status_code == 429
        assert refused.headers["Retry-After"] == "300"
        body = refused.json()
        assert body["code"] == "too_many_uploads" and body["permanent"] is False
        assert "2 unfinished uploads" in body["error"]
        # another kiosk has its own quota
        _key, neighbour = register(data, "poso-05")
        other = requests.post(f"{server.url}files/", auth=neighbour, timeout=10, headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": "10",
            "Upload-Metadata": f"kiosk_id {_b64('poso-05')},record_id "
                               f"{_b64('poso-05-0000001-a1b2c3')},sha256 {_b64('0' * 64)}"})
        assert other.status_code == 201
        # one finishes: the kiosk may start another
        done = requests.patch(first, data=packet, timeout=10,
                              headers={**TUS, "Upload-Offset": "0"})
        assert done.status_code == 204
        assert_verified(data, get_receipt(server.url, record_id), record_id, packet)
        _create(server.url, packet, record_id)
    finally:
        assert server.stop() == 0


# -- the worker pool --------------------------------------------------------------------------
@contextlib.contextmanager
def in_process(data: Path, workers: int) -> Iterator[tuple[Intake, str]]:
    """The intake's HTTP server in this process, so a test can hold the pool's slots."""
    db = DB_ARGS[data][1] if data in DB_ARGS else None
    intake = Intake(data, None, workers=workers, db=db)
    intake.pool.wait_s = 0.3
    handler = type("Handler", (IntakeHandler,), {"tus_server": intake.tus, "intake": intake})
    httpd = BoundedHTTPServer(("127.0.0.1", 0), handler)
    loop = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1})
    loop.start()
    try:
        yield intake, f"http://127.0.0.1:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()
        loop.join()
        intake.close()


@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_a_completion_beyond_the_pool_is_refused_for_now_before_its_last_byte(
        data: Path, device: DeviceKey) -> None:
    record_id, packet = make_packet(data, device, 60, portrait_bytes=100_000)
    with in_process(data, workers=1) as (intake, url):
        upload_url = _create(url, packet, record_id)
        with intake.pool.slot() as held:  # the one worker is busy elsewhere
            assert held
            half = len(packet) // 2
            assert requests.patch(upload_url, data=packet[:half], timeout=10, headers={
                **TUS, "Upload-Offset": "0"}).status_code == 204  # not a completion
            started = time.monotonic()
            busy = requests.patch(upload_url, data=packet[half:], timeout=10,
                                  headers={**TUS, "Upload-Offset": str(half)})
            assert time.monotonic() - started >= 0.3  # it waited for a worker first
            assert busy.status_code == 503
            assert busy.headers["Retry-After"] == "15"
            assert json.loads(busy.content)["code"] == "busy"
            assert json.loads(busy.content)["permanent"] is False
            # all but the last byte kept: the upload is unfinished, nothing processed
            assert _offset(upload_url) == len(packet) - 1
            assert get_receipt(url, record_id).status_code == 404
        last = requests.patch(upload_url, data=packet[-1:], timeout=10,
                              headers={**TUS, "Upload-Offset": str(len(packet) - 1)})
        assert last.status_code == 204
        assert_verified(data, get_receipt(url, record_id), record_id, packet)


# -- PostgreSQL: the quota across processes, the sweep and the pool ---------------------------
@pytest.mark.parametrize("data", ["postgresql"], indirect=True)
def test_the_quota_holds_across_two_intake_processes_creating_at_once(
        data: Path, device: DeviceKey) -> None:
    a = Server(data, "--max-unfinished", "3")
    b = Server(data, "--max-unfinished", "3")
    try:
        record_id, packet = make_packet(data, device, 70)
        answers: list[int] = []

        def create(url: str) -> None:
            answers.append(requests.post(f"{url}files/", timeout=20, headers={
                "Tus-Resumable": "1.0.0", "Upload-Length": str(len(packet)),
                "Upload-Metadata": f"kiosk_id {_b64(KIOSK)},record_id {_b64(record_id)},"
                                   f"sha256 {_b64(hashlib.sha256(packet).hexdigest())}"},
            ).status_code)

        threads = [threading.Thread(target=create, args=(server.url,))
                   for server in (a, b) * 4]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(answers) == [201] * 3 + [429] * 5, answers
    finally:
        assert a.stop() == 0
        assert b.stop() == 0


@pytest.mark.parametrize("data", ["postgresql"], indirect=True)
def test_the_sweep_leaves_an_upload_a_completion_holds_and_needs_a_worker(
        data: Path, device: DeviceKey) -> None:
    record_id, packet = make_packet(data, device, 80)
    with in_process(data, workers=1) as (intake, url):
        upload_url = _create(url, packet, record_id)
        upload_id = upload_url.rstrip("/").rsplit("/", 1)[-1]
        # all bytes there, not processed (as if its process died before the work)
        intake.storage.write_chunk(upload_id, 0, packet)
        assert intake.storage.update_offset_atomic(upload_id, 0, len(packet))
        token = intake.backend.locks.acquire(upload_id, ttl_seconds=60, wait_timeout=0)
        assert token is not None  # a completion holds the upload
        try:
            intake.recover()
            assert get_receipt(url, record_id).status_code == 404  # left to its holder
        finally:
            intake.backend.locks.release(upload_id, token)
        with intake.pool.slot() as held:  # the one worker busy: the sweep waits its turn
            assert held
            intake.recover()
            assert get_receipt(url, record_id).status_code == 404
        intake.recover()
        assert_verified(data, get_receipt(url, record_id), record_id, packet)
        assert intake.storage.get_upload(upload_id) is None
