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
  writes anything, so on a link that drops every 64 KB a 256 KiB chunk is never kept and the
  kiosk resends it for ever. :meth:`intake.handler.IntakeHandler.do_PATCH` streams the body
  instead and hands it to the library as consecutive sub-requests (``PATCH``) of what
  arrived (:data:`~intake.handler.COMMIT_BYTES` or :data:`~intake.handler.COMMIT_S`,
  whichever comes first, and whatever arrived when the connection breaks or goes silent),
  each one checked by the library's own protocol rules, fsync'd and then recorded as the new
  offset. ``HEAD`` therefore reports every byte received, and a kiosk resumes from there
  (``docs/upload.md``).

The response to the final ``PATCH`` is tus ``204`` whatever the verdict; when the packet is
stored (or was already, with the same bytes) it carries the signed receipt in
:data:`~kiosk.core.intake_api.RECEIPT_HEADER` (base64), which saves a kiosk on a rural link the
round trip of ``GET receipts/...``; a kiosk that finds no usable receipt there asks
``receipts/`` as before (old kiosks always do). Only an internal failure (disk full, ...)
answers ``500`` and drops the upload, so the kiosk's retry starts a fresh one.

Where each part lives: :mod:`intake.receiver` (:class:`~intake.receiver.Intake`: the tus
hooks, recovery, who may upload, the ``GET`` answers), :mod:`intake.handler` (the HTTP
endpoints: admission, the streamed ``PATCH``), :mod:`intake.connections` (the bounded
HTTP server); this module runs them as one process (:func:`serve`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import resource
import signal
import socket
import ssl
import sys
import threading
import time
from pathlib import Path

from intake.backend import lock_data_dir
from intake.connections import MAX_CONNECTIONS, BoundedHTTPServer, BoundedHTTPServer6
from intake.handler import IntakeHandler
from intake.limits import MAX_UNFINISHED
from intake.receiver import MAX_PACKET_BYTES, Intake
from intake.refusals import safe_text
from intake.tus_storage import DurableSQLiteStorage  # noqa: F401 -- its old home
from kiosk.core.exits import EXIT_FAIL, EXIT_OK
from kiosk.errors import SealingError

log = logging.getLogger(__name__)

RECOVER_EVERY_S = 5.0  # a sweep for uploads a stopped process completed but did not process
THREAD_STACK_BYTES = 512 * 1024  # a connection's thread; 1,024 of them reserve 512 MiB of
# address space, not memory


def listen_failure(host: str, port: int, exc: Exception) -> str:
    """Why ``serve`` cannot listen on ``host``:``port``, as one line saying what to do."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if isinstance(exc, socket.gaierror):
        return (f"cannot listen on {host}: the name does not resolve ({exc.strerror}); "
                "give --host an address of this machine (default 127.0.0.1; 0.0.0.0 for "
                "every interface)")
    code = getattr(exc, "errno", None)
    if code == errno.EADDRINUSE:
        return (f"cannot listen on {where}: the port is in use (another kiosk-intake "
                f"serve, or another program: `ss -ltnp 'sport = :{port}'` names it); stop "
                "it or choose another --port")
    if code == errno.EADDRNOTAVAIL:
        return (f"cannot listen on {where}: {host} is not an address of this machine "
                "(`ip -brief address` lists them; 0.0.0.0 for every interface)")
    if code == errno.EACCES:
        return (f"cannot listen on {where}: permission denied (ports below 1024 need root "
                "or CAP_NET_BIND_SERVICE); choose a --port from 1024")
    if isinstance(exc, OverflowError):
        return f"cannot listen on {where}: --port must be from 0 to 65535"
    return f"cannot listen on {where}: {getattr(exc, 'strerror', None) or exc}"


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
        lock_fd = lock_data_dir(data, shared=db is not None)
    except (SealingError, OSError) as exc:
        print(f"kiosk-intake: {exc}", file=sys.stderr)
        return EXIT_FAIL
    try:
        intake = Intake(data, token, max_packet_bytes, max_unfinished, workers, db)
    except Exception as exc:  # SealingError, OSError, ValueError, psycopg's errors
        os.close(lock_fd)
        print(f"kiosk-intake: {safe_text(exc, 500)}", file=sys.stderr)
        return EXIT_FAIL
    try:
        intake.recover()
        handler = type("Handler", (IntakeHandler,), {"tus_server": intake.tus,
                                                      "intake": intake})
        server_class = BoundedHTTPServer6 if ":" in host else BoundedHTTPServer
        try:
            httpd = server_class((host, port), handler)
            httpd.tls = tls
        except (OSError, OverflowError) as exc:  # OverflowError: a port beyond 65535
            print(f"kiosk-intake: {listen_failure(host, port, exc)}", file=sys.stderr)
            return EXIT_FAIL
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
        return EXIT_OK
    finally:
        intake.close()
        os.close(lock_fd)
