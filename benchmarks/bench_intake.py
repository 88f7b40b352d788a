"""The intake's bounds (issue #10, item 5): what a 64 MiB upload costs one serve process.

* peak RSS (``VmHWM``) of ``kiosk-intake serve --max-packet-mib 80`` after receiving,
  checking, storing and receipting a valid 64 MiB packet (six steps of random bytes), and of
  the same process idle; target < 100 MB;
* wall time of the final PATCH's verdict for the red-team packet (a signed head, then
  64 MiB of zero-length blobs; 13.7 s of CPU and 394 MB before the checks were reordered),
  measured in process on ``IntakeStore.accept`` so the transfer is not counted.

    python benchmarks/run.py intake
"""

from __future__ import annotations

import hashlib
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

from intake.cli import main as intake_main
from intake.store import IntakeStore
from kiosk.queue.signing import KioskAuth
from kiosk.receipts import IntakeKey
from kiosk.sealing import (
    STEPS,
    DeviceKey,
    RecordMeta,
    Sealer,
    build_packet,
    load_central_private_key,
    load_central_public_key,
)
from tests.upload_helpers import intake_env

MIB = 1024 * 1024
KIOSK = "poso-01"


def _meta(seq: int) -> RecordMeta:
    return RecordMeta(record_id=f"{KIOSK}-{seq:07d}-a1b2c3", kiosk_id=KIOSK, seq=seq,
                      boot_id="b", clock_trusted=False, created_at="2024-03-01T02:00:00Z",
                      sealed_at="2024-03-01T02:07:00Z", assisted=False)


def _vmhwm_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _b64(text: str) -> str:
    import base64

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


def run() -> dict[str, Any]:
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


def rows(r: dict[str, Any]) -> list[str]:
    return [
        f"| intake peak RSS receiving, checking and storing a 64 MiB packet (idle: "
        f"{r['idle_mb']:.0f} MB; upload + verdict {r['upload_s']:.1f} s on loopback) | "
        f"**{r['peak_mb']:.0f} MB** | < 100 MB |",
        f"| intake verdict on a signed head + 64 MiB of zero-length blobs "
        f"(`{r['crafted_code']}`; was 13.7 s CPU, 394 MB) | **{r['crafted_s'] * 1000:.0f} ms** "
        "| refused before any blob is read |",
    ]
