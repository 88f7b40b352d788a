"""Which staff cards the kiosk believes: the staff-card CA certificates it trusts, and the
certificates their CRLs revoke.

A staff card proves itself the PIV way (SP 800-116, PKI-AUTH): its PIV Authentication
certificate (slot 9A) must be issued by a CA the kiosk trusts, and the card must sign a
fresh challenge with that certificate's key (:func:`kiosk.hardware.card.staff.staff_login`).
:class:`StaffTrust` is the list of those CAs, each a trust anchor: a card certificate must be
issued directly by one of them (no intermediate CAs are followed), and not be on a
certificate revocation list (CRL) one of them signed.

Where the trust comes from is the runtime's business (drivers never read the config):
:func:`kiosk.runtime.load_staff_trust` reads ``[staff] ca`` (a PEM file with one or more CA
certificates), or, with the simulated reader and no ``[staff] ca``, takes
:meth:`StaffTrust.development`; then ``[staff] crl`` (the office's CRLs, PEM or DER) with
:meth:`StaffTrust.with_crl_file`. :func:`default_trust` is what ``staff_login`` uses when it
is given none: the development CA for the simulated reader's card, nothing for any other.

Example::

    trust = StaffTrust.from_file("/etc/kiosk/staff-ca.pem")
    trust = trust.with_crl_file("/etc/kiosk/staff-crl.pem")   # optional
    ca = trust.verify(card_certificate, now=None)   # the issuing CA, or UntrustedCertificate
                                                    # (CertificateRevoked: on a CRL)
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiosk.hardware.card import devca

if TYPE_CHECKING:
    from kiosk.hardware.card.base import CardReader

log = logging.getLogger(__name__)

__all__ = ["MAX_CA_FILE", "MAX_CRL_FILE", "CertificateRevoked", "StaffCrl", "StaffTrust",
           "UntrustedCertificate", "common_name", "default_trust", "load_crls", "serial_hex"]

#: A CA file larger than this is not read (a handful of CA certificates is a few KiB).
MAX_CA_FILE = 1 << 20
#: A CRL file larger than this is not read (an entry is about 40 bytes: a CRL of tens of
#: thousands of revoked cards fits; an office's staff is hundreds).
MAX_CRL_FILE = 1 << 20

_PEM_CRL = re.compile(rb"-----BEGIN X509 CRL-----.*?-----END X509 CRL-----", re.DOTALL)


class UntrustedCertificate(ValueError):
    """A card certificate the trust refuses; the message says why (for the log)."""


class CertificateRevoked(UntrustedCertificate):
    """A card certificate that passes every other check, but is on a CRL its CA signed.

    ``serial`` (the certificate's serial number), ``revoked_on`` and ``reason`` (the CRL
    entry's reason code, e.g. ``"keyCompromise"``, or ``"no reason given"``) are for the
    log and ``kiosk hw card check``."""

    def __init__(self, serial: int, revoked_on: datetime, reason: str) -> None:
        self.serial = serial
        self.revoked_on = revoked_on
        self.reason = reason
        super().__init__(f"certificate serial {serial_hex(serial)} revoked on "
                         f"{_when(revoked_on)} ({reason})")


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def serial_hex(serial: int) -> str:
    """A certificate serial number as OpenSSL shows it (``openssl x509 -serial``, the CA's
    ``index.txt``): upper-case hex, an even number of digits."""
    digits = f"{serial:X}"
    return digits if len(digits) % 2 == 0 else "0" + digits


def common_name(name: x509.Name) -> str:
    """The one common name (CN) in ``name``; ValueError if there is none or several."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(values) != 1 or not isinstance(values[0].value, str):
        raise ValueError(f"{len(values)} common names (CN) where one is needed")
    return values[0].value


def load_crls(data: bytes) -> list[x509.CertificateRevocationList]:
    """The CRLs in ``data``: one or more PEM blocks (``-----BEGIN X509 CRL-----``), or one
    DER CRL (what ``openssl crl -outform DER`` writes). Every part is parsed here
    (cryptography parses names, extensions and entries when first asked): ValueError, with
    a short reason and never the parser's dump, if any does not parse. Their signatures are
    :meth:`StaffTrust.with_crls`' business."""
    if b"-----BEGIN" in data:
        blocks = _PEM_CRL.findall(data)
        if not blocks:
            raise ValueError("no PEM CRL (-----BEGIN X509 CRL-----) in it")
        load = x509.load_pem_x509_crl
    elif data:
        blocks, load = [data], x509.load_der_x509_crl
    else:
        raise ValueError("it is empty: no CRL in it")
    crls = []
    for number, block in enumerate(blocks, 1):
        which = f"CRL {number} of {len(blocks)}" if len(blocks) > 1 else "the CRL"
        try:
            crl = load(block)
            crl.issuer.rfc4514_string()
            for extension in crl.extensions:
                _ = extension.value
            for entry in crl:
                _ = entry.serial_number, entry.revocation_date_utc, _reason(entry)
            _ = crl.last_update_utc, crl.next_update_utc
        except (ValueError, TypeError, UnsupportedAlgorithm, x509.InvalidVersion) as exc:
            # (cryptography's own message may be a parser's debug dump: not for the doctor;
            # InvalidVersion is no ValueError)
            raise ValueError(f"{which} in it does not parse ({type(exc).__name__})") from None
        crls.append(crl)
    return crls


def _reason(entry: x509.RevokedCertificate) -> str:
    """A CRL entry's reason code as RFC 5280 names it (``keyCompromise``), or "no reason
    given" when the entry has none (``openssl ca -revoke`` without ``-crl_reason``)."""
    try:
        return entry.extensions.get_extension_for_class(x509.CRLReason).value.reason.value
    except x509.ExtensionNotFound:
        return "no reason given"


@dataclass(frozen=True)
class StaffCrl:
    """One CRL of a trusted staff-card CA, its signature verified with that CA's key."""

    crl: x509.CertificateRevocationList
    #: The trusted CA whose key signed it.
    ca: x509.Certificate

    def describe(self) -> str:
        """One line, for the doctor and the log: "CRL of CN=...: 2 revoked, issued
        2026-03-01, next update 2026-03-31"."""
        update = self.crl.next_update_utc
        return (f"CRL of {self.crl.issuer.rfc4514_string()}: {len(self.crl)} revoked, issued "
                f"{self.crl.last_update_utc:%Y-%m-%d}, next update "
                + (f"{update:%Y-%m-%d}" if update is not None else "not given"))


class StaffTrust:
    """The staff-card CAs the kiosk trusts (``development``: the development CA only), and
    the CRLs they signed (``crls``: none unless given)."""

    def __init__(self, cas: Iterable[x509.Certificate], *, development: bool = False,
                 source: str = "", crls: Iterable[StaffCrl] = (), crl_source: str = "") -> None:
        self.cas: tuple[x509.Certificate, ...] = tuple(cas)
        if not self.cas:
            raise ValueError("no CA certificate")
        self.development = development
        #: Where the CAs came from, for messages: a file name, or "development".
        self.source = source or ("development" if development else "given")
        self.crls: tuple[StaffCrl, ...] = tuple(crls)
        #: Where the CRLs came from ("" when there are none).
        self.crl_source = crl_source

    # -- making one -----------------------------------------------------------------------
    @classmethod
    def development(cls) -> StaffTrust:
        """The development staff CA (:mod:`~kiosk.hardware.card.devca`): simulation only,
        its private key is public knowledge."""
        return cls([devca.dev_ca_certificate()], development=True, source="development")

    @classmethod
    def from_pem(cls, data: bytes, *, source: str = "") -> StaffTrust:
        """The CA certificates in PEM ``data``. ValueError (saying why) when there is none,
        or one is not a CA certificate (basic constraints CA:TRUE)."""
        if b"-----BEGIN CERTIFICATE-----" not in data:
            raise ValueError("no PEM certificate (-----BEGIN CERTIFICATE-----) in it")
        try:
            certs = x509.load_pem_x509_certificates(data)
        except (ValueError, x509.InvalidVersion) as exc:  # (InvalidVersion: no ValueError)
            # (cryptography's own message is a parser's debug dump: not for the doctor)
            raise ValueError("a certificate in it does not parse "
                             f"({type(exc).__name__})") from None
        for cert in certs:
            try:  # parsed lazily by cryptography: a damaged name fails here, not later
                cert.subject.rfc4514_string()
                cert.issuer.rfc4514_string()
            except ValueError as exc:
                raise ValueError(f"a certificate's names do not parse ({exc})") from None
            try:
                constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
                is_ca = constraints.value.ca
            except x509.ExtensionNotFound:
                is_ca = False
            except ValueError as exc:
                raise ValueError(f"a certificate's extensions do not parse ({exc})") from None
            if not is_ca:
                raise ValueError(f"{cert.subject.rfc4514_string()!r} is not a CA certificate "
                                 "(no basic constraints CA:TRUE): the file must hold the "
                                 "staff-card CA's certificate, not a card's")
        return cls(certs, source=source)

    @classmethod
    def from_file(cls, path: str | Path) -> StaffTrust:
        """The CA certificates in the PEM file ``path``: OSError if it cannot be read,
        ValueError (saying why) if it holds no usable CA certificate."""
        with open(path, "rb") as stream:
            data = stream.read(MAX_CA_FILE + 1)
        if len(data) > MAX_CA_FILE:
            raise ValueError(f"larger than {MAX_CA_FILE} bytes: not a CA certificate file")
        return cls.from_pem(data, source=str(path))

    def with_crls(self, data: bytes, *, source: str = "") -> StaffTrust:
        """These CAs, with the CRLs in ``data`` (PEM, one or more; or one DER CRL).

        Each CRL must be issued by one of these CAs: its issuer is the CA's name and its
        signature verifies with that CA's key. ValueError (saying why) when one does not
        parse, is signed by no trusted CA, or is a delta CRL: a file the kiosk cannot
        believe entirely is not used at all (the caller refuses every card rather than
        forget a revocation). Every CRL in the file counts: a serial on any of them is
        revoked. The CA's key usage is not asked for cRLSign: a CRL can only take trust
        away."""
        crls = []
        for crl in load_crls(data):
            issuer = crl.issuer.rfc4514_string()
            if any(isinstance(e.value, x509.DeltaCRLIndicator) for e in crl.extensions):
                # (a delta lists changes, "removeFromCRL" among them: not a list of revoked)
                raise ValueError(f"the CRL of {issuer!r} is a delta CRL: install the "
                                 "office's complete CRL (openssl ca -gencrl)")
            signer = next((ca for ca in self.cas
                           if ca.subject == crl.issuer and _signed_by(crl, ca)), None)
            if signer is None:
                named = any(ca.subject == crl.issuer for ca in self.cas)
                raise ValueError(
                    f"a CRL in it is signed by no trusted staff-card CA ({self.source}): its "
                    f"issuer says {issuer!r}" + (", but its signature does not verify with "
                                                 "that CA's key" if named else ""))
            crls.append(StaffCrl(crl, signer))
        return StaffTrust(self.cas, development=self.development, source=self.source,
                          crls=crls, crl_source=source or "given")

    def with_crl_file(self, path: str | Path) -> StaffTrust:
        """These CAs, with the CRLs in the file ``path`` (:meth:`with_crls`): OSError if it
        cannot be read, ValueError (saying why) if it is not a file of CRLs they signed."""
        with open(path, "rb") as stream:
            data = stream.read(MAX_CRL_FILE + 1)
        if len(data) > MAX_CRL_FILE:
            raise ValueError(f"larger than {MAX_CRL_FILE} bytes: not a staff-card CRL file")
        return self.with_crls(data, source=str(path))

    # -- what it says ---------------------------------------------------------------------
    def describe(self) -> str:
        """One line naming the CAs and their expiry, for ``kiosk doctor`` and the log."""
        names = "; ".join(f"{ca.subject.rfc4514_string()} (until "
                          f"{ca.not_valid_after_utc:%Y-%m-%d})" for ca in self.cas)
        count = len(self.cas)
        return f"{count} staff-card CA{'s' if count != 1 else ''}: {names}"

    def describe_crls(self) -> str:
        """One line naming the CRLs: how many certificates each revokes, when it was issued
        and when the next is due; or that there is none."""
        if not self.crls:
            return "no CRL: no card is refused as revoked"
        return "; ".join(entry.describe() for entry in self.crls)

    def expired(self, now: datetime) -> list[x509.Certificate]:
        """The CA certificates not valid at ``now``."""
        return [ca for ca in self.cas
                if not ca.not_valid_before_utc <= now <= ca.not_valid_after_utc]

    def out_of_date(self, now: datetime) -> list[StaffCrl]:
        """The CRLs whose next update is before ``now``: they still revoke what they list
        (:meth:`verify`), but cards the office revoked since are not on them."""
        return [entry for entry in self.crls
                if entry.crl.next_update_utc is not None and entry.crl.next_update_utc < now]

    def revocation(self, cert: x509.Certificate) -> CertificateRevoked | None:
        """Why ``cert`` is revoked (the entry of the first CRL that lists its serial under
        its issuer's name), or None. A CRL applies to every certificate of its issuer's
        name: a CA renewed under the same name with a new key keeps its predecessor's
        revocations in force."""
        for entry in self.crls:
            if entry.crl.issuer != cert.issuer:
                continue
            revoked = entry.crl.get_revoked_certificate_by_serial_number(cert.serial_number)
            if revoked is not None:
                return CertificateRevoked(cert.serial_number, revoked.revocation_date_utc,
                                          _reason(revoked))
        return None

    def verify(self, cert: x509.Certificate, *, now: datetime | None) -> x509.Certificate:
        """Check that ``cert`` is a PIV Authentication certificate issued by one of the
        trusted CAs (its signature), for a P-256 key, not itself a CA; and, when ``now`` is
        given (the caller trusts its clock), that it and its CA are valid at ``now``; last,
        that no CRL of its CA lists it (:class:`CertificateRevoked`, raised only for a
        certificate good in every other way). Returns the issuing CA;
        :class:`UntrustedCertificate` says why not.

        Revocation is checked whatever the clock and however old the CRL: a CRL past its
        next update still revokes what it lists (a kiosk offline for days must neither
        forget them nor lock every officer out). Not checked: OCSP (the kiosk is often
        offline), and any policy or extended-key-usage OID.
        """
        issuer = None
        for ca in self.cas:
            if cert.issuer != ca.subject:
                continue
            try:
                cert.verify_directly_issued_by(ca)
            except (ValueError, TypeError, InvalidSignature):
                continue  # another CA of the same name may have issued it
            issuer = ca
            break
        if issuer is None:
            raise UntrustedCertificate(
                f"not issued by a trusted staff-card CA ({self.source}); its issuer says "
                f"{cert.issuer.rfc4514_string()!r}")
        try:
            constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
            if constraints.value.ca:
                raise UntrustedCertificate("the card's certificate is a CA certificate")
        except x509.ExtensionNotFound:
            pass
        try:
            usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
            if not usage.digital_signature:
                raise UntrustedCertificate("the certificate's key usage has no "
                                           "digitalSignature")
        except x509.ExtensionNotFound:
            pass
        key = cert.public_key()
        if not (isinstance(key, ec.EllipticCurvePublicKey)
                and isinstance(key.curve, ec.SECP256R1)):
            raise UntrustedCertificate("the certificate's key is not an ECC P-256 key")
        if now is not None:
            now = now if now.tzinfo is not None else now.replace(tzinfo=UTC)
            for what, c in (("the card's certificate", cert), ("its CA's certificate", issuer)):
                if now < c.not_valid_before_utc:
                    raise UntrustedCertificate(f"{what} is not valid before "
                                               f"{_when(c.not_valid_before_utc)}")
                if now > c.not_valid_after_utc:
                    raise UntrustedCertificate(f"{what} expired on "
                                               f"{_when(c.not_valid_after_utc)}")
        revoked = self.revocation(cert)
        if revoked is not None:
            raise revoked
        return issuer


def _signed_by(crl: x509.CertificateRevocationList, ca: x509.Certificate) -> bool:
    """Whether ``ca``'s key verifies ``crl``'s signature (False for a key of another type,
    or an algorithm cryptography does not know)."""
    try:
        return crl.is_signature_valid(ca.public_key())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        return False


def default_trust(reader: CardReader) -> StaffTrust | None:
    """The trust ``staff_login`` uses when given none: the development CA for the simulated
    reader's card (an object in the kiosk's own memory, made from its own config), and
    nothing for any other reader: a real card is refused until the office's CA is given."""
    from kiosk.hardware.card.sim import SimCardReader

    return StaffTrust.development() if isinstance(reader, SimCardReader) else None
