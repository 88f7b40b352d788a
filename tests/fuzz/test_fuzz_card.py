"""Fuzzing the card side: BER-TLV (``piv.parse_tlv``), the CHUID's staff id
(``piv.staff_id_from_chuid``), the PIV Authentication certificate object, the GENERAL
AUTHENTICATE answer and command (``piv.certificate_from_object``,
``signature_from_response``, ``challenge_from_command``), chained answers
(``piv.transmit_chained``), status words (``piv.retries_left``), the trusted CA file
(``StaffTrust.from_pem``), the CRL file (``StaffTrust.with_crls``), the staff login over a
card that answers anything and over a genuine card one of whose answers is damaged
(``staff.staff_login``, ``read_staff_id``, ``pin_retries_left``, ``read_uid``), the PC/SC
backend's response handling
(``PcscCardReader._exchange`` on a fake pyscard), and the simulated/virtual card's own APDU
and vpcd parsing (``PivCard.answer``, ``pivcard.command_data``, ``VirtualCard._handle``,
``vcard._recv_message``).

Malformed card data must end as ``ValueError`` where :mod:`~kiosk.hardware.card.piv`
documents it, and as :class:`~kiosk.errors.DeviceError` / :class:`~kiosk.errors.InvalidInput`
(``NotAStaffCard``, ``WrongPin``, ``PinBlocked``, ``CardNotTrusted``) above it; the card side
never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives import serialization
from hypothesis import example, given
from hypothesis import strategies as st

from kiosk.errors import DeviceError, InvalidInput
from kiosk.hardware.card import devca, pcsc, piv, staff
from kiosk.hardware.card.base import CardInfo, CardReader
from kiosk.hardware.card.errors import CardNotTrusted, NotAStaffCard, PinBlocked, WrongPin
from kiosk.hardware.card.pivcard import AUTH_FAULTS, PivCard, command_data
from kiosk.hardware.card.trust import StaffTrust, UntrustedCertificate
from kiosk.hardware.card.vcard import VirtualCard, _recv_message
from tests.fuzz.budget import fuzz
from tests.fuzz.mutate import damaged

CHUID = piv.build_chuid("STAFF-0042")
CERT_DER = devca.dev_card_certificate("STAFF-0042").public_bytes(serialization.Encoding.DER)
CERT_OBJECT = piv.build_cert_object(CERT_DER)
CA_PEM = devca.dev_ca_certificate().public_bytes(serialization.Encoding.PEM)
CRL = devca.issue_crl(devca.dev_ca_key(), devca.dev_ca_certificate(),
                      [devca.dev_card_certificate("STAFF-0042").serial_number, 7],
                      last_update=datetime(2026, 1, 1, tzinfo=UTC))
CRL_PEM = CRL.public_bytes(serialization.Encoding.PEM)
CRL_DER = CRL.public_bytes(serialization.Encoding.DER)
AUTH_ANSWER = piv.build_authenticate_response(bytes.fromhex(
    "3045022100" + "11" * 32 + "0220" + "22" * 32))
CHALLENGE = bytes(range(32))
DEV = StaffTrust.development()


# -- BER-TLV -------------------------------------------------------------------------------------
def reference_tlv(data: bytes) -> dict[int, bytes]:
    """BER-TLV with one-byte tags, written from X.690 8.1.3 independently of the code:
    short form 0-127; long form 81 (one length byte) or 82 (two); anything else refused."""
    out: dict[int, bytes] = {}
    rest = data
    while rest:
        if len(rest) < 2:
            raise ValueError("truncated")
        tag, first, rest = rest[0], rest[1], rest[2:]
        if first < 0x80:
            length = first
        elif first in (0x81, 0x82):
            width = first & 0x7F
            if len(rest) < width:
                raise ValueError("truncated")
            length, rest = int.from_bytes(rest[:width], "big"), rest[width:]
        else:
            raise ValueError("unsupported length form")
        if len(rest) < length:
            raise ValueError("truncated")
        out[tag], rest = rest[:length], rest[length:]
    return out


tlv_data = st.one_of(
    st.binary(max_size=200),
    st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=300)), max_size=5).map(
        lambda items: b"".join(piv.tlv(t, v) for t, v in items)),
    damaged(CHUID, length_fields=[(2, 2)], max_mutations=2),
)


@fuzz(200)
@given(data=tlv_data)
@example(data=b"\x34\x85" + bytes(133))  # read as 133 bytes of value before the fix
@example(data=b"\x34\x80\x00\x00")       # indefinite length
@example(data=b"\x34\x83\x00\x00\x01\x00")  # three length bytes
@example(data=b"\x34\x82\x01")            # a length cut short
@example(data=b"\x34")
def test_parse_tlv_agrees_with_ber_or_raises_value_error(data: bytes) -> None:
    try:
        expected: dict[int, bytes] | None = reference_tlv(data)
    except ValueError:
        expected = None
    try:
        parsed = piv.parse_tlv(data)
    except ValueError:
        assert expected is None, "valid BER-TLV refused"
        return
    assert parsed == expected


@fuzz(150)
@given(data=tlv_data)
@example(data=piv.tlv(0x53, piv.tlv(0x34, b"\x00" * 16)))  # a GUID of NULs only
@example(data=piv.tlv(0x53, piv.tlv(0x34, b"\xff\xfe")))    # not ASCII
@example(data=piv.tlv(0x53, b"\x34"))                       # the inner TLV truncated
def test_staff_id_from_chuid_gives_an_id_or_value_error(data: bytes) -> None:
    try:
        staff_id = piv.staff_id_from_chuid(data)
    except ValueError:
        return
    assert isinstance(staff_id, str) and staff_id and not staff_id.endswith("\x00")


def test_the_valid_chuid_gives_its_staff_id() -> None:
    assert piv.staff_id_from_chuid(CHUID) == "STAFF-0042"


@fuzz(100)
@given(sw1=st.integers(0, 255), sw2=st.integers(0, 255))
def test_retries_left_reads_only_63cx_and_6983(sw1: int, sw2: int) -> None:
    left = piv.retries_left(sw1, sw2)
    if sw1 == 0x63 and sw2 >> 4 == 0xC:
        assert left == sw2 & 0x0F
    elif (sw1, sw2) == (0x69, 0x83):
        assert left == 0
    else:
        assert left is None


# -- the PIV Authentication parsers ------------------------------------------------------------
cert_objects = st.one_of(
    tlv_data,
    damaged(CERT_OBJECT, length_fields=[(2, 2), (6, 2)], max_mutations=2),
    st.binary(max_size=40).map(lambda extra: CERT_OBJECT + extra),
)


@fuzz(150)
@given(data=cert_objects)
@example(data=piv.tlv(0x53, piv.tlv(0x70, b"")))                      # an empty certificate
@example(data=piv.tlv(0x53, piv.tlv(0x70, b"\x30") + piv.tlv(0x71, b"\x01")))  # compressed
@example(data=piv.tlv(0x53, piv.tlv(0x70, b"\x30") + piv.tlv(0x71, b"")))     # empty CertInfo
def test_certificate_from_object_gives_der_or_value_error(data: bytes) -> None:
    try:
        der = piv.certificate_from_object(data)
    except ValueError:
        return
    assert isinstance(der, bytes) and der


@fuzz(150)
@given(data=st.one_of(tlv_data, damaged(AUTH_ANSWER, length_fields=[(1, 1), (3, 1)],
                                        max_mutations=2)))
@example(data=piv.tlv(0x7C, piv.tlv(0x82, b"")))
@example(data=piv.tlv(0x7C, b""))
def test_signature_from_response_gives_bytes_or_value_error(data: bytes) -> None:
    try:
        signature = piv.signature_from_response(data)
    except ValueError:
        return
    assert isinstance(signature, bytes) and signature


@fuzz(150)
@given(data=st.one_of(tlv_data, damaged(piv.general_authenticate_apdu(CHALLENGE)[5:-1],
                                        length_fields=[(1, 1), (5, 1)], max_mutations=2)))
def test_challenge_from_command_gives_32_bytes_or_value_error(data: bytes) -> None:
    try:
        challenge = piv.challenge_from_command(data)
    except ValueError:
        return
    assert len(challenge) == piv.CHALLENGE_LENGTH


@fuzz(100)
@given(data=st.one_of(st.binary(max_size=200), damaged(CA_PEM, max_mutations=3),
                      st.binary(max_size=100).map(lambda b: CA_PEM + b)))
@example(data=b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
# The development CA with one byte of its subject's name damaged (invalid UTF-8): the
# certificate loads (cryptography parses names lazily), its subject did not (CI, once).
@example(data=(
    b"-----BEGIN CERTIFICATE-----\n"
    b"MIIBwTCCAWegAwIBAgIUCdwPJUNgn+ywTpMaBF8RATdUNZ8wCgYIKoZIzj0EAwIw\n"
    b"PTE7MDkGA1UEAwwyZS1LVFAga2lvc2sgZGV2ZWxvcG1lbnQgc3RhZmYgQ0EgKHNp\n"
    b"bXVsYXRpb24gb25seSkwHhcNMjQwMTAxMDAwMDAwWhcNNDkxMjMxMjM1OTU5WjA9\n"
    b"MTswOQYDVQQDDDJlLUtUUCBraW9zayBkZXZlbG9wbWVudCBzdGFmZiBDQSAoc2mt\n"
    b"dWxhdGlvbiBvbmx5KTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABMSYCZ5gH5+2\n"
    b"VtNxAqeT3YsIsv0zq9R0m5SpJuazCAzwdeq4m9oi8091XSde6oRrpahSX+PtXYzs\n"
    b"M0KC+zQGESyjRTBDMBIGA1UdEwEB/wQIMAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEG\n"
    b"MB0GA1UdDgQWBBTItmEjbvC5fH+8V6T0aDzph5ReLjAKBggqhkjOPQQDAgNIADBF\n"
    b"AiEA2lMvjdYQ8ufU5hhjlhjrio6emDvAkKtpqGCwwbgYNycCIEA+AaOuA9K5eBo+\n"
    b"9yD3TvnAG5eqnvkhzQ1SGXeQvT7f\n"
    b"-----END CERTIFICATE-----\n"))
# The development CA with its version field 3 (v4, no such thing): InvalidVersion, which is
# not a ValueError, escaped the loader.
@example(data=(
    b"-----BEGIN CERTIFICATE-----\n"
    b"MIIBwjCCAWegAwIBBQIUCdwPJUNgn+ywTpMaBF8RATdUNZ8wCgYIKoZIzj0EAwIwPTE7MDkGA1UE\n"
    b"AwwyZS1LVFAga2lvc2sgZGV2ZWxvcG1lbnQgc3RhZmYgQ0EgKHNpbXVsYXRpb24gb25seSkwHhcN\n"
    b"MjQwMTAxMDAwMDAwWhcNNDkxMjMxMjM1OTU5WjA9MTswOQYDVQQDDDJlLUtUUCBraW9zayBkZXZl\n"
    b"bG9wbWVudCBzdGFmZiBDQSAoc2ltdWxhdGlvbiBvbmx5KTBZMBMGByqGSM49AgEGCCqGSM49AwEH\n"
    b"A0IABMSYCZ5gH5+2VtNxAqeT3YsIsv0zq9R0m5SpJuazCAzwdeq4m9oi8091XSde6oRrpahSX+Pt\n"
    b"XYzsM0KC+zQGESyjRTBDMBIGA1UdEwEB/wQIMAYBAf8CAQAwDgYDVR0PAQH/BAQDAgEGMB0GA1Ud\n"
    b"DgQWBBTItmEjbvC5fH+8V6T0aDzph5ReLjAKBggqhkjOPQQDAgNJADBGAiEAkydlYPfOuN9KjZN8\n"
    b"HJzjbXTdq4yRWKydxQXjqOWx7kACIQD2Jf/zHETfHMePqsuFck27sPwEI9L2YECDvXmSnOMiBA==\n"
    b"-----END CERTIFICATE-----\n"))
def test_trusted_ca_file_loads_or_says_value_error(data: bytes) -> None:
    try:
        trust = StaffTrust.from_pem(data)
    except ValueError as exc:
        assert str(exc)
        return
    assert trust.cas and trust.describe()


@fuzz(150)
@given(data=st.one_of(st.binary(max_size=300), damaged(CRL_DER, max_mutations=3),
                      damaged(CRL_PEM, max_mutations=3),
                      st.binary(max_size=100).map(lambda b: CRL_PEM + b),
                      st.binary(max_size=100).map(lambda b: CRL_PEM + b"-----BEGIN X509 CRL-----"
                                                  + b + b"-----END X509 CRL-----")))
@example(data=b"-----BEGIN X509 CRL-----\n-----END X509 CRL-----\n")
@example(data=CRL_DER[:-1])
@example(data=CRL_DER.replace(b"\x02\x01\x01", b"\x02\x01\x00", 1))  # v1: InvalidVersion
def test_crl_file_loads_or_says_value_error(data: bytes) -> None:
    """Random or garbled bytes as ``[staff] crl``: a trust with CRLs the development CA
    signed, or ValueError saying why (what the doctor shows); never another exception,
    and a CRL that loads answers every question the kiosk asks of it."""
    try:
        trust = DEV.with_crls(data)
    except ValueError as exc:
        assert str(exc)
        return
    assert trust.crls and trust.describe_crls()
    assert trust.out_of_date(datetime.now(UTC)) is not None
    for cert in (devca.dev_card_certificate("STAFF-0042"), devca.dev_card_certificate("X")):
        try:
            trust.verify(cert, now=None)
        except UntrustedCertificate as exc:  # revoked: its date and reason said
            assert "revoked on" in str(exc)


@fuzz(150)
@given(script=st.lists(st.tuples(st.binary(max_size=300), st.sampled_from([0x61, 0x90, 0x6A]),
                                 st.integers(0, 255)), max_size=25))
@example(script=[])                                    # 61 00 with 256 bytes for ever
@example(script=[(b"", 0x61, 0x01)] * 25)              # empty pieces for ever
def test_transmit_chained_is_bounded(script: list[tuple[bytes, int, int]]) -> None:
    replies = iter(script)
    sent: list[bytes] = []

    def transmit(apdu: bytes) -> tuple[bytes, int, int]:
        sent.append(apdu)
        return next(replies, (b"\x00" * 256, 0x61, 0x00))

    try:
        data, sw1, _sw2 = piv.transmit_chained(transmit, piv.get_data_apdu())
    except piv.AnswerTooLong:
        pass
    else:
        assert len(data) <= piv.MAX_CHAINED_LENGTH and sw1 != 0x61
    assert len(sent) <= piv.MAX_CHAINED_PIECES
    assert all(a[:4] == b"\x00\xc0\x00\x00" and len(a) == 5 for a in sent[1:])


# -- the staff login over a card that answers anything ------------------------------------------
Answer = tuple[bytes, int, int]


class ScriptedReader(CardReader):
    """A reader whose card answers each APDU from ``answer(apdu)``."""

    def __init__(self, answer: Callable[[bytes], Answer]) -> None:
        super().__init__()
        self.answer = answer
        self.sent: list[bytes] = []

    @property
    def is_card_present(self) -> bool:
        return True

    def card_info(self) -> CardInfo:
        return CardInfo(atr=piv.atr(b"fuzz"))

    def transmit(self, apdu: bytes) -> Answer:
        self.sent.append(bytes(apdu))
        return self.answer(bytes(apdu))


byte = st.integers(0, 255)
answers = st.one_of(
    st.tuples(st.binary(max_size=40), byte, byte),
    st.tuples(st.just(b""), st.sampled_from([0x63, 0x69, 0x90, 0x6A]), byte),
    st.tuples(tlv_data, st.just(0x90), st.just(0x00)),
)


def staff_flow(reader: ScriptedReader, what: str) -> object:
    """Run one staff-card operation; its result or the typed error it raised (only those)."""
    try:
        if what == "login":
            return staff.staff_login(reader, "123456", trust=DEV)
        if what == "retries":
            return staff.pin_retries_left(reader)
        if what == "id":
            return staff.read_staff_id(reader)
        return staff.read_uid(reader)
    except (InvalidInput, DeviceError) as exc:
        assert str(exc)
        return exc


@fuzz(150)
@given(script=st.lists(answers, min_size=3, max_size=6),
       what=st.sampled_from(["login", "retries", "id", "uid"]))
@example(script=[(b"", 0x90, 0x00), (b"", 0x63, 0xC0), (b"", 0x90, 0x00)], what="login")
@example(script=[(b"", 0x90, 0x00), (b"", 0x63, 0xC2), (b"", 0x90, 0x00)], what="login")
@example(script=[(b"", 0x90, 0x00), (b"", 0x90, 0x00), (b"\x53\x05", 0x90, 0x00)],
         what="login")
@example(script=[(b"", 0x90, 0x00), (b"", 0x6F, 0x00), (b"", 0x90, 0x00)], what="retries")
def test_staff_login_on_any_answers_gives_a_typed_result(script: list[Answer],
                                                        what: str) -> None:
    replies = iter(script)
    reader = ScriptedReader(lambda _apdu: next(replies, (b"", 0x6A, 0x82)))
    with reader:
        result = staff_flow(reader, what)
    if isinstance(result, staff.StaffIdentity):
        assert result.staff_id and result.atr
    elif isinstance(result, WrongPin):
        assert 1 <= result.retries_left <= 15
    elif what == "retries" and isinstance(result, int):
        assert 0 <= result <= 15
    elif what == "uid":
        assert result is None or (isinstance(result, bytes) and result)
    elif what == "id" and isinstance(result, str):
        assert result
    else:
        assert isinstance(result, InvalidInput | DeviceError), result


def test_staff_login_against_the_simulated_card() -> None:
    card = PivCard(pin="123456", staff_id="STAFF-0042", pin_retries=3)

    def answer(apdu: bytes) -> Answer:
        response = card.answer(apdu)
        return response[:-2], response[-2], response[-1]

    with ScriptedReader(answer) as reader:
        assert isinstance(staff_flow(reader, "login"), staff.StaffIdentity)
        card.power_cycle()
        assert staff.staff_login(reader, "123456", trust=DEV).staff_id == "STAFF-0042"
        for left in (2, 1):
            with pytest.raises(WrongPin) as wrong:
                staff.staff_login(reader, "654321", trust=DEV)
            assert wrong.value.retries_left == left
        with pytest.raises(PinBlocked):
            staff.staff_login(reader, "654321", trust=DEV)
        with pytest.raises(NotAStaffCard):
            staff.read_staff_id(ScriptedReader(lambda _a: (b"", 0x6A, 0x82)))


@st.composite
def one_damaged_answer(draw: st.DrawFn) -> tuple[int, Callable[[bytes], bytes]]:
    """Which answer of a genuine card's login to damage (0 SELECT ... 5 GENERAL
    AUTHENTICATE), and how (a mutation drawn now, applied to the live answer)."""
    step = draw(st.integers(0, 5))
    kind = draw(st.sampled_from(["flip", "truncate", "append", "sw"]))
    position = draw(st.integers(0, 10_000))
    value = draw(st.integers(1, 255))
    extra = draw(st.binary(min_size=1, max_size=16))

    def damage(response: bytes) -> bytes:
        data, status = response[:-2], response[-2:]
        if kind == "sw":
            return data + bytes([status[0] ^ value, status[1]])
        if not data:
            return extra + status
        at = position % len(data)
        if kind == "flip":
            data = data[:at] + bytes([data[at] ^ value]) + data[at + 1:]
        elif kind == "truncate":
            data = data[:at]
        else:
            data = data + extra
        return data + status

    return step, damage


@fuzz(120)
@given(damage=one_damaged_answer(), fault=st.sampled_from([None, *AUTH_FAULTS]))
def test_staff_login_over_a_genuine_card_with_one_damaged_answer(
        damage: tuple[int, Callable[[bytes], bytes]], fault: str | None) -> None:
    step, mutate = damage
    card = PivCard(pin="123456", staff_id="STAFF-0042", auth_fault=fault)
    count = [0]

    def answer(apdu: bytes) -> Answer:
        response = card.answer(apdu)
        if count[0] == step:
            response = mutate(response)
        count[0] += 1
        return response[:-2], response[-2], response[-1]

    with ScriptedReader(answer) as reader:
        try:
            who = staff.staff_login(reader, "123456", trust=DEV, now=datetime.now(UTC))
        except (InvalidInput, DeviceError) as exc:
            assert str(exc)
            if fault is not None:
                assert isinstance(exc, CardNotTrusted | NotAStaffCard | DeviceError) or (
                    step <= 1), exc
            return
    assert fault is None, "a card that cannot prove itself logged in"
    assert who.staff_id == "STAFF-0042"


# -- the card side: APDUs in (from pcscd/vpcd) ---------------------------------------------------
apdus = st.one_of(
    st.binary(max_size=30),
    st.sampled_from([piv.select_apdu(), piv.verify_apdu(), piv.verify_apdu("123456"),
                     piv.verify_apdu("000000"), piv.get_data_apdu(),
                     piv.get_data_apdu(piv.PIV_AUTH_CERT_TAG), piv.get_response_apdu(0),
                     piv.get_response_apdu(0x40), piv.general_authenticate_apdu(CHALLENGE),
                     bytes.fromhex("FFCA000000"), bytes.fromhex("0020FF80")]).flatmap(
        lambda a: st.one_of(st.just(a), damaged(a, length_fields=[(4, 1)] if len(a) > 5
                                                else [], max_mutations=2))),
)


@fuzz(80)
@given(session=st.lists(apdus, max_size=12), uid=st.sampled_from([None, b"\x04\x11\x22\x33"]),
       fault=st.sampled_from([None, *AUTH_FAULTS]))
@example(session=[b"", b"\x00", b"\x00\xa4\x04\x00\x00"], uid=None, fault=None)
@example(session=[b"\x00\xcb\x3f\xff\x02\x5c\x85\x00"], uid=None, fault=None)
@example(session=[piv.select_apdu(), piv.verify_apdu("123456"),
                  piv.general_authenticate_apdu(CHALLENGE), b"\x00\xc0", b"\x00\xc0\x00"],
         uid=None, fault=None)
def test_piv_card_answers_every_apdu_with_a_status_word(session: list[bytes],
                                                        uid: bytes | None,
                                                        fault: str | None) -> None:
    card = PivCard(pin="123456", pin_retries=3, uid=uid, auth_fault=fault)
    for apdu in session:
        response = card.answer(apdu)
        assert 2 <= len(response) <= piv.SHORT_LE + 2
        assert 0 <= card.retries_left <= card.max_retries
        data = command_data(apdu)
        assert data is None or (len(apdu) <= 5 and data == b"") or len(data) == apdu[4]


@fuzz(80)
@given(messages=st.lists(st.one_of(st.binary(max_size=1), apdus), max_size=8))
@example(messages=[b"", b"\x04", b"\x03", b"\x00", b"\x01\x02"])
def test_virtual_card_handles_any_vpcd_message(messages: list[bytes]) -> None:
    vcard = VirtualCard(PivCard(pin="123456"))
    for message in messages:
        reply = vcard._handle(message)
        assert reply is None or len(reply) >= 2


class ChunkSocket:
    """``recv`` hands out a byte stream in slices, then b"" (the peer closed)."""

    def __init__(self, data: bytes, size: int) -> None:
        self.data, self.size = data, max(1, size)

    def recv(self, n: int) -> bytes:
        out, self.data = self.data[:min(n, self.size)], self.data[min(n, self.size):]
        return out


@fuzz(100)
@given(stream=st.one_of(st.binary(max_size=100), st.lists(apdus, max_size=4).map(
    lambda ms: b"".join(len(m).to_bytes(2, "big") + m for m in ms))),
    size=st.integers(1, 16))
@example(stream=b"\xff\xff\x00", size=4)  # 64 KiB announced, 1 byte sent, then closed
def test_vpcd_messages_are_split_exactly_or_end(stream: bytes, size: int) -> None:
    sock = ChunkSocket(stream, size)
    consumed = b""
    for _ in range(len(stream) + 1):
        message = _recv_message(sock)  # type: ignore[arg-type]
        if message is None:
            break
        consumed += len(message).to_bytes(2, "big") + message
    else:
        pytest.fail("_recv_message did not stop")
    assert stream.startswith(consumed)


# -- the PC/SC backend: response APDUs in -------------------------------------------------------
class FakeScard:
    """Just enough of pyscard's ``scard`` for ``_exchange``; answers come from a script."""

    SCARD_S_SUCCESS = 0x0
    SCARD_E_TIMEOUT = 0x8010000A
    SCARD_E_SHARING_VIOLATION = 0x8010000B
    SCARD_E_NO_SMARTCARD = 0x8010000C
    SCARD_E_NOT_TRANSACTED = 0x80100016
    SCARD_E_UNKNOWN_READER = 0x80100009
    SCARD_E_READER_UNAVAILABLE = 0x80100017
    SCARD_E_NO_SERVICE = 0x8010001D
    SCARD_E_SERVICE_STOPPED = 0x8010001E
    SCARD_E_NO_READERS_AVAILABLE = 0x8010002E
    SCARD_W_UNRESPONSIVE_CARD = 0x80100066
    SCARD_W_UNPOWERED_CARD = 0x80100067
    SCARD_W_REMOVED_CARD = 0x80100069
    SCARD_STATE_UNAWARE, SCARD_STATE_PRESENT, SCARD_STATE_MUTE = 0x0, 0x20, 0x200
    SCARD_LEAVE_CARD = 0

    def __init__(self, script: list[tuple[int, list[int]]]) -> None:
        self.script = script
        self.sent: list[bytes] = []

    def SCardTransmit(self, hcard: object, protocol: int, apdu: list[int]
                      ) -> tuple[int, list[int]]:
        self.sent.append(bytes(apdu))
        return self.script.pop(0) if self.script else (0, [0x61, 0x10])  # "more" for ever

    def SCardDisconnect(self, hcard: object, disposition: int) -> int:
        return 0

    def SCardGetStatusChange(self, ctx: object, timeout: int, states: list) -> tuple:
        return 0, [(name, self.SCARD_STATE_PRESENT, []) for name, _state in states]

    def SCardGetErrorMessage(self, hr: int) -> str:
        return f"fake error {hr:#x}"


@pytest.fixture
def pcsc_reader() -> Iterator[Callable[[FakeScard], pcsc.PcscCardReader]]:
    def make(scard: FakeScard) -> pcsc.PcscCardReader:
        reader = pcsc.PcscCardReader(reader="fuzz", timeout=1.0)
        reader._scard, reader._hcard, reader._protocol = scard, 7, 2
        reader._query_ctx = object()
        reader.reader_name = "Fuzz Reader 00 00"
        reader.removal_grace = 0.0
        return reader
    yield make


hr_values = st.sampled_from([0, 0, 0, 0, FakeScard.SCARD_E_NOT_TRANSACTED,
                             FakeScard.SCARD_W_REMOVED_CARD, FakeScard.SCARD_E_TIMEOUT,
                             FakeScard.SCARD_E_NO_SERVICE, 0x80100001])
responses = st.one_of(
    st.lists(byte, max_size=40),
    st.tuples(st.lists(byte, max_size=20), st.sampled_from([0x61, 0x6C, 0x90, 0x63]), byte)
    .map(lambda t: [*t[0], t[1], t[2]]),
)


@fuzz(100)
@given(script=st.lists(st.tuples(hr_values, responses), max_size=6),
       apdu=st.sampled_from([piv.select_apdu(), piv.get_data_apdu(), bytes.fromhex("FFCA000000"),
                             bytes.fromhex("00200080")]))
@example(script=[(0, [])], apdu=piv.select_apdu())                  # no status word at all
@example(script=[(0, [0x90])], apdu=piv.select_apdu())              # half a status word
@example(script=[(0, [0x6C, 0x20]), (0, [0x6C, 0x20])], apdu=bytes.fromhex("00200080"))
@example(script=[], apdu=piv.get_data_apdu())                       # 61 xx for ever
def test_pcsc_exchange_gives_a_response_or_a_device_error(
        pcsc_reader: Callable[[FakeScard], pcsc.PcscCardReader],
        script: list[tuple[int, list[int]]], apdu: bytes) -> None:
    scard = FakeScard(list(script))
    reader = pcsc_reader(scard)
    try:
        data, sw1, sw2 = reader._exchange(apdu)
    except DeviceError as exc:
        assert str(exc)
    else:
        assert isinstance(data, bytes) and 0 <= sw1 <= 255 and 0 <= sw2 <= 255
    assert len(scard.sent) <= 2 + 64  # the Le retry and at most 64 GET RESPONSEs: no hang
