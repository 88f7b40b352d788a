"""Fuzzing receipts (``verify_receipt``, ``receipt_fields``) and the key files the kiosk and
the intake read (``load_intake_public_key``, ``load_central_public_key``,
``load_central_private_key``, ``load_device_public_key``, ``DeviceKey``/``IntakeKey``
``load_or_create``). Everything wrong must be a :class:`~kiosk.errors.SealingError`
(:class:`~kiosk.receipts.ReceiptError` for receipts).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from kiosk.core.canonical import SIGNATURE_BYTES, canonical_json
from kiosk.errors import SealingError
from kiosk.receipts import (
    INTAKE_PUBLIC,
    MAX_RECEIPT_BYTES,
    IntakeKey,
    ReceiptError,
    load_intake_public_key,
    make_receipt,
    receipt_fields,
    verify_receipt,
)
from kiosk.sealing_keys import (
    CENTRAL_PRIVATE,
    CENTRAL_PUBLIC,
    DEVICE_PUBLIC,
    DeviceKey,
    load_central_private_key,
    load_central_public_key,
    load_device_public_key,
)
from tests.fuzz.budget import fuzz
from tests.fuzz.mutate import damaged

KIOSK = "poso-01"
RECORD = "poso-01-0000001-a1b2c3"
PACKET = b"EKTP\x01 a packet"
DIGEST = hashlib.sha256(PACKET).hexdigest()


@dataclass(frozen=True)
class Keys:
    intake: IntakeKey
    receipt: bytes


@pytest.fixture(scope="module")
def keys() -> Keys:
    intake = IntakeKey.generate()
    return Keys(intake, make_receipt(intake, KIOSK, RECORD, PACKET, "2024-03-01T02:07:40Z"))


def check(keys: Keys, receipt: bytes, public: bytes | None = None) -> dict[str, Any] | None:
    """verify_receipt's fields, or None when it refused with a ReceiptError (only that)."""
    try:
        return verify_receipt(receipt, keys.intake.public_bytes if public is None else public,
                              kiosk_id=KIOSK, record_id=RECORD, packet_sha256=DIGEST)
    except ReceiptError as exc:
        assert str(exc)
        return None


def test_the_valid_receipt_verifies(keys: Keys) -> None:
    info = check(keys, keys.receipt)
    assert info is not None and info["packet_sha256"] == DIGEST
    assert receipt_fields(keys.receipt) == info


# -- random and damaged receipts -------------------------------------------------------------
@fuzz(150)
@given(receipt=st.binary(max_size=MAX_RECEIPT_BYTES + 100))
@example(receipt=b"")
@example(receipt=bytes(64))
@example(receipt=bytes(65))
@example(receipt=b"[" * 3000 + bytes(64))  # RecursionError in _claimed_key_id before the fix
@example(receipt=b"\xff" * 200)
def test_verify_receipt_refuses_random_bytes(keys: Keys, receipt: bytes) -> None:
    assert check(keys, receipt) is None


@fuzz(150)
@given(data=st.data())
def test_verify_receipt_refuses_damaged_receipts(keys: Keys, data: st.DataObject) -> None:
    bad = data.draw(damaged(keys.receipt))
    info = check(keys, bad)
    if info is not None:
        assert bad == keys.receipt


@fuzz(50)
@given(public=st.binary(min_size=32, max_size=32))
@example(public=bytes(32))                 # the identity point: a small-order key
@example(public=b"\xff" * 32)              # not a canonical point encoding
def test_verify_receipt_with_any_32_byte_key_refuses_or_is_the_real_key(keys: Keys,
                                                                       public: bytes) -> None:
    info = check(keys, keys.receipt, public)
    if info is not None:
        assert public == keys.intake.public_bytes


@fuzz(30)
@given(public=st.binary(max_size=64).filter(lambda b: len(b) != 32))
def test_verify_receipt_refuses_a_key_that_is_not_32_bytes(keys: Keys, public: bytes) -> None:
    assert check(keys, keys.receipt, public) is None


# -- bodies signed by the trusted intake key, but wrong ----------------------------------------
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                        st.floats(allow_nan=False), st.text(max_size=20))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)


def check_signed_body(keys: Keys, raw: bytes) -> None:
    """A body signed by the trusted key: verify_receipt and receipt_fields accept it only
    when it is exactly a receipt they would have written."""
    good = json.loads(keys.receipt[:-SIGNATURE_BYTES])
    receipt = raw + keys.intake.sign(raw)
    info = check(keys, receipt)
    if info is not None:  # signed, well-formed, and for this kiosk, record and packet
        assert canonical_json(info) == raw and set(info) == set(good)
        for name in ("format", "kiosk_id", "record_id", "packet_sha256", "intake_key_id"):
            assert info[name] == good[name]
        assert type(info["packet_length"]) is int and info["packet_length"] >= 0
    try:
        fields = receipt_fields(receipt)
    except ReceiptError:
        return
    assert canonical_json(fields) == raw


@fuzz(120)
@given(data=st.data())
def test_verify_receipt_refuses_malformed_bodies_even_when_signed(keys: Keys,
                                                                 data: st.DataObject) -> None:
    body: Any = json.loads(keys.receipt[:-SIGNATURE_BYTES])
    choice = data.draw(st.sampled_from(["replace", "drop", "add", "any"]))
    if choice == "replace":
        body[data.draw(st.sampled_from(sorted(body)))] = data.draw(json_value)
    elif choice == "drop":
        del body[data.draw(st.sampled_from(sorted(body)))]
    elif choice == "add":
        body[data.draw(st.text(max_size=8))] = data.draw(json_value)
    else:
        body = data.draw(json_value)
    check_signed_body(keys, canonical_json(body))


@pytest.mark.parametrize("raw", [
    b"[" * 3000,                            # RecursionError in _parse_body before the fix
    b'{"a":' * 800 + b"1" + b"}" * 800,     # objects nested as deep
    b"NaN", b'"\\ud800"', b"1" * 4000,      # odd JSON: NaN, a lone surrogate, a huge int
    b'{"format":true}',                     # true is not the integer 1
], ids=["deep-array", "deep-object", "nan", "surrogate", "huge-int", "bool-format"])
def test_verify_receipt_refuses_odd_signed_json(keys: Keys, raw: bytes) -> None:
    receipt = raw + keys.intake.sign(raw)
    assert check(keys, receipt) is None
    with pytest.raises(ReceiptError):
        receipt_fields(receipt)


@fuzz(100)
@given(receipt=st.binary(max_size=400))
@example(receipt=b"[" * 3000 + bytes(64))  # RecursionError in _parse_body before the fix
def test_receipt_fields_parses_or_refuses(receipt: bytes) -> None:
    try:
        fields = receipt_fields(receipt)
    except ReceiptError:
        return
    assert canonical_json(fields) == receipt[:-SIGNATURE_BYTES]


# -- key files --------------------------------------------------------------------------------
KEY = bytes(range(32))
LOADERS: dict[str, tuple[Callable[[Path], bytes], str]] = {
    "intake public": (load_intake_public_key, INTAKE_PUBLIC),
    "central public": (load_central_public_key, CENTRAL_PUBLIC),
    "central private": (load_central_private_key, CENTRAL_PRIVATE),
    "device public": (load_device_public_key, DEVICE_PUBLIC),
}


def key_text(header: str, key: bytes = KEY) -> bytes:
    return f"{header}\n{key.hex()}\n".encode("ascii")


def write_key_file(path: Path, content: bytes) -> Path:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, content)
    finally:
        os.close(fd)
    os.chmod(path, 0o600)  # the private key loader insists on 0600
    return path


@pytest.mark.parametrize("kind", sorted(LOADERS))
def test_valid_key_files_load(tmp_path: Path, kind: str) -> None:
    loader, header = LOADERS[kind]
    assert loader(write_key_file(tmp_path / "k", key_text(header))) == KEY
    # Windows line ends and surrounding blank lines are still one key.
    assert loader(write_key_file(tmp_path / "k", b"\r\n" + key_text(header).replace(
        b"\n", b"\r\n"))) == KEY


def key_file_content(header: str) -> st.SearchStrategy[bytes]:
    return st.one_of(
        st.binary(max_size=200),
        st.text(max_size=120).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.builds(lambda h, k: key_text(h, k), st.sampled_from(
            [INTAKE_PUBLIC, CENTRAL_PUBLIC, CENTRAL_PRIVATE, DEVICE_PUBLIC]),
            st.binary(max_size=40)),
        damaged(key_text(header), max_mutations=2),
    )


@pytest.mark.parametrize("kind", sorted(LOADERS))
@fuzz(40)
@given(data=st.data())
def test_key_file_loaders_load_32_bytes_or_refuse(tmp_path_factory: pytest.TempPathFactory,
                                                  kind: str, data: st.DataObject) -> None:
    loader, header = LOADERS[kind]
    content = data.draw(key_file_content(header))
    path = write_key_file(tmp_path_factory.getbasetemp() / f"fuzz-{kind.replace(' ', '-')}",
                          content)
    try:
        key = loader(path)
    except SealingError as exc:
        assert str(exc)
        return
    assert len(key) == 32
    words = content.decode("ascii").split()
    assert len(words) == 3 and " ".join(words[:2]) == header
    assert bytes.fromhex(words[2]) == key


@pytest.mark.parametrize("cls", [DeviceKey, IntakeKey])
@fuzz(30)
@given(content=st.binary(max_size=80))
@example(content=bytes(32))
def test_seed_key_files_load_or_refuse(tmp_path_factory: pytest.TempPathFactory,
                                       cls: type[DeviceKey] | type[IntakeKey],
                                       content: bytes) -> None:
    path = write_key_file(tmp_path_factory.getbasetemp() / f"fuzz-{cls.__name__}", content)
    try:
        key = cls.load_or_create(path)
    except SealingError as exc:
        assert str(exc)
        assert len(content) != 32
        return
    assert len(content) == 32 and len(key.public_bytes) == 32
    assert path.read_bytes() == content  # an existing key is never replaced
