"""The card side of the staff-login protocol: a PIV-like card that answers APDUs.

One class, :class:`PivCard`, holds the card's state (PIN, retry counter, CHUID, selected
application, verification) and answers command APDUs with response bytes. The simulated
reader (:mod:`kiosk.hardware.card.sim`) keeps one in memory; the virtual card
(:mod:`kiosk.hardware.card.vcard`) serves one to a real ``pcscd`` through the vpcd driver,
so both answer byte for byte alike.

APDU table (short APDUs, CLA 00):

========================================  =============================================
SELECT ``00 A4 04 00 Lc <AID>``            AID a prefix of A0 00 00 03 08 00 00 10 00
                                           01 00 (at least the RID): application
                                           property template + 90 00; else 6A 82
VERIFY ``00 20 00 80 08 <PIN, FF-padded>``  90 00 and retries reset; wrong PIN: 63 Cx
                                           with x retries left; none left: 69 83
VERIFY ``00 20 00 80`` (no data)           90 00 if verified, else 63 Cx (69 83 blocked)
VERIFY ``00 20 FF 80``                     forget the verification, 90 00
GET DATA ``00 CB 3F FF 05 5C 03 5F C1 02``  the CHUID with the staff id + 90 00
GET DATA ``00 CB 3F FF 05 5C 03 5F C1 05``  the PIV Authentication certificate object
                                           ``53 { 70 <DER>, 71 01 00 }`` (no PIN needed);
                                           longer than 256 bytes, so chained: the first
                                           256 bytes + 61 XX; 6A 82 on a card made
                                           without one
GET RESPONSE ``00 C0 00 00 Le``            the next Le (00: 256) bytes of a chained
                                           answer + 61 XX while more wait, then 90 00;
                                           69 85 when nothing waits. Any other command
                                           drops what was left
GENERAL AUTHENTICATE ``00 87 11 9A Lc``    ``7C { 82 <DER ECDSA signature> }`` + 90 00:
``7C { 82 00, 81 20 <challenge> } 00``     the 32-byte challenge signed with the 9A key
                                           (P-256) as a SHA-256 digest (prehashed, as
                                           PIV cards sign for ECC); PIN not verified in
                                           this session: 69 82; P1 not 11: 6A 86; P2 not
                                           9A: 6A 88; a template that is not that: 6A 80
GET DATA ``FF CA 00 00 00`` (PC/SC)        the UID + 90 00 on a contactless card (one
                                           made with ``uid=``), else 6E 00 like any
                                           other proprietary CLA
before SELECT: VERIFY / GET DATA /         69 85
GENERAL AUTHENTICATE
other INS / CLA / bad length               6D 00 / 6E 00 / 67 00
========================================  =============================================

The 9A key and its certificate: by default the development ones for the card's staff id
(:mod:`~kiosk.hardware.card.devca`: derived from the staff id, issued by the development
staff CA), or the ones given (``auth_key``, ``auth_cert``). Fault modes
(``auth_fault``), each a card a kiosk must refuse (:data:`AUTH_FAULTS`):

* ``"other_ca"``: the certificate is issued by another CA that copies the development
  CA's name (only its signature tells them apart);
* ``"signs_with_another_key"``: the right certificate, but the card signs with another key;
* ``"cn_mismatch"``: a good certificate and key, of another staff id than the CHUID's;
* ``"expired"``: the right key, its certificate expired in 2021 (refused only when the
  kiosk's clock is trusted);
* ``"no_cert"``: no certificate in slot 9A (GET DATA 5F C1 05: 6A 82).

``FF CA`` is really answered by a contactless reader, not the card (PC/SC part 3); the
vpcd driver passes every APDU to the card, so the virtual card plays that part too.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from kiosk.hardware.card import piv
from kiosk.options import Integer, Option, String, parses, type_ok

if TYPE_CHECKING:  # imported when the card first needs its 9A key (see PivCard._material)
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger(__name__)

__all__ = ["AUTH_FAULTS", "CARD_OPTIONS", "PivCard", "command_data"]

#: The card's authentication fault modes (see the module docstring).
AUTH_FAULTS = ("other_ca", "signs_with_another_key", "cn_mismatch", "expired", "no_cert")
#: The staff id of the certificate a ``"cn_mismatch"`` card carries (or the next one).
OTHER_STAFF_ID = "STAFF-9999"

#: The card's settings, declared once: :class:`PivCard`'s defaults, the simulated reader's
#: options (``[hardware.card]`` with ``type = "sim"``) and the virtual card's command line.
CARD_OPTIONS: dict[str, Option] = {
    "pin": String("123456", test=parses(piv.pad_pin), allowed="6 to 8 digits", secret=True,
                  description="the simulated staff card's PIN"),
    "staff_id": String("STAFF-0001", test=parses(piv.build_chuid),
                       allowed="1-16 printable ASCII characters",
                       description="the staff id in the card's CHUID"),
    "pin_retries": Integer(3, 1, 15, allowed="1 to 15", description=(
        "PIN tries before the card blocks (the count travels in one nibble of SW2)")),
}

#: ATR historical bytes of the kiosk's simulated staff card.
STAFF_HISTORICAL = b"eKTP-STAFF"
#: The ATR a PC/SC part 3 contactless reader builds for a MIFARE Classic 1K card: what the
#: virtual contactless citizen card shows.
CONTACTLESS_ATR = bytes.fromhex("3B8F8001804F0CA000000306030001000000006A")


class PivCard:
    """A PIV-like staff card (or, with ``piv=False``, a card without the PIV application).

    Thread-safe: :meth:`answer` and :meth:`power_cycle` may be called from any thread.
    Example::

        card = PivCard(pin="246810", staff_id="STAFF-0042", pin_retries=3)
        card.answer(piv.select_apdu())[-2:]        # b"\\x90\\x00"
        card.answer(piv.verify_apdu("000000"))     # b"\\x63\\xc2"
    """

    def __init__(self, *, pin: str = CARD_OPTIONS["pin"].default,
                 staff_id: str = CARD_OPTIONS["staff_id"].default,
                 pin_retries: int = CARD_OPTIONS["pin_retries"].default,
                 retries_left: int | None = None,
                 uid: bytes | None = None, piv_app: bool = True,
                 auth_key: ec.EllipticCurvePrivateKey | None = None,
                 auth_cert: x509.Certificate | None = None,
                 auth_fault: str | None = None) -> None:
        self._pin = piv.pad_pin(pin)  # ValueError unless 6-8 digits
        self._chuid = piv.build_chuid(staff_id)  # ValueError on a bad staff id
        if auth_fault is not None and auth_fault not in AUTH_FAULTS:
            raise ValueError(f"auth_fault must be one of {', '.join(AUTH_FAULTS)}")
        # The 9A key and certificate are made when first asked for: a kiosk's simulated
        # reader need not load the X.509 library (about 10 MB) for citizens who never
        # meet an officer.
        self._auth_given = (staff_id, auth_key, auth_cert, auth_fault)
        self._auth: tuple[ec.EllipticCurvePrivateKey, bytes | None] | None = None
        self.auth_fault = auth_fault
        retries = CARD_OPTIONS["pin_retries"]  # the count travels in one nibble of SW2
        if not (type_ok(pin_retries, retries.type) and retries.test
                and retries.test(pin_retries)):
            raise ValueError(f"pin_retries must be {retries.rule}")
        left = pin_retries if retries_left is None else retries_left
        if not 0 <= left <= pin_retries:
            raise ValueError("retries_left must be 0 to pin_retries")
        self.max_retries = pin_retries
        self._retries = left
        self.uid = uid
        self.piv_app = piv_app
        self._selected = False
        self._verified = False
        self._pending = b""  # the rest of a chained answer, for GET RESPONSE
        self._lock = threading.Lock()

    @property
    def retries_left(self) -> int:
        """PIN tries left before the card blocks (0: blocked)."""
        return self._retries

    @property
    def atr(self) -> bytes:
        """Answer-To-Reset: a contactless one when the card has a UID, else a T=1 one."""
        return CONTACTLESS_ATR if self.uid is not None else piv.atr(STAFF_HISTORICAL)

    def power_cycle(self) -> None:
        """Power off/on or reset: the selected application and verification are lost."""
        with self._lock:
            self._selected = False
            self._verified = False
            self._pending = b""

    # -- APDUs ----------------------------------------------------------------------------
    def answer(self, apdu: bytes) -> bytes:
        """The response APDU (data + SW1 SW2) to one command APDU."""
        with self._lock:
            apdu = bytes(apdu)
            if apdu[:2] == b"\x00\xc0":
                data, (sw1, sw2) = self._get_response(apdu)
            else:
                self._pending = b""  # any other command drops the rest of a chained answer
                data, (sw1, sw2) = self._answer(apdu)
                if len(data) > piv.SHORT_LE:
                    data, self._pending = data[:piv.SHORT_LE], data[piv.SHORT_LE:]
                    sw1, sw2 = piv.SW_MORE_DATA, _more(self._pending)
            return data + bytes([sw1, sw2])

    def _get_response(self, apdu: bytes) -> tuple[bytes, tuple[int, int]]:
        """GET RESPONSE: the next piece of a chained answer (case 2: ``00 C0 00 00 Le``)."""
        if len(apdu) > 5:
            return b"", piv.SW_WRONG_LENGTH
        if len(apdu) < 4 or apdu[2:4] != b"\x00\x00":
            return b"", (piv.SW_WRONG_LENGTH if len(apdu) < 4 else piv.SW_INCORRECT_P1P2)
        if not self._pending:
            return b"", piv.SW_CONDITIONS_NOT_SATISFIED
        want = (apdu[4] if len(apdu) == 5 else 0) or piv.SHORT_LE
        data, self._pending = self._pending[:want], self._pending[want:]
        if self._pending:
            return data, (piv.SW_MORE_DATA, _more(self._pending))
        return data, piv.SW_OK

    def _answer(self, apdu: bytes) -> tuple[bytes, tuple[int, int]]:
        if len(apdu) < 4:
            return b"", piv.SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[:4]
        body = command_data(apdu)
        if body is None:
            return b"", piv.SW_WRONG_LENGTH
        if (cla, ins) == (0xFF, 0xCA) and self.uid is not None:
            if (p1, p2) != (0x00, 0x00):  # 01 00 would ask for the ATS: not kept here
                return b"", piv.SW_INCORRECT_P1P2
            return self.uid, piv.SW_OK
        if cla != 0x00:
            return b"", piv.SW_CLA_NOT_SUPPORTED
        if ins == 0xA4:
            return self._select(p1, p2, body)
        if ins == 0x20:
            return self._verify(p1, p2, body)
        if ins == 0xCB:
            return self._get_data(p1, p2, body)
        if ins == 0x87:
            return self._authenticate(p1, p2, body)
        return b"", piv.SW_INS_NOT_SUPPORTED

    def _select(self, p1: int, p2: int, aid: bytes) -> tuple[bytes, tuple[int, int]]:
        if (p1, p2) != (0x04, 0x00):
            return b"", piv.SW_INCORRECT_P1P2
        if (not self.piv_app or len(aid) < len(piv.PIV_RID)
                or not piv.PIV_AID.startswith(aid)):
            self._selected = False
            return b"", piv.SW_NOT_FOUND
        self._selected = True
        self._verified = False
        # Application property template: the full AID, and the authority (the RID).
        template = piv.tlv(0x4F, piv.PIV_AID[5:]) + piv.tlv(0x79, piv.tlv(0x4F, piv.PIV_RID))
        return piv.tlv(0x61, template), piv.SW_OK

    def _verify(self, p1: int, p2: int, pin: bytes) -> tuple[bytes, tuple[int, int]]:
        if not self._selected:
            return b"", piv.SW_CONDITIONS_NOT_SATISFIED
        if p2 != 0x80:  # only the card-holder PIN exists on this card
            return b"", piv.SW_REFERENCE_NOT_FOUND
        if p1 == 0xFF and not pin:
            self._verified = False
            return b"", piv.SW_OK
        if p1 != 0x00:
            return b"", piv.SW_INCORRECT_P1P2
        if self._retries == 0:
            return b"", piv.SW_PIN_BLOCKED
        if not pin:
            return b"", (piv.SW_OK if self._verified else (0x63, 0xC0 | self._retries))
        if len(pin) != piv.PIN_LENGTH:
            return b"", piv.SW_INCORRECT_DATA
        if pin == self._pin:
            self._retries = self.max_retries
            self._verified = True
            return b"", piv.SW_OK
        self._retries -= 1
        self._verified = False
        log.info("simulated staff card: wrong PIN, %d retries left", self._retries)
        return b"", (0x63, 0xC0 | self._retries)

    def _get_data(self, p1: int, p2: int, body: bytes) -> tuple[bytes, tuple[int, int]]:
        if not self._selected:
            return b"", piv.SW_CONDITIONS_NOT_SATISFIED
        if (p1, p2) != (0x3F, 0xFF):
            return b"", piv.SW_INCORRECT_P1P2
        try:
            tag = piv.parse_tlv(body).get(0x5C)
        except ValueError:
            return b"", piv.SW_INCORRECT_DATA
        if tag is None:
            return b"", piv.SW_INCORRECT_DATA
        if tag == piv.CHUID_TAG:
            return self._chuid, piv.SW_OK
        if tag == piv.PIV_AUTH_CERT_TAG:
            cert_object = self._material()[1]
            if cert_object is not None:
                return cert_object, piv.SW_OK
        return b"", piv.SW_NOT_FOUND

    def _material(self) -> tuple[ec.EllipticCurvePrivateKey, bytes | None]:
        """The 9A key and the certificate object (``53 { 70, 71 }``), made once."""
        if self._auth is None:
            from cryptography.hazmat.primitives import serialization

            key, cert = _auth_material(*self._auth_given)
            self._auth = key, None if cert is None else piv.build_cert_object(
                cert.public_bytes(serialization.Encoding.DER))
        return self._auth

    def _authenticate(self, p1: int, p2: int, body: bytes) -> tuple[bytes, tuple[int, int]]:
        if not self._selected:
            return b"", piv.SW_CONDITIONS_NOT_SATISFIED
        if p1 != piv.ALG_ECC_P256:
            return b"", piv.SW_INCORRECT_P1P2
        if p2 != piv.PIV_AUTH_KEY:
            return b"", piv.SW_REFERENCE_NOT_FOUND
        try:
            challenge = piv.challenge_from_command(body)
        except ValueError:
            return b"", piv.SW_INCORRECT_DATA
        if not self._verified:  # the 9A key is used only after the PIN, once per session
            return b"", piv.SW_SECURITY_STATUS_NOT_SATISFIED
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, utils

        signature = self._material()[0].sign(
            challenge, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        return piv.build_authenticate_response(signature), piv.SW_OK


def _more(pending: bytes) -> int:
    """SW2 of ``61 XX``: the bytes waiting, 00 for 256 or more."""
    return len(pending) if len(pending) < piv.SHORT_LE else 0x00


def _auth_material(staff_id: str, key: ec.EllipticCurvePrivateKey | None,
                   cert: x509.Certificate | None, fault: str | None
                   ) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate | None]:
    """The card's 9A key and certificate: those given, else the development ones for
    ``staff_id``, as the fault mode ``fault`` changes them."""
    from kiosk.hardware.card import devca

    if key is None:
        key = devca.dev_card_key(staff_id)
    if cert is None:
        cert = devca.dev_card_certificate(staff_id)
    if fault == "other_ca":
        rogue = devca.derived_key(b"a rogue CA that copies the development CA's name")
        rogue_ca = devca.make_ca_certificate(rogue, devca.CA_NAME)
        cert = devca.issue_card_certificate(rogue, rogue_ca, key.public_key(), staff_id)
    elif fault == "signs_with_another_key":
        key = devca.derived_key(b"not the key of this card's certificate" + staff_id.encode())
    elif fault == "cn_mismatch":
        other = OTHER_STAFF_ID if staff_id != OTHER_STAFF_ID else "STAFF-9998"
        key, cert = devca.dev_card_key(other), devca.dev_card_certificate(other)
    elif fault == "expired":
        cert = devca.issue_card_certificate(
            devca.dev_ca_key(), devca.dev_ca_certificate(), key.public_key(), staff_id,
            not_before=datetime(2020, 1, 1, tzinfo=UTC),
            not_after=datetime(2021, 1, 1, tzinfo=UTC))
    elif fault == "no_cert":
        return key, None
    return key, cert


def command_data(apdu: bytes) -> bytes | None:
    """The data field of a short APDU (cases 1-4); None if the lengths do not add up."""
    if len(apdu) <= 5:  # case 1 (header only) or case 2 (header + Le)
        return b""
    lc = apdu[4]
    rest = len(apdu) - 5 - lc
    if lc == 0 or rest not in (0, 1):  # case 3, or case 4 with one Le byte
        return None
    return apdu[5:5 + lc]
