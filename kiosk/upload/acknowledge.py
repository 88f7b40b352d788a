"""A record acknowledged only with its proof: the receipt the intake signed, verified here.

* **Only a verified receipt acknowledges.** ``GET receipts/...`` comes first for a record
  sent before (the kiosk may have died after the intake stored the packet); a receipt is
  accepted only when :func:`kiosk.receipts.verify_receipt` passes with the configured
  intake key, this kiosk's and record's ids and the SHA-256 of the packet built here from
  the journal's blobs. The receipt and the state change are one commit, so
  ``acknowledged`` always has its proof.
  Without ``upload.intake_key`` the uploader does not start (fail closed).
* **The receipt usually rides on the last ``PATCH``.** The intake returns it with the
  ``PATCH`` that completes an upload (:data:`~kiosk.core.intake_api.RECEIPT_HEADER`), so a
  record costs no ``GET receipts/...`` unless that answer is missing or does not verify.

:class:`ReceiptCheck` is the part of :class:`~kiosk.upload.uploader.Uploader` that asks for,
verifies and journals receipts; the uploader decides when (``docs/upload.md``) and supplies
the attributes declared below.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from typing import TextIO
from urllib.parse import quote, urljoin

import requests

from kiosk.core.intake_api import RECEIPT_CONTENT_TYPE, RECEIPTS_ENDPOINT, RefusalCode
from kiosk.errors import SealingError
from kiosk.journal import Journal, RecordInfo
from kiosk.receipts import ReceiptForAnotherPacket, verify_receipt
from kiosk.upload.failures import (
    Failure,
    error_detail,
    link_failure,
    not_the_intake,
    one_line,
    parse_refusal,
)
from kiosk.upload.settings import UploadSettings
from kiosk.upload.tus import retry_after_s

log = logging.getLogger("kiosk.upload.uploader")  # one logger for the uploader's lines


class ReceiptCheck:
    """The receipt half of the uploader (see the module docstring)."""

    # supplied by the Uploader
    journal: Journal
    settings: UploadSettings
    session: requests.Session
    out: TextIO | None
    _base: str

    # and the TusTransfer's method _http_failure(status, what, body, retry_after)

    def _receipt_from_answer(self, info: RecordInfo, digest: str, header: str) -> bool:
        """Acknowledge with the receipt the final ``PATCH``'s answer carried
        (:data:`~kiosk.core.intake_api.RECEIPT_HEADER`), checked exactly as ``GET receipts/...``'s
        body is; False (ask ``receipts/``) when it does not decode or verify."""
        try:
            body = base64.b64decode(header, validate=True)
            verify_receipt(body, self.settings.intake_key, kiosk_id=self.settings.kiosk_id,
                           record_id=info.id, packet_sha256=digest)
        except (ValueError, SealingError) as exc:
            log.warning("record %s: the receipt in the intake's answer is unusable (%s); "
                        "asking for it", info.id, one_line(str(exc), 120))
            return False
        self._acknowledge(info.id, body)
        return True

    def _acknowledge(self, record_id: str, receipt: bytes) -> None:
        self.journal.acknowledge(record_id, receipt)
        if self.out is not None:
            print(f"acknowledged {record_id}", file=self.out, flush=True)

    def _fetch_receipt(self, info: RecordInfo, digest: str | Callable[[], str], *,
                       after_upload: bool, on_stick: bool = False) -> bool:
        """True once the record is acknowledged with a verified receipt; False when the
        intake has none (before uploading); Failure otherwise. ``digest``: the SHA-256 of
        the packet, or what computes it, called only for a receipt to verify. ``on_stick``:
        a record exported to a USB stick, asked about and never sent from here."""
        url = urljoin(self._base, f"{RECEIPTS_ENDPOINT}/{quote(self.settings.kiosk_id)}/"
                                  f"{quote(info.id)}")
        try:
            # verify named per request: a session's own setting loses to REQUESTS_CA_BUNDLE
            resp = self.session.get(url, timeout=self.settings.timeout_s,
                                    verify=self.session.verify)
            status, body = resp.status_code, resp.content
        except requests.RequestException as exc:
            raise link_failure(exc, self.settings.timeout_s) from exc
        if status == 200:
            kind = resp.headers.get("Content-Type", "")
            if not kind.startswith(RECEIPT_CONTENT_TYPE):
                raise not_the_intake(kind or "no Content-Type", "fetching the receipt")
            try:
                verify_receipt(body, self.settings.intake_key, kiosk_id=self.settings.kiosk_id,
                               record_id=info.id,
                               packet_sha256=digest() if callable(digest) else digest)
            except ReceiptForAnotherPacket as exc:
                # signed by the intake, for this record, for other bytes: the intake holds
                # a different packet for this record id and never takes ours
                raise Failure(f"intake refused the record [{RefusalCode.DIFFERENT_PACKET}]: {exc}",
                               reject=True) from exc
            except SealingError as exc:
                raise Failure(str(exc)) from exc
            self._acknowledge(info.id, body)
            return True
        if status == 404 and not after_upload:
            return False
        if status == 404:
            raise Failure("the intake has no receipt for the completed upload")
        if status == 422 and not after_upload:
            log.info("record %s: the intake refused an earlier packet (%s)%s", info.id,
                     error_detail(body), " from a USB stick; the office's receipts file "
                     "says why (kiosk queue import)" if on_stick else "; sending it again")
            return False
        if status == 422:
            refusal = parse_refusal(body)
            if refusal is None or refusal[2]:
                code = f" [{refusal[0]}]" if refusal else ""
                raise Failure(f"intake refused the packet{code}: {error_detail(body)}",
                               reject=True)
            raise Failure(f"intake refused the packet [{refusal[0]}], for now: "
                           f"{refusal[1]}", forget_url=True)
        raise self._http_failure(status, "fetching the receipt", body,
                                 retry_after_s(resp.headers.get("Retry-After")))
