"""The development staff-card CA, and the PIV Authentication keys of simulated staff cards.

A real office keeps its own staff-card CA: its key signs the certificate in slot 9A of every
officer's card, and the kiosk trusts the CA certificate named by ``[staff] ca``. For
simulation there is one fixed development CA, so the simulated reader, the virtual card
behind pcscd (:mod:`~kiosk.hardware.card.vcard`) and the kiosk agree without any file:

* the CA's key is derived from a fixed label, its certificate built from it (fixed names,
  dates and serial; only the ECDSA signature differs between two builds);
* a card's key is derived from a fixed label and its staff id, and its certificate (subject
  CN = the staff id) is issued by the development CA.

**Every private key here can be computed by anyone who reads this file.** The kiosk trusts
the development CA only with ``[hardware.card] type = "sim"`` and no ``[staff] ca``
(:func:`kiosk.runtime.load_staff_trust`), where the card is an object in the kiosk's own
memory. :func:`make_ca_certificate` and :func:`issue_card_certificate` also make the
other CAs and certificates the tests need (another CA, an expired certificate), and
:func:`issue_crl` the CRLs that revoke them (an office makes its own with ``openssl ca``:
docs/staff-cards.md).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["CA_NAME", "NOT_AFTER", "NOT_BEFORE", "derived_key", "dev_ca_certificate",
           "dev_ca_key", "dev_card_certificate", "dev_card_key", "issue_card_certificate",
           "issue_crl", "make_ca_certificate"]

#: The development CA certificate's subject common name.
CA_NAME = "e-KTP kiosk development staff CA (simulation only)"
CA_LABEL = b"e-KTP kiosk: development staff-card CA key, v1"
CARD_LABEL = b"e-KTP kiosk: development staff card PIV Authentication key (9A), v1\x00"
#: The development certificates' validity (wide: a simulated kiosk's clock may be anything).
NOT_BEFORE = datetime(2024, 1, 1, tzinfo=UTC)
NOT_AFTER = datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC)

# The order of the P-256 group: a private scalar is 1 .. n-1.
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def derived_key(label: bytes) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key derived from ``label`` (SHA-256): the same label, the same key."""
    scalar = int.from_bytes(hashlib.sha256(label).digest(), "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _serial(label: bytes) -> int:
    """A positive serial number of at most 159 bits (RFC 5280: at most 20 octets)."""
    return int.from_bytes(hashlib.sha256(label).digest()[:20], "big") >> 1 or 1


def make_ca_certificate(key: ec.EllipticCurvePrivateKey, common_name: str, *,
                        not_before: datetime = NOT_BEFORE, not_after: datetime = NOT_AFTER
                        ) -> x509.Certificate:
    """A self-signed staff-card CA certificate for ``key`` (ECDSA with SHA-256)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    public = key.public_key()
    return (x509.CertificateBuilder()
            .subject_name(name).issuer_name(name).public_key(public)
            .serial_number(_serial(b"ca\x00" + common_name.encode()))
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256()))


def issue_card_certificate(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
                           card_key: ec.EllipticCurvePublicKey, staff_id: str, *,
                           not_before: datetime = NOT_BEFORE,
                           not_after: datetime = NOT_AFTER) -> x509.Certificate:
    """A PIV Authentication certificate: subject CN = ``staff_id``, issued by ``ca_cert``."""
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, staff_id)]))
            .issuer_name(ca_cert.subject).public_key(card_key)
            .serial_number(_serial(b"card\x00" + staff_id.encode()))
            .not_valid_before(not_before).not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_cert.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def issue_crl(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
              serials: Iterable[int], *, last_update: datetime,
              next_update: datetime | None = None,
              reason: x509.ReasonFlags | None = x509.ReasonFlags.key_compromise
              ) -> x509.CertificateRevocationList:
    """A CRL of ``ca_cert`` (signed with ``ca_key``) revoking ``serials``, each on
    ``last_update`` for ``reason`` (None: no reason code); its next update 30 days on unless
    given, as ``openssl ca -gencrl`` with ``default_crl_days = 30``."""
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(ca_cert.subject).last_update(last_update)
               .next_update(next_update or last_update + timedelta(days=30)))
    for serial in serials:
        entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(
            last_update)
        if reason is not None:
            entry = entry.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(entry.build())
    return builder.sign(ca_key, hashes.SHA256())


@lru_cache(maxsize=1)
def dev_ca_key() -> ec.EllipticCurvePrivateKey:
    """The development CA's private key (public knowledge: see the module docstring)."""
    return derived_key(CA_LABEL)


@lru_cache(maxsize=1)
def dev_ca_certificate() -> x509.Certificate:
    """The development CA's certificate."""
    return make_ca_certificate(dev_ca_key(), CA_NAME)


@lru_cache(maxsize=64)
def dev_card_key(staff_id: str) -> ec.EllipticCurvePrivateKey:
    """The slot-9A key of the simulated card of ``staff_id``."""
    return derived_key(CARD_LABEL + staff_id.encode("utf-8"))


@lru_cache(maxsize=64)
def dev_card_certificate(staff_id: str) -> x509.Certificate:
    """The slot-9A certificate of the simulated card of ``staff_id``, by the development CA."""
    return issue_card_certificate(dev_ca_key(), dev_ca_certificate(),
                                  dev_card_key(staff_id).public_key(), staff_id)
