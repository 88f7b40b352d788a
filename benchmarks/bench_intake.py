"""Intake throughput: records per second with 20 kiosks uploading at once.

Real ``kiosk-intake serve`` processes (the default SQLite metadata; ``--db`` on a private
PostgreSQL started here with its default durability, tests/pg_harness.py; and two
``--db`` processes sharing that database and one data directory behind the TCP balancer of
tests/balancer.py) receive ``RECORDS_PER_KIOSK`` real sealed packets of about 600 KiB from
each of ``KIOSKS`` kiosks, each kiosk a client thread with its own registered device key
and signed requests: create the tus upload, send the packet in one ``PATCH``, fetch the
receipt and verify it. The figure is records (receipts verified) / wall time, from the
first request to the last receipt. Everything runs on this machine: the clients' work
(sealing is done before the clock starts; hashing, signing, verifying while it runs)
shares its cores with the intake.

``python benchmarks/run.py intake`` (about two minutes).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import os
import shutil
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
from kiosk.queue.signing import KioskAuth
from kiosk.receipts import load_intake_public_key, verify_receipt
from kiosk.sealing import DeviceKey, RecordMeta, Sealer, build_packet, load_central_public_key
from tests.balancer import Balancer
from tests.pg_harness import PostgresServer
from tests.upload_helpers import IntakeServer

KIOSKS = 20
RECORDS_PER_KIOSK = 8
PORTRAIT_BYTES = 600 * 1024 - 2048  # with the other steps and the manifest: ~600 KiB
TUS = {"Tus-Resumable": "1.0.0"}


def _packets(data: Path, kiosk: str, device: DeviceKey, count: int) -> list[tuple[str, bytes]]:
    sealer = Sealer(load_central_public_key(data / "keys" / "central.pub"), device, kiosk)
    out = []
    for seq in range(1, count + 1):
        record_id = f"{kiosk}-{seq:07d}-a1b2c3"
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


def run(kiosks: int = KIOSKS, records: int = RECORDS_PER_KIOSK) -> dict[str, Any]:
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


def rows(r: dict[str, Any]) -> list[str]:
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


if __name__ == "__main__":
    for row in rows(run()):
        print(row)
