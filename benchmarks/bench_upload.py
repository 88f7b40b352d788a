"""Uploads through a bad link: goodput and wire overhead against the link's floor.

Every figure goes through ``tests/badlink.py`` (a TCP proxy with a bandwidth cap, one-way
latency, a reset every N bytes, stalls) between the kiosk's real uploader, with the
default ``[upload]`` configuration, and a real ``kiosk-intake serve``. The records are real
``kiosk demo`` records (about 580 KiB sealed each).

* ``goodput`` = packet bytes / elapsed / the link's cap; ``floor`` = what a resumable
  upload can reach at best on that link (``floor_ratio``: every reset costs a new
  connection and an offset query, two round trips); the figure reported is
  goodput / floor. ``wire`` = bytes the proxy carried upstream / packet bytes.
* The same records, each sent by one plain HTTP ``POST`` through the same link (a tiny
  server that just reads the body), for as long as the tus run took (at least 20 s): a
  record larger than the reset interval never arrives, whatever the retries.
* ``done_when``: issue #9's case. 64 KB/s, 150 ms one way, a reset every 64 KB, 20 records,
  the default config: every record acknowledged and held once, wire <= 1.1x, goodput / cap
  >= 0.5. The same with a 60 s stall in the middle (the uploader notices within its
  request timeout); and the same with ``kiosk upload`` killed (SIGKILL) at 20 random
  moments, then left to finish: nothing lost, nothing stored twice, no record restarted.

``python benchmarks/run.py upload`` (about 30 min: the links are slow on purpose);
``python benchmarks/bench_upload.py quick`` runs a two-minute subset, ``... done-when``
only the 20-record run (about 6 min), ``... timeline [N]`` N records (default 5) on issue
#9's link with where each record's time went: the uploader's requests on its own thread
(the critical path), reconnections and resets, against the floor for its bytes.
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import shutil
import socketserver
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("KIOSK_SYSTEM_CONFIG", "/nonexistent/kiosk.toml")
os.environ.pop("KIOSK_CONFIG", None)

from kiosk.config import load_config
from kiosk.journal import Journal
from kiosk.runtime import open_journal
from kiosk.upload.uploader import Uploader, UploadSettings
from tests.badlink import BadLink, LinkProfile, floor_ratio
from tests.upload_helpers import (
    KIOSK_ID,
    IntakeServer,
    Site,
    check_acknowledged,
    demo,
    kill_upload_daemon,
    make_site,
    stats,
    unfinished_upload_offsets,
    upload,
)

KB = 1024
LATENCY_S = 0.15
RATES = (16 * KB, 64 * KB, 256 * KB)
RESETS = (32 * KB, 64 * KB, 256 * KB)
MATRIX_RECORDS = 2
DONE_RECORDS = 20
TARGET_GOODPUT = 0.5  # packet bytes / elapsed / cap, issue #9
TARGET_WIRE = 1.1


@dataclass
class Result:
    records: int
    packet_bytes: int
    elapsed_s: float
    bytes_up: int
    resets: int
    profile: LinkProfile
    connections: int = 0  # TCP connections the uploader opened through the link
    pauses: int = 0  # passes that ended with the link taken as down (then interval_s idle)

    @property
    def goodput(self) -> float:
        assert self.profile.rate_bps
        return self.packet_bytes / self.elapsed_s / self.profile.rate_bps

    @property
    def floor(self) -> float:
        return floor_ratio(self.profile)

    @property
    def wire(self) -> float:
        return self.bytes_up / self.packet_bytes


# -- sites -----------------------------------------------------------------------------------
class Templates:
    """One demo site per record count, made once; every run works on a fresh copy."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self._made: dict[int, Path] = {}

    def site(self, records: int) -> Site:
        if records not in self._made:
            site = make_site(self.base / f"template-{records}")
            demo(site, records, seed=records)
            self._made[records] = site.root
        copy = Path(tempfile.mkdtemp(dir=self.base, prefix="run-"))
        shutil.copytree(self._made[records], copy, dirs_exist_ok=True)
        return Site(copy)


def _packets(site: Site) -> int:
    return sum(p.stat().st_size for p in (site.intake_dir / "records" / KIOSK_ID).glob("*.pkt"))


def _check_once(site: Site, journal: Journal, records: int) -> None:
    """Every record acknowledged with a verified receipt, held once, never restarted."""
    done = check_acknowledged(site, journal)
    counts = stats(site)
    if len(done) != records or counts["received"] != records or counts["rejected"]:
        raise AssertionError(f"{len(done)} acknowledged, intake {counts}")
    for info in journal.records():
        moves = [(e.details["from_state"], e.details["to_state"])
                 for e in journal.audit_events(1000, event="record_state")
                 if e.details["record"] == info.id and e.details["from_state"] != "in_progress"]
        if moves != [("sealed", "uploading"), ("uploading", "acknowledged")]:
            raise AssertionError(f"{info.id} was restarted: {moves}")


@contextlib.contextmanager
def _through(site: Site, profile: LinkProfile) -> Iterator[tuple[IntakeServer, BadLink]]:
    with IntakeServer(site.intake_dir) as intake, BadLink(
            ("127.0.0.1", intake.port), profile) as link:
        site.configure(link.url)
        yield intake, link


def tus_run(site: Site, profile: LinkProfile, records: int,
            stall: tuple[float, float] | None = None) -> Result:
    """The uploader in process (default config), one drain per pass until the outbox is
    empty; ``stall`` = (after s, for s)."""
    with _through(site, profile) as (_intake, link):
        config = load_config(site.config)
        settings = UploadSettings.from_config(config, site.intake_key)
        with open_journal(config) as journal, Uploader(journal, settings,
                                                       out=io.StringIO()) as uploader:
            if stall is not None:
                threading.Timer(stall[0], link.stall, args=(stall[1],)).start()
            started = time.monotonic()
            pauses = 0
            while journal.outbox():
                result = uploader.drain()
                if result.link_down:
                    pauses += 1
                    time.sleep(settings.interval_s)  # the daemon's first pause
            elapsed = time.monotonic() - started
            _check_once(site, journal, records)
        carried = link.stats
    return Result(records, _packets(site), elapsed, carried.bytes_up, carried.resets, profile,
                  carried.connections, pauses)


class _Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received: list[int]

    def do_POST(self) -> None:
        length = int(self.headers["Content-Length"])
        try:
            body = self.rfile.read(length)
        except OSError:  # the link reset it: nothing of it counts
            self.close_connection = True
            return
        if len(body) == length:
            self.received.append(length)
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def post_run(site: Site, profile: LinkProfile, budget_s: float) -> tuple[int, int, int]:
    """Each record as one plain POST, retried for ``budget_s``: (records that arrived,
    records, bytes carried)."""
    config = load_config(site.config)
    from kiosk.sealing import build_packet

    with Journal.open_readonly(config.journal_path) as journal:
        packets = [build_packet(info.manifest, journal.step_blobs(info.id))
                   for info in journal.outbox() if info.manifest is not None]
    received: list[int] = []
    handler = type("Sink", (_Sink,), {"received": received})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    import requests

    try:
        with BadLink(server.server_address, profile) as link:
            deadline = time.monotonic() + budget_s
            for packet in packets:
                while time.monotonic() < deadline:
                    try:
                        requests.post(link.url, data=packet, timeout=30)
                        break
                    except requests.RequestException:
                        continue
            carried = link.stats.bytes_up
    finally:
        server.shutdown()
        server.server_close()
    return len(received), len(packets), carried


def matrix(templates: Templates, rates: tuple[int, ...] = RATES,
           resets: tuple[int, ...] = RESETS, records: int = MATRIX_RECORDS) -> list[dict]:
    out = []
    for rate in rates:
        for reset in resets:
            profile = LinkProfile(rate_bps=rate, latency_s=LATENCY_S, reset_every=reset)
            tus = tus_run(templates.site(records), profile, records)
            budget = max(20.0, tus.elapsed_s)
            arrived, total, carried = post_run(templates.site(records), profile, budget)
            out.append({"rate": rate, "reset": reset, "tus": tus, "post_arrived": arrived,
                        "post_records": total, "post_carried": carried, "post_s": budget})
            print(f"  {rate // KB} KB/s, reset every {reset // KB} KB: "
                  f"{tus.goodput / tus.floor:.2f} of floor, wire {tus.wire:.3f}; "
                  f"POST {arrived}/{total}", file=sys.stderr, flush=True)
    return out




def kill_run(site: Site, profile: LinkProfile, records: int, kills: int,
             seed: int = 9) -> dict[str, Any]:
    """``kiosk upload`` (the daemon, default config) SIGKILLed at ``kills`` random moments,
    then ``kiosk upload --once`` to the end."""
    rng = random.Random(seed)
    with _through(site, profile) as (_intake, link):
        started = time.monotonic()
        # 1-8 s: twenty kills fit in the run (about 150 s), each at a random moment of
        # start-up, creation, a PATCH, the receipt or the pause between passes.
        done_kills = kill_upload_daemon(site, rng, times=kills, between=(1.0, 8.0))
        final = upload(site, "--once", timeout=3600)
        elapsed = time.monotonic() - started
        if final.returncode != 0:
            raise AssertionError(final.stderr[-2000:])
        with Journal.open_readonly(site.journal_path) as journal:
            _check_once(site, journal, records)
        counts = stats(site)
        leftovers = [o for o in unfinished_upload_offsets(site) if o > 0]
        carried = link.stats
    return {"kills": done_kills, "duplicates": counts["duplicates"],
            "abandoned_with_bytes": len(leftovers),
            "result": Result(records, _packets(site), elapsed, carried.bytes_up,
                             carried.resets, profile)}


def run(quick: bool = False) -> dict[str, Any]:
    base = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    try:
        templates = Templates(base)
        if quick:
            cells = matrix(templates, rates=(256 * KB,), resets=(64 * KB,), records=2)
            return {"matrix": cells}
        poso = LinkProfile(rate_bps=64 * KB, latency_s=LATENCY_S, reset_every=64 * KB)
        out: dict[str, Any] = {}
        print("done-when: 20 records, 64 KB/s, 150 ms, reset every 64 KB", file=sys.stderr)
        out["done_when"] = tus_run(templates.site(DONE_RECORDS), poso, DONE_RECORDS)
        print("... with a 60 s stall", file=sys.stderr)
        out["stall"] = tus_run(templates.site(DONE_RECORDS), poso, DONE_RECORDS,
                               stall=(60.0, 60.0))
        print("... with 20 SIGKILLs", file=sys.stderr)
        out["kills"] = kill_run(templates.site(DONE_RECORDS), poso, DONE_RECORDS, kills=20)
        print("matrix", file=sys.stderr)
        out["matrix"] = matrix(templates)
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _r(result: Result) -> str:
    return (f"{result.packet_bytes / KB:,.0f} KiB in {result.elapsed_s:.0f} s: goodput "
            f"{result.goodput:.2f} of the cap = {result.goodput / result.floor:.2f} of the "
            f"floor ({result.floor:.3f}); wire {result.wire:.3f}x; {result.resets} resets"
            + (f", {result.connections} connections, {result.pauses} pauses"
               if result.connections else ""))


def rows(r: dict[str, Any]) -> list[str]:
    out = []
    if "done_when" in r:
        d = r["done_when"]
        out.append(f"| upload, 20 demo records, 64 KB/s, 150 ms one way, reset every 64 KB, "
                   f"default config (all acknowledged, each held once) | {_r(d)} | goodput "
                   f">= {TARGET_GOODPUT} of the cap, wire <= {TARGET_WIRE}x |")
        s = r["stall"]
        out.append(f"| the same with a 60 s stall after 60 s | {_r(s)} | finishes |")
        k = r["kills"]
        out.append(f"| the same with `kiosk upload` SIGKILLed at {k['kills']} random moments "
                   f"| {_r(k['result'])}; {k['duplicates']} duplicates, "
                   f"{k['abandoned_with_bytes']} uploads abandoned with bytes kept | nothing "
                   "lost, none stored twice, none restarted |")
    for cell in r.get("matrix", []):
        tus = cell["tus"]
        out.append(
            f"| upload through {cell['rate'] // KB} KB/s, 150 ms, reset every "
            f"{cell['reset'] // KB} KB, {tus.records} records | **{tus.goodput / tus.floor:.2f}"
            f" of the floor** ({tus.goodput:.2f} of the cap, floor {tus.floor:.2f}), wire "
            f"{tus.wire:.3f}x, {tus.elapsed_s:.0f} s; one plain POST each: "
            f"{cell['post_arrived']} of {cell['post_records']} arrived in "
            f"{cell['post_s']:.0f} s ({cell['post_carried'] / KB:,.0f} KiB carried) | |")
    return out


@contextlib.contextmanager
def _requests_logged(log: list[tuple[float, float, str, str, str]]) -> Iterator[None]:
    """Every request through :mod:`requests` as (start, end, thread, method, outcome)."""
    import requests

    original = requests.Session.send

    def send(session: requests.Session, request: Any, **kwargs: Any) -> Any:
        start, outcome = time.monotonic(), "error"
        try:
            answer = original(session, request, **kwargs)
            outcome = str(answer.status_code)
            return answer
        finally:
            log.append((start, time.monotonic(), threading.current_thread().name,
                        str(request.method), outcome))

    requests.Session.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        requests.Session.send = original  # type: ignore[method-assign]


def timeline(records: int = 5) -> list[str]:
    """N records through issue #9's link; per record, where its time went."""
    base = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    poso = LinkProfile(rate_bps=64 * KB, latency_s=LATENCY_S, reset_every=64 * KB)
    try:
        site = Templates(base).site(records)
        requests_log: list[tuple[float, float, str, str, str]] = []
        acks: list[tuple[float, str]] = []
        original_ack = Journal.acknowledge

        def acknowledge(journal: Journal, record_id: str, receipt: bytes) -> None:
            original_ack(journal, record_id, receipt)
            acks.append((time.monotonic(), record_id))

        with _through(site, poso) as (_intake, link), _requests_logged(requests_log):
            Journal.acknowledge = acknowledge  # type: ignore[method-assign]
            try:
                config = load_config(site.config)
                settings = UploadSettings.from_config(config, site.intake_key)
                with open_journal(config) as journal, Uploader(
                        journal, settings, out=io.StringIO()) as uploader:
                    started = time.monotonic()
                    while journal.outbox():
                        uploader.drain()
            finally:
                Journal.acknowledge = original_ack  # type: ignore[method-assign]
            events = list(link.events)
        main = threading.main_thread().name
        floor = floor_ratio(poso)
        out = ["record: seconds (floor for its bytes, over it) | on the uploader's thread: "
               "PATCH, HEAD (each after a new connection), POST, GET receipts, the rest | "
               "resets, new connections; requests of the other thread",
               f"{'':>6} {'time':>6} {'floor':>6} {'over':>5} | {'PATCH':>6} {'HEAD':>5} "
               f"{'POST':>5} {'GET':>5} {'rest':>5} |"]
        previous = started
        for n, (done, record_id) in enumerate(acks, 1):
            size = (site.intake_dir / "records" / KIOSK_ID / f"{record_id}.pkt").stat().st_size
            ideal = size / float(poso.rate_bps or 1) / floor
            spent: dict[str, float] = {"PATCH": 0.0, "HEAD": 0.0, "POST": 0.0, "GET": 0.0}
            others = 0
            for start, end, thread, method, _outcome in requests_log:
                if not (previous <= start < done):
                    continue
                if thread == main:
                    spent[method] = spent.get(method, 0.0) + min(end, done) - start
                else:
                    others += 1
            resets = sum(1 for t, kind in events if kind == "reset" and previous <= t < done)
            fresh = sum(1 for t, kind in events if kind == "connection" and previous <= t < done)
            total = done - previous
            kiosk = total - sum(spent.values())
            out.append(f"{n:>6} {total:>6.2f} {ideal:>6.2f} {total - ideal:>5.2f} | "
                       f"{spent['PATCH']:>6.2f} {spent['HEAD']:>5.2f} "
                       f"{spent['POST']:>5.2f} {spent['GET']:>5.2f} {kiosk:>5.2f} | "
                       f"{resets}, {fresh}; {others}")
            previous = done
        elapsed = previous - started
        packets = _packets(site)
        rate = float(poso.rate_bps or 1)
        goodput = packets / elapsed / rate
        out.append(f"{records} records, {packets / KB:,.0f} KiB in {elapsed:.1f} s: "
                   f"{elapsed / records:.2f} s per record against "
                   f"{packets / records / rate / floor:.2f} s of floor; goodput "
                   f"{goodput:.2f} of the cap = {goodput / floor:.2f} of the floor")
        return out
    finally:
        shutil.rmtree(base, ignore_errors=True)


def run_done_when() -> dict[str, Any]:
    """Only issue #9's 20-record run (about 6 min)."""
    base = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    try:
        poso = LinkProfile(rate_bps=64 * KB, latency_s=LATENCY_S, reset_every=64 * KB)
        result = tus_run(Templates(base).site(DONE_RECORDS), poso, DONE_RECORDS)
        return {"done_when": result}
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    mode = sys.argv[1] if len(sys.argv) > 1 else ""
    if mode == "done-when":
        print(_r(run_done_when()["done_when"]))
    elif mode == "timeline":
        print("\n".join(timeline(int(sys.argv[2]) if len(sys.argv) > 2 else 5)))
    else:
        for row in rows(run(quick=mode == "quick")):
            print(row)
