"""Which staff cards the kiosk believes: the staff-card CA certificates it trusts.

A staff card proves itself the PIV way (SP 800-116, PKI-AUTH): its PIV Authentication
certificate (slot 9A) must be issued by a CA the kiosk trusts, and the card must sign a
fresh challenge with that certificate's key (:func:`kiosk.hardware.card.staff.staff_login`).
:class:`StaffTrust` is the list of those CAs, each a trust anchor: a card certificate must be
issued directly by one of them (no intermediate CAs are followed).

Where the trust comes from is the runtime's business (drivers never read the config):
:func:`kiosk.runtime.load_staff_trust` reads ``[staff] ca`` (a PEM file with one or more CA
certificates), or, with the simulated reader and no ``[staff] ca``, takes
:meth:`StaffTrust.development`. :func:`default_trust` is what ``staff_login`` uses when it
is given none: the development CA for the simulated reader's card, nothing for any other.

Example::

    trust = StaffTrust.from_file("/etc/kiosk/staff-ca.pem")
    ca = trust.verify(card_certificate, now=None)   # the issuing CA, or UntrustedCertificate
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiosk.hardware.card import devca

if TYPE_CHECKING:
    from kiosk.hardware.card.base import CardReader

log = logging.getLogger(__name__)

__all__ = ["MAX_CA_FILE", "StaffTrust", "UntrustedCertificate", "common_name", "default_trust"]

#: A CA file larger than this is not read (a handful of CA certificates is a few KiB).
MAX_CA_FILE = 1 << 20


class UntrustedCertificate(ValueError):
    """A card certificate the trust refuses; the message says why (for the log)."""


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def common_name(name: x509.Name) -> str:
    """The one common name (CN) in ``name``; ValueError if there is none or several."""
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if len(values) != 1 or not isinstance(values[0].value, str):
        raise ValueError(f"{len(values)} common names (CN) where one is needed")
    return values[0].value


class StaffTrust:
    """The staff-card CAs the kiosk trusts (``development``: the development CA only)."""

    def __init__(self, cas: Iterable[x509.Certificate], *, development: bool = False,
                 source: str = "") -> None:
        self.cas: tuple[x509.Certificate, ...] = tuple(cas)
        if not self.cas:
            raise ValueError("no CA certificate")
        self.development = development
        #: Where the CAs came from, for messages: a file name, or "development".
        self.source = source or ("development" if development else "given")

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
        except ValueError as exc:
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

    # -- what it says ---------------------------------------------------------------------
    def describe(self) -> str:
        """One line naming the CAs and their expiry, for ``kiosk doctor`` and the log."""
        names = "; ".join(f"{ca.subject.rfc4514_string()} (until "
                          f"{ca.not_valid_after_utc:%Y-%m-%d})" for ca in self.cas)
        count = len(self.cas)
        return f"{count} staff-card CA{'s' if count != 1 else ''}: {names}"

    def expired(self, now: datetime) -> list[x509.Certificate]:
        """The CA certificates not valid at ``now``."""
        return [ca for ca in self.cas
                if not ca.not_valid_before_utc <= now <= ca.not_valid_after_utc]

    def verify(self, cert: x509.Certificate, *, now: datetime | None) -> x509.Certificate:
        """Check that ``cert`` is a PIV Authentication certificate issued by one of the
        trusted CAs (its signature), for a P-256 key, not itself a CA; and, when ``now`` is
        given (the caller trusts its clock), that it and its CA are valid at ``now``.
        Returns the issuing CA; :class:`UntrustedCertificate` says why not.

        Not checked: revocation (no CRL or OCSP: the kiosk is often offline), and any
        policy or extended-key-usage OID.
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
        return issuer


def default_trust(reader: CardReader) -> StaffTrust | None:
    """The trust ``staff_login`` uses when given none: the development CA for the simulated
    reader's card (an object in the kiosk's own memory, made from its own config), and
    nothing for any other reader: a real card is refused until the office's CA is given."""
    from kiosk.hardware.card.sim import SimCardReader

    return StaffTrust.development() if isinstance(reader, SimCardReader) else None
