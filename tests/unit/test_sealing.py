"""Tests for kiosk.sealing: keys, step encryption, manifests, packets, the intake's opener."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.public
import nacl.signing
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiosk.core.canonical import SIGNATURE_BYTES
from kiosk.core.ids import make_record_id
from kiosk.errors import KeyFileExposed, KeyFileMissing, SealingError
from kiosk.sealing import (
    STEPS,
    DeviceKey,
    Opener,
    RecordMeta,
    Sealer,
    build_packet,
    decode_parts,
    encode_parts,
    generate_central_keypair,
    key_id,
    load_central_private_key,
    load_central_public_key,
    load_device_public_key,
    parse_packet,
)
from kiosk.sealing_keys import restore_central_public_key

KIOSK = "poso-01"
NIK = b"7204014107850003"  # synthetic NIK, never a real person
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4

FULL_RECORD: dict[str, dict[str, bytes]] = {
    "consent": {"consent.json": b'{"accepted":true,"language":"id","text_version":3}'},
    "identity": {"identity.json": b'{"kk":"7204010101080012","nik":"' + NIK + b'"}'},
    "demographics": {"demographics.json": b'{"name":"Siti Rahmawati"}'},
    "portrait": {"portrait.jpg": b"\xff\xd8\xff\xe0" + os.urandom(3000) + b"\xff\xd9"},
    "fingerprints": {
        **{f"{hand}{n}.png": PNG + bytes([n]) for hand in "RL" for n in range(1, 5)},
        "R5.png": b"",  # empty part: recorded exception, no image
        "L5.png": PNG,
        "exceptions.json": b'[{"finger":"R5","reason":"amputated"}]',
    },
    "signature": {"signature.png": PNG + b"\x00\x00\xff"},
}


@pytest.fixture
def central(tmp_path: Path) -> tuple[bytes, bytes]:
    private_path, public_path = generate_central_keypair(tmp_path / "central")
    return load_central_private_key(private_path), load_central_public_key(public_path)


@pytest.fixture
def device(tmp_path: Path) -> DeviceKey:
    return DeviceKey.load_or_create(tmp_path / "kiosk" / "device.key")


@pytest.fixture
def sealer(central: tuple[bytes, bytes], device: DeviceKey) -> Sealer:
    return Sealer(central[1], device, KIOSK)


@pytest.fixture
def opener(central: tuple[bytes, bytes], device: DeviceKey) -> Opener:
    return Opener(central[0], {device.key_id: device.public_bytes})


def meta_for(seq: int, kiosk: str = KIOSK, suffix: str = "a1b2c3") -> RecordMeta:
    return RecordMeta(
        record_id=make_record_id(kiosk, seq, suffix), kiosk_id=kiosk, seq=seq, boot_id="b00t-1",
        clock_trusted=seq % 2 == 0, created_at="2024-03-01T02:00:00Z",
        sealed_at="2024-03-01T02:07:00Z", assisted=seq % 3 == 0,
    )


def seal(sealer: Sealer, meta: RecordMeta, record: dict[str, dict[str, bytes]]) -> bytes:
    blobs = {step: sealer.seal_step(meta.record_id, step, parts) for step, parts in
             record.items()}
    return build_packet(sealer.seal_record(meta, blobs), blobs)


@pytest.fixture
def small_packet(sealer: Sealer) -> bytes:
    return seal(sealer, meta_for(7), {"consent": {"c.json": b"{}"}, "signature": {"s": b"x"}})


# -- round trips ------------------------------------------------------------------------------
def test_full_record_round_trips_with_binary_and_empty_parts(
    sealer: Sealer, opener: Opener, device: DeviceKey
) -> None:
    meta = meta_for(42)
    opened = opener.open_packet(seal(sealer, meta, FULL_RECORD))
    assert opened.meta == meta
    assert opened.steps == FULL_RECORD
    assert opened.steps["fingerprints"]["R5.png"] == b""
    assert opened.device_key_id == device.key_id


def test_packet_starts_with_magic_version_and_manifest_length(small_packet: bytes) -> None:
    parsed = parse_packet(small_packet)
    assert small_packet[:5] == b"EKTP\x01"
    assert int.from_bytes(small_packet[5:9], "big") == len(parsed.signed_manifest)
    assert len(parsed.blobs) == 2


def test_manifest_is_canonical_signed_json_without_personal_data(
    sealer: Sealer, device: DeviceKey, central: tuple[bytes, bytes]
) -> None:
    meta = meta_for(42)
    blobs = {step: sealer.seal_step(meta.record_id, step, parts)
             for step, parts in FULL_RECORD.items()}
    signed = sealer.seal_record(meta, blobs)
    body, signature = signed[:-SIGNATURE_BYTES], signed[-SIGNATURE_BYTES:]
    nacl.signing.VerifyKey(device.public_bytes).verify(body, signature)
    manifest = json.loads(body)
    assert json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode() == body
    assert manifest["steps"] == [
        {"name": s, "length": len(blobs[s]), "sha256": hashlib.sha256(blobs[s]).hexdigest()}
        for s in STEPS
    ]
    assert manifest["device_key_id"] == device.key_id
    assert manifest["central_key_id"] == key_id(central[1])
    assert (manifest["seq"], manifest["assisted"], manifest["format"]) == (42, True, 1)
    assert NIK not in signed and b"Siti" not in signed


def test_sealing_logs_no_plaintext(sealer: Sealer, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="kiosk"):
        seal(sealer, meta_for(42), FULL_RECORD)
    assert caplog.records
    assert NIK.decode() not in caplog.text and "Siti" not in caplog.text


names = st.text(min_size=1, max_size=40).filter(
    lambda n: n not in (".", "..") and not set(n) & set("/\\\x00")
    and len(n.encode()) <= 255
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(parts=st.dictionaries(names, st.binary(max_size=300), max_size=8))
def test_arbitrary_parts_round_trip(
    sealer: Sealer, opener: Opener, parts: dict[str, bytes]
) -> None:
    assert decode_parts(encode_parts(parts)) == parts
    opened = opener.open_packet(seal(sealer, meta_for(3), {"portrait": parts}))
    assert opened.steps == {"portrait": parts}


def test_parts_container_is_independent_of_insertion_order() -> None:
    assert encode_parts({"b": b"2", "a": b"1"}) == encode_parts({"a": b"1", "b": b"2"})


@pytest.mark.parametrize(
    "container",
    [
        b"\x00\x00\x00\x02" + b"\x00\x01b\x00\x00\x00\x00" + b"\x00\x01a\x00\x00\x00\x00",
        b"\x00\x00\x00\x02" + b"\x00\x01a\x00\x00\x00\x00" + b"\x00\x01a\x00\x00\x00\x00",
        b"\x00\x00\x00\x01" + b"\x00\x01a\x00\x00\x00\x05abc",
        b"\x00\x00\x00\x01" + b"\x00\x01a\x00\x00\x00\x00" + b"junk",
        b"\x00\x00\x00\x01" + b"\x00\x01\xff\x00\x00\x00\x00",
    ],
    ids=["unsorted", "duplicate", "truncated", "trailing", "not-utf8"],
)
def test_parts_container_refuses_what_it_would_not_write(container: bytes) -> None:
    with pytest.raises(SealingError):
        decode_parts(container)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "a\\b", "nul\x00", "x" * 256])
def test_unsafe_part_names_are_refused(sealer: Sealer, name: str) -> None:
    with pytest.raises(SealingError, match="part name"):
        sealer.seal_step("poso-01-0000001-aaaaaa", "portrait", {name: b""})


def test_unknown_step_name_is_refused(sealer: Sealer) -> None:
    with pytest.raises(SealingError, match="unknown step"):
        sealer.seal_step("poso-01-0000001-aaaaaa", "selfie", {"a": b""})


@pytest.mark.parametrize(
    "meta",
    [meta_for(5, kiosk="poso-02"), RecordMeta(**{**meta_for(5).__dict__, "seq": 6})],
    ids=["other-kiosk", "seq-not-in-id"],
)
def test_seal_record_refuses_inconsistent_meta(sealer: Sealer, meta: RecordMeta) -> None:
    with pytest.raises(SealingError):
        sealer.seal_record(meta, {"consent": sealer.seal_step(meta.record_id, "consent", {})})


def test_build_packet_refuses_blobs_that_do_not_match_manifest(sealer: Sealer) -> None:
    meta = meta_for(9)
    blob = sealer.seal_step(meta.record_id, "consent", {"c": b"1"})
    manifest = sealer.seal_record(meta, {"consent": blob})
    other = sealer.seal_step(meta.record_id, "consent", {"c": b"1"})  # fresh ephemeral key
    with pytest.raises(SealingError, match="does not match"):
        build_packet(manifest, {"consent": other})
    with pytest.raises(SealingError, match="do not match"):
        build_packet(manifest, {"consent": blob, "portrait": other})


# -- the kiosk cannot read back -------------------------------------------------------------------
def test_sealer_has_no_way_to_decrypt(sealer: Sealer) -> None:
    blob = sealer.seal_step("poso-01-0000001-aaaaaa", "identity", {"identity.json": NIK})
    assert not [n for n in dir(sealer) if any(w in n for w in ("open", "decrypt", "unseal"))]
    assert NIK not in blob
    with pytest.raises(TypeError):  # it only holds the central public key
        sealer._box.decrypt(blob)


def test_device_key_cannot_open_what_the_kiosk_sealed(
    sealer: Sealer, device: DeviceKey, tmp_path: Path
) -> None:
    seed = (tmp_path / "kiosk" / "device.key").read_bytes()
    as_x25519 = nacl.signing.SigningKey(seed).to_curve25519_private_key()
    packet = seal(sealer, meta_for(4), {"identity": {"identity.json": NIK}})
    blob = parse_packet(packet).blobs[0]
    with pytest.raises(nacl.exceptions.CryptoError):
        nacl.public.SealedBox(as_x25519).decrypt(blob)
    kiosk_side = Opener(bytes(as_x25519), {device.key_id: device.public_bytes})
    with pytest.raises(SealingError):
        kiosk_side.open_packet(packet)


# -- binding and tampering ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source_seq", "source_step", "target_step"),
    [(11, "portrait", "portrait"), (12, "signature", "portrait"), (12, "consent", "identity")],
    ids=["other-record-same-step", "same-record-other-step", "same-record-consent-as-id"],
)
def test_blob_moved_to_another_record_or_step_fails_to_open(
    sealer: Sealer, opener: Opener, source_seq: int, source_step: str, target_step: str
) -> None:
    source, target = meta_for(source_seq), meta_for(12)
    moved = sealer.seal_step(source.record_id, source_step, {"x": b"y"})
    blobs = {target_step: moved}
    if target_step != "consent":
        blobs["consent"] = sealer.seal_step(target.record_id, "consent", {"c": b"1"})
    packet = build_packet(sealer.seal_record(target, blobs), blobs)  # validly signed
    with pytest.raises(SealingError, match="belongs to another"):
        opener.open_packet(packet)


def test_blob_replaced_by_a_fresh_seal_for_the_same_step_is_rejected(
    sealer: Sealer, opener: Opener
) -> None:
    # Anyone holding central.pub can seal a well-bound blob; only the signed hash stops it.
    meta = meta_for(15)
    packet = seal(sealer, meta, {"identity": {"identity.json": NIK}})
    genuine = parse_packet(packet).blobs[0]
    forged = sealer.seal_step(meta.record_id, "identity", {"identity.json": b"9" * len(NIK)})
    assert len(forged) == len(genuine)
    with pytest.raises(SealingError, match="altered"):
        opener.open_packet(packet.replace(genuine, forged))


def test_blob_from_another_kiosk_fails_to_open(
    central: tuple[bytes, bytes], device: DeviceKey, opener: Opener
) -> None:
    meta = meta_for(13)
    liar = Sealer(central[1], device, "poso-02")
    blobs = {"consent": liar.seal_step(meta.record_id, "consent", {"c": b"1"})}
    packet = build_packet(Sealer(central[1], device, KIOSK).seal_record(meta, blobs), blobs)
    with pytest.raises(SealingError, match="belongs to another"):
        opener.open_packet(packet)


def test_every_single_byte_flip_is_rejected(small_packet: bytes, opener: Opener) -> None:
    opener.open_packet(small_packet)  # the untouched packet opens
    accepted = []
    for position in range(len(small_packet)):
        for mask in (0x01, 0x80, 0xFF):
            tampered = bytearray(small_packet)
            tampered[position] ^= mask
            try:
                opener.open_packet(bytes(tampered))
            except SealingError:
                continue
            accepted.append((position, mask))
    assert accepted == []


def test_every_truncation_and_an_appended_byte_are_rejected(
    small_packet: bytes, opener: Opener
) -> None:
    for cut in range(len(small_packet)):
        with pytest.raises(SealingError):
            opener.open_packet(small_packet[:cut])
    with pytest.raises(SealingError):
        opener.open_packet(small_packet + b"\x00")


def test_unknown_device_key_is_rejected_by_key_id(
    small_packet: bytes, central: tuple[bytes, bytes], device: DeviceKey
) -> None:
    stranger = DeviceKey.generate()
    opener = Opener(central[0], {stranger.key_id: stranger.public_bytes})
    with pytest.raises(SealingError, match=f"unknown device key {device.key_id}"):
        opener.open_packet(small_packet)


def test_signature_by_another_device_with_same_key_id_claim_is_rejected(
    central: tuple[bytes, bytes], device: DeviceKey, opener: Opener
) -> None:
    impostor = DeviceKey.generate()
    forged_sealer = Sealer(central[1], impostor, KIOSK)
    packet = bytearray(seal(forged_sealer, meta_for(8), {"consent": {}}))
    packet[:] = packet.replace(impostor.key_id.encode(), device.key_id.encode())
    with pytest.raises(SealingError, match="bad signature"):
        opener.open_packet(bytes(packet))


def frame(signed_manifest: bytes, *blobs: bytes) -> bytes:
    pieces = [b"EKTP\x01", len(signed_manifest).to_bytes(4, "big"), signed_manifest]
    for blob in blobs:
        pieces += [len(blob).to_bytes(4, "big"), blob]
    return b"".join(pieces)


@pytest.mark.parametrize(
    "rewrite",
    [
        lambda m: json.dumps(m, sort_keys=True, indent=1),
        lambda m: json.dumps({**m, "nik": "7204014107850003"}, sort_keys=True,
                             separators=(",", ":")),
        lambda m: json.dumps({**m, "format": 2}, sort_keys=True, separators=(",", ":")),
        lambda m: json.dumps({**m, "seq": True}, sort_keys=True, separators=(",", ":")),
    ],
    ids=["not-canonical", "extra-field", "future-format", "seq-not-int"],
)
def test_validly_signed_but_malformed_manifest_is_rejected(
    sealer: Sealer, opener: Opener, device: DeviceKey,
    rewrite: Callable[[dict[str, Any]], str],
) -> None:
    meta = meta_for(16)
    blob = sealer.seal_step(meta.record_id, "consent", {"c": b"1"})
    manifest = json.loads(sealer.seal_record(meta, {"consent": blob})[:-SIGNATURE_BYTES])
    body = rewrite(manifest).encode()
    with pytest.raises(SealingError, match="manifest"):
        opener.open_packet(frame(body + device.sign(body), blob))


def test_wrong_central_key_is_rejected(small_packet: bytes, device: DeviceKey) -> None:
    other = nacl.public.PrivateKey.generate()
    opener = Opener(bytes(other), {device.key_id: device.public_bytes})
    with pytest.raises(SealingError, match="sealed to central key"):
        opener.open_packet(small_packet)


def test_blob_encrypted_to_another_central_key_does_not_decrypt(
    central: tuple[bytes, bytes], device: DeviceKey, opener: Opener
) -> None:
    meta = meta_for(14)
    elsewhere = Sealer(bytes(nacl.public.PrivateKey.generate().public_key), device, KIOSK)
    blobs = {"consent": elsewhere.seal_step(meta.record_id, "consent", {"c": b"1"})}
    packet = build_packet(Sealer(central[1], device, KIOSK).seal_record(meta, blobs), blobs)
    with pytest.raises(SealingError, match="does not decrypt"):
        opener.open_packet(packet)


def test_opener_refuses_devices_not_keyed_by_their_key_id(central: tuple[bytes, bytes]) -> None:
    key = DeviceKey.generate()
    with pytest.raises(SealingError, match="key id"):
        Opener(central[0], {KIOSK: key.public_bytes})


# -- key files ---------------------------------------------------------------------------------
@pytest.fixture(params=[0o022, 0o000, 0o077], ids=["umask022", "umask000", "umask077"])
def umask(request: pytest.FixtureRequest) -> Iterator[int]:
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_key_files_are_created_0600(tmp_path: Path, umask: int) -> None:
    device_path = tmp_path / "new" / "device.key"
    DeviceKey.load_or_create(device_path)
    private_path, public_path = generate_central_keypair(tmp_path / "central")
    assert (mode(device_path), mode(private_path)) == (0o600, 0o600)
    assert mode(public_path) == 0o644
    assert len(device_path.read_bytes()) == 32
    assert not [p for p in tmp_path.rglob("*") if ".tmp-" in p.name]


def test_device_key_is_created_once_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "device.key"
    first = DeviceKey.load_or_create(path)
    again = DeviceKey.load_or_create(path)
    assert (again.key_id, again.public_bytes) == (first.key_id, first.public_bytes)
    assert again.sign(b"m") == first.sign(b"m")


def test_a_pair_cut_short_gets_its_public_half_back_and_never_a_new_private_key(
        tmp_path: Path) -> None:
    """A first start killed between central.key and central.pub: the public half is made
    from the private key (the same pair), and an existing public key is never replaced."""
    private_path, public_path = generate_central_keypair(tmp_path / "central")
    public = load_central_public_key(public_path)
    private_before = private_path.read_bytes()
    public_path.unlink()
    assert restore_central_public_key(private_path) == public_path
    assert load_central_public_key(public_path) == public
    assert private_path.read_bytes() == private_before
    with pytest.raises(FileExistsError):
        restore_central_public_key(private_path)


@pytest.mark.parametrize("loose", [0o640, 0o604, 0o660, 0o644, 0o620, 0o601])
def test_key_files_with_loose_permissions_are_refused(tmp_path: Path, loose: int) -> None:
    device_path = tmp_path / "device.key"
    DeviceKey.load_or_create(device_path)
    private_path, _ = generate_central_keypair(tmp_path / "central")
    for path, load in ((device_path, DeviceKey.load_or_create),
                       (private_path, load_central_private_key)):
        path.chmod(loose)
        with pytest.raises(SealingError, match="chmod 600"):
            load(path)


def test_a_key_file_others_may_read_says_so_by_its_type(tmp_path: Path) -> None:
    """``kiosk doctor`` tells a key file with loose permissions by its type (and takes the
    problem without the fix from it), never by the words of the message."""
    path = tmp_path / "device.key"
    DeviceKey.load_or_create(path)
    path.chmod(0o640)
    with pytest.raises(KeyFileExposed) as refused:
        DeviceKey.load(path)
    assert isinstance(refused.value, SealingError)
    assert (refused.value.path, refused.value.mode) == (path, 0o640)
    assert str(refused.value) == f"{refused.value.problem}; run `chmod 600 {path}`"
    assert refused.value.problem == (f"key file {path} is readable or writable by "
                                     "group/others (mode 640)")
    path.chmod(0o600)
    DeviceKey.load(path)  # a private one loads


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_device_key_file_of_wrong_length_is_refused(tmp_path: Path, length: int) -> None:
    path = tmp_path / "device.key"
    path.write_bytes(b"k" * length)
    path.chmod(0o600)
    with pytest.raises(SealingError, match=f"is {length} bytes, expected 32"):
        DeviceKey.load_or_create(path)


def test_existing_central_private_key_is_not_overwritten(tmp_path: Path) -> None:
    private_path, public_path = generate_central_keypair(tmp_path)
    before = private_path.read_bytes(), public_path.read_bytes()
    with pytest.raises(SealingError, match="refusing to overwrite"):
        generate_central_keypair(tmp_path)
    assert (private_path.read_bytes(), public_path.read_bytes()) == before


def test_central_key_files_say_which_is_which(tmp_path: Path) -> None:
    private_path, public_path = generate_central_keypair(tmp_path)
    assert private_path.read_text().splitlines()[0] == "ektp-central-private-key v1"
    assert public_path.read_text().splitlines()[0] == "ektp-central-public-key v1"
    with pytest.raises(SealingError, match="not a central public key"):
        load_central_public_key(private_path)
    public = load_central_public_key(public_path)
    private = nacl.public.PrivateKey(load_central_private_key(private_path))
    assert bytes(private.public_key) == public


def test_missing_central_public_key_says_how_to_provision(tmp_path: Path) -> None:
    missing = tmp_path / "etc" / "central.pub"
    with pytest.raises(SealingError) as caught:
        load_central_public_key(missing)
    assert str(missing) in str(caught.value)
    assert "kiosk-intake keys init --data DIR" in str(caught.value)


def test_a_missing_key_file_says_so_by_its_type_with_the_problem_apart_from_the_fix(
        tmp_path: Path) -> None:
    """kiosk doctor shows the problem with a fix of its own: it takes ``problem``, never the
    words of the message up to a ';' (a path may hold one)."""
    missing = tmp_path / "a;b" / "central.pub"
    with pytest.raises(KeyFileMissing) as caught:
        load_central_public_key(missing)
    assert isinstance(caught.value, SealingError)
    assert (caught.value.what, caught.value.path) == ("central public key", missing)
    assert caught.value.problem == f"central public key {missing} is missing"
    assert "kiosk-intake keys init --data DIR" in caught.value.fix
    assert str(caught.value) == f"{caught.value.problem}; {caught.value.fix}"
    seed = tmp_path / "device.key"
    with pytest.raises(KeyFileMissing) as caught:  # no fix of its own: the message is all
        DeviceKey.load(seed)
    assert str(caught.value) == caught.value.problem == f"device key {seed} is missing"


@pytest.mark.parametrize(
    "text",
    ["", "ektp-central-public-key v1\n", "ektp-central-public-key v1\nzz\n",
     "ektp-central-public-key v1\n" + "ab" * 31 + "\n", "ssh-ed25519 AAAA\n"],
    ids=["empty", "no-key", "not-hex", "short", "foreign"],
)
def test_malformed_central_public_key_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "central.pub"
    path.write_text(text)
    with pytest.raises(SealingError, match=str(path)):
        load_central_public_key(path)


def test_device_public_key_text_round_trips(tmp_path: Path, device: DeviceKey) -> None:
    path = tmp_path / "poso-01.pub"
    path.write_text(device.public_key_text())
    assert load_device_public_key(path) == device.public_bytes


def test_repr_never_shows_key_material(
    tmp_path: Path, device: DeviceKey, sealer: Sealer, opener: Opener,
    central: tuple[bytes, bytes],
) -> None:
    seed = (tmp_path / "kiosk" / "device.key").read_bytes()
    shown = repr(device) + repr(sealer) + repr(opener)
    for secret in (seed, central[0], device.public_bytes, central[1]):
        assert secret.hex() not in shown
    assert device.key_id in repr(device)


def test_manifest_from_digests_equals_manifest_from_blobs(
        sealer: Sealer, opener: Opener) -> None:
    meta = meta_for(5)
    blobs = {"consent": sealer.seal_step(meta.record_id, "consent", {"c.json": b"{}"}),
             "portrait": sealer.seal_step(meta.record_id, "portrait", {"p.jpg": PNG})}
    digests = {name: (len(b), hashlib.sha256(b).hexdigest()) for name, b in blobs.items()}
    from_digests = sealer.seal_record(meta, digests)
    assert from_digests == sealer.seal_record(meta, blobs)
    assert opener.open_packet(build_packet(from_digests, blobs)).steps["portrait"] == {
        "p.jpg": PNG}


@pytest.mark.parametrize("digest", [(3, "zz" * 32), (3, "ab" * 31), (-1, "ab" * 32)])
def test_malformed_digest_is_refused(sealer: Sealer, digest: tuple[int, str]) -> None:
    with pytest.raises(SealingError, match="malformed digest"):
        sealer.seal_record(meta_for(5), {"consent": digest})
