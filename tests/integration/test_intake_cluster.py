"""Two ``kiosk-intake serve --db postgresql://...`` processes sharing one PostgreSQL (a real
one, tests/pg_harness.py) and one data directory behave as one intake (issue #10, item 6).

* the same record uploaded to both at once is stored once (one row, one packet file, one
  receipt, the other upload counted as a duplicate);
* a tus upload created on one resumes on the other, and two ``PATCH``\\ es of one upload
  sent to both at once are serialised (one is taken, the other refused);
* 5 kiosk processes (``kiosk upload``, the real uploader) send their records through a
  TCP load balancer (tests/balancer.py) to both; one intake process is SIGKILLed
  mid-run; the kiosks resume through the balancer on the other one. Every record is
  stored once and every receipt verifies.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import pytest
import requests

from kiosk.journal import Journal
from kiosk.receipts import verify_receipt
from kiosk.sealing import build_packet
from tests.balancer import Balancer
from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import (
    IntakeServer,
    Site,
    check_acknowledged,
    demo,
    intake_cli,
    kiosk_auth,
    make_site,
)

pytestmark = pytest.mark.timeout(240)

TUS = {"Tus-Resumable": "1.0.0"}


@pytest.fixture
def shared(tmp_path: Path) -> Path:
    """The intake's data directory both processes serve."""
    directory = tmp_path / "intake"
    intake_cli("keys", "init", "--data", str(directory))
    return directory


def kiosk_sites(root: Path, shared: Path, kiosks: int, records: int) -> list[Site]:
    """``kiosks`` sites registered at ``shared``, each with ``records`` demo records; the
    kiosks' demos run at the same time (separate data directories, as on separate kiosks)."""
    sites = [make_site(root / f"kiosk-{n}", kiosk_id=f"kiosk-{n:02d}", intake=shared)
             for n in range(kiosks)]
    with ThreadPoolExecutor(max_workers=kiosks) as pool:
        printed = list(pool.map(lambda n: demo(sites[n], records, seed=n), range(kiosks)))
    assert [len(ids) for ids in printed] == [records] * kiosks, printed
    return sites


def packets(site: Site) -> dict[str, bytes]:
    with Journal.open_readonly(site.journal_path) as journal:
        return {info.id: build_packet(info.manifest, journal.step_blobs(info.id))
                for info in journal.outbox() if info.manifest is not None}


@pytest.fixture
def pair(shared: Path, pg_url: str) -> Iterator[tuple[IntakeServer, IntakeServer]]:
    first = IntakeServer(shared, 0, "--db", pg_url)
    try:
        second = IntakeServer(shared, 0, "--db", pg_url)
    except BaseException:
        first.stop()
        raise
    try:
        yield first, second
    finally:
        for server in (first, second):
            server.stop()


def create(base: str, site: Site, record_id: str, packet: bytes) -> str:
    """A tus upload created at ``base``; its path (``/files/<id>``)."""
    metadata = {"kiosk_id": site.kiosk_id, "record_id": record_id,
                "sha256": hashlib.sha256(packet).hexdigest()}
    import base64

    resp = requests.post(f"{base}files/", timeout=10, auth=kiosk_auth(site), headers={
        **TUS, "Upload-Length": str(len(packet)), "Upload-Metadata": ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in metadata.items())})
    assert resp.status_code == 201, resp.text
    return urlsplit(resp.headers["Location"]).path


def patch(base: str, path: str, site: Site, body: bytes, offset: int) -> requests.Response:
    return requests.patch(f"{base.rstrip('/')}{path}", data=body, timeout=30,
                          auth=kiosk_auth(site), headers={
                              **TUS, "Upload-Offset": str(offset),
                              "Content-Type": "application/offset+octet-stream"})


def receipt(base: str, site: Site, record_id: str) -> requests.Response:
    return requests.get(f"{base}receipts/{site.kiosk_id}/{record_id}", timeout=10,
                        auth=kiosk_auth(site))


def rows(url: str) -> dict[str, int]:
    with psycopg.connect(url) as conn:
        records = conn.execute("SELECT count(*) FROM records").fetchone()
        uploads = conn.execute("SELECT count(*) FROM tus_uploads").fetchone()
        counters = dict(conn.execute("SELECT name, value FROM counters").fetchall())
    assert records is not None and uploads is not None
    return {"records": records[0], "uploads": uploads[0], **counters}


def test_the_same_record_sent_to_both_at_once_is_stored_once(
        tmp_path: Path, shared: Path, pg_url: str,
        pair: tuple[IntakeServer, IntakeServer]) -> None:
    (site,) = kiosk_sites(tmp_path, shared, 1, 1)
    ((record_id, packet),) = packets(site).items()
    paths = [create(server.url, site, record_id, packet) for server in pair]
    start = threading.Barrier(2)
    answers: list[int] = []

    def send(server: IntakeServer, path: str) -> None:
        start.wait()
        answers.append(patch(server.url, path, site, packet, 0).status_code)

    threads = [threading.Thread(target=send, args=(server, path))
               for server, path in zip(pair, paths, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [204, 204]
    first, second = (receipt(server.url, site, record_id) for server in pair)
    assert first.status_code == second.status_code == 200
    assert first.content == second.content  # one receipt, whoever asks
    verify_receipt(first.content, site.intake_key, kiosk_id=site.kiosk_id,
                   record_id=record_id, packet_sha256=hashlib.sha256(packet).hexdigest())
    assert rows(pg_url) == {"records": 1, "uploads": 0, "duplicates": 1, "rejected": 0}
    stored = sorted(p.name for p in (shared / "records" / site.kiosk_id).iterdir())
    assert stored == [f"{record_id}.pkt", f"{record_id}.receipt"]  # no temp file left over
    assert (shared / "records" / site.kiosk_id / f"{record_id}.pkt").read_bytes() == packet


def test_an_upload_started_on_one_resumes_on_the_other_and_patches_are_serialised(
        tmp_path: Path, shared: Path, pg_url: str,
        pair: tuple[IntakeServer, IntakeServer]) -> None:
    (site,) = kiosk_sites(tmp_path, shared, 1, 2)
    (one, first_packet), (two, second_packet) = packets(site).items()
    a, b = pair

    # resumes: half on A, HEAD and the rest on B
    path = create(a.url, site, one, first_packet)
    half = len(first_packet) // 2
    assert patch(a.url, path, site, first_packet[:half], 0).status_code == 204
    head = requests.head(f"{b.url.rstrip('/')}{path}", headers=TUS, timeout=10,
                         auth=kiosk_auth(site))
    assert head.status_code == 200 and int(head.headers["Upload-Offset"]) == half
    assert patch(b.url, path, site, first_packet[half:], 0).status_code == 409  # wrong offset
    assert patch(b.url, path, site, first_packet[half:], half).status_code == 204
    assert receipt(a.url, site, one).status_code == 200

    # two PATCHes of one upload at once, one to each process: one is taken
    path = create(b.url, site, two, second_packet)
    start = threading.Barrier(2)
    answers: list[int] = []

    def send(server: IntakeServer) -> None:
        start.wait()
        answers.append(patch(server.url, path, site, second_packet, 0).status_code)

    threads = [threading.Thread(target=send, args=(server,)) for server in pair]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers)[0] == 204 and answers.count(204) == 1, answers
    assert set(answers) <= {204, 404, 409, 423}, answers
    assert rows(pg_url) == {"records": 2, "uploads": 0, "duplicates": 0, "rejected": 0}
    for record_id, packet in ((one, first_packet), (two, second_packet)):
        stored = shared / "records" / site.kiosk_id / f"{record_id}.pkt"
        assert stored.read_bytes() == packet
    assert not os.listdir(shared / "tus" / "uploads")


def _outbox(site: Site) -> int:
    with Journal.open_readonly(site.journal_path) as journal:
        return len(journal.outbox())


def run_kiosks_through_a_balancer(tmp_path: Path, shared: Path, pg_url: str, kiosks: int,
                                  records: int) -> None:
    sites = kiosk_sites(tmp_path, shared, kiosks, records)
    total = kiosks * records
    a = IntakeServer(shared, 0, "--db", pg_url)
    b = IntakeServer(shared, 0, "--db", pg_url)
    uploaders: list[subprocess.Popen[bytes]] = []
    try:
        with Balancer([("127.0.0.1", a.port), ("127.0.0.1", b.port)]) as balancer:
            for site in sites:
                # chunks of 128 KiB: a kill finds PATCHes in flight; quick retries
                site.configure(balancer.url, chunk_size=128 * 1024, interval_s=0.5,
                               max_backoff_s=1, timeout_s=10)
                log = (site.root / "upload.log").open("wb")
                uploaders.append(subprocess.Popen([*KIOSK, "upload"], stdout=log,
                                                  stderr=subprocess.STDOUT,
                                                  env=kiosk_env(site.config)))
                log.close()
            # the kill: once a quarter of the records are in, while kiosks talk to A
            deadline = time.monotonic() + 60
            while rows(pg_url)["records"] < total // 4 or not balancer.active[0]:
                assert time.monotonic() < deadline, "no moment to kill A"
                time.sleep(0.02)
            before = balancer.connections[1]
            a.proc.send_signal(signal.SIGKILL)
            a.proc.wait(timeout=10)
            at_kill = rows(pg_url)["records"]
            assert at_kill < total, "the kill came after the run"
            deadline = time.monotonic() + 120
            while any(_outbox(site) for site in sites):
                assert time.monotonic() < deadline, [_outbox(site) for site in sites]
                assert all(proc.poll() is None for proc in uploaders)
                time.sleep(0.2)
            assert balancer.connections[0] > 0  # A served before it died
            assert balancer.connections[1] > before  # B took over
    finally:
        for proc in uploaders:
            proc.terminate()
            proc.wait(timeout=30)
        a.stop()
        b.stop()
    assert a.proc.returncode == -signal.SIGKILL and b.proc.returncode == 0

    counts = rows(pg_url)
    assert counts["records"] == total and counts["rejected"] == 0, counts
    # A's SIGKILL may have left a staged packet copy beside its final name: the next start
    # (or B's sweep, about once a minute) removes what a gone process left
    IntakeServer(shared, 0, "--db", pg_url).stop()
    for site in sites:
        with Journal.open_readonly(site.journal_path) as journal:
            done = check_acknowledged(site, journal)  # every receipt verifies
        assert len(done) == records
        stored = sorted(p.name for p in (shared / "records" / site.kiosk_id).iterdir())
        assert stored == sorted([f"{r}.pkt" for r in done] + [f"{r}.receipt" for r in done])
    for site in sites:
        output = (site.root / "upload.log").read_text()
        assert output.count("acknowledged ") == records, output[-2000:]


def test_five_kiosks_two_intakes_one_killed_nothing_lost(tmp_path: Path, shared: Path,
                                                         pg_url: str) -> None:
    run_kiosks_through_a_balancer(tmp_path, shared, pg_url, kiosks=5, records=4)


@pytest.mark.slow
def test_fifty_records_five_kiosks_two_intakes_one_killed(tmp_path: Path, shared: Path,
                                                          pg_url: str) -> None:
    run_kiosks_through_a_balancer(tmp_path, shared, pg_url, kiosks=5, records=10)
