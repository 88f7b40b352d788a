"""Fuzzing sealed packets: ``parse_packet``, ``decode_parts``, ``Opener.verify_manifest`` and
``Opener.open_packet`` with real keys, on random bytes, damaged valid packets, manifests
signed by the trusted device but malformed, and step plaintexts encrypted to the central key
but malformed. Everything wrong must be a :class:`~kiosk.errors.SealingError`.
"""

from __future__ import annotations

import hashlib
import struct

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kiosk.core.canonical import SIGNATURE_BYTES, canonical_json
from kiosk.core.ids import make_record_id
from kiosk.errors import SealingError
from kiosk.sealing import (
    FORMAT_VERSION,
    MAX_MANIFEST_BYTES,
    PACKET_MAGIC,
    STEP_MAGIC,
    STEPS,
    OpenedRecord,
    Opener,
    Packet,
    decode_parts,
    encode_parts,
    parse_packet,
)
from tests.fuzz.budget import fuzz
from tests.fuzz.mutate import damaged
from tests.fuzz.sealed import KIOSK, RECORD, World, frame, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return make_world(tmp_path_factory.mktemp("fuzz-sealing"))


def length_fields(packet: bytes) -> list[tuple[int, int]]:
    """Offsets of the u32 length fields of a valid packet (manifest, then each blob)."""
    fields = [(5, 4)]
    pos = 9 + struct.unpack_from(">I", packet, 5)[0]
    while pos + 4 <= len(packet):
        fields.append((pos, 4))
        pos += 4 + struct.unpack_from(">I", packet, pos)[0]
    return fields


def damaged_packet(world: World) -> st.SearchStrategy[bytes]:
    """The world's valid packet, damaged: its length fields aimed at, the other packet
    spliced in."""
    return damaged(world.packet, others=[world.other_packet],
                   length_fields=length_fields(world.packet))


def reframe(parsed: Packet) -> bytes:
    assert parsed.version == FORMAT_VERSION
    return frame(parsed.signed_manifest, parsed.blobs)


def open_or_refuse(opener: Opener, packet: bytes) -> OpenedRecord | None:
    """open_packet's result, or None when it refused with a SealingError (and only that)."""
    try:
        return opener.open_packet(packet)
    except SealingError as exc:
        assert str(exc), "a SealingError must say what is wrong"
        return None


# -- the valid packets still open ------------------------------------------------------------
def test_the_valid_packets_open(world: World) -> None:
    opened = world.opener.open_packet(world.packet)
    assert opened.steps == RECORD
    assert opened.meta.record_id == world.record_id
    assert world.opener.open_packet(world.other_packet).meta.seq == 2


# -- parse_packet ------------------------------------------------------------------------------
packet_like = st.one_of(
    st.binary(max_size=600),
    st.binary(max_size=600).map(lambda b: PACKET_MAGIC + b),
    st.binary(max_size=600).map(lambda b: PACKET_MAGIC + bytes([FORMAT_VERSION]) + b),
)


@fuzz(150)
@given(data=packet_like)
@example(data=b"")
@example(data=PACKET_MAGIC)
@example(data=PACKET_MAGIC + b"\x01")
@example(data=PACKET_MAGIC + b"\x01\xff\xff\xff\xff")  # a 4 GiB manifest claimed
@example(data=PACKET_MAGIC + b"\x01\x00\x00\x00\x00")  # an empty manifest
@example(data=PACKET_MAGIC + b"\x01\x00\x00\x00\x00\xff\xff\xff\xff")  # a 4 GiB blob
@example(data=PACKET_MAGIC + b"\x01\x00\x00\x00\x00\x00\x00")  # half a blob length
def test_parse_packet_on_random_bytes_splits_exactly_or_refuses(data: bytes) -> None:
    try:
        parsed = parse_packet(data)
    except SealingError:
        return
    assert parsed.version == FORMAT_VERSION
    assert len(parsed.signed_manifest) <= MAX_MANIFEST_BYTES
    assert reframe(parsed) == data  # framing is exact: nothing dropped, nothing invented


@fuzz(120)
@given(data=st.data())
def test_parse_packet_on_damaged_packets_splits_exactly_or_refuses(world: World,
                                                                   data: st.DataObject) -> None:
    bad = data.draw(damaged_packet(world))
    try:
        parsed = parse_packet(bad)
    except SealingError:
        return
    assert reframe(parsed) == bad


# -- decode_parts --------------------------------------------------------------------------------
@fuzz(150)
@given(data=st.one_of(
    st.binary(max_size=300),
    st.dictionaries(st.text(min_size=1, max_size=8).filter(lambda s: "/" not in s),
                    st.binary(max_size=20), max_size=4)
    .map(lambda d: {k: v for k, v in d.items() if k not in (".", "..")
                    and "\\" not in k and "\x00" not in k})
    .flatmap(lambda d: damaged(encode_parts(d), max_mutations=2)),
))
@example(data=b"\x00\x00\x00\x01\x00\x01\xff\x00\x00\x00\x00")  # a part name not UTF-8
@example(data=b"\x00\x00\x00\x01\x00\x01/\x00\x00\x00\x00")  # a part name with '/'
@example(data=b"\x00\x00\x00\x02\x00\x01a\x00\x00\x00\x00\x00\x01a\x00\x00\x00\x00")  # twice
@example(data=b"\xff\xff\xff\xff")  # four billion parts claimed, none there
def test_decode_parts_round_trips_or_refuses(data: bytes) -> None:
    try:
        parts = decode_parts(data)
    except SealingError:
        return
    assert encode_parts(parts) == data  # only what encode_parts would have written


# -- open_packet -----------------------------------------------------------------------------------
@fuzz(100)
@given(data=packet_like)
def test_open_packet_refuses_random_bytes(world: World, data: bytes) -> None:
    assert open_or_refuse(world.opener, data) is None


@fuzz(200)
@given(data=st.data())
def test_open_packet_on_damaged_packets_refuses_or_is_unchanged(world: World,
                                                              data: st.DataObject) -> None:
    bad = data.draw(damaged_packet(world))
    opened = open_or_refuse(world.opener, bad)
    if opened is not None:  # only an undamaged packet may open (a splice can rebuild one)
        assert bad in (world.packet, world.other_packet)


@fuzz(80)
@given(data=st.data())
def test_open_packet_refuses_the_valid_packet_with_bits_flipped(world: World,
                                                              data: st.DataObject) -> None:
    flips = data.draw(st.sets(st.integers(0, len(world.packet) * 8 - 1), min_size=1,
                              max_size=4))
    bad = bytearray(world.packet)
    for bit in flips:
        bad[bit // 8] ^= 1 << (bit % 8)
    assert open_or_refuse(world.opener, bytes(bad)) is None


# -- manifests signed by the trusted device, but wrong -----------------------------------------
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12)


def deep(depth: int, opener: str = "[") -> str:
    closer = {"[": "]", "{": "}"}[opener]
    return opener * depth + closer * depth


@fuzz(120)
@given(data=st.data())
def test_open_packet_refuses_malformed_manifests_even_when_signed(world: World,
                                                                 data: st.DataObject) -> None:
    manifest = dict(world.manifest)
    choice = data.draw(st.sampled_from(["replace", "drop", "add", "step", "any"]))
    if choice == "replace":
        key = data.draw(st.sampled_from(sorted(manifest)))
        manifest[key] = data.draw(json_value)
    elif choice == "drop":
        del manifest[data.draw(st.sampled_from(sorted(manifest)))]
    elif choice == "add":
        manifest[data.draw(st.text(max_size=8))] = data.draw(json_value)
    elif choice == "step":
        steps = [dict(s) for s in manifest["steps"]]
        index = data.draw(st.integers(0, len(steps) - 1))
        key = data.draw(st.sampled_from(["name", "length", "sha256", "extra"]))
        steps[index][key] = data.draw(st.one_of(json_value, st.sampled_from(STEPS)))
        manifest["steps"] = data.draw(st.permutations(steps))
    else:
        manifest = data.draw(json_value)
    blobs = parse_packet(world.packet).blobs
    packet = world.packet_for(manifest, list(blobs))
    opened = open_or_refuse(world.opener, packet)
    if opened is not None:  # still a well-formed manifest (boot_id "" is one): it says so
        assert isinstance(manifest, dict) and set(manifest) == set(world.manifest)
        for key in ("format", "steps", "central_key_id", "device_key_id"):
            assert manifest[key] == world.manifest[key]
        meta = opened.meta
        assert meta.record_id == make_record_id(meta.kiosk_id, meta.seq, meta.record_id[-6:])
        for key in ("record_id", "kiosk_id", "seq", "boot_id", "clock_trusted",
                    "created_at", "sealed_at", "assisted"):
            assert getattr(meta, key) == manifest[key]
            assert type(getattr(meta, key)) is type(world.manifest[key])


@pytest.mark.parametrize("text", [
    deep(20_000),                  # RecursionError in json.loads before the fix
    '{"a":' * 5000 + "1" + "}" * 5000,  # objects nested as deep
    "[" * 30_000,                  # unterminated, and deep
    '{"format":1}' + " " * 10,     # not canonical
    "NaN", "Infinity", '"\\ud800"', "1" * 5000,  # odd JSON: a lone surrogate, a huge int
])
def test_manifest_json_oddities_are_sealing_errors(world: World, text: str) -> None:
    body = text.encode()
    signed = body + world.device.sign(body)
    packet = frame(signed)
    with pytest.raises(SealingError):
        world.opener.open_packet(packet)
    with pytest.raises(SealingError):
        world.opener.verify_manifest(signed)


@fuzz(80)
@given(signed=st.one_of(
    st.binary(max_size=200),
    json_value.map(lambda v: canonical_json(v) + bytes(SIGNATURE_BYTES)),
    st.integers(1, 30_000).map(lambda n: b"[" * n + bytes(64)),
))
@example(signed=b"[" * 60_000 + bytes(64))
def test_verify_manifest_refuses_anything_unsigned(world: World, signed: bytes) -> None:
    with pytest.raises(SealingError):
        world.opener.verify_manifest(signed)


# -- step plaintexts encrypted to the central key, but wrong -----------------------------------
def step_plaintext(record_id: str, step: str, parts: dict[str, bytes]) -> bytes:
    def text(value: str) -> bytes:
        raw = value.encode()
        return struct.pack(">H", len(raw)) + raw
    return STEP_MAGIC + text(KIOSK) + text(record_id) + text(step) + encode_parts(parts)


def packet_with_plaintext(world: World, plaintext: bytes, step: str = "consent") -> bytes:
    blob = world.seal_plaintext(plaintext)
    manifest = dict(world.manifest)
    manifest["steps"] = [{"name": step, "length": len(blob),
                          "sha256": hashlib.sha256(blob).hexdigest()}]
    return world.packet_for(manifest, [blob])


@fuzz(120)
@given(data=st.data())
def test_open_packet_refuses_malformed_step_plaintext(world: World,
                                                     data: st.DataObject) -> None:
    good = step_plaintext(world.record_id, "consent", RECORD["consent"])
    plaintext = data.draw(st.one_of(
        st.binary(max_size=200),
        st.binary(max_size=200).map(lambda b: STEP_MAGIC + b),
        damaged(good, length_fields=[(4, 2), (4 + 2 + len(KIOSK), 2)], max_mutations=2),
    ))
    opened = open_or_refuse(world.opener, packet_with_plaintext(world, plaintext))
    if opened is not None:  # it parsed: then it is exactly what a Sealer writes
        parts = opened.steps["consent"]
        assert step_plaintext(world.record_id, "consent", parts) == plaintext


def test_a_well_formed_hand_sealed_step_opens(world: World) -> None:
    plaintext = step_plaintext(world.record_id, "consent", {"a": b"1", "b": b""})
    opened = world.opener.open_packet(packet_with_plaintext(world, plaintext))
    assert opened.steps == {"consent": {"a": b"1", "b": b""}}

