"""The PIV-like (NIST SP 800-73-4) APDUs a staff login needs, as bytes in and out.

Shared by the simulated card and the app's staff-login code, so the same bytes are built
and parsed whichever reader is configured. Only short APDUs (ISO 7816-4), which is all a
staff login needs: SELECT the PIV application, VERIFY the PIN, GET DATA the CHUID and the
PIV Authentication certificate, GENERAL AUTHENTICATE a challenge with the PIV
Authentication key (slot 9A, ECC P-256: SP 800-73-4 part 2, 3.2.4; SP 800-116 PKI-AUTH).
An answer longer than 256 bytes comes in pieces (``61 XX``, then GET RESPONSE):
:func:`transmit_chained` gathers them, within bounds.

Parsers of what a card sends raise ``ValueError`` on anything malformed, and nothing else.

Kiosk convention: staff cards carry the staff identifier (ASCII, at most 16 characters,
NUL-padded) in the CHUID's GUID field (tag 0x34).
"""

from __future__ import annotations

from collections.abc import Callable

PIV_AID = bytes.fromhex("A000000308000010000100")  # NIST RID A000000308 + PIX 00001000 0100
PIV_RID = PIV_AID[:5]
CHUID_TAG = bytes.fromhex("5FC102")
PIV_AUTH_CERT_TAG = bytes.fromhex("5FC105")  # X.509 Certificate for PIV Authentication
PIV_AUTH_KEY = 0x9A  # key reference of the PIV Authentication key
ALG_ECC_P256 = 0x11  # cryptographic algorithm identifier (SP 800-78-4, table 6-2)
CHALLENGE_LENGTH = 32  # a P-256 signature is made over a 32-byte (SHA-256-sized) value
SHORT_LE = 256  # the most a short APDU's answer carries (Le = 00)
#: Bounds of a chained answer: a PIV Authentication certificate object is at most 1,858
#: bytes (SP 800-73-4 part 1, appendix A); anything much longer is not a staff card.
MAX_CHAINED_LENGTH = 4096
MAX_CHAINED_PIECES = 17
PIN_LENGTH = 8  # the PIN is 6-8 digits, padded with 0xFF to 8 bytes
STAFF_ID_LENGTH = 16

# A test FASC-N (the one yubico-piv-tool writes into default CHUIDs): 25 bytes of BCD with
# parity; the kiosk does not interpret it.
_TEST_FASCN = bytes.fromhex("D4E739DA739CED39CE739D836858210842108421C84210C3EB")

SW_OK = (0x90, 0x00)
SW_WRONG_LENGTH = (0x67, 0x00)
SW_SECURITY_STATUS_NOT_SATISFIED = (0x69, 0x82)
SW_CONDITIONS_NOT_SATISFIED = (0x69, 0x85)
SW_PIN_BLOCKED = (0x69, 0x83)
SW_MORE_DATA = 0x61  # SW1: 61 XX, XX more bytes wait for GET RESPONSE (00: 256 or more)
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


def get_response_apdu(length: int) -> bytes:
    """GET RESPONSE (00 C0 00 00 Le): the next piece of a chained answer (Le 00: 256)."""
    if not 0 <= length <= 0xFF:
        raise ValueError("GET RESPONSE takes Le 0-255 (0: 256 bytes)")
    return bytes([0x00, 0xC0, 0x00, 0x00, length])


def general_authenticate_apdu(challenge: bytes, *, algorithm: int = ALG_ECC_P256,
                              key: int = PIV_AUTH_KEY) -> bytes:
    """GENERAL AUTHENTICATE: ask the card to sign ``challenge`` with key ``key``.

    ``00 87 11 9A Lc 7C { 82 00, 81 20 <challenge> } 00``: the dynamic authentication
    template with an empty response (82) to fill and the challenge (81).
    """
    if len(challenge) != CHALLENGE_LENGTH:
        raise ValueError(f"a P-256 challenge is {CHALLENGE_LENGTH} bytes")
    body = tlv(0x7C, tlv(0x82, b"") + tlv(0x81, challenge))
    return bytes([0x00, 0x87, algorithm, key, len(body)]) + body + b"\x00"


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


def build_cert_object(cert_der: bytes) -> bytes:
    """A certificate data object (tag 53): ``70`` the DER certificate, ``71 01 00``
    (CertInfo: not compressed)."""
    return tlv(0x53, tlv(0x70, cert_der) + tlv(0x71, b"\x00"))


def certificate_from_object(data: bytes) -> bytes:
    """The DER certificate in a certificate object returned by GET DATA (``53 { 70, 71 }``).

    ValueError when there is none, or it is compressed (CertInfo bit 0: gzip), which the
    kiosk does not inflate.
    """
    outer = parse_tlv(data)
    if 0x53 not in outer:
        raise ValueError("not a certificate object (no tag 53)")
    inner = parse_tlv(outer[0x53])
    cert = inner.get(0x70)
    if not cert:
        raise ValueError("certificate object holds no certificate (tag 70)")
    info = inner.get(0x71, b"\x00")
    if len(info) != 1:
        raise ValueError("CertInfo (tag 71) is not one byte")
    if info[0] & 0x01:
        raise ValueError("the certificate is compressed (CertInfo 01): not supported")
    return cert


def challenge_from_command(body: bytes) -> bytes:
    """The challenge in a GENERAL AUTHENTICATE's data (``7C { 82 00, 81 20 <32> }``); the
    card's side. ValueError unless it asks for a response (82, empty) to a 32-byte
    challenge (81)."""
    outer = parse_tlv(body)
    if set(outer) != {0x7C}:
        raise ValueError("not a dynamic authentication template (7C)")
    inner = parse_tlv(outer[0x7C])
    if inner.get(0x82) != b"" or set(inner) != {0x81, 0x82}:
        raise ValueError("the template asks for no response (82 00) to a challenge (81)")
    if len(inner[0x81]) != CHALLENGE_LENGTH:
        raise ValueError(f"the challenge is not {CHALLENGE_LENGTH} bytes")
    return inner[0x81]


def build_authenticate_response(signature: bytes) -> bytes:
    """The card's answer to GENERAL AUTHENTICATE: ``7C { 82 <signature> }``."""
    return tlv(0x7C, tlv(0x82, signature))


def signature_from_response(data: bytes) -> bytes:
    """The signature (DER ECDSA-Sig-Value) in a GENERAL AUTHENTICATE answer, ``7C { 82 }``.

    ValueError unless there is a non-empty one; whether it is valid DER is the verifier's
    question.
    """
    outer = parse_tlv(data)
    if 0x7C not in outer:
        raise ValueError("not a dynamic authentication template (no tag 7C)")
    signature = parse_tlv(outer[0x7C]).get(0x82)
    if not signature:
        raise ValueError("the answer holds no signature (tag 82)")
    return signature


class AnswerTooLong(ValueError):
    """A chained answer passed its bounds (length or pieces): a card that never ends."""


#: ``reader.transmit``: one command APDU in; data, SW1 and SW2 out.
Transmit = Callable[[bytes], tuple[bytes, int, int]]


def transmit_chained(transmit: Transmit, apdu: bytes, *,
                     max_length: int = MAX_CHAINED_LENGTH,
                     max_pieces: int = MAX_CHAINED_PIECES) -> tuple[bytes, int, int]:
    """Send ``apdu`` through ``transmit`` and gather a chained answer: while the card says
    ``61 XX``, GET RESPONSE (``00 C0 00 00 XX``) fetches the next piece. Returns the whole
    data and the last status word.

    Bounded: :class:`AnswerTooLong` (a ValueError) when the data pass ``max_length`` bytes
    or the answer takes more than ``max_pieces`` pieces (a card that never ends its chain).
    The reader's own errors (a card pulled out, a timeout) pass through. A PC/SC reader may
    already have followed the chain itself; then the first answer is whole and this sends
    nothing more.
    """
    pieces: list[bytes] = []
    total = 0
    data, sw1, sw2 = transmit(apdu)
    for count in range(1, max_pieces + 1):
        total += len(data)
        if total > max_length:
            raise AnswerTooLong(f"the card's answer runs past {max_length} bytes")
        pieces.append(data)
        if sw1 != SW_MORE_DATA:
            return b"".join(pieces), sw1, sw2
        if count == max_pieces:
            break
        data, sw1, sw2 = transmit(get_response_apdu(sw2))
    raise AnswerTooLong(f"the card's answer is still not over after {max_pieces} pieces")


def atr(historical: bytes) -> bytes:
    """A well-formed T=1 ATR: 3B, T0, TD1 = 01, historical bytes, TCK (XOR check)."""
    if len(historical) > 15:
        raise ValueError("at most 15 historical bytes")
    body = bytes([0x80 | len(historical), 0x01]) + historical  # T0: TD1 follows; TD1: T=1
    check = 0
    for byte in body:
        check ^= byte
    return b"\x3b" + body + bytes([check])
