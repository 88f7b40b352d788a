"""One record's bytes over tus: the upload opened (resumed at the intake's offset, or created
with its URL journaled before the first byte), the ``PATCH``es until the intake holds every
byte, a link that breaks mid-``PATCH`` resumed at once, and the next record's upload created
ahead on a second connection while these bytes flow (``docs/upload.md``).

* **The upload URL is journaled before the first byte.** tus creates the upload with a
  ``POST``; the URL goes into the journal (:meth:`Journal.start_upload`, fsync'd) before
  any ``PATCH``, so a kill or power cut at any instant leaves either no upload or one the
  next run resumes from the intake's offset, instead of resending a megabyte of
  fingerprints over a rural link.
* **The round trips of a record overlap the bytes of another.** On a rural link the
  bandwidth is what is scarce; a round trip is 0.3 s of idle link. While a record's bytes
  flow, the next record never tried is created (``POST``) on a second connection and its
  URL journaled (fsync'd) before any of its ``PATCH``es, exactly as above (the receipt
  comes with the last ``PATCH``'s answer: :mod:`kiosk.upload.acknowledge`).

:class:`TusTransfer` is the part of :class:`~kiosk.upload.uploader.Uploader` that speaks
tus; the uploader (passes, journaling) mixes it in and supplies the attributes
declared below.
"""

from __future__ import annotations

import hashlib
import io
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests
from tusclient.client import TusClient

from kiosk.core.intake_api import KIOSK_ID_KEY, RECORD_ID_KEY, SHA256_KEY, RefusalCode
from kiosk.journal import Journal, RecordInfo
from kiosk.service import Notifier
from kiosk.upload.failures import (
    Failure,
    error_detail,
    link_failure,
    not_the_intake,
    parse_refusal,
)
from kiosk.upload.progress import ProgressFile
from kiosk.upload.settings import UploadSettings
from kiosk.upload.tus import TimedTusUploader, TusCommunicationError

log = logging.getLogger("kiosk.upload.uploader")  # one logger for the uploader's lines

STALLED_ATTEMPTS = 2  # attempts in a row that the intake kept nothing of: the link is down
BROKEN_RETRIES = 2  # a request cut mid-exchange (reset, closed) is sent again at once this often


class Stopped(Exception):
    """Asked to stop between two requests."""


@dataclass
class Ahead:
    """The upload of the next record, created on the second connection while the record
    before it was sending: ``url`` is set once it is journaled (durable), with the packet."""

    record_id: str
    thread: threading.Thread | None = None
    url: str | None = None
    packet: bytes = b""
    digest: str = ""


class TusTransfer:
    """The tus half of the uploader (see the module docstring)."""

    # supplied by the Uploader
    journal: Journal
    settings: UploadSettings
    session: requests.Session
    stop: threading.Event
    notifier: Notifier
    progress: ProgressFile | None
    progressed: bool
    on_progress: Callable[[str, int, int], None] | None
    _files_url: str
    _headers: dict[str, str]
    _ahead_session: requests.Session | None
    _ahead: Ahead | None
    _next: RecordInfo | None
    _not_before: dict[str, float]

    # and its methods _new_session(), _packet(info), _journal_failure(record_id, failure)

    # -- the next record's creation, ahead --------------------------------------------------
    def _create_ahead(self) -> None:
        """Create the next record's upload on the second connection, in a thread, while
        this record's bytes flow (called once this record's upload is open)."""
        info, self._next = self._next, None
        if info is None or self._ahead is not None or self.stop.is_set():
            return
        if self._not_before.get(info.id, 0.0) > time.monotonic():
            return
        ahead = Ahead(info.id)
        ahead.thread = threading.Thread(target=self._create, args=(info, ahead),
                                        name="upload-ahead", daemon=True)
        self._ahead = ahead
        ahead.thread.start()

    def _create(self, info: RecordInfo, ahead: Ahead) -> None:
        """The creation of :meth:`_open`, ahead: ``POST``, then the URL journaled (durable)
        before anything else may use it. Any failure leaves the record to its turn, which
        creates the upload itself (a ``429`` at the intake's quota, a reset: nothing is
        journaled against the record here)."""
        try:
            packet = self._packet(info)
            digest = hashlib.sha256(packet).hexdigest()
            if self._ahead_session is None:
                self._ahead_session = self._new_session()
            tus = self._tus(info, packet, digest, None, session=self._ahead_session)
            for retry in range(BROKEN_RETRIES + 1):
                try:
                    url = tus.create_url()
                    break
                except TusCommunicationError as exc:
                    failure = self._tus_failure(exc, "creating the upload ahead")
                    if not failure.broken or retry == BROKEN_RETRIES or self.stop.is_set():
                        raise failure from exc
            self.journal.start_upload(info.id, url)  # durable before the first PATCH
        except Failure as failure:
            log.info("record %s: not created ahead (%s); it will be in its turn", info.id,
                     failure.reason)
            return
        except Exception as exc:  # e.g. the journal: the record's turn meets it again
            log.info("record %s: not created ahead (%s: %s); it will be in its turn",
                     info.id, type(exc).__name__, exc)
            return
        ahead.packet, ahead.digest, ahead.url = packet, digest, url
        log.info("record %s: uploading %d bytes to %s (created ahead)", info.id, len(packet),
                 url)

    def _take_ahead(self, record_id: str) -> Ahead | None:
        """The upload created ahead for ``record_id`` (waiting for its creation to end), or
        None. Used once: a second turn of the record resumes as any journaled upload."""
        ahead = self._ahead
        if ahead is None or ahead.record_id != record_id:
            return None
        self._ahead = None
        if ahead.thread is not None:
            ahead.thread.join()  # one request, bounded by its timeout
        return ahead if ahead.url is not None else None

    def _settle_ahead(self) -> None:
        """At the end of a pass: wait for a creation ahead to end (one request, bounded by
        its timeout) and forget it; a record it journaled is resumed like any other."""
        ahead, self._ahead = self._ahead, None
        self._next = None
        if ahead is not None and ahead.thread is not None:
            ahead.thread.join()

    def _http_failure(self, status: int, what: str, body: bytes | str | None,
                      retry_after: float | None = None) -> Failure:
        detail = error_detail(body)
        suffix = f": {detail}" if detail else ""
        refusal = parse_refusal(body)
        if refusal is not None and refusal[2] and status in (403, 413, 422):
            return Failure(f"intake refused the record [{refusal[0]}] (HTTP {status} "
                            f"{what}): {refusal[1]}", reject=True)
        if status == 413:  # the library's own size gate (Tus-Max-Size)
            return Failure(f"intake refused the record [{RefusalCode.TOO_LARGE}] (HTTP 413 {what})"
                            f"{suffix}", reject=True)
        if status in (401, 403):  # every record would get the same answer
            return Failure(f"the intake refused this kiosk's credentials (HTTP {status})"
                            f"{suffix}", link_down=True)
        if status >= 500 or status == 429:
            return Failure(f"intake unavailable (HTTP {status} {what}){suffix}",
                            link_down=True, retry_after=retry_after)
        return Failure(f"{what}: the intake answered HTTP {status}{suffix}",
                        retry_after=retry_after)

    def _tus_failure(self, exc: TusCommunicationError, what: str) -> Failure:
        status = exc.status_code
        if status is None:
            return link_failure(exc, self.settings.timeout_s)
        if 200 <= int(status) < 300:  # "success" without tus headers: not the intake
            return not_the_intake(f"HTTP {status} without tus headers", what)
        if status in (404, 410):
            return Failure(f"the intake no longer has the upload (HTTP {status} {what})",
                            forget_url=True)
        return self._http_failure(int(status), what, exc.response_content,
                                  getattr(exc, "retry_after", None))

    def _tus(self, info: RecordInfo, packet: bytes, digest: str, url: str | None, *,
             session: requests.Session | None = None) -> TimedTusUploader:
        session = session or self.session
        client = TusClient(self._files_url, headers=dict(self._headers))
        return TimedTusUploader(
            session=session, timeout=self.settings.timeout_s, client=client, url=url,
            verify_tls_cert=session.verify,
            file_stream=io.BytesIO(packet), chunk_size=self.settings.chunk_size or len(packet),
            metadata={KIOSK_ID_KEY: self.settings.kiosk_id, RECORD_ID_KEY: info.id,
                      SHA256_KEY: digest})

    def _send(self, info: RecordInfo, packet: bytes, digest: str,
              created: str | None = None) -> str | None:
        """The tus upload: resume the journaled one, or create one and journal its URL
        before sending a byte (``created``: one created ahead, journaled, still empty);
        then send until the intake holds every byte. Returns the receipt the completing
        ``PATCH``'s answer carried (:data:`~kiosk.core.intake_api.RECEIPT_HEADER`,
        unverified), or None.

        A link that breaks mid-``PATCH`` is not a dead link: the intake kept what arrived,
        so the uploader asks the offset and goes on at once, for as long as attempts make
        progress. Only :data:`STALLED_ATTEMPTS` attempts in a row that leave the intake's
        offset where it was end the record's turn (and the pass), as a link that is down.
        """
        tus = self._open(info, packet, digest, created)
        offset = tus.offset
        if self.progress is not None:
            self.progress.start(info.id, len(packet), offset)
        self._create_ahead()  # the next record's round trips, while these bytes flow
        stalled = 0
        while offset < len(packet):
            if self.stop.is_set():
                raise Stopped
            size = self.settings.chunk_size or len(packet)
            end = min(len(packet), offset + size)
            try:
                offset = tus.patch(packet, offset, end, self._on_sent)
            except TusCommunicationError as exc:
                failure = self._tus_failure(exc, "sending the packet")
                if not (failure.link_down or exc.status_code == 409):
                    raise failure from exc
            else:
                stalled = 0
                self._kept(info.id, offset, len(packet))
                continue
            # The PATCH broke off (or the offset moved under it): what does the intake hold?
            before = offset
            try:
                offset = tus.get_offset()
            except TusCommunicationError as exc:
                head_failure = self._tus_failure(exc, "asking the upload's offset")
                if not head_failure.link_down:
                    raise head_failure from exc
                failure = head_failure
            if offset > before:
                stalled = 0
                self._kept(info.id, offset, len(packet))
                log.info("record %s: link broke (%s); the intake holds %d of %d bytes, "
                         "going on", info.id, failure.reason, offset, len(packet))
                continue
            stalled += 1
            if stalled >= STALLED_ATTEMPTS:
                failure.broken = False  # attempts that kept nothing: not worth more at once
                raise failure
            log.info("record %s: %s; no progress, trying once more", info.id, failure.reason)
        return tus.receipt_header

    def _on_sent(self, position: int) -> None:
        self.notifier.alive()  # a long PATCH on a slow link is this loop at work
        if self.stop.is_set():  # a long PATCH on a slow link: stop now, the intake keeps
            raise Stopped      # what arrived and the next run resumes there
        if self.progress is not None:
            self.progress.sent(position)

    def _kept(self, record_id: str, offset: int, length: int) -> None:
        self.progressed = True
        if self.progress is not None:
            self.progress.kept(offset)
        if self.on_progress is not None:
            self.on_progress(record_id, offset, length)

    def _open(self, info: RecordInfo, packet: bytes, digest: str,
              created: str | None = None) -> TimedTusUploader:
        """The journaled upload at the intake's offset, or a new one whose URL is journaled
        (fsync'd) before the first byte is sent; ``created``: the journaled URL of an upload
        created ahead, which holds no byte yet (no ``HEAD`` needed)."""
        tus: TimedTusUploader | None = None
        if created is not None:
            tus = self._tus(info, packet, digest, None)
            tus.set_url(created)
            tus.offset = 0
        elif info.upload_url:
            try:
                tus = self._tus(info, packet, digest, info.upload_url)  # HEAD: the offset
            except TusCommunicationError as exc:
                failure = self._tus_failure(exc, "resuming the upload")
                if not failure.forget_url:
                    raise failure from exc
                # The intake lost or dropped it (expired, refused, crashed): start afresh.
                self._journal_failure(info.id, failure)
            else:
                log.info("record %s: resuming upload %s at byte %d of %d", info.id,
                         info.upload_url, tus.offset, len(packet))
        if tus is None:
            tus = self._tus(info, packet, digest, None)
            try:
                url = tus.create_url()
            except TusCommunicationError as exc:
                raise self._tus_failure(exc, "creating the upload") from exc
            self.journal.start_upload(info.id, url)  # durable before the first PATCH
            tus.set_url(url)
            tus.offset = 0
            log.info("record %s: uploading %d bytes to %s", info.id, len(packet), url)
        return tus
