"""Tests for kiosk.receipts: the intake key files and the signed receipt a kiosk trusts."""

from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import pytest

from kiosk.core.canonical import SIGNATURE_BYTES
from kiosk.core.ids import KEY_ID
from kiosk.errors import SealingError
from kiosk.receipts import (
    IntakeKey,
    ReceiptError,
    ReceiptForAnotherPacket,
    ensure_intake_keypair,
    load_intake_public_key,
    make_receipt,
    verify_receipt,
)
from kiosk.sealing_keys import key_id

KIOSK = "poso-01"
RECORD = "poso-01-0000042-a1b2c3"
PACKET = b"EKTP\x01" + bytes(range(256)) * 8
SHA = hashlib.sha256(PACKET).hexdigest()
WHEN = "2024-03-01T02:07:40Z"


@pytest.fixture
def key() -> IntakeKey:
    return IntakeKey.generate()


@pytest.fixture
def receipt(key: IntakeKey) -> bytes:
    return make_receipt(key, KIOSK, RECORD, PACKET, WHEN)


def verify(receipt: bytes, public: bytes, **overrides: str) -> dict[str, object]:
    expected = {"kiosk_id": KIOSK, "record_id": RECORD, "packet_sha256": SHA, **overrides}
    return verify_receipt(receipt, public, **expected)


# -- round trip -------------------------------------------------------------------------------
def test_receipt_round_trips_with_the_documented_body(key: IntakeKey, receipt: bytes) -> None:
    info = verify(receipt, key.public_bytes)
    assert info == {"format": 1, "kiosk_id": KIOSK, "record_id": RECORD,
                    "packet_sha256": SHA, "packet_length": len(PACKET), "received_at": WHEN,
                    "intake_key_id": key.key_id}
    body = receipt[:-SIGNATURE_BYTES]
    assert body == json.dumps(info, sort_keys=True, separators=(",", ":")).encode("ascii")
    assert KEY_ID.fullmatch(key.key_id) and key.key_id == key_id(key.public_bytes)


def test_uppercase_expected_digest_is_the_same_digest(key: IntakeKey, receipt: bytes) -> None:
    assert verify(receipt, key.public_bytes, packet_sha256=SHA.upper())["packet_sha256"] == SHA


def test_receipt_error_is_a_sealing_error() -> None:
    assert issubclass(ReceiptError, SealingError)


# -- each tampering refused ---------------------------------------------------------------------
def test_wrong_intake_key_is_refused_naming_both_keys(key: IntakeKey, receipt: bytes) -> None:
    other = IntakeKey.generate()
    with pytest.raises(ReceiptError, match="signature does not verify") as caught:
        verify(receipt, other.public_bytes)
    assert other.key_id in str(caught.value) and key.key_id in str(caught.value)


def test_every_flipped_byte_is_refused(key: IntakeKey, receipt: bytes) -> None:
    for index in range(len(receipt)):
        for mask in (0x01, 0x80):
            tampered = bytearray(receipt)
            tampered[index] ^= mask
            with pytest.raises(ReceiptError):
                verify(bytes(tampered), key.public_bytes)


def test_every_truncation_and_an_appended_byte_are_refused(key: IntakeKey,
                                                           receipt: bytes) -> None:
    for length in range(len(receipt)):
        with pytest.raises(ReceiptError):
            verify(receipt[:length], key.public_bytes)
    with pytest.raises(ReceiptError):
        verify(receipt + b"\x00", key.public_bytes)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("record_id", "poso-01-0000043-a1b2c3", "for record"),
    ("kiosk_id", "poso-02", "for kiosk"),
    ("packet_sha256", hashlib.sha256(PACKET + b"x").hexdigest(), "different packet"),
])
def test_receipt_for_something_else_is_refused(key: IntakeKey, receipt: bytes, field: str,
                                               value: str, message: str) -> None:
    with pytest.raises(ReceiptError, match=message):
        verify(receipt, key.public_bytes, **{field: value})


@pytest.mark.parametrize(("field", "value", "another_packet"), [
    ("record_id", "poso-01-0000043-a1b2c3", False),
    ("kiosk_id", "poso-02", False),
    ("packet_sha256", hashlib.sha256(PACKET + b"x").hexdigest(), True),
])
def test_only_a_receipt_for_other_bytes_says_so_by_its_type(
        key: IntakeKey, receipt: bytes, field: str, value: str, another_packet: bool) -> None:
    """The uploader rejects a record for good on a receipt for another packet: it tells that
    receipt by its type, a ReceiptError still, never by the words of its message."""
    with pytest.raises(ReceiptError) as refused:
        verify(receipt, key.public_bytes, **{field: value})
    assert isinstance(refused.value, ReceiptForAnotherPacket) is another_packet


@pytest.mark.parametrize("body", [
    {"extra": 1},                                   # unknown key: a new format
    {"format": 2},
    {"packet_length": True},                        # bool is not an int
    {"packet_sha256": "AB" * 32},                   # not lowercase hex
    {"intake_key_id": "0" * 16},                    # names another key than the signer
])
def test_signed_but_malformed_bodies_are_refused(key: IntakeKey, body: dict[str, object]
                                                 ) -> None:
    fields: dict[str, object] = {"format": 1, "kiosk_id": KIOSK, "record_id": RECORD,
                                 "packet_sha256": SHA, "packet_length": len(PACKET),
                                 "received_at": WHEN, "intake_key_id": key.key_id, **body}
    raw = json.dumps(fields, sort_keys=True, separators=(",", ":")).encode()
    with pytest.raises(ReceiptError):
        verify(raw + key.sign(raw), key.public_bytes)


def test_signed_but_not_canonical_json_is_refused(key: IntakeKey, receipt: bytes) -> None:
    pretty = json.dumps(json.loads(receipt[:-SIGNATURE_BYTES]), sort_keys=True, indent=1).encode()
    with pytest.raises(ReceiptError, match="canonical"):
        verify(pretty + key.sign(pretty), key.public_bytes)


# -- key files ----------------------------------------------------------------------------------
def test_intake_key_is_created_once_0600_32_bytes_and_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "intake.key"
    first = IntakeKey.load_or_create(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_bytes()) == 32
    assert IntakeKey.load_or_create(path).public_bytes == first.public_bytes
    assert not list(path.parent.glob(".*tmp*"))  # no temp file left behind
    assert repr(first) == f"IntakeKey(key_id={first.key_id!r})"


def test_intake_key_with_open_mode_or_wrong_length_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "intake.key"
    IntakeKey.load_or_create(path)
    path.chmod(0o644)
    with pytest.raises(SealingError, match="chmod 600"):
        IntakeKey.load_or_create(path)
    path.chmod(0o600)
    path.write_bytes(b"short")
    with pytest.raises(SealingError, match="5 bytes"):
        IntakeKey.load_or_create(path)


def test_keypair_files_and_public_key_round_trip(tmp_path: Path) -> None:
    key, created = ensure_intake_keypair(tmp_path)
    lines = (tmp_path / "intake.pub").read_text("ascii").splitlines()
    assert lines == ["ektp-intake-public-key v1", key.public_bytes.hex()]
    assert load_intake_public_key(tmp_path / "intake.pub") == key.public_bytes
    assert created
    again, created_again = ensure_intake_keypair(tmp_path)  # never a new key
    assert (again.public_bytes, created_again) == (key.public_bytes, False)


def test_missing_or_foreign_public_key_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SealingError, match="keys init"):
        load_intake_public_key(tmp_path / "intake.pub")
    central = tmp_path / "central.pub"
    central.write_text("ektp-central-public-key v1\n" + "ab" * 32 + "\n")
    with pytest.raises(SealingError, match="ektp-central-public-key"):
        load_intake_public_key(central)


def test_intake_key_cannot_be_pickled(key: IntakeKey) -> None:
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(key)
