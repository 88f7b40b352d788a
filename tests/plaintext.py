"""What would be on disk if sealing were skipped, and a check that looks for it.

The needles are taken from the records the demo actually sealed, opened with the central
office's key (the development pair a simulated kiosk keeps in ``data_dir/dev-central``): the
portrait JPEG, the fingerprint PNG/WebP files and the signature PNG exactly as the session
encoded them, and the NIK, No. KK, name, address and birth date as the session wrote them.
Were a step written before (or instead of) being sealed, these are the bytes a file, the
journal's WAL or a temp file would hold; raw pixels never would (every image is stored
encoded), which is why the needles are not pixels.

Text is looked for in each form it could take on disk: UTF-8 (also what JSON with
``ensure_ascii=False`` writes), JSON's ``\\uXXXX`` escapes, UTF-16 either way round, upper
case (the card prints names so). Images are looked for by their magic numbers and by
32-byte windows taken every 1 KiB along each file, so a stored copy is found even when only
part of it landed (an SQLite overflow page holds 4,092 bytes of a blob in one run).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kiosk.config import load_config
from kiosk.journal import Journal
from kiosk.sealing import DeviceKey, Opener, build_packet
from kiosk.sealing_keys import load_central_private_key

#: Magic numbers of the image formats the session writes (and of WebP's RIFF chunk).
MAGIC = {b"\x89PNG\r\n\x1a\n": "a PNG", b"\xff\xd8\xff\xe0\x00\x10JFIF": "a JPEG",
         b"WEBPVP8": "a WebP"}
WINDOW = 32     # bytes per image needle: random-looking data, never matched by chance
STRIDE = 1024   # one window per KiB: a run of 1,056 bytes or more always holds one
TEXT_KINDS = ("nik", "kk", "name", "address", "birth_date")
IMAGE_KINDS = ("portrait", "fingerprint", "signature")
KINDS = TEXT_KINDS + IMAGE_KINDS


@dataclass(frozen=True)
class Needle:
    """Bytes that must not be found; ``label`` says what they are without quoting them."""

    kind: str
    label: str
    data: bytes


@dataclass(frozen=True)
class Finding:
    where: str  # a path, or "log"
    kind: str
    label: str

    def __str__(self) -> str:
        return f"{self.label} in the clear in {self.where}"


@dataclass(frozen=True)
class Captured:
    """What the demo sealed, by record id: ``steps[record_id][step][part] -> bytes``."""

    steps: Mapping[str, Mapping[str, Mapping[str, bytes]]]

    def part(self, record_id: str, step: str, suffix: str) -> bytes:
        """The first part of ``step`` whose name ends in ``suffix``."""
        parts = self.steps[record_id][step]
        return next(data for name, data in parts.items() if name.endswith(suffix))


def open_sealed_records(config_path: Path) -> Captured:
    """Every sealed record of the kiosk at ``config_path``, opened with the dev central key.

    Reads a copy of the data directory, so the kiosk's own files are left as they were.
    """
    config = load_config(config_path)
    with tempfile.TemporaryDirectory(prefix="sealed-copy-") as scratch:
        copy = Path(scratch) / "data"
        shutil.copytree(config.data_dir, copy, ignore=shutil.ignore_patterns("*.lock"))
        device = DeviceKey.load_or_create(copy / config.device_key_path.relative_to(
            config.data_dir))
        central_key = copy / config.central_key_path.relative_to(config.data_dir)
        opener = Opener(load_central_private_key(central_key.with_name("central.key")),
                        {device.key_id: device.public_bytes})
        journal = Journal.open_readonly(copy / config.journal_path.name)
        try:
            steps = {}
            for info in journal.records("sealed"):
                packet = build_packet(info.manifest, journal.step_blobs(info.id))
                steps[info.id] = opener.open_packet(packet).steps
        finally:
            journal.close()
    return Captured(steps)


def text_forms(value: str) -> dict[str, bytes]:
    """The byte forms ``value`` could take on disk, by a name for each."""
    forms = {}
    for case, text in (("", value), (" upper case", value.upper())):
        forms[f"UTF-8{case}"] = text.encode("utf-8")
        forms[f"JSON-escaped{case}"] = json.dumps(text, ensure_ascii=True)[1:-1].encode()
        forms[f"UTF-16-LE{case}"] = text.encode("utf-16-le")
        forms[f"UTF-16-BE{case}"] = text.encode("utf-16-be")
    unique: dict[bytes, str] = {}
    for name, data in forms.items():
        unique.setdefault(data, name)
    return {name: data for data, name in unique.items()}


def image_windows(data: bytes) -> list[tuple[int, bytes]]:
    """``(offset, 32 bytes)`` every KiB along ``data``, and its last 32 bytes."""
    offsets = list(range(0, max(1, len(data) - WINDOW), STRIDE))
    offsets.append(max(0, len(data) - WINDOW))
    return [(o, data[o:o + WINDOW]) for o in dict.fromkeys(offsets)]


def needles_for(captured: Captured) -> list[Needle]:
    """Every needle of every record ``captured`` holds."""
    needles: list[Needle] = []

    def text(kind: str, record_id: str, value: str) -> None:
        for form, data in text_forms(value).items():
            needles.append(Needle(kind, f"{kind} of {record_id} ({form})", data))

    def image(kind: str, record_id: str, name: str, data: bytes) -> None:
        for offset, window in image_windows(data):
            needles.append(Needle(kind, f"{kind} {name} of {record_id} (bytes {offset}+)",
                                  window))

    for record_id, steps in captured.steps.items():
        identity = json.loads(steps["identity"]["identity.json"])
        text("nik", record_id, identity["nik"])
        text("kk", record_id, identity["kk"])
        person = json.loads(steps["demographics"]["demographics.json"])
        text("name", record_id, person["full_name"])
        text("address", record_id, person["address"])
        text("birth_date", record_id, person["date_of_birth"])
        for name, data in steps["portrait"].items():
            image("portrait", record_id, name, data)
        for name, data in steps["fingerprints"].items():
            if not name.endswith(".json"):
                image("fingerprint", record_id, name, data)
        for name, data in steps["signature"].items():
            image("signature", record_id, name, data)
    return needles


def find_plaintext(blobs: Mapping[str, bytes], needles: Iterable[Needle]) -> list[Finding]:
    """Every needle (and image magic number) found in ``blobs`` (name -> content)."""
    needles = list(needles)
    found: list[Finding] = []
    for where, blob in blobs.items():
        for magic, what in MAGIC.items():
            if magic in blob:
                found.append(Finding(where, "image", f"{what} (its magic number)"))
        found += [Finding(where, n.kind, n.label) for n in needles if n.data in blob]
    return found


def read_tree(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` by its path relative to it."""
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}
