"""What one intake process lets its clients cost: a pool for completed uploads, a quota.

Connections and request heads are bounded in ``intake.connections.BoundedHTTPServer``; bodies are
streamed to disk there. This module bounds the two costs left:

* **the work on a completed upload** (hash, verify, decrypt, store: ``intake.store``) runs
  in the request that sends an upload's last byte. :class:`WorkPool` lets at most
  ``--workers`` (default: the CPUs this process may use) run at once; the next one waits up
  to :data:`POOL_WAIT_S`, then is answered ``503`` with ``Retry-After`` *before its last
  byte is recorded*, so the upload stays unfinished and the kiosk sends that byte again
  later (a kiosk treats 503 as "intake unavailable": it backs off and rejects nothing).
  Many kiosks finishing at once therefore cannot take every core, nor the memory of
  opening that many packets at once;
* **unfinished uploads**: each holds a file and a row until it finishes or expires (two
  weeks). A registered kiosk may hold ``--max-unfinished`` of them (an unregistered one none:
  it is refused before creation); the next creation is answered ``429`` with ``Retry-After``
  and the refusal code ``too_many_uploads`` (temporary: the kiosk backs off).
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlsplit

from resumable_upload.server import TusServer

from kiosk.core.intake_api import UPLOAD_OFFSET

log = logging.getLogger(__name__)

POOL_WAIT_S = 10.0  # a completion waits this long for a worker (a kiosk's timeout is 30 s)
BUSY_RETRY_AFTER_S = 15  # then the kiosk is asked to come back after this long
QUOTA_RETRY_AFTER_S = 300  # a kiosk at its quota: one of its uploads must finish or expire
MAX_UNFINISHED = 32  # unfinished uploads per registered kiosk (a kiosk sends one at a time)


def default_workers() -> int:
    """The CPUs this process may run on (its affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


class WorkPool:
    """At most ``workers`` holders at once; a would-be holder waits a bounded time.

    A semaphore rather than an executor: the work already runs on its request's thread
    (which must wait for the verdict anyway), so the pool only has to say who may run.
    """

    def __init__(self, workers: int, wait_s: float = POOL_WAIT_S) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.workers = workers
        self.wait_s = wait_s
        self._slots = threading.BoundedSemaphore(workers)
        self._busy_refusals = 0
        self._guard = threading.Lock()

    @contextlib.contextmanager
    def slot(self, wait_s: float | None = None) -> Iterator[bool]:
        """Yields True while holding a slot, or False (at once, after ``wait_s``, by default
        the pool's) when every slot stayed busy: the caller then refuses the work for now."""
        wait = self.wait_s if wait_s is None else wait_s
        got = self._slots.acquire(timeout=wait) if wait > 0 else self._slots.acquire(
            blocking=False)
        if not got and wait_s is None:
            with self._guard:
                self._busy_refusals += 1
                refusals = self._busy_refusals
            if refusals == 1 or refusals % 100 == 0:
                log.warning("all %d workers busy for %g s: completion refused for now "
                            "(%d so far)", self.workers, self.wait_s, refusals)
        try:
            yield got
        finally:
            if got:
                self._slots.release()


class BoundedTusServer(TusServer):
    """The library's tus server with a :class:`WorkPool` around every request that would
    complete an upload (and with it run ``on_upload_complete``), and a ``Retry-After`` on
    the creation refusals that ask for one."""

    def __init__(self, *args: Any, pool: WorkPool, busy_body: Callable[[], bytes],
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pool = pool
        self._busy_body = busy_body

    def handle_request(self, method: str, path: str, headers: dict[str, str],
                       body: bytes = b"") -> tuple[int, dict[str, str], Any]:
        lowered = {k.lower(): v for k, v in headers.items()}
        if method == "POST" and lowered.get("x-http-method-override"):
            method_seen = lowered["x-http-method-override"].strip().upper()
        else:
            method_seen = method
        if method_seen != "PATCH" or not self._completes(path, lowered, len(body)):
            status, response_headers, response = super().handle_request(
                method, path, headers, body)
            if status == 429:
                response_headers = {**response_headers,
                                    "Retry-After": str(QUOTA_RETRY_AFTER_S)}
            return status, response_headers, response
        with self.pool.slot() as got:
            if not got:
                payload = self._busy_body()
                return 503, {"Tus-Resumable": self.TUS_VERSION,
                             "Retry-After": str(BUSY_RETRY_AFTER_S),
                             "Content-Type": "application/json",
                             "Content-Length": str(len(payload))}, payload
            return super().handle_request(method, path, headers, body)

    def _completes(self, path: str, headers: dict[str, str], size: int) -> bool:
        """Would this PATCH, if the library accepts it, bring its upload to its length?"""
        upload_id = urlsplit(path).path.rstrip("/").rsplit("/", 1)[-1]
        try:
            upload = self.storage.get_upload(upload_id)
            offset = int(headers.get(UPLOAD_OFFSET.lower(), "").strip())
        except Exception:  # a malformed id or offset: the library answers it
            return False
        if not upload or upload.get("upload_length") is None:
            return False
        return offset + size >= int(upload["upload_length"])
