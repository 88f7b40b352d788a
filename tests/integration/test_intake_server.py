"""`kiosk-intake serve` against the official tus client (tuspy), as a kiosk would use it.

The server runs as a real subprocess on a port it picks itself; packets are real sealed
packets from kiosk.sealing; receipts are checked with the kiosk's own verify_receipt. The
crash cases kill the server with SIGKILL mid-upload and restart it on the same directory.
The contract tests run twice: with the metadata in SQLite (the default) and in a real
PostgreSQL (``--db``, the session's private cluster: tests/pg_harness.py).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import requests
from tusclient import client
from tusclient.exceptions import TusCommunicationError

from intake.cli import main as intake_main
from kiosk.core.ids import make_record_id
from kiosk.receipts import load_intake_public_key, verify_receipt
from kiosk.request_signing import KioskAuth
from kiosk.sealing import DeviceKey, RecordMeta, Sealer, build_packet, load_central_public_key
from tests.conftest import REPO

pytestmark = pytest.mark.timeout(60)

KIOSK = "poso-01"
NIK = b"7204014107850003"  # synthetic NIK, never a real person
NAME = b"Siti Rahmawati"
CHUNK = 64 * 1024
INTAKE = [sys.executable, "-m", "intake.cli"]


BACKENDS = ["sqlite", "postgresql"]
DB_ARGS: dict[Path, list[str]] = {}  # data directory -> its `--db URL` (none: SQLite)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO)}


class Server:
    """One `kiosk-intake serve` subprocess; `url` once it printed its listening line."""

    def __init__(self, data: Path, *extra: str, port: int = 0) -> None:
        self.data = data
        self.stderr_path = data.parent / f"serve-{uuid.uuid4().hex[:6]}.log"
        with self.stderr_path.open("wb") as stderr:
            self.proc = subprocess.Popen(
                [*INTAKE, "serve", "--data", str(data), *DB_ARGS.get(data, []), "--port",
                 str(port), *extra],
                stdout=subprocess.PIPE, stderr=stderr, env=_env(), cwd=REPO, text=True)
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], 20)
        line = self.proc.stdout.readline() if ready else ""
        if not line.startswith("listening on http://127.0.0.1:"):
            self.proc.kill()
            self.proc.wait()
            pytest.fail(f"server did not start: {line!r} {self.stderr_path.read_text()}")
        self.url = line.split()[-1]
        assert self.url.endswith("/") and line.endswith("/\n")
        self.port = int(self.url.rstrip("/").rsplit(":", 1)[1])

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=20)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait(timeout=10)

    @property
    def log(self) -> str:
        return self.stderr_path.read_text()


@pytest.fixture
def data(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """The intake's data directory; with ``parametrize("data", BACKENDS, indirect=True)``
    once per backend (its servers and stats then use that backend)."""
    directory = tmp_path / "intake"
    assert intake_main(["keys", "init", "--data", str(directory)]) == 0
    if getattr(request, "param", "sqlite") == "postgresql":
        DB_ARGS[directory] = ["--db", request.getfixturevalue("pg_url")]
    return directory


# Every request to the intake is signed by a kiosk's device key (docs/upload.md). The
# tests' requests, tuspy's included, are signed as the kiosk SIGNING_AS names, with its key
# in SIGNING (a kiosk nobody registered gets a key of its own).
SIGNING: dict[str, KioskAuth] = {}
SIGNING_AS = {"kiosk": KIOSK}


def sign_as(kiosk: str, key: DeviceKey | None = None) -> KioskAuth:
    if key is not None or kiosk not in SIGNING:
        SIGNING[kiosk] = KioskAuth(kiosk, key or DeviceKey.generate())
    SIGNING_AS["kiosk"] = kiosk
    return SIGNING[kiosk]


@pytest.fixture(autouse=True)
def _signed_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    original = requests.sessions.Session.request

    def request(self: requests.Session, method: str, url: str, *args: object,
                **kwargs: object) -> requests.Response:
        if kwargs.get("auth") is None and not url.endswith("/health"):
            kwargs["auth"] = SIGNING.get(SIGNING_AS["kiosk"])
        return original(self, method, url, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(requests.sessions.Session, "request", request)
    SIGNING.clear()
    SIGNING_AS["kiosk"] = KIOSK


def register_signer(data: Path) -> DeviceKey:
    """A new device key registered for KIOSK, used to sign this test's requests."""
    key = DeviceKey.generate()
    assert intake_main(["register", "--data", str(data), "--kiosk", KIOSK,
                        "--key", key.public_bytes.hex()]) == 0
    sign_as(KIOSK, key)
    return key


@pytest.fixture
def device(data: Path) -> DeviceKey:
    return register_signer(data)


@pytest.fixture
def server(data: Path, device: DeviceKey) -> Iterator[Server]:
    running = Server(data)
    yield running
    if running.proc.poll() is None:
        assert running.stop() == 0


def make_packet(data: Path, device: DeviceKey, seq: int, kiosk: str = KIOSK,
                portrait_bytes: int = 2000) -> tuple[str, bytes]:
    sealer = Sealer(load_central_public_key(data / "keys" / "central.pub"), device, kiosk)
    record_id = make_record_id(kiosk, seq, "a1b2c3")
    meta = RecordMeta(record_id=record_id, kiosk_id=kiosk, seq=seq, boot_id="b00t-1",
                      clock_trusted=False, created_at="2024-03-01T02:00:00Z",
                      sealed_at="2024-03-01T02:07:00Z", assisted=False)
    parts = {
        "identity": {"identity.json": b'{"nik":"' + NIK + b'"}'},
        "demographics": {"demographics.json": b'{"full_name":"' + NAME + b'"}'},
        "portrait": {"portrait.jpg": b"\xff\xd8\xff" + os.urandom(portrait_bytes)},
    }
    blobs = {step: sealer.seal_step(record_id, step, p) for step, p in parts.items()}
    return record_id, build_packet(sealer.seal_record(meta, blobs), blobs)


def uploader(url: str, packet: bytes, record_id: str, *, kiosk: str = KIOSK,
             sha256: str | None = None, upload_url: str | None = None,
             token: str | None = None) -> client.Uploader:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    sign_as(kiosk)
    tus = client.TusClient(f"{url}files/", headers=headers)
    metadata = {"kiosk_id": kiosk, "record_id": record_id,
                "sha256": sha256 or hashlib.sha256(packet).hexdigest()}
    return tus.uploader(file_stream=io.BytesIO(packet), chunk_size=CHUNK, metadata=metadata,
                        url=upload_url)


def get_receipt(url: str, record_id: str, kiosk: str = KIOSK,
                token: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    sign_as(kiosk)
    return requests.get(f"{url}receipts/{kiosk}/{record_id}", headers=headers, timeout=10)


def stats(data: Path) -> dict[str, object]:
    done = subprocess.run([*INTAKE, "stats", "--data", str(data), *DB_ARGS.get(data, []),
                           "--json"], env=_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_verified(data: Path, response: requests.Response, record_id: str,
                    packet: bytes) -> dict[str, object]:
    assert response.status_code == 200, response.text
    return verify_receipt(response.content, load_intake_public_key(data / "keys" / "intake.pub"),
                          kiosk_id=KIOSK, record_id=record_id,
                          packet_sha256=hashlib.sha256(packet).hexdigest())


# -- the whole protocol, one server ----------------------------------------------------------
@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_upload_receipt_duplicate_refusals_and_stats(server: Server, data: Path,
                                                     device: DeviceKey) -> None:
    assert requests.get(f"{server.url}health", timeout=10).json() == {"ok": True}
    record_id, packet = make_packet(data, device, 1, portrait_bytes=150_000)
    assert get_receipt(server.url, record_id).status_code == 404

    upload = uploader(server.url, packet, record_id)
    upload.upload()
    assert upload.offset == len(packet)
    info = assert_verified(data, get_receipt(server.url, record_id), record_id, packet)
    assert info["packet_length"] == len(packet)
    stored = data / "records" / KIOSK / f"{record_id}.pkt"
    assert stored.read_bytes() == packet
    receipt_file = stored.with_suffix(".receipt")
    first_receipt = receipt_file.read_bytes()
    # the tus copy is gone once processed: its URL answers 404, as any unknown upload id
    assert requests.head(upload.url, headers={"Tus-Resumable": "1.0.0"},
                         timeout=10).status_code == 404
    assert requests.head(f"{server.url}files/{uuid.uuid4()}",
                         headers={"Tus-Resumable": "1.0.0"}, timeout=10).status_code == 404

    # the same packet again: a duplicate, the receipt stands unchanged
    uploader(server.url, packet, record_id).upload()
    assert get_receipt(server.url, record_id).content == first_receipt
    assert receipt_file.read_bytes() == first_receipt

    # a packet signed by a kiosk key nobody registered
    stranger = DeviceKey.generate()
    other_id, other_packet = make_packet(data, stranger, 1, kiosk="poso-02")
    # ... is refused before a byte is stored: its upload is not even created
    with pytest.raises(TusCommunicationError) as unknown:
        uploader(server.url, other_packet, other_id, kiosk="poso-02").upload()
    assert unknown.value.status_code == 403
    assert json.loads(unknown.value.response_content)["code"] == "unknown_kiosk"
    assert get_receipt(server.url, other_id, kiosk="poso-02").json()["code"] == "unknown_kiosk"
    assert not (data / "records" / "poso-02").exists()
    assert not os.listdir(data / "tus" / "uploads")

    # bytes that do not match the sha256 metadata
    third_id, third_packet = make_packet(data, device, 3)
    uploader(server.url, third_packet, third_id, sha256="0" * 64).upload()
    mismatch = get_receipt(server.url, third_id)
    assert mismatch.status_code == 422 and "sha256" in mismatch.json()["error"]
    assert mismatch.json()["code"] == "sha256_mismatch"
    assert mismatch.json()["permanent"] is False  # a fresh upload may succeed

    # metadata that do not match the signed manifest
    fourth_id, fourth_packet = make_packet(data, device, 4)
    uploader(server.url, fourth_packet, f"{KIOSK}-0000005-a1b2c3").upload()
    assert get_receipt(server.url, f"{KIOSK}-0000005-a1b2c3").status_code == 422
    assert get_receipt(server.url, fourth_id).status_code == 404

    # a different packet for a record already received
    _same_id, impostor = make_packet(data, device, 1)
    uploader(server.url, impostor, record_id).upload()
    assert get_receipt(server.url, record_id).content == first_receipt
    assert stored.read_bytes() == packet

    # the consistent forgery: signed by this kiosk's key, claiming another registered kiosk
    other = DeviceKey.generate()
    assert intake_main(["register", "--data", str(data), "--kiosk", "poso-03",
                        "--key", other.public_bytes.hex()]) == 0
    sign_as("poso-03", other)  # whoever holds poso-03's key, with poso-01's packet
    sealer = Sealer(load_central_public_key(data / "keys" / "central.pub"), device, "poso-03")
    forged_id = "poso-03-0000001-a1b2c3"
    meta = RecordMeta(record_id=forged_id, kiosk_id="poso-03", seq=1, boot_id="b00t-1",
                      clock_trusted=False, created_at="2024-03-01T02:00:00Z",
                      sealed_at="2024-03-01T02:07:00Z", assisted=False)
    blobs = {"identity": sealer.seal_step(forged_id, "identity",
                                          {"identity.json": b'{"nik":"' + NIK + b'"}'})}
    forged = build_packet(sealer.seal_record(meta, blobs), blobs)
    uploader(server.url, forged, forged_id, kiosk="poso-03").upload()
    refused = get_receipt(server.url, forged_id, kiosk="poso-03").json()
    assert refused["code"] == "wrong_key" and refused["permanent"] is True
    assert f"signed by key {device.key_id}, which does not belong to kiosk poso-03" in (
        refused["error"])
    assert not (data / "records" / "poso-03").exists()

    # a revoked kiosk: refused from the next request on, without a restart
    assert intake_main(["revoke", "--data", str(data), "--kiosk", "poso-03"]) == 0
    with pytest.raises(TusCommunicationError) as revoked:
        uploader(server.url, forged, forged_id, kiosk="poso-03").upload()
    assert revoked.value.status_code == 403
    assert json.loads(revoked.value.response_content)["code"] == "revoked_kiosk"

    # malformed creation is refused up front
    with pytest.raises(TusCommunicationError) as caught:
        uploader(server.url, packet, "not-a-record-id").upload()
    assert caught.value.status_code == 400

    assert stats(data) == {"received": 1, "duplicates": 1, "rejected": 4,
                           "kiosks": {KIOSK: 1}, "records_refused": 4}
    # stranger was refused at creation (nothing stored or counted); forged counted once
    table = subprocess.run([*INTAKE, "stats", "--data", str(data), *DB_ARGS.get(data, [])],
                           env=_env(), cwd=REPO, capture_output=True, text=True, timeout=30)
    assert "received    1" in table.stdout and KIOSK in table.stdout

    assert server.stop() == 0
    assert stats(data)["received"] == 1  # also readable with the server stopped
    log = server.log
    assert record_id in log and "refused" in log
    assert NIK.decode() not in log and NAME.decode() not in log
    assert not os.listdir(data / "tus" / "uploads")  # every tus copy dropped


def _tus_create(url: str, packet: bytes, record_id: str, sha256: str | None = None) -> str:
    metadata = {"kiosk_id": KIOSK, "record_id": record_id,
                "sha256": sha256 or hashlib.sha256(packet).hexdigest()}
    resp = requests.post(f"{url}files/", timeout=10, headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(len(packet)),
        "Upload-Metadata": ",".join(f"{k} {base64.b64encode(v.encode()).decode()}"
                                    for k, v in metadata.items())})
    assert resp.status_code == 201, resp.text
    return urljoin(url, resp.headers["Location"])


def _tus_patch(upload_url: str, packet: bytes, start: int, end: int) -> requests.Response:
    return requests.patch(upload_url, data=packet[start:end], timeout=10, headers={
        "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(start)})


def test_the_patch_that_completes_an_upload_answers_with_the_receipt(
        server: Server, data: Path, device: DeviceKey) -> None:
    """docs/upload.md: the final PATCH's 204 carries the signed receipt (Intake-Receipt,
    base64), the very bytes GET receipts/... serves; no other PATCH does, nor one whose
    packet is refused."""
    record_id, packet = make_packet(data, device, 21, portrait_bytes=150_000)
    upload_url = _tus_create(server.url, packet, record_id)
    half = _tus_patch(upload_url, packet, 0, len(packet) // 2)
    assert half.status_code == 204 and "Intake-Receipt" not in half.headers
    last = _tus_patch(upload_url, packet, len(packet) // 2, len(packet))
    assert last.status_code == 204
    receipt = base64.b64decode(last.headers["Intake-Receipt"], validate=True)
    fetched = get_receipt(server.url, record_id)
    assert_verified(data, fetched, record_id, packet)
    assert receipt == fetched.content
    # the same packet again (a kiosk that lost the answer): the stored receipt, again
    again = _tus_create(server.url, packet, record_id)
    assert _tus_patch(again, packet, 0, len(packet)).headers["Intake-Receipt"] == (
        last.headers["Intake-Receipt"])
    # a refused packet (bytes that do not match their sha256): no receipt, GET says why
    other_id, other = make_packet(data, device, 22)
    refused = _tus_create(server.url, other, other_id, sha256="0" * 64)
    answer = _tus_patch(refused, other, 0, len(other))
    assert answer.status_code == 204 and "Intake-Receipt" not in answer.headers
    assert get_receipt(server.url, other_id).json()["code"] == "sha256_mismatch"


def test_the_kiosks_tus_client_reads_the_receipt_the_intake_answers_with(
        server: Server, data: Path, device: DeviceKey) -> None:
    """The two ends take each name of the protocol from kiosk.core.intake_api: the kiosk's
    own tus client (kiosk.upload.tus, made as the uploader makes it) creates an upload at
    the kiosk's endpoint with the kiosk's metadata keys, and reads from the completing
    PATCH's answer the receipt the intake's handler put there; GET receipts/... at the
    kiosk's endpoint serves the same bytes as the type the kiosk checks, and the intake
    names itself as the doctor expects."""
    from tusclient.client import TusClient

    from kiosk.core import intake_api as api
    from kiosk.upload.tus import TimedTusUploader, upload_session

    record_id, packet = make_packet(data, device, 23, portrait_bytes=50_000)
    metadata = {api.KIOSK_ID_KEY: KIOSK, api.RECORD_ID_KEY: record_id,
                api.SHA256_KEY: hashlib.sha256(packet).hexdigest()}
    with upload_session() as session:
        tus = TimedTusUploader(
            session=session, timeout=10, client=TusClient(f"{server.url}{api.FILES_ENDPOINT}/"),
            file_stream=io.BytesIO(packet), chunk_size=len(packet), metadata=metadata)
        tus.set_url(tus.create_url())
        assert tus.patch(packet, 0, len(packet)) == len(packet)
        assert tus.receipt_header is not None, "the kiosk found no receipt in the answer"
        fetched = session.get(f"{server.url}{api.RECEIPTS_ENDPOINT}/{KIOSK}/{record_id}",
                              timeout=10)
    assert_verified(data, fetched, record_id, packet)
    assert fetched.headers["Content-Type"] == api.RECEIPT_CONTENT_TYPE
    assert base64.b64decode(tus.receipt_header, validate=True) == fetched.content
    assert fetched.headers["Server"].startswith(api.SERVER_VERSION + " ")
    assert api.SERVER_VERSION.startswith(api.SERVER_PRODUCT)


# -- crashes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_upload_interrupted_by_kill_9_resumes_on_the_same_url(server: Server, data: Path,
                                                              device: DeviceKey) -> None:
    record_id, packet = make_packet(data, device, 7, portrait_bytes=400_000)
    first = uploader(server.url, packet, record_id)
    for _ in range(3):
        first.upload_chunk()
    assert first.offset == 3 * CHUNK < len(packet)
    upload_url = first.url
    server.kill()

    again = Server(data, port=server.port)  # same URL: same port
    try:
        resumed = uploader(again.url, packet, record_id, upload_url=upload_url)
        assert resumed.offset == 3 * CHUNK  # HEAD: the intake kept what it acknowledged
        resumed.upload()
        assert_verified(data, get_receipt(again.url, record_id), record_id, packet)
        assert (data / "records" / KIOSK / f"{record_id}.pkt").read_bytes() == packet
        assert stats(data)["received"] == 1
    finally:
        assert again.stop() == 0


@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_upload_whose_bytes_were_lost_is_refused_and_a_fresh_one_succeeds(
        server: Server, data: Path, device: DeviceKey) -> None:
    record_id, packet = make_packet(data, device, 8, portrait_bytes=200_000)
    first = uploader(server.url, packet, record_id)
    first.upload_chunk()
    first.upload_chunk()
    server.kill()
    # what a power cut can do to unsynced upload data: the bytes are not what was sent
    tus_file = data / "tus" / "uploads" / first.url.rsplit("/", 1)[1]
    damaged = bytearray(tus_file.read_bytes())
    damaged[100] ^= 0xFF
    tus_file.write_bytes(bytes(damaged))

    again = Server(data, port=server.port)
    try:
        uploader(again.url, packet, record_id, upload_url=first.url).upload()
        refused = get_receipt(again.url, record_id)
        assert refused.status_code == 422 and "sha256" in refused.json()["error"]
        uploader(again.url, packet, record_id).upload()  # the kiosk starts afresh
        assert_verified(data, get_receipt(again.url, record_id), record_id, packet)
        assert stats(data) | {"kiosks": None} == {
            "received": 1, "duplicates": 0, "rejected": 1, "kiosks": None,
            "records_refused": 0}
    finally:
        assert again.stop() == 0


@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_upload_complete_but_unprocessed_at_a_crash_is_processed_at_start(
        data: Path, device: DeviceKey) -> None:
    from intake.backend import open_backend

    record_id, packet = make_packet(data, device, 9)
    db = DB_ARGS.get(data, [None, None])[1]
    backend = open_backend(data, db)  # the storage a serve process on `data` uses
    try:
        storage = backend.storage
        upload_id = str(uuid.uuid4())
        storage.create_upload(upload_id, len(packet), {
            "kiosk_id": KIOSK, "record_id": record_id,
            "sha256": hashlib.sha256(packet).hexdigest()})
        storage.write_chunk(upload_id, 0, packet)
        storage.update_offset(upload_id, len(packet))  # killed before on_upload_complete ran
    finally:
        backend.close()
        backend.metadata.close()

    running = Server(data)
    try:
        assert_verified(data, get_receipt(running.url, record_id), record_id, packet)
        head = requests.head(f"{running.url}files/{upload_id}",
                             headers={"Tus-Resumable": "1.0.0"}, timeout=10)
        assert head.status_code == 404  # the kiosk's resume starts over, or finds the receipt
    finally:
        assert running.stop() == 0


def test_chunks_are_fsynced_before_the_offset_is_recorded(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    import intake.server
    from intake.server import DurableSQLiteStorage

    (tmp_path / "uploads").mkdir()
    storage = DurableSQLiteStorage(db_path=str(tmp_path / "u.db"),
                                   upload_dir=str(tmp_path / "uploads"))
    upload_id = str(uuid.uuid4())
    storage.create_upload(upload_id, 10, {})
    synced: list[int] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.fstat(fd).st_size)
        real_fsync(fd)

    monkeypatch.setattr(intake.server.os, "fsync", fsync)
    storage.write_chunk(upload_id, 0, b"12345")
    storage.write_chunk(upload_id, 5, b"67890")
    assert synced == [5, 10]  # each chunk's file synced as it was written
    assert storage.read_file(upload_id) == b"1234567890"


# -- access and start-up ------------------------------------------------------------------------
def test_bearer_token_is_required_when_configured(data: Path, device: DeviceKey) -> None:
    token_file = data.parent / "token"
    token_file.write_text("s3cret-token\n")
    running = Server(data, "--token-file", str(token_file))
    try:
        record_id, packet = make_packet(data, device, 11)
        assert requests.get(f"{running.url}health", timeout=10).status_code == 401
        wrong = {"Authorization": "Bearer nope"}
        assert requests.get(f"{running.url}health", headers=wrong, timeout=10).status_code == 401
        with pytest.raises(TusCommunicationError) as caught:
            uploader(running.url, packet, record_id).upload()
        assert caught.value.status_code == 401
        assert get_receipt(running.url, record_id).status_code == 401

        uploader(running.url, packet, record_id, token="s3cret-token").upload()
        response = get_receipt(running.url, record_id, token="s3cret-token")
        assert_verified(data, response, record_id, packet)
    finally:
        assert running.stop() == 0


@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_a_second_server_on_the_same_directory_is_refused(server: Server, data: Path) -> None:
    """SQLite: one process per directory. PostgreSQL: any number, but no SQLite-mode one
    beside them (its metadata would be elsewhere)."""
    db = DB_ARGS.get(data, [])
    if db:
        second = Server(data)  # --db as the first: serves the same directory
        try:
            assert requests.get(f"{second.url}health", timeout=10).status_code == 200
        finally:
            assert second.stop() == 0
    done = subprocess.run([*INTAKE, "serve", "--data", str(data), "--port", "0"], env=_env(),
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1
    assert "another kiosk-intake serve" in done.stderr and done.stdout == ""
    if db:
        server.stop()
        alone = subprocess.Popen([*INTAKE, "serve", "--data", str(data), "--port", "0"],
                                 env=_env(), cwd=REPO, stdout=subprocess.PIPE, text=True)
        try:
            assert alone.stdout is not None and alone.stdout.readline().startswith("listening")
            refused = subprocess.run([*INTAKE, "serve", "--data", str(data), *db, "--port",
                                      "0"], env=_env(), cwd=REPO, capture_output=True,
                                     text=True, timeout=30)
            assert refused.returncode == 1
            assert "a kiosk-intake serve without --db is using" in refused.stderr
        finally:
            alone.terminate()
            alone.wait(timeout=20)
            assert alone.stdout is not None
            alone.stdout.close()


def test_keys_init_adds_missing_intake_keys_and_never_overwrites(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    assert intake_main(["keys", "init", "--data", str(tmp_path)]) == 0
    central = (keys / "central.key").read_bytes()
    (keys / "intake.key").unlink()
    (keys / "intake.pub").unlink()  # a directory made before receipts existed

    assert intake_main(["keys", "init", "--data", str(tmp_path)]) == 0
    assert (keys / "central.key").read_bytes() == central
    intake_key = (keys / "intake.key").read_bytes()
    assert len(intake_key) == 32 and (keys / "intake.key").stat().st_mode & 0o077 == 0
    assert (keys / "intake.pub").read_text().startswith("ektp-intake-public-key v1\n")

    assert intake_main(["keys", "init", "--data", str(tmp_path)]) == 1  # all there: refuse
    assert (keys / "central.key").read_bytes() == central
    assert (keys / "intake.key").read_bytes() == intake_key


def test_serve_without_an_intake_key_says_how_to_make_one(data: Path) -> None:
    (data / "keys" / "intake.key").unlink()
    done = subprocess.run([*INTAKE, "serve", "--data", str(data), "--port", "0"], env=_env(),
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and "keys init" in done.stderr


# -- a PATCH that breaks off: every byte that arrived is kept --------------------------------
def _create(url: str, packet: bytes, record_id: str) -> str:
    resp = requests.post(f"{url}files/", timeout=10, headers={
        "Tus-Resumable": "1.0.0", "Upload-Length": str(len(packet)),
        "Upload-Metadata": ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in {
                "kiosk_id": KIOSK, "record_id": record_id,
                "sha256": hashlib.sha256(packet).hexdigest()}.items())})
    assert resp.status_code == 201, resp.text
    return urljoin(url, resp.headers["Location"])


def _offset(upload_url: str) -> int:
    resp = requests.head(upload_url, headers={"Tus-Resumable": "1.0.0"}, timeout=10)
    assert resp.status_code == 200
    return int(resp.headers["Upload-Offset"])


def _start_patch(upload_url: str, offset: int, length: int) -> socket.socket:
    """A raw, signed PATCH announcing ``length`` body bytes; the caller sends (some of)
    them."""
    parts = urlsplit(upload_url)
    prepared = requests.Request("PATCH", upload_url).prepare()
    prepared.headers.update({"Tus-Resumable": "1.0.0", "Upload-Offset": str(offset),
                             "Content-Type": "application/offset+octet-stream",
                             "Content-Length": str(length)})
    SIGNING[SIGNING_AS["kiosk"]](prepared)
    head = "".join(f"{k}: {v}\r\n" for k, v in prepared.headers.items())
    sock = socket.create_connection((parts.hostname, parts.port), timeout=10)
    sock.sendall((f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n{head}\r\n"
                  ).encode())
    return sock


def _wait_offset(upload_url: str, expected: int, within_s: float = 5.0) -> int:
    deadline = time.monotonic() + within_s
    while (seen := _offset(upload_url)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return seen


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_a_patch_that_breaks_off_keeps_every_byte_that_arrived(
        server: Server, data: Path, device: DeviceKey, how: str) -> None:
    record_id, packet = make_packet(data, device, 7, portrait_bytes=400_000)
    upload_url = _create(server.url, packet, record_id)
    sent = 0
    # one PATCH for the whole packet, cut after 100,000 bytes (not a multiple of anything)
    sock = _start_patch(upload_url, 0, len(packet))
    sock.sendall(packet[:100_000])
    sent = 100_000
    time.sleep(0.3)
    if how == "reset":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()
    assert _wait_offset(upload_url, sent) == sent
    on_disk = (data / "tus" / "uploads" / upload_url.rsplit("/", 1)[1]).read_bytes()
    assert on_disk[:sent] == packet[:sent]

    # the rest from the server's offset, in a second PATCH that also breaks, then a third
    sock = _start_patch(upload_url, sent, len(packet) - sent)
    sock.sendall(packet[sent:sent + 150_001])
    sock.close()
    sent += 150_001
    assert _wait_offset(upload_url, sent) == sent
    resp = requests.patch(upload_url, data=packet[sent:], timeout=10, headers={
        "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": str(sent)})
    assert resp.status_code == 204 and int(resp.headers["Upload-Offset"]) == len(packet)
    assert_verified(data, get_receipt(server.url, record_id), record_id, packet)
    assert "broke off after 100000 of" in server.log


@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_bytes_of_a_silent_patch_are_kept_before_it_times_out(
        server: Server, data: Path, device: DeviceKey) -> None:
    """A link that goes silent (no reset): what arrived is durable within COMMIT_S, so a
    kiosk that gives up on the old connection resumes after those bytes."""
    record_id, packet = make_packet(data, device, 8, portrait_bytes=200_000)
    upload_url = _create(server.url, packet, record_id)
    sock = _start_patch(upload_url, 0, len(packet))
    try:
        sock.sendall(packet[:70_000])
        assert _wait_offset(upload_url, 70_000, within_s=3.0) == 70_000
        # the kiosk resumes on a new connection while the old one is still open
        resp = requests.patch(upload_url, data=packet[70_000:], timeout=10, headers={
            "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream",
            "Upload-Offset": "70000"})
        assert resp.status_code == 204
    finally:
        sock.close()
    assert_verified(data, get_receipt(server.url, record_id), record_id, packet)


@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_a_patch_at_the_wrong_offset_is_refused_before_its_body_is_read(
        server: Server, data: Path, device: DeviceKey) -> None:
    record_id, packet = make_packet(data, device, 9, portrait_bytes=300_000)
    upload_url = _create(server.url, packet, record_id)
    sock = _start_patch(upload_url, 5, len(packet) - 5)
    sock.sendall(packet[5:40_000])  # the rest never comes: the answer must not wait for it
    answer = sock.recv(4096).decode("latin-1")
    sock.close()
    assert answer.startswith("HTTP/1.1 409"), answer
    assert "Connection: close" in answer
    assert _offset(upload_url) == 0


# -- kiosk authentication: every request signed by a registered kiosk's device key -----------
@pytest.mark.parametrize("data", BACKENDS, indirect=True)
def test_requests_must_be_signed_by_the_kiosk_they_act_for(
        server: Server, data: Path, device: DeviceKey) -> None:
    record_id, packet = make_packet(data, device, 11)
    metadata = {"Tus-Resumable": "1.0.0", "Upload-Length": str(len(packet)),
                "Upload-Metadata": ",".join(
                    f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in {
                        "kiosk_id": KIOSK, "record_id": record_id,
                        "sha256": hashlib.sha256(packet).hexdigest()}.items())}
    unsigned = requests.post(f"{server.url}files/", headers=metadata, timeout=10,
                             auth=lambda r: r)  # no signature
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "unsigned"
    # signed by another registered kiosk, claiming this one's record
    neighbour = DeviceKey.generate()
    assert intake_main(["register", "--data", str(data), "--kiosk", "poso-04",
                        "--key", neighbour.public_bytes.hex()]) == 0
    as_neighbour = KioskAuth("poso-04", neighbour)
    claimed = requests.post(f"{server.url}files/", headers=metadata, timeout=10,
                            auth=as_neighbour)
    assert claimed.status_code == 403 and claimed.json()["code"] == "ids_mismatch"
    # signed with a key that is not the one registered for the kiosk it names
    impostor = requests.post(f"{server.url}files/", headers=metadata, timeout=10,
                             auth=KioskAuth(KIOSK, DeviceKey.generate()))
    assert impostor.status_code == 403 and impostor.json()["code"] == "wrong_key"
    # a signature that covered other headers than were sent
    prepared = requests.Request("POST", f"{server.url}files/", headers=metadata).prepare()
    SIGNING[KIOSK](prepared)
    prepared.headers["Upload-Length"] = "5"
    altered = requests.Session().send(prepared, timeout=10)
    assert altered.status_code == 403 and altered.json()["code"] == "wrong_key"
    assert not os.listdir(data / "tus" / "uploads")  # none of them stored a byte

    # the kiosk's own upload: another kiosk can neither see nor append to it, nor read
    # its receipt
    upload_url = _create(server.url, packet, record_id)
    assert requests.head(upload_url, headers={"Tus-Resumable": "1.0.0"}, timeout=10,
                         auth=as_neighbour).status_code == 404
    assert requests.patch(upload_url, data=packet, timeout=10, auth=as_neighbour, headers={
        "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0"}).status_code == 404
    assert _offset(upload_url) == 0
    done = requests.patch(upload_url, data=packet, timeout=10, headers={
        "Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream",
        "Upload-Offset": "0"})
    assert done.status_code == 204
    assert get_receipt(server.url, record_id).status_code == 200
    assert requests.get(f"{server.url}receipts/{KIOSK}/{record_id}", timeout=10,
                        auth=as_neighbour).status_code == 404
    assert requests.get(f"{server.url}health", timeout=10, auth=lambda r: r).status_code == 200


# -- bounded: slow clients ------------------------------------------------------------------
def test_tricklers_do_not_block_a_kiosk_and_a_stop_takes_seconds(
        server: Server, data: Path, device: DeviceKey) -> None:
    """300 connections that trickle a header line every 2 s (no key needed for that): a
    kiosk's upload still completes, they are cut at the head deadline, and SIGTERM stops the
    intake within seconds while they are connected."""
    tricklers = []
    for _ in range(300):
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        tricklers.append(sock)
    started = time.monotonic()
    record_id, packet = make_packet(data, device, 21, portrait_bytes=100_000)
    uploader(server.url, packet, record_id).upload()
    assert_verified(data, get_receipt(server.url, record_id), record_id, packet)
    assert time.monotonic() - started < 10
    # keep trickling: past the head deadline, the intake cuts them
    cut: set[int] = set()
    for _ in range(8):
        time.sleep(2)
        for n, sock in enumerate(tricklers):
            try:
                sock.sendall(b"X-Slow: 1\r\n")
            except OSError:
                cut.add(n)
        if len(cut) == len(tricklers):
            break
    assert time.monotonic() - started < 20
    assert len(cut) == len(tricklers), len(cut)
    # and a stop with fresh tricklers connected takes seconds
    tricklers = [socket.create_connection(("127.0.0.1", server.port), timeout=10)
                 for _ in range(100)]
    for sock in tricklers:
        sock.sendall(b"PATCH /files/x HTTP/1.1\r\n")
    stopping = time.monotonic()
    assert server.stop() == 0
    assert time.monotonic() - stopping < 10
    for sock in tricklers:
        sock.close()


def test_stats_of_a_directory_that_is_not_there_says_so_and_survives_a_closed_pipe(
        tmp_path: Path) -> None:
    """A mistyped --data: a usage error (2) naming it, no counts (zero counts made a typo
    look like "nothing received"). Piped to a reader that went away: no traceback."""
    missing = tmp_path / "no-such-intake"
    for args in (("--json",), ()):
        done = subprocess.run([*INTAKE, "stats", "--data", str(missing), *args], env=_env(),
                              cwd=REPO, capture_output=True, text=True, timeout=30)
        assert done.returncode == 2 and done.stdout == "", (done.stdout, done.stderr)
        line = done.stderr.strip()
        assert line.startswith(f"kiosk-intake stats: {missing} is not a directory"), line
        assert "Traceback" not in done.stderr and "--data" in line
    made = tmp_path / "new-intake"  # keys init made it; nothing served yet: zeros, exit 0
    assert intake_main(["keys", "init", "--data", str(made)]) == 0
    done = subprocess.run([*INTAKE, "stats", "--data", str(made), "--json"], env=_env(),
                          cwd=REPO, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert (counts["received"], counts["duplicates"], counts["rejected"]) == (0, 0, 0)
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        done = subprocess.run([*INTAKE, "stats", "--data", str(made), "--json"],
                              env=_env(), cwd=REPO, stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=30)
    finally:
        os.close(write_end)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert "is not a directory" not in done.stderr  # made is one


@pytest.mark.parametrize(("host", "port", "status", "says"), [
    ("127.0.0.1", None, 1, "is in use"),  # `None`: the port of a socket listening already
    ("nosuchhost.invalid", 0, 1, "cannot listen on nosuchhost.invalid"),
    ("192.0.2.1", 0, 1, "not an address of this machine"),  # TEST-NET-1: nobody's
    ("127.0.0.1", 70000, 2, "--port"),
    ("127.0.0.1", -1, 2, "--port"),
])
def test_serve_where_it_cannot_listen_says_why_without_a_traceback(
        data: Path, host: str, port: int | None, status: int, says: str) -> None:
    """A port in use (another intake, an old one still running), a port out of range, a
    host that does not resolve or is not this machine's: one line, no traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        chosen = taken.getsockname()[1] if port is None else port
        done = subprocess.run([*INTAKE, "serve", "--data", str(data), "--host", host,
                               "--port", str(chosen)], env=_env(), cwd=REPO,
                              capture_output=True, text=True, timeout=30)
    assert done.returncode == status, done.stderr
    assert says in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.stdout == ""
    # The directory's lock is given back: a serve on a free port starts.
    Server(data).stop()
