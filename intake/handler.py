"""The HTTP side of the intake: the tus endpoints and ``GET``, behind signatures.

:class:`IntakeHandler` is the ``resumable-upload`` library's tus handler with what the
library leaves to its user (see :mod:`intake.server`): every request admitted by its
signature (and the bearer token, when one is set) before a body is read; a creation
carries no body; a ``PATCH`` body kept as it arrives (:meth:`IntakeHandler.do_PATCH`), its
final answer carrying the signed receipt in
:data:`~kiosk.core.intake_api.RECEIPT_HEADER`; ``GET`` outside
``/files/`` answered by :meth:`intake.receiver.Intake.get`.
"""

from __future__ import annotations

import base64
import logging
import select
import ssl
import time
from typing import ClassVar
from urllib.parse import unquote, urlsplit

from resumable_upload.server import TusHTTPRequestHandler

from intake.limits import BUSY_RETRY_AFTER_S
from intake.receiver import (
    REQUEST_TIMEOUT_S,
    TUS_PATH,
    Intake,
    current_request,
    refusal_json,
)
from intake.refusals import Refusal, safe_text
from kiosk.core.intake_api import (
    HEALTH_ENDPOINT,
    RECEIPT_HEADER,
    SERVER_VERSION,
    UPLOAD_METADATA,
    UPLOAD_OFFSET,
    RefusalCode,
    token_refused_body,
)
from kiosk.request_signing import RequestView

log = logging.getLogger(__name__)

COMMIT_BYTES = 256 * 1024  # a streamed PATCH is made durable at least every this many bytes,
COMMIT_S = 0.5  # and when this long passed since its last commit with bytes waiting
READ_BYTES = 64 * 1024  # one read of a PATCH body from the socket


class IntakeHandler(TusHTTPRequestHandler):
    """The library's tus handler, behind the bearer token, plus ``receipts/`` and ``health``."""

    intake: ClassVar[Intake]
    server_version = SERVER_VERSION
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
        current_request.kiosk = None
        if not self.intake.authorized(self.headers.get("Authorization")):
            self._reply(401, "application/json", token_refused_body(),
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
        current_request.kiosk = kiosk
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
        with self.intake.creating(self.headers.get(UPLOAD_METADATA)) as admitted:
            if not admitted:
                body = refusal_json(Refusal(
                    RefusalCode.BUSY,
                    "another intake process is creating an upload for this kiosk; try again later"))
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
        current_request.completed = None
        if self._admit() is None:
            return
        length_header = self.headers.get_all("Content-Length") or []
        offset_header = self.headers.get(UPLOAD_OFFSET, "")
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
                   if k.lower() not in ("content-length", UPLOAD_OFFSET.lower())}
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
        completed = getattr(current_request, "completed", None)
        current_request.completed = None
        if completed is None or completed[0] != getattr(current_request, "kiosk", None):
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
        sub = {**headers, UPLOAD_OFFSET: str(offset), "Content-Length": str(len(data))}
        status, response_headers, body = self.tus_server.handle_request(
            "PATCH", self.path, sub, bytes(data))
        if status == 503 and len(data) > 1:
            sub = {**headers, UPLOAD_OFFSET: str(offset),
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
        if path != f"/{HEALTH_ENDPOINT}":
            kiosk = self._admit()
            if kiosk is None:
                return
        elif not self.intake.authorized(self.headers.get("Authorization")):
            # a monitor asks without a kiosk's key, but with the token when one is set
            self._reply(401, "application/json", token_refused_body(),
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
