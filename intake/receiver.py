"""The intake's decisions, apart from HTTP: who may upload, what a completed upload becomes.

:class:`Intake` owns what one ``kiosk-intake serve`` process serves from: the tus server
(``resumable-upload``, bounded by :mod:`intake.limits`), its durable storage
(:mod:`intake.tus_storage`, through :mod:`intake.backend`) and the store of packets and
receipts (:class:`intake.store.IntakeStore`). Its tus hooks check a creation (the record and
kiosk ids, the signer, the kiosk's registration and quota) and process a completed upload
inside the final ``PATCH``; :meth:`Intake.recover` processes what a stopped process left;
:meth:`Intake.authenticate` and :meth:`Intake.owns_upload` admit a signed request;
:meth:`Intake.get` answers ``health``, ``kiosks/`` and ``receipts/``. The HTTP handler that
calls it is :mod:`intake.handler`; the process around both, :mod:`intake.server`.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import json
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from resumable_upload.exceptions import TusHookError

from intake.backend import open_backend
from intake.limits import MAX_UNFINISHED, BoundedTusServer, WorkPool, default_workers
from intake.refusals import Refusal, safe_text
from intake.store import IntakeStore, valid_record_id
from kiosk.core.canonical import SHA256_HEX
from kiosk.core.ids import is_kiosk_id
from kiosk.core.intake_api import (
    CENTRAL_KEY_ID_KEY,
    FILES_ENDPOINT,
    HEALTH_ENDPOINT,
    INTAKE_KEY_ID_KEY,
    KEY_ID_KEY,
    KIOSK_ID_KEY,
    KIOSKS_ENDPOINT,
    RECEIPT_CONTENT_TYPE,
    RECEIPTS_ENDPOINT,
    RECORD_ID_KEY,
    REGISTERED_KEY,
    SHA256_KEY,
    RefusalCode,
    refusal_body,
)
from kiosk.errors import KeyFileMissing
from kiosk.receipts import IntakeKey
from kiosk.request_signing import (
    SIGNATURE_HEADER,
    InvalidSignature,
    RequestView,
    verify_request,
)
from kiosk.sealing import Opener
from kiosk.sealing_keys import load_central_private_key

log = logging.getLogger(__name__)

TUS_PATH = f"/{FILES_ENDPOINT}"  # the tus server's base path
# Tus-Max-Size by default: a sealed record is about 0.6 MiB (1-5 MiB in MOSIP's packets);
# 16 MiB is well above any real one and bounds what an upload may cost the intake.
MAX_PACKET_BYTES = 16 * 1024 * 1024
UPLOAD_EXPIRY_S = 14 * 24 * 3600  # an abandoned half upload is dropped after two weeks
REQUEST_TIMEOUT_S = 30
WHOLE_BODY_BYTES = 4 * 1024 * 1024  # a PATCH the library must read whole (chunked, or with
# an Upload-Checksum) is at most this; a kiosk's own PATCHes are streamed, whatever their size
STAGED_SWEEP_EVERY = 12  # sweeps; DIR/records is scanned for left-over staged copies
LOCK_TTL_S = 60.0  # the library's default; the in-memory lock's bound on one PATCH
QUOTA_LOCK_WAIT_S = 5.0  # a creation waits this long for its kiosk's quota lock (PostgreSQL)
QUOTA_LOCK_PREFIX = "quota:"  # the quota lock's key: this, then the kiosk id (never an upload id)


current_request = threading.local()  # .kiosk: the kiosk that signed the request on this
# thread; .completed: (kiosk id, record id) of the upload this thread's PATCH completed and
# processed. Set by the handler (intake.handler), read by the tus hooks below, and back.


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
    return refusal_body(refusal.reason, refusal.code, refusal.permanent)


def load_keys(data: Path) -> tuple[bytes, IntakeKey]:
    """The central private key (opens packets) and the intake key (signs receipts) of the
    data directory ``data``; SealingError (:class:`~kiosk.errors.KeyFileMissing` for one
    that is not there) saying which, and how to make it."""
    central = load_central_private_key(data / "keys" / "central.key")
    intake_key_path = data / "keys" / "intake.key"
    if not intake_key_path.exists():
        raise KeyFileMissing("intake key", intake_key_path,
                             f"run `kiosk-intake keys init --data {data}` to add it")
    return central, IntakeKey.load_or_create(intake_key_path)


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
        central, intake_key = load_keys(self.data)
        # told to a kiosk's doctor (GET kiosks/<id>), which compares its own copies
        self.central_key_id = Opener(central, {}).central_key_id
        self.intake_key_id = intake_key.key_id
        self.backend = open_backend(self.data, db)  # SQLite in DIR, or PostgreSQL (--db)
        self.store = IntakeStore(self.data, central, intake_key,
                                 metadata=self.backend.metadata)
        self.storage = self.backend.storage
        self.tus = BoundedTusServer(
            pool=self.pool, busy_body=lambda: refusal_json(Refusal(
                RefusalCode.BUSY, f"all {self.pool.workers} workers of the intake are busy; "
                "send the end of the upload again later")),
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
        kiosk_id = _metadata_value(upload_metadata, KIOSK_ID_KEY)
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
        kiosk_id, record_id = metadata.get(KIOSK_ID_KEY, ""), metadata.get(RECORD_ID_KEY, "")
        if not valid_record_id(kiosk_id, record_id):
            raise TusHookError("Upload-Metadata needs kiosk_id and record_id "
                               "(a record id of that kiosk)", status_code=400)
        if not SHA256_HEX.fullmatch(metadata.get(SHA256_KEY, "")):
            raise TusHookError("Upload-Metadata needs sha256: the packet's lowercase hex "
                               "SHA-256", status_code=400)
        if not upload_length:
            raise TusHookError("Upload-Length must be the packet's length", status_code=400)
        signer = getattr(current_request, "kiosk", None)
        if signer is not None and signer != kiosk_id:
            raise TusHookError(refusal_json(Refusal(
                RefusalCode.IDS_MISMATCH, f"kiosk {signer} may not upload records of kiosk "
                f"{kiosk_id}")).decode(), status_code=403)
        refusal = self.store.check_kiosk(kiosk_id)
        if refusal is not None:  # before a byte is stored
            log.warning("upload for record %s refused (%s): %s", record_id, refusal.code,
                        refusal.reason)
            raise TusHookError(refusal_json(refusal).decode(), status_code=403)
        unfinished = self.storage.unfinished_uploads(kiosk_id)
        if unfinished >= self.max_unfinished:  # 429 + Retry-After (intake.limits)
            refusal = Refusal(RefusalCode.TOO_MANY_UPLOADS, f"kiosk {kiosk_id} has {unfinished} "
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
            current_request.completed = (metadata.get(KIOSK_ID_KEY, ""),
                                         metadata.get(RECORD_ID_KEY, ""))
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
        """Process uploads that were complete but unprocessed when a process died: at start,
        and every :data:`~intake.server.RECOVER_EVERY_S` while serving (another intake
        process on the same PostgreSQL may have died). Each is processed as a final
        ``PATCH`` would be: in a slot of the worker pool (taken first, as a ``PATCH`` does,
        then the lock), and holding the upload's lock (:mod:`intake.backend`'s ``locks``),
        so a request and a sweep, in this process or another, never process one upload at
        once. An upload whose lock is held is being completed by a live request and is left
        to it; with every worker busy, the sweep stops (without waiting) until the next one.
        At start and every :data:`STAGED_SWEEP_EVERY` sweeps it also removes the temporary
        files of ``DIR/records`` a stopped process left
        (:meth:`IntakeStore.sweep_staged`)."""
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
        if SIGNATURE_HEADER not in view.headers:
            return None, 401, Refusal(RefusalCode.UNSIGNED, "requests must be signed by a "
                                      "registered kiosk's device key (docs/upload.md)")
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
                return None, 403, Refusal(RefusalCode.WRONG_KEY, f"the request's signature "
                                          f"does not verify with the key registered for kiosk "
                                          f"{looked_up[-1]}")
            return None, 401, Refusal(RefusalCode.UNSIGNED, f"the request signature is unusable: "
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
        return upload is None or (upload.get("metadata") or {}).get(KIOSK_ID_KEY) == kiosk_id

    def get(self, path: str, kiosk_id: str | None = None) -> tuple[int, str, bytes]:
        """(status, content type, body) for a GET outside ``/files/``."""
        if path == f"/{HEALTH_ENDPOINT}":
            return 200, "application/json", b'{"ok":true}'
        parts = path.split("/")
        if len(parts) == 3 and parts[1] == KIOSKS_ENDPOINT and kiosk_id is not None:
            # `kiosk doctor`: the signature was verified (_admit), so the signer is
            # registered with the key it signs with; another kiosk is not told anything
            if parts[2] != kiosk_id:
                return 404, "application/json", b'{"error":"not found"}'
            device = self.store.registration(kiosk_id)
            if device is None:  # pragma: no cover - revoked or removed since _admit
                return 404, "application/json", b'{"error":"not found"}'
            return 200, "application/json", json.dumps(
                {KIOSK_ID_KEY: kiosk_id, KEY_ID_KEY: device.key_id, REGISTERED_KEY: True,
                 CENTRAL_KEY_ID_KEY: self.central_key_id,
                 INTAKE_KEY_ID_KEY: self.intake_key_id}, sort_keys=True).encode()
        if len(parts) == 4 and parts[:2] == ["", RECEIPTS_ENDPOINT] and is_kiosk_id(parts[2]) and (
                kiosk_id is None or parts[2] == kiosk_id):
            status, body = self.store.receipt(parts[2], parts[3])
            if status == 200 and isinstance(body, bytes):
                return 200, RECEIPT_CONTENT_TYPE, body
            if isinstance(body, Refusal):
                return status, "application/json", refusal_json(body)
            return status, "application/json", json.dumps({"error": body}).encode()
        return 404, "application/json", b'{"error":"not found"}'

    def close(self) -> None:
        self.store.close()
        self.backend.close()
