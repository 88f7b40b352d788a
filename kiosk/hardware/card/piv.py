"""The PIV-like (NIST SP 800-73) APDUs a staff login needs, as bytes in and out.

Shared by the simulated card and the app's staff-login code, so the same bytes are built
and parsed whichever reader is configured. Only short APDUs (ISO 7816-4), which is all a
staff login needs: SELECT the PIV application, VERIFY the PIN, GET DATA the CHUID.

Kiosk convention: staff cards carry the staff identifier (ASCII, at most 16 characters,
NUL-padded) in the CHUID's GUID field (tag 0x34).
"""

from __future__ import annotations

PIV_AID = bytes.fromhex("A000000308000010000100")  # NIST RID A000000308 + PIX 00001000 0100
PIV_RID = PIV_AID[:5]
CHUID_TAG = bytes.fromhex("5FC102")
PIN_LENGTH = 8  # the PIN is 6-8 digits, padded with 0xFF to 8 bytes
STAFF_ID_LENGTH = 16

# A test FASC-N (the one yubico-piv-tool writes into default CHUIDs): 25 bytes of BCD with
# parity; the kiosk does not interpret it.
_TEST_FASCN = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")

SW_OK = (0x90, 0x00)
SW_WRONG_LENGTH = (0x67, 0x00)
SW_CONDITIONS_NOT_SATISFIED = (0x69, 0x85)
SW_PIN_BLOCKED = (0x69, 0x83)
SW_INCORRECT_DATA = (0x6A, 0x80)
SW_NOT_FOUND = (0x6A, 0x82)
SW_INCORRECT_P1P2 = (0x6A, 0x86)
SW_REFERENCE_NOT_FOUND = (0x6A, 0x88)
SW_INS_NOT_SUPPORTED = (0x6D, 0x00)
SW_CLA_NOT_SUPPORTED = (0x6E, 0x00)


def select_apdu(aid: bytes = PIV_AID) -> bytes:
    """SELECT by AID (00 A4 04 00 Lc AID 00)."""
    return bytes([0x00, 0xA4, 0x04, 0x00, len(aid)]) + aid + b"\x00"


def pad_pin(pin: str) -> bytes:
    """The 8-byte PIN reference data; ValueError unless the PIN is 6-8 ASCII digits."""
    if not (pin.isascii() and pin.isdigit() and 6 <= len(pin) <= PIN_LENGTH):
        raise ValueError("a PIV PIN is 6 to 8 digits")
    return pin.encode("ascii").ljust(PIN_LENGTH, b"\xff")


def verify_apdu(pin: str | None = None) -> bytes:
    """VERIFY the card-holder PIN (key reference 0x80); without a PIN, ask the retry count."""
    if pin is None:
        return bytes([0x00, 0x20, 0x00, 0x80])
    return bytes([0x00, 0x20, 0x00, 0x80, PIN_LENGTH]) + pad_pin(pin)


def get_data_apdu(tag: bytes = CHUID_TAG) -> bytes:
    """GET DATA for one object (00 CB 3F FF Lc 5C len tag 00)."""
    body = bytes([0x5C, len(tag)]) + tag
    return bytes([0x00, 0xCB, 0x3F, 0xFF, len(body)]) + body + b"\x00"


def retries_left(sw1: int, sw2: int) -> int | None:
    """Retries left after a VERIFY: from 63 Cx, 0 when blocked (69 83), else None."""
    if sw1 == 0x63 and sw2 & 0xF0 == 0xC0:
        return sw2 & 0x0F
    if (sw1, sw2) == SW_PIN_BLOCKED:
        return 0
    return None


def tlv(tag: int, value: bytes) -> bytes:
    """One BER-TLV with a one-byte tag (lengths up to 65535)."""
    n = len(value)
    if n < 0x80:
        length = bytes([n])
    elif n < 0x100:
        length = bytes([0x81, n])
    else:
        length = bytes([0x82, n >> 8, n & 0xFF])
    return bytes([tag]) + length + value


def parse_tlv(data: bytes) -> dict[int, bytes]:
    """Top-level one-byte-tag BER-TLVs -> {tag: value}; ValueError on truncated data."""
    out: dict[int, bytes] = {}
    i = 0
    while i < len(data):
        if i + 2 > len(data):
            raise ValueError("truncated TLV")
        tag, n = data[i], data[i + 1]
        i += 2
        if n == 0x80 or n > 0x82:  # indefinite, or 3+ length bytes: not read as a length
            raise ValueError(f"unsupported TLV length byte {n:#04x}")
        if n in (0x81, 0x82):
            width = n - 0x80
            if i + width > len(data):
                raise ValueError("truncated TLV length")
            n = int.from_bytes(data[i:i + width], "big")
            i += width
        if i + n > len(data):
            raise ValueError("truncated TLV value")
        out[tag] = data[i:i + n]
        i += n
    return out


def build_chuid(staff_id: str, expiry: str = "20301231") -> bytes:
    """The CHUID data object (tag 0x53) of a kiosk staff card."""
    if not (staff_id.isascii() and staff_id.isprintable() and 0 < len(staff_id) <= 16):
        raise ValueError("a staff id is 1-16 printable ASCII characters")
    guid = staff_id.encode("ascii").ljust(STAFF_ID_LENGTH, b"\x00")
    body = (tlv(0x30, _TEST_FASCN) + tlv(0x34, guid) + tlv(0x35, expiry.encode("ascii"))
            + tlv(0x3E, b"") + tlv(0xFE, b""))
    return tlv(0x53, body)


def staff_id_from_chuid(data: bytes) -> str:
    """The staff identifier in a CHUID returned by GET DATA; ValueError if there is none."""
    outer = parse_tlv(data)
    if 0x53 not in outer:
        raise ValueError("not a CHUID (no tag 53)")
    guid = parse_tlv(outer[0x53]).get(0x34)
    if not guid:
        raise ValueError("CHUID has no GUID (tag 34)")
    staff_id = guid.rstrip(b"\x00").decode("ascii", errors="replace")
    if not staff_id:
        raise ValueError("CHUID GUID holds no staff id")
    return staff_id


def atr(historical: bytes) -> bytes:
    """A well-formed T=1 ATR: 3B, T0, TD1 = 01, historical bytes, TCK (XOR check)."""
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    body = bytes([0x80 | len(historical), 0x01]) + historical  # T0: TD1 follows; TD1: T=1
    check = 0
    for byte in body:
        check ^= byte
    return b"\x3b" + body + bytes([check])
