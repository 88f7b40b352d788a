"""Every request to the intake is signed by the kiosk's device key (RFC 9421).

Why signed requests, and not a bearer token or client certificates (``docs/upload.md``,
"Kiosk authentication"): the kiosk already has an Ed25519 key the intake knows, the one its
records are signed with and that ``kiosk-intake register`` binds to its id. Signing each
request with it proves which kiosk sends it with no shared secret to leak and nothing new
to provision (a client certificate would need a CA, a signing step and a renewal per
kiosk); revoking the registration refuses the next request. The format is HTTP Message
Signatures (RFC 9421), implemented by the ``http-message-signatures`` library, with the
device key's own Ed25519 (PyNaCl) behind its algorithm interface.

What is signed: the method, the path, and the tus headers that say what the request does
(``Upload-Offset``, ``Upload-Length``, ``Upload-Metadata``, ``Content-Length``) when
present; ``keyid`` is the kiosk id, ``tag`` :data:`TAG`. The body is not covered: the
intake keeps the bytes of a ``PATCH`` as they arrive, before a digest of the whole could
be checked; the packet carries its own signature and SHA-256, and TLS protects it in
transit. ``created`` is set but not enforced (a Pi has no clock until it syncs): a replay
needs the TLS session it came in, and would only repeat what was done (a ``PATCH`` at an
offset already passed is refused ``409``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import nacl.exceptions
import nacl.signing
import requests
from http_message_signatures import (
    HTTPMessageSigner,
    HTTPMessageVerifier,
    HTTPSignatureAlgorithm,
    HTTPSignatureKeyResolver,
    InvalidSignature,
)

from kiosk.core.intake_api import UPLOAD_LENGTH, UPLOAD_METADATA, UPLOAD_OFFSET
from kiosk.sealing_keys import DeviceKey

__all__ = ["SIGNATURE_HEADER", "TAG", "InvalidSignature", "KioskAuth", "RequestView",
           "verify_request"]

TAG = "ektp-kiosk-1"
LABEL = "kiosk"
ALWAYS = ("@method", "@path")
# covered when present (lowercase: how RFC 9421 names a header field)
IF_PRESENT = (*(h.lower() for h in (UPLOAD_OFFSET, UPLOAD_LENGTH, UPLOAD_METADATA)),
              "content-length")
SIGNATURE_HEADER = "Signature"  # RFC 9421's; a request without it is unsigned


class DeviceKeyEd25519(HTTPSignatureAlgorithm):
    """Ed25519 with the kiosk's :class:`DeviceKey` (signing) or a raw public key
    (verifying), for the library's signer and verifier."""

    algorithm_id = "ed25519"

    def __init__(self, public_key: bytes | None = None,
                 private_key: DeviceKey | None = None) -> None:
        self.public_key = public_key
        self.private_key = private_key

    def sign(self, message: bytes) -> bytes:
        if self.private_key is None:
            raise InvalidSignature("no signing key")
        return self.private_key.sign(message)

    def verify(self, signature: bytes, message: bytes) -> None:
        if self.public_key is None:
            raise InvalidSignature("no verification key")
        try:
            nacl.signing.VerifyKey(self.public_key).verify(message, signature)
        except (nacl.exceptions.BadSignatureError, ValueError) as exc:
            raise InvalidSignature("the signature does not verify") from exc


class _Keys(HTTPSignatureKeyResolver):
    def __init__(self, private: DeviceKey | None = None,
                 public: Callable[[str], bytes | None] | None = None) -> None:
        self._private = private
        self._public = public

    def resolve_private_key(self, key_id: str) -> DeviceKey:
        if self._private is None:
            raise KeyError(key_id)
        return self._private

    def resolve_public_key(self, key_id: str) -> bytes | None:
        return None if self._public is None else self._public(key_id)


class KioskAuth(requests.auth.AuthBase):
    """Signs each request of a :class:`requests.Session` as kiosk ``kiosk_id``."""

    def __init__(self, kiosk_id: str, device_key: DeviceKey) -> None:
        self.kiosk_id = kiosk_id
        self._signer = HTTPMessageSigner(signature_algorithm=DeviceKeyEd25519,
                                         key_resolver=_Keys(private=device_key))

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        present = [h for h in IF_PRESENT if h in request.headers]
        self._signer.sign(request, key_id=self.kiosk_id, label=LABEL, tag=TAG,
                          covered_component_ids=(*ALWAYS, *present))
        return request


class RequestView:
    """What the verifier reads of a request a server received: method, absolute URL (from
    its ``Host``) and the header fields in order."""

    def __init__(self, method: str, url: str, headers: Any) -> None:
        self.method = method
        self.url = url
        self.headers = headers


def verify_request(request: RequestView, public_key: Callable[[str], bytes | None]) -> str:
    """The kiosk id that signed ``request``; :class:`InvalidSignature` when it is unsigned,
    signed by a key ``public_key(kiosk_id)`` does not give, or altered."""
    verifier = HTTPMessageVerifier(signature_algorithm=DeviceKeyEd25519,
                                   key_resolver=_Keys(public=public_key))
    results = verifier.verify(request, max_age=None, expect_tag=TAG,
                              require_components=ALWAYS)
    if len(results) != 1:
        raise InvalidSignature("exactly one kiosk signature is expected")
    covered = {str(c).split(";")[0].strip('"') for c in results[0].covered_components}
    missing = [h for h in IF_PRESENT if h in request.headers and h not in covered]
    if missing:
        raise InvalidSignature(f"the signature does not cover {', '.join(missing)}")
    return str(results[0].parameters["keyid"])
