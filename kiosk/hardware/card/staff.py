"""Staff login with a PIV staff card: SELECT, VERIFY the PIN, read the CHUID, and make the
card prove it is a staff card of this office (PKI-AUTH, NIST SP 800-116): its PIV
Authentication certificate (slot 9A) is issued by a trusted staff-card CA and names the
CHUID's staff id, and the card signs a fresh random challenge with that certificate's key.

Works on any :class:`~kiosk.hardware.card.base.CardReader` (sim or pcsc), because it speaks
only APDUs through ``reader.transmit``. Example::

    with create_device("card", config.backend_options("card")) as reader:
        try:
            who = staff_login(reader, pin_from_keypad, trust=load_staff_trust(config),
                              now=datetime.now(UTC) if clock_is_synchronized() else None)
        except WrongPin as exc:
            show(exc.message("id"))          # "PIN salah. Sisa percobaan: 2."
        except (PinBlocked, CardNotTrusted, StaffLoginNotSetUp) as exc:
            show(exc.message("id"))
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from kiosk.errors import DeviceProtocolError, InvalidInput
from kiosk.hardware.card import piv
from kiosk.hardware.card.base import CardReader
from kiosk.hardware.card.errors import (
    CardNotTrusted,
    CardRevoked,
    NotAStaffCard,
    PinBlocked,
    StaffLoginNotSetUp,
    WrongPin,
)
from kiosk.hardware.card.trust import (
    CertificateRevoked,
    StaffTrust,
    common_name,
    default_trust,
)

log = logging.getLogger(__name__)

__all__ = ["StaffIdentity", "authenticate_card", "pin_retries_left", "read_staff_id",
           "read_uid", "staff_login"]


@dataclass(frozen=True)
class StaffIdentity:
    """Who logged in: the staff id from the card's CHUID, the card's ATR, and the serial
    number of its PIV Authentication certificate (what the office's CRL would name)."""

    staff_id: str
    atr: bytes
    serial: int | None = None


def _select(reader: CardReader) -> None:
    _data, sw1, sw2 = reader.transmit(piv.select_apdu())
    if (sw1, sw2) != piv.SW_OK:
        raise NotAStaffCard(f"no PIV application: SELECT answered {sw1:02X} {sw2:02X}")


def read_staff_id(reader: CardReader, *, select: bool = True) -> str:
    """The staff id in the CHUID (GET DATA 5F C1 02); NotAStaffCard if there is none."""
    if select:
        _select(reader)
    data, sw1, sw2 = reader.transmit(piv.get_data_apdu(piv.CHUID_TAG))
    if (sw1, sw2) != piv.SW_OK:
        raise NotAStaffCard(f"no CHUID: GET DATA answered {sw1:02X} {sw2:02X}")
    try:
        return piv.staff_id_from_chuid(data)
    except ValueError as exc:
        raise NotAStaffCard(str(exc)) from None


def pin_retries_left(reader: CardReader) -> int:
    """PIN tries left on the staff card (VERIFY without data), without using one."""
    _select(reader)
    _data, sw1, sw2 = reader.transmit(piv.verify_apdu())
    left = piv.retries_left(sw1, sw2)
    if (sw1, sw2) == piv.SW_OK:  # already verified in this card session
        raise DeviceProtocolError("the card reports the PIN verified; retry count unknown")
    if left is None:
        raise DeviceProtocolError(f"VERIFY status query answered {sw1:02X} {sw2:02X}")
    return left


def staff_login(reader: CardReader, pin: str, *, trust: StaffTrust | None = None,
                now: datetime | None = None) -> StaffIdentity:
    """Verify ``pin`` on the staff card in ``reader``, check the card is genuine, and return
    who it belongs to.

    ``trust``: the staff-card CAs this kiosk accepts (:func:`kiosk.runtime.load_staff_trust`).
    Without one (None), :func:`~kiosk.hardware.card.trust.default_trust` decides: the
    development CA for the simulated reader's card, and for any other reader nothing: the
    login is refused with :class:`StaffLoginNotSetUp` before any APDU. ``now``: the time,
    when the caller trusts its clock; the certificates' validity is checked only then (an
    unsynchronised clock must not lock every officer out, nor let it decide).

    Raises :class:`InvalidInput` for a PIN that is not 6-8 digits (no try is used),
    :class:`StaffLoginNotSetUp`, :class:`WrongPin` (``retries_left``), :class:`PinBlocked`,
    :class:`NotAStaffCard`, :class:`CardNotTrusted` and its :class:`CardRevoked` (see
    :func:`authenticate_card`), and the reader's device errors (``CardRemoved`` when the
    card is pulled mid-login).
    """
    try:
        piv.pad_pin(pin)
    except ValueError:
        raise InvalidInput("pin", "PIN harus 6 sampai 8 angka.",
                           "The PIN must be 6 to 8 digits.") from None
    if trust is None:
        trust = default_trust(reader)
    if trust is None:
        log.warning("staff login refused: no staff-card CA is trusted on this kiosk "
                    "(set [staff] ca)")
        raise StaffLoginNotSetUp()
    atr = reader.card_info().atr
    _select(reader)
    _data, sw1, sw2 = reader.transmit(piv.verify_apdu(pin))
    if (sw1, sw2) != piv.SW_OK:
        if (sw1, sw2) == piv.SW_PIN_BLOCKED:
            log.warning("staff login: PIN blocked")
            raise PinBlocked()
        left = piv.retries_left(sw1, sw2)
        if left is None:
            raise DeviceProtocolError(f"VERIFY answered {sw1:02X} {sw2:02X}")
        log.info("staff login: wrong PIN, %d tries left", left)
        if left == 0:
            raise PinBlocked()
        raise WrongPin(left)
    staff_id = read_staff_id(reader, select=False)
    log.info("staff login: PIN verified")
    try:
        cert = authenticate_card(reader, staff_id, trust=trust, now=now)
    except CardRevoked as exc:
        # The office withdrew this card, and someone has it and its PIN: said loudly, with
        # what finds it in the office's CA database (the detail: the serial), never the PIN.
        log.warning("staff login refused: the card of staff id %r is revoked: %s",
                    staff_id, exc.detail)
        raise
    except CardNotTrusted as exc:
        # The card's claims only (its staff id, its issuer), never the PIN or the challenge.
        log.warning("staff login refused: the card claiming staff id %r is not trusted: %s",
                    staff_id, exc.detail)
        raise
    log.info("staff login: card authenticated (%s CA%s)", trust.source,
             f", not on {trust.crl_source}" if trust.crls else ", no CRL")
    return StaffIdentity(staff_id=staff_id, atr=atr, serial=cert.serial_number)


def authenticate_card(reader: CardReader, staff_id: str, *, trust: StaffTrust,
                      now: datetime | None = None) -> x509.Certificate:
    """PKI-AUTH on the selected, PIN-verified card: read its PIV Authentication certificate
    (GET DATA 5F C1 05, chained), check it against ``trust`` (issuer's signature; validity
    when ``now`` is given), check its subject CN is ``staff_id`` (the CHUID's), and have
    the card sign a fresh 32-byte random challenge (GENERAL AUTHENTICATE, 9A, P-256), the
    signature verified with the certificate's key. Returns the certificate.

    :class:`CardNotTrusted` (``detail`` says why) on any failure of the card: a missing or
    malformed certificate, an answer chain that does not end, an untrusted issuer, a CN
    mismatch, a refused or wrong signature. :class:`CardRevoked` (a CardNotTrusted) when
    the certificate is on a CRL of its CA, and only once the card has signed the challenge
    with its key: it then names the revoked card itself, not a copy of its certificate.
    The reader's device errors pass through.
    """
    data, sw1, sw2 = _chained(reader, piv.get_data_apdu(piv.PIV_AUTH_CERT_TAG),
                              "reading the certificate")
    if (sw1, sw2) != piv.SW_OK:
        raise CardNotTrusted(f"no PIV Authentication certificate: GET DATA 5F C1 05 "
                             f"answered {sw1:02X} {sw2:02X}")
    revoked: CertificateRevoked | None = None
    try:
        cert = x509.load_der_x509_certificate(piv.certificate_from_object(data))
        try:
            trust.verify(cert, now=now)
        except CertificateRevoked as exc:  # good in every other way: see the signature
            revoked = exc
        name = common_name(cert.subject)
        public = cert.public_key()
        if not isinstance(public, ec.EllipticCurvePublicKey):  # trust.verify said P-256
            raise TypeError("not an ECC key")
    except Exception as exc:  # the card's bytes, parsed by a library: whatever fails, refuse
        raise CardNotTrusted(f"certificate refused: {exc}") from None
    if name != staff_id:
        raise CardNotTrusted(f"the certificate names {name!r}, the CHUID {staff_id!r}")
    challenge = secrets.token_bytes(piv.CHALLENGE_LENGTH)
    data, sw1, sw2 = _chained(reader, piv.general_authenticate_apdu(challenge),
                              "the signature")
    if (sw1, sw2) != piv.SW_OK:
        raise CardNotTrusted(f"GENERAL AUTHENTICATE answered {sw1:02X} {sw2:02X}")
    try:
        signature = piv.signature_from_response(data)
        public.verify(signature, challenge, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    except Exception:  # InvalidSignature, or an answer that is no signature at all
        raise CardNotTrusted("the card's signature of the challenge does not verify with "
                             "its certificate's key") from None
    if revoked is not None:
        raise CardRevoked(str(revoked), serial=revoked.serial)
    return cert


def _chained(reader: CardReader, apdu: bytes, what: str) -> tuple[bytes, int, int]:
    """``piv.transmit_chained`` over the reader; a chain that does not end is the card's
    fault: CardNotTrusted."""
    try:
        return piv.transmit_chained(reader.transmit, apdu)
    except piv.AnswerTooLong as exc:
        raise CardNotTrusted(f"{what}: {exc}") from None


def read_uid(reader: CardReader) -> bytes | None:
    """The contactless card's UID via the PC/SC GET DATA pseudo-APDU (FF CA 00 00 00).

    None when the reader or card does not answer it with 90 00 (a contact card).
    """
    data, sw1, sw2 = reader.transmit(bytes.fromhex("FFCA000000"))
    return data if (sw1, sw2) == piv.SW_OK and data else None
