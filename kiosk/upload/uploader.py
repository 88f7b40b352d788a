"""``kiosk upload``: sealed records from the journal's outbox to the central intake.

The protocol is ``docs/upload.md`` (version 1); this module is the kiosk's half. Why it is
built the way it is:

* **A second journal writer.** The uploader runs beside the kiosk UI (or ``kiosk demo``)
  as its own process. It opens the journal with :func:`kiosk.runtime.open_journal`, whose
  per-write ``flock`` (the journal's single-writer rule) makes two writer processes safe,
  and it never runs the start-up recovery that discards unfinished sessions: the UI may be
  in the middle of one. It only ever touches records in the outbox (``sealed`` or
  ``uploading``), and those on a USB stick (``exported``) only to acknowledge them with a
  receipt the intake holds already. One uploader per kiosk (``<data_dir>/upload.lock``),
  so two never race for the same record.
* **Two jobs of their own, each with its design notes:** one record's bytes over tus, its
  upload URL journaled before the first byte and the next record created ahead while they
  flow (:mod:`kiosk.upload.transfer`); and its proof, a receipt acknowledged only once
  verified against the packet built here (:mod:`kiosk.upload.acknowledge`). This module
  drives them: the passes over the outbox, and for each record whether to ask for a
  receipt before sending it.
* **Failures are journaled, per record, without personal data.** Each failed attempt
  counts in ``attempts`` with a one-line ``last_error`` ("connection refused", "intake
  refused the packet: ..."). A damaged payload fails only its own record. A link that is
  down (connection refused, timeout, the intake answering 5xx) ends the pass at once: the
  next records would fail the same way, and attempts should say something about a record,
  not about the weather.

``kiosk upload --once`` makes one pass plus up to ``upload.retries`` more (short backoff)
and exits 0 when the outbox is empty, 1 otherwise. Without ``--once`` it drains every
``upload.interval_s`` seconds, backing off exponentially (up to ``upload.max_backoff_s``)
while the link is down. SIGTERM/SIGINT let the current request finish, then it exits.
stdout carries exactly one line ``acknowledged <record-id>`` per record acknowledged.
"""

from __future__ import annotations

import hashlib
import logging
import random
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO
from urllib.parse import urljoin

import requests

from kiosk.core.exits import EXIT_OK, EXIT_PENDING
from kiosk.core.intake_api import FILES_ENDPOINT
from kiosk.errors import IllegalStateChange, JournalError, SealingError
from kiosk.journal import Journal, RecordInfo
from kiosk.request_signing import KioskAuth
from kiosk.sealing import build_packet
from kiosk.sealing_keys import DeviceKey
from kiosk.service import Notifier
from kiosk.upload.acknowledge import ReceiptCheck
from kiosk.upload.failures import Failure
from kiosk.upload.progress import ProgressFile
from kiosk.upload.purge import purge_expired
from kiosk.upload.settings import UploadSettings
from kiosk.upload.transfer import BROKEN_RETRIES, Ahead, Stopped, TusTransfer
from kiosk.upload.tus import upload_session

log = logging.getLogger(__name__)

ONCE_BACKOFF_S = 0.25  # --once: pause before retry pass n is ONCE_BACKOFF_S * 2**n ...
ONCE_BACKOFF_CAP_S = 5.0  # ... but never more than this
#: Records on a USB stick (``exported``) whose receipt the uploader asks for, after the
#: outbox, in one pass; each again after STICK_ASK_S, the wait doubling up to STICK_ASK_MAX_S.
STICK_ASKS_PER_PASS = 20
STICK_ASK_S = 3600.0
STICK_ASK_MAX_S = 86400.0


@dataclass
class PassResult:
    """One pass over the outbox."""

    acknowledged: int = 0
    failed: int = 0
    link_down: str | None = None  # why the pass ended early: the intake is unreachable
    stopped: bool = False  # SIGTERM/SIGINT (or the caller's stop event)
    progressed: bool = False  # the intake accepted bytes (or a record) during the pass
    rejected: int = 0  # records the intake refused for good (now `rejected`)
    deferred: int = 0  # records skipped: their own backoff after a failure has not run out
    retry_after: float | None = None  # the intake asked for this long a pause


class Uploader(ReceiptCheck, TusTransfer):
    """Drains a journal's outbox to the intake (see the module docstring).

    >>> with open_journal(config) as journal:                      # doctest: +SKIP
    ...     Uploader(journal, UploadSettings.from_config(config, key)).run_once()

    ``out`` receives ``acknowledged <record-id>`` lines; ``stop`` ends the work between two
    requests; ``on_progress(record_id, offset, length)`` is called each time the intake
    reports a new offset; ``progress`` (a :class:`ProgressFile`) tells ``kiosk status``
    how the record in flight is moving; ``notifier`` tells systemd the loop is alive.
    """

    def __init__(self, journal: Journal, settings: UploadSettings, *,
                 out: TextIO | None = None, stop: threading.Event | None = None,
                 on_progress: Callable[[str, int, int], None] | None = None,
                 progress: ProgressFile | None = None,
                 clock_trusted: Callable[[], bool] = lambda: False,
                 notifier: Notifier | None = None) -> None:
        self.journal = journal
        # systemd's watchdog, pinged from this loop (kiosk/service.py); silent by default
        self.notifier = notifier or Notifier({})
        self.clock_trusted = clock_trusted
        self.settings = settings
        self.out = out
        self.stop = stop or threading.Event()
        self.on_progress = on_progress
        self.progress = progress
        self.progressed = False
        self.per_record_backoff = False  # run_forever turns it on
        self._not_before: dict[str, float] = {}  # record id -> monotonic time of its next try
        # exported record id -> (monotonic time of its next ask, the wait before that)
        self._stick_next: dict[str, tuple[float, float]] = {}
        # exported record id -> when first seen with a synchronised clock (_stick_overdue)
        self._stick_seen_trusted: dict[str, datetime] = {}
        self._failures: dict[str, int] = {}  # record id -> failures in a row
        self._random = random.Random()  # noqa: S311 -- jitter, not a secret
        self.last_error: str | None = None
        base = settings.url if settings.url.endswith("/") else settings.url + "/"
        self._base = base
        self._files_url = urljoin(base, f"{FILES_ENDPOINT}/")
        self._headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else {}
        # load, never create: a key made here (a mistyped data_dir) would sign for a kiosk
        # the intake does not know, and hide where the real records are
        self._device_key = (DeviceKey.load(Path(settings.device_key))
                            if settings.device_key else None)
        self.session = self._new_session()
        # creations ahead (see the module docstring) go on a connection of their own, so
        # they never wait behind the bytes of a PATCH
        self._ahead_session: requests.Session | None = None
        self._ahead: Ahead | None = None  # the next record's upload, being created ahead
        self._next: RecordInfo | None = None  # the record to create ahead, if any

    def _new_session(self) -> requests.Session:
        session = upload_session(ca_file=self.settings.ca_file,
                                 fingerprint=self.settings.tls_fingerprint)
        if self._device_key is not None:  # docs/upload.md, "Kiosk authentication"
            session.auth = KioskAuth(self.settings.kiosk_id, self._device_key)
        session.headers.update(self._headers)
        return session

    def close(self) -> None:
        self._settle_ahead()
        if self._ahead_session is not None:
            self._ahead_session.close()
        self.session.close()

    def __enter__(self) -> Uploader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- passes ------------------------------------------------------------------------------
    def drain(self) -> PassResult:
        """One pass over the outbox, oldest record first."""
        result = PassResult()
        self.progressed = False
        self.rejected_ids: list[str] = []
        interrupted = False
        try:
            self._drain(result)
        except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM (kiosk upload --once)
            interrupted = True
            raise
        finally:
            if interrupted:  # stop at once: a creation ahead is not waited for (a daemon
                self._ahead, self._next = None, None  # thread; what it journals resumes)
            else:
                self._settle_ahead()
            result.progressed = self.progressed or result.acknowledged > 0
            if self.progress is not None:
                self.progress.done()
        return result

    def _drain(self, result: PassResult) -> None:
        self._send_records(self.journal.outbox(), result)
        if not (result.stopped or result.link_down):
            requeued = self._ask_about_sticks(result)
            if requeued and not (result.stopped or result.link_down):  # in this pass:
                self._send_records([r for r in self.journal.outbox() if r.id in requeued],
                                   result)

    def _send_records(self, outbox: list[RecordInfo], result: PassResult) -> None:
        for index, info in enumerate(outbox):
            self.notifier.alive()
            if self.stop.is_set():
                result.stopped = True
                break
            if self._not_before.get(info.id, 0.0) > time.monotonic():
                result.deferred += 1
                continue
            # the record whose upload may be created while this one's bytes flow
            self._next = next((r for r in outbox[index + 1:] if self._never_tried(r)), None)
            try:
                self._process_retrying(info)
            except Stopped:
                result.stopped = True
                break
            except Failure as failure:
                if failure.reject:
                    self._journal_rejection(info.id, failure)
                    self.rejected_ids.append(info.id)
                    result.rejected += 1
                    continue
                self._journal_failure(info.id, failure)
                if failure.link_down:
                    result.link_down = failure.reason
                    result.retry_after = failure.retry_after
                    break
                result.failed += 1
                self._defer(info.id, failure.retry_after)
            except IllegalStateChange as exc:  # moved on by someone else (an export tool)
                log.warning("record %s left the outbox meanwhile: %s", info.id, exc)
            else:
                result.acknowledged += 1
                self._not_before.pop(info.id, None)
                self._failures.pop(info.id, None)

    def _ask_about_sticks(self, result: PassResult) -> set[str]:
        """The outbox sent, ask the intake for the receipt of records on a USB stick
        (``exported``): once the office has imported the stick, its receipt comes back over
        the link and acknowledges the record, as ``kiosk queue import`` of the receipts file
        would, without the stick's round trip. At most :data:`STICK_ASKS_PER_PASS` a pass,
        oldest first, each record again after :data:`STICK_ASK_S`, doubling up to
        :data:`STICK_ASK_MAX_S` (a tour's thousand records are a few requests a pass, not a
        thousand an hour). A record the intake does not hold waits for its stick, unless it
        has waited ``stick_resend_days`` (:meth:`_stick_overdue`): the stick may be lost,
        so the record goes back to the outbox (``uploading``). Returns those ids."""
        requeued: set[str] = set()
        asked = 0
        now = time.monotonic()
        for info in self.journal.records("exported"):
            if asked >= STICK_ASKS_PER_PASS:
                break
            if self.stop.is_set():
                result.stopped = True
                break
            due, waited = self._stick_next.get(info.id, (0.0, 0.0))
            if due > now:
                continue
            self.notifier.alive()
            asked += 1
            try:
                # the packet is rebuilt (its blobs read) only for a receipt to verify
                if self._fetch_receipt(
                        info, lambda info=info: hashlib.sha256(self._packet(info)).hexdigest(),
                        after_upload=False, on_stick=True):
                    result.acknowledged += 1
                    self._stick_next.pop(info.id, None)
                    continue
                if self._stick_overdue(info):
                    days = self.settings.stick_resend_days
                    self.journal.set_state(info.id, "uploading", error=(
                        f"no receipt for its USB stick within {days:g} days: queued to be sent "
                        "over the link too (the intake counts it once)"))
                    log.warning("record %s: on a USB stick for more than %g days without "
                                "a receipt; sending it over the link", info.id, days)
                    self._stick_next.pop(info.id, None)
                    requeued.add(info.id)
                    continue
            except Failure as failure:
                if failure.link_down:  # not an answer about this record: asked again soon
                    result.link_down = failure.reason
                    result.retry_after = failure.retry_after
                    break
                log.warning("record %s (on a USB stick): %s", info.id, failure.reason)
            except IllegalStateChange as exc:  # acknowledged meanwhile (a stick's receipts)
                log.info("record %s moved on meanwhile: %s", info.id, exc)
                continue
            wait = min(max(waited * 2, STICK_ASK_S), STICK_ASK_MAX_S)
            self._stick_next[info.id] = (time.monotonic() + wait, wait)
        return requeued

    def _stick_overdue(self, info: RecordInfo) -> bool:
        """Whether ``info`` (``exported``) has waited ``stick_resend_days`` since its export.
        Only by a clock known right: nothing is overdue while this kiosk's clock is not
        synchronised, and an export stamped by a clock that was not (a tour without a link
        is just where sticks are used) counts from when this uploader first saw the record
        with a synchronised clock (again after a restart: it waits the longer, for its
        stick; the doctor's backlog line says the stick is late)."""
        days = self.settings.stick_resend_days
        if days <= 0 or not self.clock_trusted():
            return False
        now = datetime.now(UTC)
        since = self._export_time(info)
        if since is None or since > now:
            since = self._stick_seen_trusted.setdefault(info.id, now)
        return now - since >= timedelta(days=days)

    def _export_time(self, info: RecordInfo) -> datetime | None:
        """When ``info`` was last exported, by a synchronised clock; None if not known so."""
        for event in reversed(self.journal.record_events(info.id)):
            exported = event.event == "record_exported" or (
                event.event == "record_state" and event.details.get("to_state") == "exported")
            if not exported:
                continue
            if not event.clock_trusted:
                return None
            try:
                when = datetime.fromisoformat(event.created_at.replace("Z", "+00:00"))
            except ValueError:
                return None
            return when if when.tzinfo else when.replace(tzinfo=UTC)
        return None

    def _defer(self, record_id: str, retry_after: float | None) -> None:
        """The daemon's per-record backoff after a failure that was about this record (not
        the link): exponential with full jitter, capped, at least what the intake asked.
        ``--once`` makes its few passes without it."""
        if not self.per_record_backoff:
            return
        n = self._failures.get(record_id, 0) + 1
        self._failures[record_id] = n
        ceiling = min(self.settings.max_backoff_s, self.settings.interval_s * 2 ** min(n, 32))
        delay = max(self._random.uniform(0, ceiling), retry_after or 0.0)
        self._not_before[record_id] = time.monotonic() + delay
        log.info("record %s: next try in %.0f s", record_id, delay)

    def run_once(self) -> int:
        """``--once``: a pass, plus up to ``retries`` more while records are pending.

        0 when the outbox is empty at the end, else 1 with one summary line on stderr.
        """
        passes = 1 + max(0, self.settings.retries)
        waiting = len(self.journal.outbox())
        on_sticks = self.journal.counts().get("exported", 0)
        if on_sticks:  # not sent: a stick carries them (docs/usb.md)
            log.info("%d exported %s not sent: on USB sticks, waiting for the office's "
                     "receipts (kiosk queue import)", on_sticks,
                     "record" if on_sticks == 1 else "records")
        if waiting:  # said first: a silent intake leaves the next line timeout_s away
            log.info("%d %s to send to %s (up to %d %s; each request waits up to %g s "
                     "for an answer)", waiting, "record" if waiting == 1 else "records",
                     self._base, passes, "pass" if passes == 1 else "passes",
                     self.settings.timeout_s)
        rejected: list[str] = []
        for n in range(passes):
            result = self.drain()
            rejected += self.rejected_ids
            if result.stopped or self.stop.is_set() or not self.journal.outbox():
                break
            if n + 1 < passes:
                delay = min(ONCE_BACKOFF_S * 2**n, ONCE_BACKOFF_CAP_S)
                log.info("%s; pass %d of %d in %g s",
                         result.link_down or "records still pending", n + 2, passes, delay)
                self.stop.wait(delay)
        self.purge()
        pending = self.journal.outbox()
        if rejected:
            noun = "record" if len(rejected) == 1 else "records"
            print(f"kiosk upload: {len(rejected)} {noun} refused by the intake (now "
                  f"rejected; kiosk queue list shows why, kiosk queue retry requeues): "
                  f"{self.journal.record(rejected[-1]).last_error}", file=sys.stderr)
        if not pending:
            return EXIT_PENDING if rejected else EXIT_OK
        last = self.last_error or next(
            (r.last_error for r in reversed(pending) if r.last_error), None) or (
            "stopped before they were sent")
        noun = "record" if len(pending) == 1 else "records"
        print(f"kiosk upload: {len(pending)} {noun} still pending: {last}", file=sys.stderr)
        return EXIT_PENDING

    def run_forever(self) -> int:
        """The daemon: drain, sleep ``interval_s``; back off while the link is down; 0 on stop."""
        down = 0
        self.per_record_backoff = True
        log.info("uploader started: intake %s, every %g s", self._base,
                 self.settings.interval_s)
        self.notifier.ready(f"uploading to {self._base}")
        while not self.stop.is_set():
            trouble: str | None
            asked: float | None = None
            try:
                result = self.drain()
                trouble, asked = result.link_down, result.retry_after
                if result.progressed:
                    down = 0  # bytes moved: a flaky link, not a dead one
                self.purge()
            except JournalError as exc:  # disk full, lock held too long: retry later
                trouble = f"journal: {exc}"
                log.error("%s", trouble)
            if trouble:
                down += 1
                delay = min(self.settings.max_backoff_s,
                            self.settings.interval_s * 2 ** min(down - 1, 32))
                log.warning("%s; next try in %g s", trouble, delay)
            else:
                down, delay = 0, self.settings.interval_s
            self.notifier.wait(self.stop, max(delay, asked or 0.0))
        self.notifier.stopping()
        log.info("uploader stopped")
        return EXIT_OK

    def purge(self) -> list[str]:
        """Delete the payloads whose receipts are older than ``retention_days``."""
        return purge_expired(self.journal, self.settings.retention_days,
                             clock_trusted=self.clock_trusted)

    # -- one record --------------------------------------------------------------------------
    def _process_retrying(self, info: RecordInfo) -> None:
        """:meth:`_process`, sent again at once (up to :data:`BROKEN_RETRIES` times) when
        the link broke mid-exchange: on a link that resets every 64 KB the creation ``POST``
        or the receipt ``GET`` is sometimes the request that the reset hits, and that is a
        flaky link, not a dead one (which would wait ``interval_s``)."""
        for retry in range(BROKEN_RETRIES + 1):
            try:
                self._process(info)
                return
            except Failure as failure:
                if not failure.broken or retry == BROKEN_RETRIES or self.stop.is_set():
                    raise
                log.info("record %s: %s; trying again at once", info.id, failure.reason)
            info = self.journal.record(info.id)  # an upload created meanwhile is journaled

    def _process(self, info: RecordInfo) -> None:
        """Acknowledge one record, or raise Failure/Stopped."""
        ahead = self._take_ahead(info.id)
        if ahead is not None:
            info = self.journal.record(info.id)
            if info.upload_url != ahead.url:  # pragma: no cover - this process journaled it
                ahead = None
        if ahead is not None:  # created ahead, journaled, not a byte sent: nothing to ask
            packet, digest = ahead.packet, ahead.digest
        else:
            packet = self._packet(info)
            digest = hashlib.sha256(packet).hexdigest()
            # A receipt can exist only for a record that was sent before: one with a
            # journaled upload, or with failed attempts (a refusal clears the URL). A record
            # never tried skips the question, a round trip that costs 0.3 s on a rural link.
            if not self._never_tried(info) and self._fetch_receipt(info, digest,
                                                                   after_upload=False):
                return
        try:
            receipt = self._send(info, packet, digest, ahead.url if ahead else None)
        except Failure as failure:
            # The upload is gone: maybe because it completed and was processed while the
            # answer to the last PATCH was lost. The receipt says; only then start afresh.
            if failure.forget_url and not failure.reject and self._fetch_receipt(
                    info, digest, after_upload=False):
                return
            raise
        if receipt is not None and self._receipt_from_answer(info, digest, receipt):
            return
        self._fetch_receipt(info, digest, after_upload=True)

    @staticmethod
    def _never_tried(info: RecordInfo) -> bool:
        return info.upload_url is None and info.attempts == 0 and info.state == "sealed"

    def _packet(self, info: RecordInfo) -> bytes:
        if info.manifest is None:
            raise Failure("the record has no sealed manifest")
        try:
            blobs = self.journal.step_blobs(info.id)
        except JournalError as exc:
            raise Failure(f"payload unreadable: {exc}") from exc
        try:
            return build_packet(info.manifest, blobs)
        except SealingError as exc:
            raise Failure(f"cannot build the packet: {exc}") from exc

    def _journal_rejection(self, record_id: str, failure: Failure) -> None:
        self.last_error = failure.reason
        try:
            self.journal.reject(record_id, failure.reason)
        except IllegalStateChange as exc:
            log.warning("record %s left the outbox meanwhile: %s", record_id, exc)
        self._not_before.pop(record_id, None)
        self._failures.pop(record_id, None)

    def _journal_failure(self, record_id: str, failure: Failure) -> None:
        self.last_error = failure.reason
        log.warning("record %s: %s", record_id, failure.reason)
        try:
            self.journal.upload_failed(record_id, failure.reason,
                                       forget_url=failure.forget_url)
        except IllegalStateChange as exc:
            log.warning("record %s left the outbox meanwhile: %s", record_id, exc)
