"""A small TCP load balancer for tests and benchmarks: round robin over upstreams.

Each client connection is carried to the next upstream that accepts a connection (one
that refuses, such as a killed intake process, is skipped, and the next one is tried), and
bytes are copied both ways until either side closes. Connections already carried to an
upstream that dies are cut (the client sees a reset or end of stream, as it would behind a
real balancer). Standard library only.
"""

from __future__ import annotations

import contextlib
import itertools
import socket
import threading
from types import TracebackType


class Balancer:
    def __init__(self, upstreams: list[tuple[str, int]], host: str = "127.0.0.1") -> None:
        self.upstreams = list(upstreams)
        self._next = itertools.count()
        self._listener = socket.create_server((host, 0), backlog=256)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{host}:{self.port}/"
        self.connections = [0] * len(self.upstreams)  # carried to each upstream
        self.active = [0] * len(self.upstreams)  # open now, to each upstream
        self._sockets: set[socket.socket] = set()
        self._guard = threading.Lock()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="balancer", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            threading.Thread(target=self._carry, args=(client,), daemon=True).start()

    def _connect(self) -> tuple[socket.socket, int] | None:
        start = next(self._next)
        for i in range(len(self.upstreams)):
            index = (start + i) % len(self.upstreams)
            try:
                upstream = socket.create_connection(self.upstreams[index], timeout=5)
            except OSError:
                continue
            upstream.settimeout(None)
            with self._guard:
                self.connections[index] += 1
                self.active[index] += 1
            return upstream, index
        return None

    def _carry(self, client: socket.socket) -> None:
        connected = self._connect()
        if connected is None:
            client.close()
            return
        upstream, index = connected
        with self._guard:
            self._sockets.update((client, upstream))
        done = threading.Event()

        def pipe(source: socket.socket, sink: socket.socket) -> None:
            try:
                while chunk := source.recv(65536):
                    sink.sendall(chunk)
            except OSError:
                pass
            finally:
                done.set()

        threading.Thread(target=pipe, args=(upstream, client), daemon=True).start()
        threading.Thread(target=pipe, args=(client, upstream), daemon=True).start()
        done.wait()
        for sock in (client, upstream):  # either side ended: end both (no half-close)
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._guard:
            self._sockets.difference_update((client, upstream))
            self.active[index] -= 1

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        with self._guard:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(timeout=5)

    def __enter__(self) -> Balancer:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
