"""Fuzzing what the intake parses from an upload: the tus ``Upload-Metadata`` header (the
``resumable_upload`` library's ``parse_metadata``, which the intake's tus server calls),
``intake.store.valid_record_id`` on the ids it yields, and ``IntakeStore.accept`` on random
and damaged packets (it must answer with an outcome, never raise).
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
from collections.abc import Iterator

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from resumable_upload.server.headers import parse_metadata

from intake.store import IntakeStore, valid_record_id
from kiosk.core.ids import KIOSK_ID, RECORD_SEQ_MAX_DIGITS, RECORD_TAIL_BYTES, make_record_id
from kiosk.receipts import IntakeKey
from tests.fuzz.budget import fuzz
from tests.fuzz.mutate import damaged
from tests.fuzz.sealed import KIOSK, World, frame, make_world


# -- Upload-Metadata ---------------------------------------------------------------------------
def encode_metadata(metadata: dict[str, str]) -> str:
    """What a tus client sends (tuspy's encoding): ``key base64(value)`` pairs."""
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" if v else k
                    for k, v in metadata.items())


metadata_keys = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E,
                                      exclude_characters=","), min_size=1, max_size=12)
metadata_dicts = st.dictionaries(metadata_keys, st.text(max_size=40), max_size=6)


@fuzz(100)
@given(metadata=metadata_dicts)
@example(metadata={"kiosk_id": "poso-01", "record_id": "poso-01-0000001-a1b2c3",
                   "sha256": "0" * 64})
def test_parse_metadata_round_trips_what_a_client_sends(metadata: dict[str, str]) -> None:
    parsed, error = parse_metadata(encode_metadata(metadata))
    assert error == "" and parsed == metadata


header_text = st.one_of(
    st.text(max_size=300),
    st.text(st.sampled_from("ab ,=+/\t\x00é"), max_size=60),
    metadata_dicts.map(encode_metadata).flatmap(
        lambda h: damaged(h.encode(), max_mutations=2).map(
            lambda b: b.decode("utf-8", "replace"))),
)


@fuzz(150)
@given(header=header_text)
@example(header="kiosk_id ####")                       # not base64 at all
@example(header="kiosk_id /w==")                       # base64 of a byte that is not UTF-8
@example(header="kiosk_id cG9zby0wMQ==,kiosk_id eA==")  # the same key twice
@example(header="kï cG9zbw==")                          # a key that is not ASCII
@example(header="a" * 5000)                            # over the library's 4 KiB limit
@example(header=" , ,, ")
def test_parse_metadata_never_raises_and_gives_text(header: str) -> None:
    parsed, error = parse_metadata(header)
    if parsed is None:
        assert error  # a refusal always says why (the server answers 400 with it)
        return
    assert error == ""
    assert all(isinstance(k, str) and k.isascii() and isinstance(v, str)
               for k, v in parsed.items())
    # ...and the intake's own checks on the result take any text.
    assert valid_record_id(parsed.get("kiosk_id", ""), parsed.get("record_id", "")) in (
        True, False)


# -- record ids -----------------------------------------------------------------------------------
ids = st.one_of(
    st.text(max_size=60),
    st.from_regex(KIOSK_ID, fullmatch=True),
    st.text(st.sampled_from("poso-0123456789abcdef./\\\n\x00"), max_size=40),
)


@fuzz(150)
@given(kiosk_id=ids, record_id=ids, seq=st.integers(0, 10**RECORD_SEQ_MAX_DIGITS - 1),
       suffix=st.from_regex(rf"[0-9a-f]{{{2 * RECORD_TAIL_BYTES}}}", fullmatch=True))
@example(kiosk_id="poso-01\n", record_id="poso-01\n-0000001-a1b2c3", seq=1, suffix="a1b2c3")
@example(kiosk_id="..", record_id="..-0000001-a1b2c3", seq=1, suffix="a1b2c3")
@example(kiosk_id="poso-01", record_id="poso-01-0000001-a1b2c3\n", seq=1, suffix="a1b2c3")
def test_valid_record_id_accepts_only_safe_path_components(kiosk_id: str, record_id: str,
                                                           seq: int, suffix: str) -> None:
    if valid_record_id(kiosk_id, record_id):
        for part in (kiosk_id, record_id):
            assert re.fullmatch(r"[a-z0-9][a-z0-9-]*", part), part  # no '/', '.', NUL, \n
        assert record_id.startswith(kiosk_id + "-")
    if KIOSK_ID.fullmatch(kiosk_id):  # what a kiosk's Sealer writes is always accepted
        assert valid_record_id(kiosk_id, make_record_id(kiosk_id, seq, suffix))


# -- IntakeStore.accept: a completed upload's packet --------------------------------------------
class Registration:
    """The one kiosk the intake knows (``intake.devices.Device``'s duck type)."""

    def __init__(self, world: World) -> None:
        self.kiosk_id = KIOSK
        self.public_key = world.device.public_bytes
        self.key_id = world.device.key_id
        self.revoked = False
        self.revoked_at = None


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[IntakeStore, World]]:
    root = tmp_path_factory.mktemp("fuzz-intake")
    world = make_world(root / "keys")
    device = Registration(world)
    intake = IntakeStore(root / "intake", world.central_private, IntakeKey.generate(),
                         lambda kiosk: device if kiosk == KIOSK else None)
    yield intake, world
    intake.close()


_uploads = itertools.count()


def accept(store: IntakeStore, packet: bytes, record_id: str) -> str:
    metadata = {"kiosk_id": KIOSK, "record_id": record_id,
                "sha256": hashlib.sha256(packet).hexdigest()}
    upload = store.data / "upload.bin"  # the completed tus upload's file
    upload.write_bytes(packet)
    outcome = store.accept(f"fuzz-{next(_uploads)}", metadata, upload)
    assert outcome.status in ("received", "duplicate", "rejected")
    if outcome.status == "rejected":
        assert outcome.reason and outcome.code
    return outcome.status


def test_accept_takes_the_valid_packet(store: tuple[IntakeStore, World]) -> None:
    intake, world = store
    assert accept(intake, world.packet, world.record_id) in ("received", "duplicate")


@fuzz(40)
@given(data=st.data())
def test_accept_answers_damaged_packets_with_a_refusal(store: tuple[IntakeStore, World],
                                                       data: st.DataObject) -> None:
    intake, world = store
    packet = data.draw(st.one_of(st.binary(max_size=300), damaged(world.packet)))
    status = accept(intake, packet, world.record_id)
    if status != "rejected":
        assert packet == world.packet


def test_accept_refuses_a_manifest_nested_too_deep(store: tuple[IntakeStore, World]) -> None:
    intake, world = store
    packet = frame(b"[" * 60_000 + bytes(64))
    assert accept(intake, packet, world.record_id) == "rejected"

