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
  portal.

The request signature's label, tag and covered headers are :mod:`kiosk.request_signing`'s
(one module signs and verifies); the receipt's format and size bound are
:mod:`kiosk.receipts`'. What only one end uses stays with it.
"""

from __future__ import annotations

__all__ = [
    "FILES_ENDPOINT",
    "HEALTH_ENDPOINT",
    "KIOSKS_ENDPOINT",
    "KIOSK_ID_KEY",
    "RECEIPTS_ENDPOINT",
    "RECEIPT_CONTENT_TYPE",
    "RECEIPT_HEADER",
    "RECORD_ID_KEY",
    "SERVER_PRODUCT",
    "SERVER_VERSION",
    "SHA256_KEY",
    "UPLOAD_LENGTH",
    "UPLOAD_METADATA",
    "UPLOAD_OFFSET",
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
