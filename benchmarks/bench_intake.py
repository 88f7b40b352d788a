"""The intake's benchmarks: throughput, and what a large or crafted upload costs.

**Throughput** (records per second with 20 kiosks uploading at once). Real ``kiosk-intake
serve`` processes (the default SQLite metadata; ``--db`` on a private PostgreSQL started
here with its default durability, tests/pg_harness.py; and two ``--db`` processes sharing
that database and one data directory behind the TCP balancer of tests/balancer.py) receive
``RECORDS_PER_KIOSK`` real sealed packets of about 600 KiB from each of ``KIOSKS`` kiosks,
each kiosk a client thread with its own registered device key and signed requests: create
the tus upload, send the packet in one ``PATCH``, fetch the receipt and verify it. The
figure is records (receipts verified) / wall time, from the first request to the last
receipt. Everything runs on this machine: the clients' work (sealing is done before the
clock starts; hashing, signing, verifying while it runs) shares its cores with the intake.

**Bounds** (issue #10, item 5): what a 64 MiB upload costs one serve process.

* peak RSS (``VmHWM``) of ``kiosk-intake serve --max-packet-mib 80`` after receiving,
  checking, storing and receipting a valid 64 MiB packet (six steps of random bytes), and of
  the same process idle; target < 100 MB;
* wall time of the final PATCH's verdict for the red-team packet (a signed head, then
  64 MiB of zero-length blobs; 13.7 s of CPU and 394 MB before the checks were reordered),
  measured in process on ``IntakeStore.accept`` so the transfer is not counted.

``python benchmarks/run.py intake`` (about two minutes).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests

from intake.cli import main as intake_main
from intake.store import IntakeStore
from kiosk.core.ids import make_record_id
from kiosk.receipts import IntakeKey, load_intake_public_key, verify_receipt
from kiosk.request_signing import KioskAuth
from kiosk.sealing import (
    STEPS,
    DeviceKey,
    RecordMeta,
    Sealer,
    build_packet,
    load_central_private_key,
    load_central_public_key,
)
from tests.balancer import Balancer
from tests.pg_harness import PostgresServer
from tests.upload_helpers import IntakeServer, intake_env

MIB = 1024 * 1024
KIOSK = "poso-01"  # the bounds measurements' kiosk


KIOSKS = 20
RECORDS_PER_KIOSK = 8
PORTRAIT_BYTES = 600 * 1024 - 2048  # with the other steps and the manifest: ~600 KiB
TUS = {"Tus-Resumable": "1.0.0"}


def _packets(data: Path, kiosk: str, device: DeviceKey, count: int) -> list[tuple[str, bytes]]:
    sealer = Sealer(load_central_public_key(data / "keys" / "central.pub"), device, kiosk)
    out = []
    for seq in range(1, count + 1):
        record_id = make_record_id(kiosk, seq, "a1b2c3")
        meta = RecordMeta(record_id=record_id, kiosk_id=kiosk, seq=seq, boot_id="bench",
                          clock_trusted=False, created_at="2024-03-01T02:00:00Z",
                          sealed_at="2024-03-01T02:07:00Z", assisted=False)
        parts = {"identity": {"identity.json": b'{"nik":"7204014107850003"}'},
                 "demographics": {"demographics.json": b'{"full_name":"Siti"}'},
                 "portrait": {"portrait.jpg": b"\xff\xd8\xff" + os.urandom(PORTRAIT_BYTES)}}
        blobs = {step: sealer.seal_step(record_id, step, p) for step, p in parts.items()}
        out.append((record_id, build_packet(sealer.seal_record(meta, blobs), blobs)))
    return out


class Fleet:
    """``KIOSKS`` registered kiosks in a fresh intake directory, their packets sealed."""

    def __init__(self, base: Path, kiosks: int, records: int) -> None:
        self.data = base / "intake"
        with contextlib.redirect_stdout(io.StringIO()):  # keys init and register speak
            self._make(kiosks, records)

    def _make(self, kiosks: int, records: int) -> None:
        assert intake_main(["keys", "init", "--data", str(self.data)]) == 0
        self.intake_key = load_intake_public_key(self.data / "keys" / "intake.pub")
        self.kiosks: list[tuple[KioskAuth, list[tuple[str, bytes]]]] = []
        for n in range(kiosks):
            kiosk = f"bench-{n:02d}"
            device = DeviceKey.generate()
            assert intake_main(["register", "--data", str(self.data), "--kiosk", kiosk,
                                "--key", device.public_bytes.hex()]) == 0
            self.kiosks.append((KioskAuth(kiosk, device),
                                _packets(self.data, kiosk, device, records)))

    @property
    def records(self) -> int:
        return sum(len(packets) for _auth, packets in self.kiosks)

    @property
    def packet_bytes(self) -> int:
        return sum(len(p) for _auth, packets in self.kiosks for _r, p in packets)


def _kiosk(base_url: str, auth: KioskAuth, packets: list[tuple[str, bytes]],
           intake_key: bytes, failures: list[str]) -> None:
    session = requests.Session()
    session.auth = auth
    try:
        for record_id, packet in packets:
            digest = hashlib.sha256(packet).hexdigest()
            metadata = {"kiosk_id": auth.kiosk_id, "record_id": record_id, "sha256": digest}
            created = session.post(f"{base_url}files/", timeout=60, headers={
                **TUS, "Upload-Length": str(len(packet)), "Upload-Metadata": ",".join(
                    f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in metadata.items())})
            if created.status_code != 201:
                failures.append(f"create {record_id}: {created.status_code}")
                continue
            path = urlsplit(created.headers["Location"]).path
            sent = session.patch(f"{base_url.rstrip('/')}{path}", data=packet, timeout=120,
                                 headers={**TUS, "Upload-Offset": "0",
                                          "Content-Type": "application/offset+octet-stream"})
            if sent.status_code != 204:
                failures.append(f"patch {record_id}: {sent.status_code}")
                continue
            got = session.get(f"{base_url}receipts/{auth.kiosk_id}/{record_id}", timeout=60)
            if got.status_code != 200:
                failures.append(f"receipt {record_id}: {got.status_code}")
                continue
            verify_receipt(got.content, intake_key, kiosk_id=auth.kiosk_id,
                           record_id=record_id, packet_sha256=digest)
    finally:
        session.close()


def drive(fleet: Fleet, base_url: str) -> float:
    """Every kiosk at once; seconds from the first request to the last verified receipt."""
    failures: list[str] = []
    threads = [threading.Thread(target=_kiosk, args=(base_url, auth, packets,
                                                     fleet.intake_key, failures))
               for auth, packets in fleet.kiosks]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    if failures:
        raise AssertionError(f"{len(failures)} failures: {failures[:5]}")
    stored = list((fleet.data / "records").glob("*/*.pkt"))
    if len(stored) != fleet.records:
        raise AssertionError(f"{len(stored)} packets stored of {fleet.records}")
    return elapsed


@contextlib.contextmanager
def _servers(data: Path, count: int, db: str | None) -> Iterator[list[IntakeServer]]:
    extra = ["--log-level", "WARNING", *(["--db", db] if db else [])]
    servers: list[IntakeServer] = []
    try:
        for _ in range(count):
            servers.append(IntakeServer(data, 0, *extra))
        yield servers
    finally:
        for server in servers:
            server.stop()


def throughput(kiosks: int = KIOSKS, records: int = RECORDS_PER_KIOSK) -> dict[str, Any]:
    """Records/s on SQLite, PostgreSQL, and two PostgreSQL processes behind a balancer."""
    base = Path(tempfile.mkdtemp(prefix="bench-intake-"))
    out: dict[str, Any] = {"kiosks": kiosks}
    try:
        with PostgresServer(durable=True) as pg:
            cases = [("sqlite", 1, False), ("postgresql", 1, True), ("postgresql x2", 2, True)]
            for name, processes, use_pg in cases:
                fleet = Fleet(base / name.replace(" ", "-"), kiosks, records)
                db = pg.create_database() if use_pg else None
                with _servers(fleet.data, processes, db) as servers:
                    if processes == 1:
                        elapsed = drive(fleet, servers[0].url)
                    else:
                        with Balancer([("127.0.0.1", s.port) for s in servers]) as lb:
                            elapsed = drive(fleet, lb.url)
                out[name] = {"records": fleet.records, "bytes": fleet.packet_bytes,
                             "elapsed_s": elapsed, "per_s": fleet.records / elapsed}
                print(f"  {name}: {fleet.records} records in {elapsed:.1f} s = "
                      f"{fleet.records / elapsed:.1f}/s", file=sys.stderr, flush=True)
                shutil.rmtree(fleet.data, ignore_errors=True)
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def throughput_rows(r: dict[str, Any]) -> list[str]:
    out = []
    labels = {"sqlite": "SQLite (the default), one process",
              "postgresql": "PostgreSQL (`--db`), one process",
              "postgresql x2": "PostgreSQL, two processes behind a TCP balancer, one data "
                               "directory"}
    for name, label in labels.items():
        c = r[name]
        out.append(f"| intake throughput, {r['kiosks']} kiosks at once, {c['records']} records "
                   f"of {c['bytes'] / c['records'] / 1024:.0f} KiB (create, one PATCH, "
                   f"receipt verified): {label} | **{c['per_s']:.1f} records/s** "
                   f"({c['elapsed_s']:.1f} s; {c['bytes'] / c['elapsed_s'] / 2**20:.1f} MiB/s)"
                   " | |")
    return out


def _meta(seq: int) -> RecordMeta:
    return RecordMeta(record_id=make_record_id(KIOSK, seq, "a1b2c3"), kiosk_id=KIOSK, seq=seq,
                      boot_id="b", clock_trusted=False, created_at="2024-03-01T02:00:00Z",
                      sealed_at="2024-03-01T02:07:00Z", assisted=False)


def _vmhwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _serve_64_mib(data: Path, sealer: Sealer, auth: KioskAuth) -> tuple[float, float, float]:
    """(idle peak MB, peak MB after a 64 MiB upload, seconds for its upload + verdict)."""
    meta = _meta(1)
    size = 64 * MIB // len(STEPS) - 2048
    blobs = {s: sealer.seal_step(meta.record_id, s, {f"{s}.bin": bytes(size)}) for s in STEPS}
    packet = build_packet(sealer.seal_record(meta, blobs), blobs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "intake.cli", "serve", "--data", str(data), "--port", "0",
         "--max-packet-mib", "80", "--log-level", "WARNING"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=intake_env())
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        idle = _vmhwm_mb(proc.pid)
        started = time.monotonic()
        created = requests.post(f"{url}files/", auth=auth, timeout=60, headers={
            "Tus-Resumable": "1.0.0", "Upload-Length": str(len(packet)),
            "Upload-Metadata": f"kiosk_id {_b64(KIOSK)},record_id {_b64(meta.record_id)},"
                               f"sha256 {_b64(hashlib.sha256(packet).hexdigest())}"})
        done = requests.patch(requests.compat.urljoin(url, created.headers["Location"]),
                              data=packet, auth=auth, timeout=120, headers={
                                  "Tus-Resumable": "1.0.0", "Upload-Offset": "0",
                                  "Content-Type": "application/offset+octet-stream"})
        took = time.monotonic() - started
        assert done.status_code == 204, done.text
        receipt = requests.get(f"{url}receipts/{KIOSK}/{meta.record_id}", auth=auth,
                               timeout=30)
        assert receipt.status_code == 200, receipt.text
        return idle, _vmhwm_mb(proc.pid), took
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def _crafted_verdict_s(data: Path, sealer: Sealer, device: DeviceKey) -> tuple[float, str]:
    """Seconds of ``IntakeStore.accept`` for the red-team packet, and its refusal code."""
    meta = _meta(2)
    blobs = {"identity": sealer.seal_step(meta.record_id, "identity", {"i": b"x"})}
    signed = sealer.seal_record(meta, blobs)
    path = data.parent / "crafted.pkt"
    with path.open("wb") as out:
        out.write(b"EKTP\x01" + struct.pack(">I", len(signed)) + signed
                  + struct.pack(">I", len(blobs["identity"])) + blobs["identity"])
        out.truncate(64 * MIB)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    store = IntakeStore(data, load_central_private_key(data / "keys" / "central.key"),
                        IntakeKey.generate())
    try:
        started = time.perf_counter()
        outcome = store.accept("bench-crafted", {"kiosk_id": KIOSK,
                                                 "record_id": meta.record_id,
                                                 "sha256": digest}, path)
        return time.perf_counter() - started, outcome.code
    finally:
        store.close()


def bounds() -> dict[str, Any]:
    """Peak memory of a 64 MiB upload; the verdict on the crafted packet."""
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "intake"
        assert intake_main(["keys", "init", "--data", str(data)]) == 0
        device = DeviceKey.generate()
        assert intake_main(["register", "--data", str(data), "--kiosk", KIOSK,
                            "--key", device.public_bytes.hex()]) == 0
        sealer = Sealer(load_central_public_key(data / "keys" / "central.pub"), device, KIOSK)
        idle, peak, took = _serve_64_mib(data, sealer, KioskAuth(KIOSK, device))
        crafted_s, code = _crafted_verdict_s(data, sealer, device)
    return {"idle_mb": idle, "peak_mb": peak, "upload_s": took, "crafted_s": crafted_s,
            "crafted_code": code}


def bounds_rows(r: dict[str, Any]) -> list[str]:
    return [
        f"| intake peak RSS receiving, checking and storing a 64 MiB packet (idle: "
        f"{r['idle_mb']:.0f} MB; upload + verdict {r['upload_s']:.1f} s on loopback) | "
        f"**{r['peak_mb']:.0f} MB** | < 100 MB |",
        f"| intake verdict on a signed head + 64 MiB of zero-length blobs "
        f"(`{r['crafted_code']}`; was 13.7 s CPU, 394 MB) | **{r['crafted_s'] * 1000:.0f} ms** "
        "| refused before any blob is read |",
    ]


def run() -> dict[str, Any]:
    """Both: ``{"throughput": ..., "bounds": ...}``."""
    return {"throughput": throughput(), "bounds": bounds()}


def rows(r: dict[str, Any]) -> list[str]:
    """README's rows, throughput first (``benchmarks/run.py``'s ``intake``)."""
    return throughput_rows(r["throughput"]) + bounds_rows(r["bounds"])


if __name__ == "__main__":
    for row in rows(run()):
        print(row)
