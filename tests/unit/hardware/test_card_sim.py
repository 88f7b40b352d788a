"""The simulated staff card: the PIV-like APDU table, byte for byte.

What every card reader does (self-test, busy, a removed card, login, events) is checked
once, on every backend, in ``tests/contract/test_card.py``.
"""

from __future__ import annotations

import threading

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from kiosk.hardware.card import devca, piv
from kiosk.hardware.card.pivcard import PivCard
from kiosk.hardware.card.sim import SimCardReader

H = bytes.fromhex
SELECT_PIV = H("00A404000BA000000308000010000100" + "00")
SELECT_RID = H("00A4040005A000000308")
VERIFY_123456 = H("0020008008313233343536FFFF")
VERIFY_000000 = H("0020008008303030303030FFFF")
VERIFY_STATUS = H("00200080")
GET_CHUID = H("00CB3FFF055C035FC10200")


@pytest.fixture
def reader():
    with SimCardReader(pin="123456", staff_id="STAFF-0001", pin_retries=3) as device:
        yield device


def sw(reader: SimCardReader, apdu: bytes) -> str:
    _data, sw1, sw2 = reader.transmit(apdu)
    return f"{sw1:02X}{sw2:02X}"


def test_apdu_builders_produce_the_table_bytes():
    assert piv.select_apdu() == SELECT_PIV
    assert piv.verify_apdu("123456") == VERIFY_123456
    assert piv.verify_apdu() == VERIFY_STATUS
    assert piv.get_data_apdu() == GET_CHUID


@pytest.mark.parametrize("pin", ["12345", "123456789", "12a456", "", "１２３４５６"])
def test_pad_pin_rejects_non_piv_pins(pin):
    with pytest.raises(ValueError):
        piv.pad_pin(pin)


def test_card_info_has_a_well_formed_atr(reader):
    info = reader.wait_for_card(timeout=0.1)
    assert info is not None  # a contact card, no UID: the contract's
    atr = info.atr
    assert atr[0] == 0x3B  # direct convention
    k = atr[1] & 0x0F
    assert atr[3:3 + k] == b"eKTP-STAFF"
    check = 0
    for byte in atr[1:]:
        check ^= byte
    assert check == 0  # TCK makes the XOR of T0..TCK zero


@pytest.mark.parametrize(("apdu", "expected"), [
    (SELECT_PIV, "9000"),
    (SELECT_RID, "9000"),  # a partial AID (the RID) selects too
    (H("00A4040005A000000003"), "6A82"),  # another application
    (H("00A4040C0BA000000308000010000100"), "6A86"),  # wrong P1/P2
    (H("0099000000"), "6D00"),  # unknown INS
    (H("80CA9F7F00"), "6E00"),  # proprietary CLA
    (H("00A4"), "6700"),  # too short
    (H("00A40400FFA000"), "6700"),  # Lc larger than the data
])
def test_select_and_malformed_apdus(reader, apdu, expected):
    assert sw(reader, apdu) == expected


def test_select_returns_the_application_property_template(reader):
    data, sw1, sw2 = reader.transmit(SELECT_PIV)
    assert (sw1, sw2) == (0x90, 0x00)
    assert data == H("6111" "4F06000010000100" "79074F05A000000308")


def test_verify_and_get_data_need_select_first(reader):
    assert sw(reader, VERIFY_123456) == "6985"
    assert sw(reader, GET_CHUID) == "6985"


def test_verify_right_pin(reader):
    assert sw(reader, SELECT_PIV) == "9000"
    assert sw(reader, VERIFY_STATUS) == "63C3"
    assert sw(reader, VERIFY_123456) == "9000"
    assert sw(reader, VERIFY_STATUS) == "9000"


def test_verify_wrong_pins_count_down_then_block(reader):
    sw(reader, SELECT_PIV)
    assert [sw(reader, VERIFY_000000) for _ in range(4)] == ["63C2", "63C1", "63C0", "6983"]
    assert sw(reader, VERIFY_123456) == "6983"  # blocked even for the right PIN
    assert sw(reader, VERIFY_STATUS) == "6983"
    assert reader.pin_retries_left == 0


@pytest.mark.parametrize(("apdu", "expected"), [
    (H("0020008106313233343536"), "6A88"),  # another key reference
    (H("0020008006313233343536"), "6A80"),  # PIN not padded to 8 bytes
    (H("0020018008313233343536FFFF"), "6A86"),  # bad P1
])
def test_verify_bad_parameters(reader, apdu, expected):
    sw(reader, SELECT_PIV)
    assert sw(reader, apdu) == expected
    assert reader.pin_retries_left == 3  # none of these costs a retry


def test_verify_reset_forgets_the_verification(reader):
    sw(reader, SELECT_PIV)
    sw(reader, VERIFY_123456)
    assert sw(reader, H("0020FF80")) == "9000"
    assert sw(reader, VERIFY_STATUS) == "63C3"


def test_get_data_chuid_carries_the_staff_id(reader):
    sw(reader, SELECT_PIV)
    data, sw1, sw2 = reader.transmit(GET_CHUID)
    assert (sw1, sw2) == (0x90, 0x00)
    assert data[0] == 0x53
    fields = piv.parse_tlv(piv.parse_tlv(data)[0x53])
    assert set(fields) == {0x30, 0x34, 0x35, 0x3E, 0xFE}
    assert len(fields[0x30]) == 25  # FASC-N
    assert piv.staff_id_from_chuid(data) == "STAFF-0001"


def test_get_data_for_another_object_is_not_found(reader):
    sw(reader, SELECT_PIV)
    assert sw(reader, H("00CB3FFF055C035FC10A00")) == "6A82"  # X.509 for digital signature
    assert sw(reader, H("00CB3FFF025C05")) == "6A80"  # truncated tag list


def test_absent_card_option_and_later_insertion():
    with SimCardReader(present=False) as reader:
        threading.Timer(0.05, reader.insert_card).start()
        assert reader.wait_for_card(timeout=5) is not None


def test_staff_id_from_chuid_rejects_non_chuids():
    with pytest.raises(ValueError):
        piv.staff_id_from_chuid(H("5303340100"))  # GUID of one NUL: no id
    with pytest.raises(ValueError):
        piv.staff_id_from_chuid(H("7F49"))




# -- the PIV Authentication key (slot 9A) and its certificate ---------------------------------
GET_AUTH_CERT = H("00CB3FFF055C035FC10500")
CHALLENGE = bytes(range(32))
GENERAL_AUTHENTICATE = H("0087119A26" "7C24" "8200" "8120") + CHALLENGE + H("00")


def test_auth_apdu_builders_produce_the_table_bytes():
    assert piv.get_data_apdu(piv.PIV_AUTH_CERT_TAG) == GET_AUTH_CERT
    assert piv.general_authenticate_apdu(CHALLENGE) == GENERAL_AUTHENTICATE
    assert piv.get_response_apdu(0) == H("00C0000000")
    assert piv.get_response_apdu(0xB8) == H("00C00000B8")
    with pytest.raises(ValueError):
        piv.general_authenticate_apdu(CHALLENGE[:31])
    with pytest.raises(ValueError):
        piv.get_response_apdu(256)


def test_the_certificate_comes_in_pieces_through_get_response(reader):
    sw(reader, SELECT_PIV)
    first, sw1, more = reader.transmit(GET_AUTH_CERT)  # no PIN needed: it is public
    assert len(first) == 256 and sw1 == 0x61 and 0 < more < 256
    rest, sw1, sw2 = reader.transmit(piv.get_response_apdu(more))
    assert (sw1, sw2) == (0x90, 0x00) and len(rest) == more
    der = piv.certificate_from_object(first + rest)
    cert = x509.load_der_x509_certificate(der)
    assert cert == devca.dev_card_certificate("STAFF-0001")
    assert first + rest == piv.tlv(0x53, piv.tlv(0x70, der) + H("710100"))


def test_get_response_in_smaller_pieces_and_without_anything_waiting(reader):
    sw(reader, SELECT_PIV)
    assert sw(reader, piv.get_response_apdu(0)) == "6985"  # nothing waits
    first, _sw1, more = reader.transmit(GET_AUTH_CERT)
    pieces = [first]
    while True:
        data, sw1, sw2 = reader.transmit(piv.get_response_apdu(100))
        pieces.append(data)
        if sw1 != 0x61:
            break
        assert len(data) == 100 and sw2 == min(more - 100 * (len(pieces) - 1), 255)
    assert (sw1, sw2) == (0x90, 0x00)
    assert len(b"".join(pieces)) == 256 + more
    assert sw(reader, piv.get_response_apdu(0)) == "6985"  # all taken


def test_another_command_drops_the_rest_of_a_chained_answer(reader):
    sw(reader, SELECT_PIV)
    assert sw(reader, GET_AUTH_CERT)[:2] == "61"
    assert sw(reader, VERIFY_STATUS) == "63C3"
    assert sw(reader, piv.get_response_apdu(0)) == "6985"


@pytest.mark.parametrize(("apdu", "expected"), [
    (H("00C0010000"), "6A86"),  # P1 P2 not 00 00
    (H("00C0000001AA00"), "6700"),  # data in a GET RESPONSE
])
def test_get_response_bad_parameters(reader, apdu, expected):
    sw(reader, SELECT_PIV)
    sw(reader, GET_AUTH_CERT)
    assert sw(reader, apdu) == expected


def test_general_authenticate_signs_the_challenge_only_after_the_pin(reader):
    assert sw(reader, GENERAL_AUTHENTICATE) == "6985"  # not selected
    sw(reader, SELECT_PIV)
    assert sw(reader, GENERAL_AUTHENTICATE) == "6982"  # security status: no PIN yet
    sw(reader, VERIFY_123456)
    data, sw1, sw2 = reader.transmit(GENERAL_AUTHENTICATE)
    assert (sw1, sw2) == (0x90, 0x00)
    signature = piv.signature_from_response(data)
    assert data == piv.tlv(0x7C, piv.tlv(0x82, signature))
    public = devca.dev_card_certificate("STAFF-0001").public_key()
    public.verify(signature, CHALLENGE, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    sw(reader, H("0020FF80"))  # the verification forgotten: no more signatures
    assert sw(reader, GENERAL_AUTHENTICATE) == "6982"


@pytest.mark.parametrize(("apdu", "expected"), [
    (H("0087079A26") + GENERAL_AUTHENTICATE[5:], "6A86"),  # RSA 2048: not this card's key
    (H("0087119C26") + GENERAL_AUTHENTICATE[5:], "6A88"),  # the signature key (9C): none
    (H("0087119A25" "7C23" "8200" "811F") + CHALLENGE[:31] + H("00"), "6A80"),  # 31 bytes
    (H("0087119A24" "7C22" "8120") + CHALLENGE + H("00"), "6A80"),  # no 82 00 asked
    (H("0087119A03" "7C0182" "00"), "6A80"),  # truncated template
])
def test_general_authenticate_bad_parameters(reader, apdu, expected):
    sw(reader, SELECT_PIV)
    sw(reader, VERIFY_123456)
    assert sw(reader, apdu) == expected


def test_a_card_without_a_certificate_says_not_found():
    with SimCardReader() as reader:
        reader.card = PivCard(auth_fault="no_cert")
        sw(reader, SELECT_PIV)
        assert sw(reader, GET_AUTH_CERT) == "6A82"


def test_the_card_key_and_certificate_are_the_same_in_every_process():
    """Derived from labels: the sim reader, the virtual card and the kiosk agree."""
    key = devca.dev_card_key("STAFF-0001")
    again = devca.derived_key(devca.CARD_LABEL + b"STAFF-0001")
    assert key.private_numbers() == again.private_numbers()
    cert = devca.dev_card_certificate("STAFF-0001")
    assert cert.public_key() == key.public_key()
    assert cert.issuer == devca.dev_ca_certificate().subject
    cert.verify_directly_issued_by(devca.make_ca_certificate(devca.derived_key(devca.CA_LABEL),
                                                             devca.CA_NAME))


@pytest.mark.parametrize(("data", "problem"), [
    (H("5400"), "no tag 53"),
    (H("53037101" "00"), "no certificate"),
    (H("5305" "7001AA" "7100"), "not one byte"),
    (H("5306" "7001AA" "710101"), "compressed"),
    (H("5305" "7003AA"), "truncated"),
])
def test_certificate_object_parser_refuses(data, problem):
    with pytest.raises(ValueError, match=problem):
        piv.certificate_from_object(data)


def test_certificate_object_parser_takes_extra_tags():
    assert piv.certificate_from_object(H("5309" "7002AABB" "710100" "FE00")) == H("AABB")
    assert piv.certificate_from_object(H("5304" "7002AABB")) == H("AABB")  # CertInfo optional


@pytest.mark.parametrize(("data", "problem"), [
    (H("8202AABB"), "no tag 7C"),
    (H("7C028200"), "no signature"),
    (H("7C038101AA"), "no signature"),
    (H("7C04820330"), "truncated"),
])
def test_signature_parser_refuses(data, problem):
    with pytest.raises(ValueError, match=problem):
        piv.signature_from_response(data)


def test_signature_parser_takes_the_signature():
    assert piv.signature_from_response(H("7C048202AABB")) == H("AABB")


def test_challenge_parser_is_the_card_side_of_the_builder():
    assert piv.challenge_from_command(GENERAL_AUTHENTICATE[5:-1]) == CHALLENGE
    for bad in (H("7C00"), H("7C028200"), H("7C24" "8201AA" "811F") + CHALLENGE[:31],
                H("7D24" "8200" "8120") + CHALLENGE):
        with pytest.raises(ValueError):
            piv.challenge_from_command(bad)


# -- piv.transmit_chained ----------------------------------------------------------------------
class Script:
    """A transmit that answers from a list, then ``then`` for ever; counts what it is sent."""

    def __init__(self, answers, then=None):
        self.answers = list(answers)
        self.then = then
        self.sent: list[bytes] = []

    def __call__(self, apdu):
        self.sent.append(bytes(apdu))
        if self.answers:
            return self.answers.pop(0)
        assert self.then is not None, "asked once more than the script holds"
        return self.then


def test_chained_answer_is_gathered_with_get_response():
    script = Script([(b"A" * 256, 0x61, 0x00), (b"B" * 256, 0x61, 0x05), (b"C" * 5, 0x90, 0x00)])
    assert piv.transmit_chained(script, GET_AUTH_CERT) == (b"A" * 256 + b"B" * 256 + b"CCCCC",
                                                           0x90, 0x00)
    assert script.sent == [GET_AUTH_CERT, H("00C0000000"), H("00C0000005")]


def test_an_unchained_answer_is_sent_once_and_keeps_its_status():
    script = Script([(b"", 0x6A, 0x82)])
    assert piv.transmit_chained(script, GET_AUTH_CERT) == (b"", 0x6A, 0x82)
    assert len(script.sent) == 1


def test_a_chain_that_never_ends_is_bounded_by_its_length():
    script = Script([], then=(b"X" * 256, 0x61, 0x00))
    with pytest.raises(piv.AnswerTooLong, match="4096 bytes"):
        piv.transmit_chained(script, GET_AUTH_CERT)
    assert len(script.sent) == 4096 // 256 + 1


def test_a_chain_of_empty_pieces_is_bounded_by_their_number():
    script = Script([], then=(b"", 0x61, 0x10))
    with pytest.raises(piv.AnswerTooLong, match="17 pieces"):
        piv.transmit_chained(script, GET_AUTH_CERT)
    assert len(script.sent) == piv.MAX_CHAINED_PIECES


def test_chain_bounds_can_be_set():
    script = Script([(b"A" * 10, 0x61, 0x0A), (b"B" * 10, 0x90, 0x00)])
    with pytest.raises(piv.AnswerTooLong):
        piv.transmit_chained(script, GET_AUTH_CERT, max_length=15)
    script = Script([(b"A" * 10, 0x61, 0x0A), (b"B" * 10, 0x90, 0x00)])
    with pytest.raises(piv.AnswerTooLong):
        piv.transmit_chained(script, GET_AUTH_CERT, max_pieces=1)
    assert len(script.sent) == 1
