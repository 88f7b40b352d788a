"""The simulated staff card: the PIV-like APDU table, byte for byte.

What every card reader does (self-test, busy, a removed card, login, events) is checked
once, on every backend, in ``tests/contract/test_card.py``.
"""

from __future__ import annotations

import threading

import pytest

from kiosk.hardware.card import piv
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
    assert sw(reader, H("00CB3FFF055C035FC10500")) == "6A82"  # X.509 for PIV auth
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


