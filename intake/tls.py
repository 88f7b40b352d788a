"""The intake's TLS: a self-signed certificate the kiosks pin, and the server's context.

A district intake rarely has a name in public DNS or a certificate from a public CA, and a
kiosk must not depend on the system's CA store to know it is talking to its own intake.
``kiosk-intake keys init`` therefore makes ``DIR/keys/tls.key`` (ECDSA P-256, 0600) and a
self-signed ``DIR/keys/tls.crt`` for the names given (``--tls-name``, default this
machine's name, ``localhost`` and the loopback addresses) and prints the certificate's
SHA-256 fingerprint; each kiosk pins it (``[upload] tls_fingerprint``), or trusts
``tls.crt`` as its CA (``[upload] ca_file``). An intake behind an organisation's CA uses
``serve --cert/--key`` with that CA's certificate instead.

The handshake runs on the connection's own thread with the request timeout, never in the
accept loop, so a client that connects and never speaks TLS holds one thread for at most
that long and nobody else.
"""

from __future__ import annotations

import datetime
import hashlib
import ipaddress
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from kiosk.fsutil import make_dirs, write_atomic

CERT_FILE, KEY_FILE = "tls.crt", "tls.key"
VALID_DAYS = 3650  # a pinned certificate is replaced by re-provisioning, not by expiry


def default_names() -> list[str]:
    names = ["localhost", "127.0.0.1", "::1"]
    fqdn = socket.getfqdn()
    if fqdn and fqdn not in names:
        names.insert(0, fqdn)
    return names


def fingerprint(cert_pem: bytes) -> str:
    """SHA-256 of the certificate's DER, as the kiosk's ``tls_fingerprint`` wants it."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def make_self_signed(names: list[str]) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``names`` (DNS names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "e-KTP intake")])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def ensure_tls_pair(directory: Path, names: list[str] | None = None) -> tuple[Path, bool]:
    """``tls.crt``/``tls.key`` in ``directory``, made if missing; (certificate, made now)."""
    cert_path, key_path = Path(directory) / CERT_FILE, Path(directory) / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return cert_path, False
    cert_pem, key_pem = make_self_signed(names or default_names())
    make_dirs(Path(directory), mode=0o700)
    write_atomic(key_path, key_pem, 0o600, overwrite=True)
    write_atomic(cert_path, cert_pem, 0o644, overwrite=True)
    return cert_path, True


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """TLS 1.2+ server context; raises OSError/ssl.SSLError naming a bad file."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(cert), str(key))
    return context
