"""intake.packets: a received packet checked from its file, cheapest check first.

Each crafted packet is refused with its own code, and the red-team packet (a valid signed
head followed by 64 MiB of zero-length blobs) is refused from its length alone: without a
Python object per blob (tracemalloc sees next to nothing) and without reading the blobs.
"""

from __future__ import annotations

import hashlib
import struct
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import nacl.public
import pytest

from intake.packets import (
    MAX_STEP_BYTES,
    Refused,
    file_sha256,
    manifest_of,
    verify_and_open,
)
from kiosk.sealing import DeviceKey, Opener, RecordMeta, Sealer, build_packet

KIOSK = "poso-01"
RECORD = f"{KIOSK}-0000001-a1b2c3"
META = RecordMeta(record_id=RECORD, kiosk_id=KIOSK, seq=1, boot_id="b00t-1",
                  clock_trusted=False, created_at="2024-03-01T02:00:00Z",
                  sealed_at="2024-03-01T02:07:00Z", assisted=False)


class World:
    def __init__(self) -> None:
        self.central = nacl.public.PrivateKey.generate()
        self.device = DeviceKey.generate()
        self.sealer = Sealer(bytes(self.central.public_key), self.device, KIOSK)
        self.opener = Opener(bytes(self.central), {self.device.key_id:
                                                   self.device.public_bytes})

    def blobs(self, **sizes: int) -> dict[str, bytes]:
        return {step: self.sealer.seal_step(RECORD, step, {f"{step}.bin": bytes(size)})
                for step, size in sizes.items()}

    def packet(self, **sizes: int) -> bytes:
        blobs = self.blobs(**sizes)
        return build_packet(self.sealer.seal_record(META, blobs), blobs)

    def signed_for(self, steps: dict[str, tuple[int, str]]) -> bytes:
        """A manifest signed by the kiosk's key, describing whatever ``steps`` says."""
        return self.sealer.seal_record(META, steps)


@pytest.fixture(scope="module")
def world() -> World:
    return World()


def check(path: Path, opener: Opener) -> None:
    length = path.stat().st_size
    with path.open("rb") as stream:
        signed, manifest = manifest_of(stream, length)
        verify_and_open(stream, length, signed, manifest, opener)


def head(signed: bytes) -> bytes:
    return b"EKTP\x01" + struct.pack(">I", len(signed)) + signed


def test_a_valid_packet_passes_and_its_hash_is_streamed(world: World, tmp_path: Path) -> None:
    packet = world.packet(identity=300, portrait=200_000)
    path = tmp_path / "p"
    path.write_bytes(packet)
    check(path, world.opener)
    assert file_sha256(path) == (hashlib.sha256(packet).hexdigest(), len(packet))


def _flip_signature(world: World) -> bytes:
    packet = bytearray(world.packet(identity=100))
    signed_end = 9 + struct.unpack(">I", packet[5:9])[0]
    packet[signed_end - 1] ^= 1
    return bytes(packet)


def _other_split(world: World) -> bytes:
    """Same total length as the manifest describes, blobs framed differently."""
    blobs = world.blobs(identity=100, portrait=100)
    signed = world.sealer.seal_record(META, blobs)
    first, second = blobs["identity"], blobs["portrait"]
    return (head(signed) + struct.pack(">I", len(first) - 1) + first[:-1]
            + struct.pack(">I", len(second) + 1) + first[-1:] + second)


def _altered_blob(world: World) -> bytes:
    packet = bytearray(world.packet(identity=100))
    packet[-1] ^= 1
    return bytes(packet)


def _other_central(world: World) -> bytes:
    other = Sealer(bytes(nacl.public.PrivateKey.generate().public_key), world.device, KIOSK)
    blob = {"identity": other.seal_step(RECORD, "identity", {"i": b"x"})}
    return build_packet(other.seal_record(META, blob), blob)


def _step_too_large(world: World) -> bytes:
    signed = world.signed_for({"portrait": (MAX_STEP_BYTES + 1, "0" * 64)})
    return head(signed) + struct.pack(">I", MAX_STEP_BYTES + 1)


CASES: dict[str, tuple[Callable[[World], bytes], str]] = {
    "bad magic": (lambda w: b"XKTP" + w.packet(identity=10)[4:], "malformed_packet"),
    "version 2": (lambda w: b"EKTP\x02" + w.packet(identity=10)[5:], "malformed_packet"),
    "manifest longer than the packet": (
        lambda w: b"EKTP\x01" + struct.pack(">I", 60_000) + b"{}", "malformed_packet"),
    "manifest over the bound": (
        lambda w: b"EKTP\x01" + struct.pack(">I", 70_000) + bytes(70_000),
        "malformed_packet"),
    "nested manifest": (lambda w: head(b"[" * 60_000 + bytes(64)), "malformed_packet"),
    "short head": (lambda w: b"EKTP", "malformed_packet"),
    "flipped signature": (_flip_signature, "bad_signature"),
    "trailing zero-length blobs": (
        lambda w: w.packet(identity=100) + bytes(4 * 1000), "layout_mismatch"),
    "blobs framed otherwise": (_other_split, "layout_mismatch"),
    "altered blob": (_altered_blob, "malformed_packet"),
    "sealed to another central key": (_other_central, "undecryptable"),
    "step over the bound": (_step_too_large, "too_large"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_crafted_packet_is_refused_with_its_own_code(world: World, tmp_path: Path,
                                                          case: str) -> None:
    make, code = CASES[case]
    path = tmp_path / "p"
    path.write_bytes(make(world))
    with pytest.raises(Refused) as refused:
        check(path, world.opener)
    assert refused.value.code == code, refused.value.reason


def test_a_step_swapped_in_from_another_record_does_not_open(world: World,
                                                             tmp_path: Path) -> None:
    other = world.sealer.seal_step(f"{KIOSK}-0000002-a1b2c3", "identity", {"i": b"x"})
    blobs = {"identity": other}
    path = tmp_path / "p"
    path.write_bytes(build_packet(world.sealer.seal_record(META, blobs), blobs))
    with pytest.raises(Refused) as refused:
        check(path, world.opener)
    assert refused.value.code == "undecryptable"
    assert "belongs to another" in refused.value.reason


def test_64_mib_of_zero_length_blobs_are_refused_without_reading_them(
        world: World, tmp_path: Path) -> None:
    """The red-team packet: 13.7 s and 394 MB before; here the layout check refuses it
    from the manifest and the file's length, allocating next to nothing."""
    blobs = world.blobs(identity=100)
    signed = world.sealer.seal_record(META, blobs)
    path = tmp_path / "crafted"
    with path.open("wb") as out:
        out.write(head(signed) + struct.pack(">I", len(blobs["identity"]))
                  + blobs["identity"])
        out.truncate(64 * 1024 * 1024)  # zeros: 16 million zero-length blob frames
    tracemalloc.start()
    started = time.process_time()
    try:
        with pytest.raises(Refused) as refused:
            check(path, world.opener)
        used = time.process_time() - started
        _now, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert refused.value.code == "layout_mismatch"
    assert f"the packet is {64 * 1024 * 1024} bytes" in refused.value.reason
    assert peak < 512 * 1024, peak  # no object per blob, no copy of the packet
    assert used < 5.0  # a "does not hang" bound; benchmarks/ measures the real figure
