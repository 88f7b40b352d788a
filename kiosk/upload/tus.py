"""tuspy's upload client with a timeout on every request and one keep-alive connection.

tuspy (``tusclient``, the tus project's Python client) implements the protocol side we rely
on: creation headers, ``Upload-Metadata`` encoding, chunking, offsets, ``HEAD`` to resume
and per-chunk ``Upload-Checksum``. Its version 1.x sends its three requests with
module-level ``requests.post/head/patch`` and no timeout, so on a rural link that goes
silent (a dead GSM bearer keeps the TCP connection "open") one ``PATCH`` would block the
uploader for ever, and every chunk would open a new TCP (and TLS) connection.

:class:`TimedTusUploader` replaces only those three requests with the same requests made
through a shared :class:`requests.Session` with a timeout; everything else stays tuspy's.
Its retry machinery is left at ``retries=0``: the uploader decides about retries with the
journal in hand (see :mod:`kiosk.upload.uploader`).

tuspy sends a chunk as one ``bytes`` body with an ``Upload-Checksum`` of the whole chunk, so
a chunk is kept whole or not at all. On a link that resets every 64 KB a 256 KiB chunk is
never kept. :meth:`TimedTusUploader.patch` sends the rest of the record (or
``[upload] chunk_size`` of it) in one ``PATCH`` read from a counting stream, without a
per-request checksum (which would forbid the intake to keep part of it); the intake keeps
what arrives (``intake/handler.py``) and the packet's SHA-256, checked by the intake over the
whole upload, stands for integrity.
"""

from __future__ import annotations

import email.utils
import socket
import sys
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import requests
from requests.adapters import HTTPAdapter
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.request import TusRequest
from tusclient.uploader import Uploader
from urllib3.connection import HTTPConnection

from kiosk.core.intake_api import RECEIPT_HEADER, UPLOAD_OFFSET

__all__ = ["TimedTusUploader", "TusCommunicationError", "TusUploadFailed", "retry_after_s",
           "upload_session"]

# Linux's TCP_NOTSENT_LOWAT (socket.h: 25; not every Python names it). Without it a
# socket's send buffer (autotuned to megabytes) swallows a whole record at once: the
# uploader would report it "sent" while the link still has a minute of it to carry, and a
# stop would wait for all of it. With it, at most this many bytes wait unsent in the
# kernel, besides those in flight (which the link's window bounds).
TCP_NOTSENT_LOWAT = getattr(socket, "TCP_NOTSENT_LOWAT", 25)
UNSENT_BYTES = 16 * 1024


def retry_after_s(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date), capped at
    a day; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), 86400.0)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    wall = time.time() if now is None else now
    return max(0.0, min(when.timestamp() - wall, 86400.0))


def _failed(error: TusCommunicationError, resp: requests.Response) -> TusCommunicationError:
    """``error`` with the ``Retry-After`` the intake sent (``retry_after``, seconds)."""
    error.retry_after = retry_after_s(resp.headers.get("retry-after"))  # type: ignore[attr-defined]
    return error


class _UploadAdapter(HTTPAdapter):
    def __init__(self, fingerprint: str = "") -> None:
        self._fingerprint = fingerprint
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        options = list(HTTPConnection.default_socket_options)
        if sys.platform.startswith("linux"):
            options.append((socket.IPPROTO_TCP, TCP_NOTSENT_LOWAT, UNSENT_BYTES))
        kwargs["socket_options"] = options
        if self._fingerprint:
            kwargs["assert_fingerprint"] = self._fingerprint
        super().init_poolmanager(*args, **kwargs)


def upload_session(*, ca_file: str = "", fingerprint: str = "") -> requests.Session:
    """A :class:`requests.Session` for the intake.

    Its connections keep little unsent data in the kernel (see :data:`UNSENT_BYTES`), so
    bytes handed to the socket are close to bytes sent. TLS: with ``fingerprint`` (the
    SHA-256 of the intake's certificate, hex) the intake must present exactly that
    certificate (a self-signed one made by ``kiosk-intake keys init`` works; no CA is
    involved); else with ``ca_file`` its certificate must chain to that CA and name the
    host; else to the system's CAs.
    """
    session = requests.Session()
    adapter = _UploadAdapter(fingerprint.replace(":", "").lower())
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    if fingerprint:
        session.verify = False  # the pin replaces chain and name checks (urllib3 checks it)
    elif ca_file:
        session.verify = ca_file
    return session

TUS_CONTENT_TYPE = "application/offset+octet-stream"


class _TimedRequest(TusRequest):
    """tuspy's ``PATCH`` of one chunk, through the uploader's session, with its timeout."""

    def __init__(self, uploader: TimedTusUploader) -> None:
        super().__init__(uploader)
        self._session = uploader.session
        self._timeout = uploader.timeout

    def perform(self) -> None:
        chunk = self.file.read(self._content_length)
        self.add_checksum(chunk)
        try:
            resp = self._session.patch(self._url, data=chunk, headers=self._request_headers,
                                       verify=self.verify_tls_cert, cert=self.client_cert,
                                       timeout=self._timeout)
        except requests.RequestException as error:
            raise TusUploadFailed(error) from error
        self.status_code = resp.status_code
        self.response_content = resp.content
        self.response_headers = {k.lower(): v for k, v in resp.headers.items()}


class TimedTusUploader(Uploader):
    """A :class:`tusclient.uploader.Uploader` whose requests time out after ``timeout`` s.

    Errors are tuspy's: :class:`TusCommunicationError` (``status_code`` set when the server
    answered, ``__cause__`` the :mod:`requests` exception when it did not) and its subclass
    :class:`TusUploadFailed` for a ``PATCH``.
    """

    def __init__(self, *, session: requests.Session, timeout: float, **kwargs: Any) -> None:
        # Set before tuspy's constructor: given a url it asks the server's offset (HEAD).
        self.session = session
        self.timeout = timeout
        kwargs.setdefault("retries", 0)
        # the RECEIPT_HEADER of the last PATCH's answer (the one that completed the upload),
        # unverified: the caller checks it as it checks GET receipts/...'s body
        self.receipt_header: str | None = None
        super().__init__(**kwargs)

    def create_url(self) -> str:
        """``POST`` the creation request; the new upload's absolute URL."""
        try:
            resp = self.session.post(self.client.url, headers=self.get_url_creation_headers(),
                                     verify=self.verify_tls_cert, cert=self.client_cert,
                                     timeout=self.timeout)
        except requests.RequestException as error:
            raise TusCommunicationError(error) from error
        location = resp.headers.get("location")
        if resp.status_code != 201 or location is None:
            raise _failed(TusCommunicationError(
                f"creating the upload: HTTP {resp.status_code}", resp.status_code,
                resp.content), resp)
        return urljoin(self.client.url, location)

    def get_offset(self) -> int:
        """``HEAD`` the upload: how many bytes the server holds."""
        try:
            resp = self.session.head(self.url, headers=self.get_headers(),
                                     verify=self.verify_tls_cert, cert=self.client_cert,
                                     timeout=self.timeout)
        except requests.RequestException as error:
            raise TusCommunicationError(error) from error
        offset = resp.headers.get(UPLOAD_OFFSET)
        if resp.status_code >= 300 or offset is None or not offset.isdigit():
            raise _failed(TusCommunicationError(
                f"asking the upload's offset: HTTP {resp.status_code}", resp.status_code,
                resp.content), resp)
        return int(offset)

    def _do_request(self) -> None:
        self.request = _TimedRequest(self)
        try:
            self.request.perform()
            if not 200 <= int(self.request.status_code or 0) < 300:
                raise TusUploadFailed("", self.request.status_code,
                                      self.request.response_content)
        except TusUploadFailed as error:
            self._retry_or_cry(error)

    def patch(self, data: bytes, offset: int, end: int,
              on_sent: Callable[[int], None] | None = None) -> int:
        """``PATCH`` ``data[offset:end]`` in one request; the intake's new offset.

        ``on_sent(position)`` is called as the body is handed to the socket (``position`` in
        ``data``), so a slow link shows that it is moving before the intake answers.
        Raises :class:`TusUploadFailed` (``status_code`` None when no answer came).
        """
        self.receipt_header = None
        body = _CountingBody(memoryview(data)[offset:end], offset, on_sent)
        headers = {**self.get_headers(), "Content-Type": TUS_CONTENT_TYPE,
                   UPLOAD_OFFSET: str(offset)}
        try:
            resp = self.session.patch(self.url, data=body, headers=headers,
                                      verify=self.verify_tls_cert, cert=self.client_cert,
                                      timeout=self.timeout)
        except requests.RequestException as error:
            raise TusUploadFailed(error) from error
        if not 200 <= resp.status_code < 300:
            raise _failed(TusUploadFailed(f"sending the packet: HTTP {resp.status_code}",
                                          resp.status_code, resp.content), resp)
        new_offset = resp.headers.get(UPLOAD_OFFSET, "")
        if not new_offset.isdigit() or not offset <= int(new_offset) <= len(data):
            # a "success" without tus's answer: something else answered (a captive portal)
            raise TusUploadFailed("the answer to a PATCH has no valid Upload-Offset",
                                  resp.status_code, resp.content)
        self.offset = int(new_offset)
        self.receipt_header = resp.headers.get(RECEIPT_HEADER)
        return self.offset


class _CountingBody:
    """A request body read by :mod:`urllib3` in blocks; reports how far it has been read."""

    def __init__(self, view: memoryview, start: int,
                 on_sent: Callable[[int], None] | None) -> None:
        self._view = view
        self._start = start
        self._position = 0
        self._on_sent = on_sent

    def __len__(self) -> int:  # requests sets Content-Length from it
        return len(self._view)

    def read(self, size: int = -1) -> bytes:
        if self._on_sent is not None and self._position:
            self._on_sent(self._start + self._position)  # the previous block went out
        end = len(self._view) if size < 0 else min(len(self._view), self._position + size)
        block = bytes(self._view[self._position:end])
        self._position = end
        return block
