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
journal in hand (see :mod:`kiosk.queue.uploader`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urljoin

import requests
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.request import TusRequest
from tusclient.uploader import Uploader

__all__ = ["TimedTusUploader", "TusCommunicationError", "TusUploadFailed"]


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
            raise TusCommunicationError(
                f"creating the upload: HTTP {resp.status_code}", resp.status_code,
                resp.content)
        return urljoin(self.client.url, location)

    def get_offset(self) -> int:
        """``HEAD`` the upload: how many bytes the server holds."""
        try:
            resp = self.session.head(self.url, headers=self.get_headers(),
                                     verify=self.verify_tls_cert, cert=self.client_cert,
                                     timeout=self.timeout)
        except requests.RequestException as error:
            raise TusCommunicationError(error) from error
        offset = resp.headers.get("upload-offset")
        if resp.status_code >= 300 or offset is None or not offset.isdigit():
            raise TusCommunicationError(
                f"asking the upload's offset: HTTP {resp.status_code}", resp.status_code,
                resp.content)
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
