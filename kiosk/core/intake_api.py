"""The names of the upload protocol that both ends write (``docs/upload.md``, "Upload
protocol, version 1"): the kiosk's uploader and doctor (:mod:`kiosk.upload`,
:mod:`kiosk.doctor`) and the intake (:mod:`intake.handler`, :mod:`intake.receiver`,
:mod:`intake.store`) take each of them from here, so the two ends cannot drift apart.

* the endpoints, each a path segment below the intake's URL (``{url}files/``,
  ``{url}receipts/<kiosk-id>/<record-id>``, ``{url}kiosks/<kiosk-id>``, ``{url}health``);
* the tus headers either end writes or reads itself (tus 1.0.0, core + ``creation``; the
  rest is the tus libraries'), and the keys of a creation's ``Upload-Metadata``;
* the receipt in the answer to the ``PATCH`` that completes an upload
  (:data:`RECEIPT_HEADER`), and the content type ``GET receipts/...`` serves it as;
* the intake's ``Server`` header, by which ``kiosk doctor`` tells the intake from a captive
  portal;
* the refusal codes (:class:`RefusalCode`, :data:`REFUSALS`: permanent or temporary, and
  what each means) and the JSON a refusal or a registration answer is written in
  (:func:`refusal_body`; the keys the kiosk reads back).

The request signature's label, tag and covered headers are :mod:`kiosk.request_signing`'s
(one module signs and verifies); the receipt's format and size bound are
:mod:`kiosk.receipts`'. What only one end uses stays with it.
"""

from __future__ import annotations

import json
from enum import StrEnum

__all__ = [
    "CENTRAL_KEY_ID_KEY",
    "CODE_KEY",
    "ERROR_KEY",
    "FILES_ENDPOINT",
    "HEALTH_ENDPOINT",
    "INTAKE_KEY_ID_KEY",
    "KEY_ID_KEY",
    "KIOSKS_ENDPOINT",
    "KIOSK_ID_KEY",
    "PERMANENT_KEY",
    "RECEIPTS_ENDPOINT",
    "RECEIPT_CONTENT_TYPE",
    "RECEIPT_HEADER",
    "RECORD_ID_KEY",
    "REFUSALS",
    "REGISTERED_KEY",
    "SERVER_PRODUCT",
    "SERVER_VERSION",
    "SHA256_KEY",
    "TOKEN_REFUSED",
    "UPLOAD_LENGTH",
    "UPLOAD_METADATA",
    "UPLOAD_OFFSET",
    "RefusalCode",
    "refusal_body",
    "token_refused_body",
]

# -- endpoints: path segments below the intake's URL -------------------------------------------
FILES_ENDPOINT = "files"  # tus: POST {url}files/, HEAD/PATCH {url}files/<upload-id>
RECEIPTS_ENDPOINT = "receipts"  # GET {url}receipts/<kiosk-id>/<record-id>
KIOSKS_ENDPOINT = "kiosks"  # GET {url}kiosks/<kiosk-id>: `kiosk doctor`'s "am I registered?"
HEALTH_ENDPOINT = "health"  # GET {url}health: {"ok": true}, the only unsigned request

# -- tus headers (tus 1.0.0) -------------------------------------------------------------------
UPLOAD_OFFSET = "Upload-Offset"
UPLOAD_LENGTH = "Upload-Length"
UPLOAD_METADATA = "Upload-Metadata"
# the keys of a creation's Upload-Metadata (each value base64, tus's encoding)
KIOSK_ID_KEY = "kiosk_id"
RECORD_ID_KEY = "record_id"
SHA256_KEY = "sha256"  # the packet's SHA-256, lowercase hex

# -- receipts ----------------------------------------------------------------------------------
RECEIPT_HEADER = "Intake-Receipt"  # the completing PATCH's answer: the receipt, base64
RECEIPT_CONTENT_TYPE = "application/octet-stream"  # GET receipts/...'s 200: the receipt bytes

# -- the intake's Server header ----------------------------------------------------------------
SERVER_PRODUCT = "kiosk-intake/"  # what `kiosk doctor` recognises the intake by
SERVER_VERSION = SERVER_PRODUCT + "1"  # what the reference intake sends


# -- refusals (docs/upload.md, "Refusals") -----------------------------------------------------
class RefusalCode(StrEnum):
    """Why the intake refuses: the ``code`` of a refusal's JSON, which the kiosk acts on."""

    MALFORMED_METADATA = "malformed_metadata"
    SHA256_MISMATCH = "sha256_mismatch"
    IDS_MISMATCH = "ids_mismatch"
    UNKNOWN_KIOSK = "unknown_kiosk"
    REVOKED_KIOSK = "revoked_kiosk"
    WRONG_KEY = "wrong_key"
    BAD_SIGNATURE = "bad_signature"
    UNDECRYPTABLE = "undecryptable"
    MALFORMED_PACKET = "malformed_packet"
    LAYOUT_MISMATCH = "layout_mismatch"
    TOO_LARGE = "too_large"
    DIFFERENT_PACKET = "different_packet"
    UNSIGNED = "unsigned"
    TOO_MANY_UPLOADS = "too_many_uploads"
    BUSY = "busy"


# Each code -> (permanent, what it means). A permanent refusal is final for that packet (the
# kiosk moves the record to `rejected` and never resends it by itself); a temporary one asks
# for a fresh upload.
REFUSALS: dict[str, tuple[bool, str]] = {
    RefusalCode.MALFORMED_METADATA: (
        True, "the upload's kiosk_id/record_id metadata are malformed"),
    RefusalCode.SHA256_MISMATCH: (
        False, "the bytes received do not match the sha256 metadata"),
    RefusalCode.IDS_MISMATCH: (
        True, "the metadata and the packet's manifest name different records"),
    RefusalCode.UNKNOWN_KIOSK: (True, "no kiosk of that id is registered"),
    RefusalCode.REVOKED_KIOSK: (True, "the kiosk's registration was revoked"),
    RefusalCode.WRONG_KEY: (True, "the packet is signed by a key that is not the kiosk's"),
    RefusalCode.BAD_SIGNATURE: (True, "the manifest's signature does not verify"),
    RefusalCode.UNDECRYPTABLE: (True, "a step does not decrypt with this intake's central key"),
    RefusalCode.MALFORMED_PACKET: (
        True, "the packet does not parse, or its parts do not match"),
    RefusalCode.LAYOUT_MISMATCH: (
        True, "the packet's length or blob table differs from its signed manifest"),
    RefusalCode.TOO_LARGE: (True, "a step of the packet is larger than the intake takes"),
    RefusalCode.DIFFERENT_PACKET: (
        True, "a different packet was already received for this record"),
    # refusals of a request, not of a packet (docs/upload.md, "Kiosk authentication")
    RefusalCode.UNSIGNED: (False, "the request is not signed by a kiosk's device key"),
    RefusalCode.TOO_MANY_UPLOADS: (
        False, "the kiosk has as many unfinished uploads as the intake allows; one must "
               "finish or expire first"),
    RefusalCode.BUSY: (
        False, "every worker that processes completed uploads is busy; send the end of the "
               "upload again later"),
}

# the keys of the intake's JSON answers
ERROR_KEY = "error"  # a refusal's reason, and any error answer's text
CODE_KEY = "code"  # a refusal's code (a RefusalCode)
PERMANENT_KEY = "permanent"  # whether a refusal is final for that packet
REGISTERED_KEY = "registered"  # GET kiosks/<id>: true for the kiosk that signed it
KEY_ID_KEY = "key_id"  # GET kiosks/<id>: the device key id it is registered with
# GET kiosks/<id>: the key ids of the central key the intake opens packets with and of the
# intake key it signs receipts with (the kiosk's doctor compares its own copies)
CENTRAL_KEY_ID_KEY = "central_key_id"
INTAKE_KEY_ID_KEY = "intake_key_id"
#: The ``error`` of the 401 an intake with a bearer token gives a request without it (or
#: with another): checked before the signature, so it carries no refusal code.
TOKEN_REFUSED = "missing or wrong bearer token"  # noqa: S105 -- a message, not a token


def token_refused_body() -> bytes:
    """The JSON body of the 401 for a missing or wrong bearer token."""
    return json.dumps({ERROR_KEY: TOKEN_REFUSED}, separators=(",", ":")).encode()


def refusal_body(reason: str, code: str, permanent: bool) -> bytes:
    """The JSON body of a refusal: ``{"code", "error", "permanent"}``, keys sorted."""
    return json.dumps({ERROR_KEY: reason, CODE_KEY: str(code), PERMANENT_KEY: permanent},
                      sort_keys=True).encode()
