"""``kiosk-intake serve``: the HTTP side of ``docs/upload.md`` (upload protocol version 1).

Packets arrive over tus 1.0.0 (core + creation) at ``/files/``, so a kiosk on a flaky rural
link resumes where it stopped instead of resending a megabyte of fingerprints. The tus
protocol itself is the ``resumable-upload`` library's (``TusServer`` and its http.server
handler); this module adds what the library leaves to its user:

* durability: the tus storage (:mod:`intake.tus_storage`: SQLite in ``DIR``, or PostgreSQL
  with ``--db``, :mod:`intake.backend`) fsyncs every chunk before the library records
  the new offset, so the offset the intake reports is never ahead of bytes that would
  survive a power cut (and the ``sha256`` check at the end catches whatever does not);
* the intake's work on a completed upload (:class:`intake.store.IntakeStore`), run inside
  the final ``PATCH`` so the kiosk's next ``GET receipts/...`` sees the result, by at most
  ``--workers`` requests at once, and a quota of unfinished uploads per kiosk
  (:mod:`intake.limits`);
* crash recovery at start: a tus upload whose bytes all arrived but that was not processed
  (killed in between) is processed before the socket is served, so no kiosk is left
  resuming an upload that has nothing left to send;
* ``GET /receipts/<kiosk>/<record>``, ``GET /kiosks/<kiosk>`` (``kiosk doctor``: is this
  kiosk registered with the key it signs with?), ``GET /health`` and the bearer token;
* **every byte that arrives is kept**: the library reads a ``PATCH`` body whole before it
  writes anything, so on a link that drops every 64 KB a 256 KiB chunk is never kept and
  the kiosk resends it for ever. :meth:`IntakeHandler.do_PATCH` streams the body instead
  and hands it to the library as consecutive sub-requests (``PATCH``) of what arrived
  (:data:`COMMIT_BYTES` or :data:`COMMIT_S`, whichever comes first, and whatever arrived
  when the connection breaks or goes silent), each one checked by the library's own
  protocol rules, fsync'd and then recorded as the new offset. ``HEAD`` therefore reports
  every byte received, and a kiosk resumes from there (``docs/upload.md``).

The response to the final ``PATCH`` is tus ``204`` whatever the verdict; when the packet is
stored (or was already, with the same bytes) it carries the signed receipt in
:data:`RECEIPT_HEADER` (base64), which saves a kiosk on a rural link the round trip of
``GET receipts/...``; a kiosk that finds no usable receipt there asks ``receipts/`` as before
(old kiosks always do). Only an internal failure (disk full, ...) answers ``500`` and drops
the upload, so the kiosk's retry starts a fresh one.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import fcntl
import hmac
import json
import logging
import os
import resource
import select
import signal
import socket
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import unquote, urlsplit

from resumable_upload.exceptions import TusHookError
from resumable_upload.server import TusHTTPRequestHandler

from intake.backend import open_backend
from intake.limits import (
    BUSY_RETRY_AFTER_S,
    MAX_UNFINISHED,
    BoundedTusServer,
    WorkPool,
    default_workers,
)
from intake.store import (
    IntakeStore,
    Refusal,
    safe_text,
    valid_record_id,
)
from intake.tus_storage import DurableSQLiteStorage  # noqa: F401 -- its old home
from kiosk.core.canonical import SHA256_HEX
from kiosk.core.ids import is_kiosk_id
from kiosk.errors import SealingError
from kiosk.queue.signing import InvalidSignature, RequestView, verify_request
from kiosk.receipts import IntakeKey
from kiosk.sealing_keys import load_central_private_key

log = logging.getLogger(__name__)

TUS_PATH = "/files"
# Tus-Max-Size by default: a sealed record is about 0.6 MiB (1-5 MiB in MOSIP's packets);
# 16 MiB is well above any real one and bounds what an upload may cost the intake.
MAX_PACKET_BYTES = 16 * 1024 * 1024
UPLOAD_EXPIRY_S = 14 * 24 * 3600  # an abandoned half upload is dropped after two weeks
REQUEST_TIMEOUT_S = 30
COMMIT_BYTES = 256 * 1024  # a streamed PATCH is made durable at least every this many bytes,
COMMIT_S = 0.5  # and when this long passed since its last commit with bytes waiting
READ_BYTES = 64 * 1024  # one read of a PATCH body from the socket
HEAD_DEADLINE_S = 10.0  # a request line and its headers arrive within this, however trickled
MAX_CONNECTIONS = 1024  # beyond this, a new connection is closed at once
STOP_GRACE_S = 3.0  # on SIGTERM, requests in flight get this long, then their sockets are cut
WHOLE_BODY_BYTES = 4 * 1024 * 1024  # a PATCH the library must read whole (chunked, or with
# an Upload-Checksum) is at most this; a kiosk's own PATCHes are streamed, whatever their size
RECOVER_EVERY_S = 5.0  # a sweep for uploads a stopped process completed but did not process
STAGED_SWEEP_EVERY = 12  # sweeps; DIR/records is scanned for left-over staged copies
LOCK_TTL_S = 60.0  # the library's default; the in-memory lock's bound on one PATCH
QUOTA_LOCK_WAIT_S = 5.0  # a creation waits this long for its kiosk's quota lock (PostgreSQL)
QUOTA_LOCK_PREFIX = "quota:"  # the quota lock's key: this, then the kiosk id (never an upload id)
RECEIPT_HEADER = "Intake-Receipt"  # the final PATCH's answer: the receipt, base64 (docs/upload.md)
THREAD_STACK_BYTES = 512 * 1024  # a connection's thread; 1,024 of them reserve 512 MiB of
# address space, not memory


_request = threading.local()  # .kiosk: the kiosk that signed the request on this thread;
# .completed: (kiosk id, record id) of the upload this thread's PATCH completed and processed


def _metadata_value(header: str | None, key: str) -> str | None:
    """One value of a tus ``Upload-Metadata`` header (``key base64,key base64``), or None
    when absent or malformed (the library and :meth:`Intake._on_create` say why)."""
    for pair in (header or "").split(","):
        parts = pair.strip().split(" ")
        if len(parts) == 2 and parts[0] == key:
            try:
                return base64.b64decode(parts[1], validate=True).decode("ascii")
            except (ValueError, UnicodeDecodeError):
                return None
    return None


def refusal_json(refusal: Refusal) -> bytes:
    """The body of a refusal: ``{"error", "code", "permanent"}`` (docs/upload.md)."""
    return json.dumps({"error": refusal.reason, "code": refusal.code,
                       "permanent": refusal.permanent}, sort_keys=True).encode()


class Intake:
    """Everything one ``serve`` process owns: the tus server, its storage, the store."""

    def __init__(self, data: Path, token: str | None,
                 max_packet_bytes: int = MAX_PACKET_BYTES,
                 max_unfinished: int = MAX_UNFINISHED, workers: int | None = None,
                 db: str | None = None) -> None:
        self.data = Path(data)
        self.token = token
        self.max_unfinished = max_unfinished
        self.pool = WorkPool(workers or default_workers())
        # creations one at a time in this process (and per kiosk across processes with
        # PostgreSQL: creating()): a quota's count and the row it adds go together
        self._creating = threading.Lock()
        self._sweeps = 0  # recover() calls so far
        central = load_central_private_key(self.data / "keys" / "central.key")
        intake_key_path = self.data / "keys" / "intake.key"
        if not intake_key_path.exists():
            raise SealingError(f"intake key {intake_key_path} is missing; run "
                               f"`kiosk-intake keys init --data {self.data}` to add it")
        intake_key = IntakeKey.load_or_create(intake_key_path)
        self.backend = open_backend(self.data, db)  # SQLite in DIR, or PostgreSQL (--db)
        self.store = IntakeStore(self.data, central, intake_key,
                                 metadata=self.backend.metadata)
        self.storage = self.backend.storage
        self.tus = BoundedTusServer(
            pool=self.pool, busy_body=lambda: refusal_json(Refusal(
                "busy", f"all {self.pool.workers} workers of the intake are busy; send the "
                "end of the upload again later")),
            storage=self.storage, base_path=TUS_PATH, max_size=max_packet_bytes,
            max_chunk_size=WHOLE_BODY_BYTES,
            upload_expiry=UPLOAD_EXPIRY_S, cleanup_interval=3600,
            request_timeout=REQUEST_TIMEOUT_S, checksum_algorithms=("sha1", "sha256"),
            disable_concatenation=True, on_upload_create=self._on_create,
            on_upload_complete=self._on_complete, lock_backend=self.backend.locks,
            lock_ttl_seconds=LOCK_TTL_S)
        # A packet's length is always known up front, and a creation carries no body (the
        # handler refuses one: it would be read whole); do not advertise what is refused.
        self.tus.SUPPORTED_EXTENSIONS = [
            e for e in self.tus.SUPPORTED_EXTENSIONS
            if e not in ("creation-defer-length", "creation-with-upload")]
        log.info("intake key %s; %d upload(s) in progress; %d worker(s) for completed "
                 "uploads, %d unfinished upload(s) per kiosk", intake_key.key_id,
                 self._count_uploads(), self.pool.workers, max_unfinished)

    @contextlib.contextmanager
    def creating(self, upload_metadata: str | None) -> Iterator[bool]:
        """Around a creation (``POST``): the quota's count (:meth:`_on_create`) and the row
        the creation adds go together. In this process creations run one at a time; with
        PostgreSQL, where several processes create uploads, the kiosk's quota lock (an
        advisory lock keyed by its id, :mod:`intake.pg`) is held too, so the quota holds
        across processes. Yields False when that lock stayed busy for
        :data:`QUOTA_LOCK_WAIT_S` (the caller answers ``503``)."""
        kiosk_id = _metadata_value(upload_metadata, "kiosk_id")
        token = None
        if self.backend.shared and is_kiosk_id(kiosk_id):
            key = QUOTA_LOCK_PREFIX + kiosk_id
            token = self.backend.locks.acquire(key, ttl_seconds=LOCK_TTL_S,
                                               wait_timeout=QUOTA_LOCK_WAIT_S)
            if token is None:
                yield False
                return
        try:
            with self._creating:
                yield True
        finally:
            if token is not None:
                self.backend.locks.release(QUOTA_LOCK_PREFIX + str(kiosk_id), token)

    def _count_uploads(self) -> int:
        return len(os.listdir(self.storage.upload_dir))

    # -- tus hooks ------------------------------------------------------------------------
    def _on_create(self, upload_id: str, metadata: dict[str, str],
                   upload_length: int | None) -> None:
        kiosk_id, record_id = metadata.get("kiosk_id", ""), metadata.get("record_id", "")
        if not valid_record_id(kiosk_id, record_id):
            raise TusHookError("Upload-Metadata needs kiosk_id and record_id "
                               "(a record id of that kiosk)", status_code=400)
        if not SHA256_HEX.fullmatch(metadata.get("sha256", "")):
            raise TusHookError("Upload-Metadata needs sha256: the packet's lowercase hex "
                               "SHA-256", status_code=400)
        if not upload_length:
            raise TusHookError("Upload-Length must be the packet's length", status_code=400)
        signer = getattr(_request, "kiosk", None)
        if signer is not None and signer != kiosk_id:
            raise TusHookError(refusal_json(Refusal(
                "ids_mismatch", f"kiosk {signer} may not upload records of kiosk "
                f"{kiosk_id}")).decode(), status_code=403)
        refusal = self.store.check_kiosk(kiosk_id)
        if refusal is not None:  # before a byte is stored
            log.warning("upload for record %s refused (%s): %s", record_id, refusal.code,
                        refusal.reason)
            raise TusHookError(refusal_json(refusal).decode(), status_code=403)
        unfinished = self.storage.unfinished_uploads(kiosk_id)
        if unfinished >= self.max_unfinished:  # 429 + Retry-After (intake.limits)
            refusal = Refusal("too_many_uploads", f"kiosk {kiosk_id} has {unfinished} "
                              f"unfinished uploads, the most this intake allows; finish "
                              f"one (or let it expire) first")
            log.warning("upload for record %s refused (%s): %s", record_id, refusal.code,
                        refusal.reason)
            raise TusHookError(refusal_json(refusal).decode(), status_code=429)
        log.info("upload %s started: record %s of kiosk %s, %d bytes", upload_id, record_id,
                 kiosk_id, upload_length)

    def _on_complete(self, upload_id: str, metadata: dict[str, str],
                     file_info: dict[str, Any]) -> dict[str, Any] | None:
        try:
            self.process(upload_id, metadata)
            _request.completed = (metadata.get("kiosk_id", ""), metadata.get("record_id", ""))
        except Exception:
            log.exception("upload %s: could not be processed; dropped, the kiosk will "
                          "upload again", upload_id)
            with contextlib.suppress(Exception):
                self.storage.delete_upload(upload_id)
            return {"status_code": 500,
                    "body": "the intake could not store the packet; upload it again"}
        return None

    def process(self, upload_id: str, metadata: dict[str, str]) -> None:
        """Run the protocol's steps on a completed upload, then drop the tus copy."""
        upload = self.storage.get_upload(upload_id)
        if upload is None:
            return
        self.store.accept(upload_id, metadata, Path(self.storage.get_file_path(upload_id)))
        self.storage.delete_upload(upload_id)

    def recover(self) -> None:
        """Process uploads that were complete but unprocessed when a process died: at
        start, and every :data:`RECOVER_EVERY_S` while serving (another intake process on
        the same PostgreSQL may have died). Each is processed as a final ``PATCH`` would
        be: in a slot of the worker pool (taken first, as a ``PATCH`` does, then the lock),
        and holding the upload's lock (:mod:`intake.backend`'s ``locks``), so a request
        and a sweep, in this process or another, never process one upload at once. An
        upload whose lock is held is being completed by a live request and is left to it;
        with every worker busy, the sweep stops (without waiting) until the next one. At
        start and every :data:`STAGED_SWEEP_EVERY` sweeps it also removes the temporary
        files of ``DIR/records`` a stopped process left (:meth:`IntakeStore.sweep_staged`)."""
        if self._sweeps % STAGED_SWEEP_EVERY == 0:  # at start, then about once a minute
            self.store.sweep_staged()
        self._sweeps += 1
        for upload_id, metadata in self.storage.finished_uploads():
            with self.pool.slot(wait_s=0) as got:
                if not got:
                    return
                token = self.backend.locks.acquire(upload_id, ttl_seconds=LOCK_TTL_S,
                                                   wait_timeout=0)
                if token is None:
                    continue
                try:
                    if self.storage.get_upload(upload_id) is None:  # processed meanwhile
                        continue
                    log.info("upload %s: completed but not processed (a process stopped);"
                             " processing it now", upload_id)
                    self._on_complete(upload_id, metadata, {})
                finally:
                    self.backend.locks.release(upload_id, token)

    # -- the other endpoints --------------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        if self.token is None:
            return True
        expected = f"Bearer {self.token}".encode()
        return header is not None and hmac.compare_digest(header.strip().encode(), expected)

    def authenticate(self, view: RequestView) -> tuple[str | None, int, Refusal | None]:
        """(kiosk id, 0, None) for a request signed by a registered kiosk, else (None,
        HTTP status, why)."""
        if "signature" not in view.headers:
            return None, 401, Refusal("unsigned", "requests must be signed by a registered "
                                      "kiosk's device key (docs/upload.md)")
        looked_up: list[str] = []

        def public_key(kiosk_id: str) -> bytes | None:
            looked_up.append(kiosk_id)
            device = self.store.registration(kiosk_id)
            return None if device is None or device.revoked else device.public_key

        try:
            return verify_request(view, public_key), 0, None
        except InvalidSignature as exc:
            if looked_up:
                refusal = self.store.check_kiosk(looked_up[-1])
                if refusal is not None:
                    return None, 403, refusal
                return None, 403, Refusal("wrong_key", f"the request's signature does not "
                                          f"verify with the key registered for kiosk "
                                          f"{looked_up[-1]}")
            return None, 401, Refusal("unsigned", f"the request signature is unusable: "
                                      f"{safe_text(exc, 120)}")

    def owns_upload(self, kiosk_id: str, path: str) -> bool:
        """Whether the tus upload ``path`` names is ``kiosk_id``'s (or no upload at all:
        the library answers that itself)."""
        upload_id = path[len(TUS_PATH) + 1:].split("/", 1)[0] if path.startswith(
            TUS_PATH + "/") else ""
        if not upload_id:
            return True
        try:
            upload = self.storage.get_upload(upload_id)
        except Exception:  # a malformed id: the library answers it
            return True
        return upload is None or (upload.get("metadata") or {}).get("kiosk_id") == kiosk_id

    def get(self, path: str, kiosk_id: str | None = None) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET outside ``/files/``."""
        if path == "/health":
            return 200, "application/json", b'{"ok":true}'
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == "kiosks" and kiosk_id is not None:
            # `kiosk doctor`: the signature was verified (_admit), so the signer is
            # registered with the key it signs with; another kiosk is not told anything
            if parts[2] != kiosk_id:
                return 404, "application/json", b'{"error":"not found"}'
            device = self.store.registration(kiosk_id)
            if device is None:  # pragma: no cover - revoked or removed since _admit
                return 404, "application/json", b'{"error":"not found"}'
            return 200, "application/json", json.dumps(
                {"kiosk_id": kiosk_id, "key_id": device.key_id, "registered": True},
                sort_keys=True).encode()
        if len(parts) == 4 and parts[:2] == ["", "receipts"] and is_kiosk_id(parts[2]) and (
                kiosk_id is None or parts[2] == kiosk_id):
            status, body = self.store.receipt(parts[2], parts[3])
            if status == 200 and isinstance(body, bytes):
                return 200, "application/octet-stream", body
            if isinstance(body, Refusal):
                return status, "application/json", refusal_json(body)
            return status, "application/json", json.dumps({"error": body}).encode()
        return 404, "application/json", b'{"error":"not found"}'

    def close(self) -> None:
        self.store.close()
        self.backend.close()


class IntakeHandler(TusHTTPRequestHandler):
    """The library's tus handler, behind the bearer token, plus ``receipts/`` and ``health``."""

    intake: ClassVar[Intake]
    server_version = "kiosk-intake/1"
    _tls_failed = False

    def handle_one_request(self) -> None:
        self.server.head_started(self.connection)  # type: ignore[attr-defined]
        super().handle_one_request()

    def parse_request(self) -> bool:
        ok = super().parse_request()  # the request line and every header have arrived
        self.server.head_done(self.connection)  # type: ignore[attr-defined]
        return ok

    def setup(self) -> None:
        super().setup()  # the request timeout is set: it bounds the handshake too
        if isinstance(self.connection, ssl.SSLSocket):
            try:
                self.connection.do_handshake()
            except (OSError, ssl.SSLError) as exc:  # a scanner, a wrong client, a timeout
                self._tls_failed = True
                log.info("TLS handshake with %s failed: %s", self.client_address[0],
                         safe_text(getattr(exc, "reason", None) or type(exc).__name__, 80))

    def handle(self) -> None:
        if not self._tls_failed:
            super().handle()

    def _admit(self) -> str | None:
        """The kiosk that signed this request (and passed the token, when one is set), or
        None after answering the refusal (the connection closes: the body is unread)."""
        _request.kiosk = None
        if not self.intake.authorized(self.headers.get("Authorization")):
            self._reply(401, "application/json", b'{"error":"missing or wrong bearer token"}',
                        {"WWW-Authenticate": 'Bearer realm="kiosk-intake"'}, close=True)
            return None
        host = self.headers.get("Host", "")
        scheme = "https" if isinstance(self.connection, ssl.SSLSocket) else "http"
        view = RequestView(self.command, f"{scheme}://{host or 'intake'}{self.path}",
                           self.headers)
        kiosk, status, refusal = self.intake.authenticate(view)
        if kiosk is None:
            assert refusal is not None  # noqa: S101 -- authenticate's contract
            log.info("%s %s refused (%s): %s", self.command, safe_text(self.path, 80),
                     refusal.code, refusal.reason)
            self._reply(status, "application/json", refusal_json(refusal), {}, close=True)
            return None
        path = unquote(urlsplit(self.path).path)
        if not self.intake.owns_upload(kiosk, path):
            self._reply(404, "application/json", b'{"error":"not found"}', {}, close=True)
            return None
        _request.kiosk = kiosk
        return kiosk

    def _handle_request(self, method: str) -> None:
        if self._admit() is None:
            return
        if method == "POST" and (
                self.headers.get("X-HTTP-Method-Override") or self.headers.get(
                    "Transfer-Encoding") or any(
                    v.strip() != "0" for v in self.headers.get_all("Content-Length") or [])):
            # Either would have the library read a body whole, outside the streamed PATCH
            # and its bounds; a kiosk sends neither.
            self._reply(400, "application/json", b'{"error":"a creation carries no body '
                        b'(creation-with-upload is not offered) and methods are not '
                        b'overridden: POST, then PATCH"}', {}, close=True)
            return
        if method != "POST":
            super()._handle_request(method)
            return
        with self.intake.creating(self.headers.get("Upload-Metadata")) as admitted:
            if not admitted:
                body = refusal_json(Refusal(
                    "busy", "another intake process is creating an upload for this kiosk; "
                    "try again later"))
                self._reply(503, "application/json", body,
                            {"Retry-After": str(BUSY_RETRY_AFTER_S)}, close=True)
                return
            super()._handle_request(method)

    def do_PATCH(self) -> None:
        """A tus ``PATCH`` whose body is kept as it arrives (see the module docstring).

        The library's own path (whole body, then one write) still serves what cannot be
        split: a chunked body, an ``Upload-Checksum`` (which covers the whole body, so
        nothing of it may be kept before it is all there), and malformed framing, which
        the library answers with its own errors.
        """
        _request.completed = None
        if self._admit() is None:
            return
        length_header = self.headers.get_all("Content-Length") or []
        offset_header = self.headers.get("Upload-Offset", "")
        if (self.headers.get("Transfer-Encoding") or self.headers.get("Upload-Checksum")
                or len(length_header) != 1 or not length_header[0].strip().isdigit()
                or not offset_header.strip().isdigit()
                or length_header[0].strip() == "0"):
            super()._handle_request("PATCH")  # admitted already
            return
        length = int(length_header[0].strip())
        if length > self.intake.tus.max_size:
            self._send_error(413, b"Request entity too large")
            return
        self._stream_patch(length, int(offset_header.strip()))

    def _stream_patch(self, length: int, offset: int) -> None:
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in ("content-length", "upload-offset")}
        pending = bytearray()
        received = 0
        answer: tuple[int, dict[str, str], bytes] | None = None
        broke: str | None = None
        last_commit = time.monotonic()
        while received < length:
            if pending and not self._readable(last_commit + COMMIT_S - time.monotonic()):
                answer = self._commit(headers, offset, pending)
                if answer[0] >= 300:
                    break
                offset, last_commit = offset + len(pending), time.monotonic()
                pending.clear()
            try:
                piece = self.rfile.read1(min(READ_BYTES, length - received))
            except TimeoutError:
                broke = f"no data for {REQUEST_TIMEOUT_S} s"
                break
            except OSError as exc:
                broke = exc.strerror or type(exc).__name__
                break
            if not piece:
                broke = "the connection closed"
                break
            pending += piece
            received += len(piece)
            # The first piece at once (a wrong offset is answered before the rest is sent),
            # then every COMMIT_BYTES, and the last.
            if (received == len(pending) or len(pending) >= COMMIT_BYTES
                    or received == length):
                answer = self._commit(headers, offset, pending)
                if answer[0] >= 300:
                    break
                offset, last_commit = offset + len(pending), time.monotonic()
                pending.clear()
        if broke is not None:
            self.close_connection = True
            kept = self._commit(headers, offset, pending) if pending else None
            if kept is not None and kept[0] < 300:
                offset += len(pending)
            log.info("PATCH %s broke off after %d of %d bytes (%s); offset %d kept",
                     self._upload_name(), received, length, broke, offset)
            return
        if answer is None:  # pragma: no cover - length > 0, so the loop committed
            answer = (500, {}, b"")
        status, response_headers, body = answer
        if received < length:  # refused before the whole body arrived: it cannot be read
            self.close_connection = True
        if status == 204:
            response_headers = {**response_headers, **self._receipt_header()}
        self._send_tus(status, response_headers, body, close=received < length)

    def _receipt_header(self) -> dict[str, str]:
        """``{RECEIPT_HEADER: base64 receipt}`` when this request completed an upload whose
        packet is stored (the receipt is durable by then), else nothing: a refusal, or an
        upload completed elsewhere, is for ``GET receipts/...`` to tell."""
        completed = getattr(_request, "completed", None)
        _request.completed = None
        if completed is None or completed[0] != getattr(_request, "kiosk", None):
            return {}
        try:
            status, receipt = self.intake.store.receipt(*completed)
        except Exception:  # the kiosk asks receipts/ instead
            log.exception("the receipt of record %s could not be read", completed[1])
            return {}
        if status != 200 or not isinstance(receipt, bytes):
            return {}
        return {RECEIPT_HEADER: base64.b64encode(receipt).decode("ascii")}

    def _readable(self, wait_s: float) -> bool:
        """True when the body's next bytes are (or become, within ``wait_s``) readable.

        Asked only after a first ``read1``: that one returned what ``rfile`` had buffered
        with the headers, and a ``read1`` on an empty buffer reads the socket directly,
        so from then on the socket alone says whether bytes are waiting.
        """
        return bool(select.select([self.connection], [], [], max(0.0, wait_s))[0])

    def _commit(self, headers: dict[str, str], offset: int,
                data: bytearray) -> tuple[int, dict[str, str], bytes]:
        """One sub-``PATCH`` of ``data`` at ``offset`` through the library's rules.

        A last piece refused because every worker is busy (``503``, ``intake.limits``)
        still has all but its last byte kept: the kiosk resends one byte, not a piece.
        """
        sub = {**headers, "Upload-Offset": str(offset), "Content-Length": str(len(data))}
        status, response_headers, body = self.tus_server.handle_request(
            "PATCH", self.path, sub, bytes(data))
        if status == 503 and len(data) > 1:
            sub = {**headers, "Upload-Offset": str(offset),
                   "Content-Length": str(len(data) - 1)}
            self.tus_server.handle_request("PATCH", self.path, sub, bytes(data[:-1]))
        if not isinstance(body, bytes | bytearray):  # pragma: no cover - PATCH has no stream
            body = b""
        return status, response_headers, bytes(body)

    def _upload_name(self) -> str:
        return urlsplit(self.path).path.rsplit("/", 1)[-1][:64]

    def _send_tus(self, status: int, headers: dict[str, str], body: bytes, *,
                  close: bool) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if status != 204 and not any(k.lower() == "content-length" for k in headers):
            self.send_header("Content-Length", str(len(body)))
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if body and status != 204:
            self.wfile.write(body)

    def do_GET(self) -> None:
        path = unquote(urlsplit(self.path).path)
        if path.startswith(TUS_PATH + "/"):
            self._handle_request("GET")  # the library answers (no downloads: 404)
            return
        # GET carries no body; one announced is unread, so the connection cannot be reused.
        close = bool(self.headers.get("Transfer-Encoding")) or (
            self.headers.get("Content-Length", "0").strip() != "0")
        kiosk = None
        if path != "/health":
            kiosk = self._admit()
            if kiosk is None:
                return
        elif not self.intake.authorized(self.headers.get("Authorization")):
            # a monitor asks without a kiosk's key, but with the token when one is set
            self._reply(401, "application/json", b'{"error":"missing or wrong bearer token"}',
                        {"WWW-Authenticate": 'Bearer realm="kiosk-intake"'}, close=True)
            return
        try:
            status, content_type, body = self.intake.get(path, kiosk)
        except Exception:
            log.exception("GET %s failed", path)
            status, content_type, body = 500, "application/json", b'{"error":"internal"}'
        self._reply(status, content_type, body, {"Cache-Control": "no-store"}, close=close)

    def _reply(self, status: int, content_type: str, body: bytes, headers: dict[str, str],
               *, close: bool) -> None:
        self.send_response(status)
        self.send_header("Tus-Resumable", "1.0.0")
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in headers.items():
            self.send_header(key, value)
        if close:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


class _HTTPServer(ThreadingHTTPServer):
    """Thread per connection, bounded; each request's line and headers under one deadline.

    * at most :data:`MAX_CONNECTIONS` at once (a new one beyond is closed at once, before
      a thread is started), so the process never runs out of file descriptors and never
      spins on ``EMFILE`` in its accept loop; a listen backlog of 128;
    * :data:`HEAD_DEADLINE_S` for a request's line and headers in total (the socket's own
      timeout bounds one read only: a client trickling a header line every few seconds
      would hold its thread for ever); a reaper thread cuts the socket past its deadline;
    * on close, idle keep-alive sockets are cut at once, requests in flight get
      :data:`STOP_GRACE_S`, then their sockets are cut too (a streamed ``PATCH`` keeps what
      arrived), and every thread is joined: a stop takes seconds, whatever the clients do.
    """

    daemon_threads = False
    request_queue_size = 128
    tls: ssl.SSLContext | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.idle_connections: set[socket.socket] = set()  # read by TusHTTPRequestHandler
        self.closing = False
        self._connections: dict[socket.socket, float | None] = {}  # -> head deadline
        self._guard = threading.Lock()
        self._refused = 0
        super().__init__(*args, **kwargs)
        self._reaper_stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="head-deadline", daemon=True)
        self._reaper.start()

    # -- the bound ------------------------------------------------------------------------
    def process_request(self, request: Any, client_address: Any) -> None:
        with self._guard:
            full = len(self._connections) >= MAX_CONNECTIONS
            if not full:
                self._connections[request] = None
            else:
                self._refused += 1
                refused = self._refused
        if full:
            if refused == 1 or refused % 1000 == 0:
                log.warning("%d connections at once: refusing new ones (%d so far)",
                            MAX_CONNECTIONS, refused)
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._guard:
            self._connections.pop(request, None)
        super().shutdown_request(request)

    # -- the head deadline ----------------------------------------------------------------
    def head_started(self, sock: socket.socket) -> None:
        with self._guard:
            if sock in self._connections:
                self._connections[sock] = time.monotonic() + HEAD_DEADLINE_S

    def head_done(self, sock: socket.socket) -> None:
        with self._guard:
            if sock in self._connections:
                self._connections[sock] = None

    def _reap(self) -> None:
        while not self._reaper_stop.wait(0.5):
            now = time.monotonic()
            with self._guard:
                late = [s for s, deadline in self._connections.items()
                        if deadline is not None and deadline < now]
                for sock in late:
                    self._connections[sock] = None  # cut once
            for sock in late:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        if self.tls is not None:  # the handshake runs on the connection's thread
            sock = self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, address

    def server_close(self) -> None:
        self.closing = True
        for sock in list(self.idle_connections):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + STOP_GRACE_S
        while time.monotonic() < deadline:
            with self._guard:
                if not self._connections:
                    break
            time.sleep(0.05)
        with self._guard:
            remaining = list(self._connections)
        if remaining:
            log.info("stopping: cutting %d connection(s) still open", len(remaining))
        for sock in remaining:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._reaper_stop.set()
        super().server_close()  # joins the connections' threads


class _HTTPServer6(_HTTPServer):
    address_family = socket.AF_INET6


def _lock_data_dir(data: Path, shared: bool = False) -> int:
    """Hold ``DIR/intake.lock`` for the process's life: exclusively (SQLite: one server per
    data directory) or shared (PostgreSQL: any number, but no SQLite-mode one beside)."""
    fd = os.open(data / "intake.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise SealingError(
                f"a kiosk-intake serve without --db is using {data}" if shared else
                f"another kiosk-intake serve is using {data}") from exc
        raise
    return fd


def serve(data: Path, host: str = "127.0.0.1", port: int = 8700,
          token: str | None = None, max_packet_bytes: int = MAX_PACKET_BYTES,
          tls: ssl.SSLContext | None = None, max_unfinished: int = MAX_UNFINISHED,
          workers: int | None = None, db: str | None = None) -> int:
    """Run until SIGTERM or SIGINT; exit status 0 on a clean stop, 1 if it cannot start.

    ``db``: a ``postgresql://`` URL to keep the metadata in (several processes may then
    serve ``data`` together); None keeps it in SQLite in ``data`` (one process)."""
    logging.getLogger("resumable_upload").setLevel(logging.WARNING)
    threading.stack_size(THREAD_STACK_BYTES)
    with contextlib.suppress(ValueError, OSError):  # room for MAX_CONNECTIONS and the files
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = MAX_CONNECTIONS + 256
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (
                want if hard == resource.RLIM_INFINITY else min(want, hard), hard))
    data = Path(data)
    try:
        if not data.is_dir():
            raise SealingError(f"{data} is not a directory; run `kiosk-intake keys init "
                               f"--data {data}` first")
        lock_fd = _lock_data_dir(data, shared=db is not None)
    except (SealingError, OSError) as exc:
        print(f"kiosk-intake: {exc}", file=sys.stderr)
        return 1
    try:
        intake = Intake(data, token, max_packet_bytes, max_unfinished, workers, db)
    except Exception as exc:  # SealingError, OSError, ValueError, psycopg's errors
        os.close(lock_fd)
        print(f"kiosk-intake: {safe_text(exc, 500)}", file=sys.stderr)
        return 1
    try:
        intake.recover()
        handler = type("Handler", (IntakeHandler,), {"tus_server": intake.tus,
                                                      "intake": intake})
        server_class = _HTTPServer6 if ":" in host else _HTTPServer
        try:
            httpd = server_class((host, port), handler)
            httpd.tls = tls
        except OSError as exc:
            print(f"kiosk-intake: cannot listen on {host}:{port}: {exc.strerror}",
                  file=sys.stderr)
            return 1
        stop = threading.Event()

        def _on_signal(signum: int, _frame: object) -> None:
            log.info("%s: stopping", signal.Signals(signum).name)
            stop.set()

        signal.signal(signal.SIGTERM, _on_signal)
        signal.signal(signal.SIGINT, _on_signal)
        loop = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                name="http", daemon=True)
        loop.start()
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if tls is not None else "http"
        print(f"listening on {scheme}://{shown}:{httpd.server_address[1]}/", flush=True)
        next_sweep = time.monotonic() + RECOVER_EVERY_S
        while not stop.wait(min(1.0, max(0.0, next_sweep - time.monotonic()))):
            if time.monotonic() >= next_sweep:
                try:
                    intake.recover()
                except Exception:
                    log.exception("the recovery sweep failed; trying again later")
                next_sweep = time.monotonic() + RECOVER_EVERY_S
        httpd.shutdown()
        httpd.server_close()
        loop.join()
        log.info("stopped")
        return 0
    finally:
        intake.close()
        os.close(lock_fd)
