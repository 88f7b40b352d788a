"""The sealed record's size: what one citizen costs on the link and on the SD card.

``kiosk demo`` enrolls simulated citizens (sim camera and fingerprint sensor, each citizen
with ten fingers of their own) into a fresh data directory; each sealed record is then built
into the packet the uploader sends (manifest + encrypted steps, ``docs/packet.md``). Reported:
the packet size (median and range), and the part of it that is the fingerprints step and the
portrait step. Target (issue #11): a full record at most 200 KB.
"""

from __future__ import annotations

import io
import statistics
import tempfile
from pathlib import Path

from kiosk.config import load_config
from kiosk.demo import run_demo
from kiosk.journal import Journal
from kiosk.sealing import build_packet


def run(citizens: int = 5) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        (base / "kiosk.toml").write_text(
            f'[kiosk]\ndata_dir = "{base / "data"}"\ndisk_reserve_bytes = 0\n')
        config = load_config(base / "kiosk.toml", system_path=base / "none.toml")
        assert run_demo(config, citizens, 1, io.StringIO()) == 0
        journal = Journal.open(base / "data" / "journal.db", kiosk_id=config.kiosk_id,
                               boot_id="bench", clock_trusted=lambda: True)
        try:
            packets, fingers, portraits = [], [], []
            for info in journal.records("sealed"):
                blobs = journal.step_blobs(info.id)
                assert info.manifest is not None
                packets.append(len(build_packet(info.manifest, blobs)))
                fingers.append(len(blobs["fingerprints"]))
                portraits.append(len(blobs["portrait"]))
        finally:
            journal.close()
    return {"records": len(packets), "median": statistics.median(packets),
            "min": min(packets), "max": max(packets),
            "fingerprints": statistics.median(fingers), "portrait": statistics.median(portraits)}


def rows(r: dict[str, float]) -> list[str]:
    """README's benchmark row."""
    return [
        f"| sealed record size, `kiosk demo` citizens on simulated hardware ({r['records']:.0f} "
        f"records; portrait, 10 fingerprints, signature, data) | **{r['median'] / 1000:.0f} KB** "
        f"median ({r['min'] / 1000:.0f}-{r['max'] / 1000:.0f}): fingerprints "
        f"{r['fingerprints'] / 1000:.0f} KB, portrait {r['portrait'] / 1000:.0f} KB "
        f"| <= 200 KB |",
    ]


if __name__ == "__main__":
    print("\n".join(rows(run())))
