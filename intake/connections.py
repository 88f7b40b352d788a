"""The intake's HTTP server: a thread per connection, bounded, and each request's head
under one deadline (:class:`BoundedHTTPServer`). Bodies and work are bounded in
:mod:`intake.limits`."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import time
from http.server import ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)

HEAD_DEADLINE_S = 10.0  # a request line and its headers arrive within this, however trickled
MAX_CONNECTIONS = 1024  # beyond this, a new connection is closed at once
STOP_GRACE_S = 3.0  # on SIGTERM, requests in flight get this long, then their sockets are cut


class BoundedHTTPServer(ThreadingHTTPServer):
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
        # Before the bind: a bind that fails (the port in use) calls server_close at once.
        self._reaper_stop = threading.Event()
        super().__init__(*args, **kwargs)
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


class BoundedHTTPServer6(BoundedHTTPServer):
    address_family = socket.AF_INET6
