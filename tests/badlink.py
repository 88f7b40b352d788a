"""A bad link for tests and benchmarks: a TCP proxy that behaves like a weak rural GSM link.

``BadLink`` listens on an ephemeral port on ``host``; for every client that connects it
opens a connection to ``upstream`` and carries bytes both ways through a model of the link
given by a ``LinkProfile``. Standard library only.

The model
---------
Each direction of each connection is a *delay line* with its own reader and writer thread.

* The reader reads the source socket in pieces of at most one segment (``SEGMENT``, 1460
  bytes; 64 KiB when the rate is unlimited, where piece size cannot change any timing) and
  stamps each piece with its delivery time::

      start = max(now, end of the previous piece, end of any stall)
      end = start + len(piece) / rate_bps          # serialisation: the link's bandwidth
      deliver_at = end + latency_s                 # propagation: one-way delay

  so a 64 KiB/s link really carries 64 KiB per second, never faster in bursts, and two
  directions are serialised independently (each has ``rate_bps``). The connections of one
  ``BadLink`` share it, as the connections of one radio bearer do: one serialisation clock
  per direction for the whole link (``end of the previous piece`` is the previous piece of
  any connection), so a client that opens a second connection beside a transfer gets no
  bandwidth the link does not have (each connection still has its own handshake, latency,
  stalls and ``reset_every``).
* The writer sleeps until the first queued piece is due and sends it (plus any other pieces
  already due, so a writer that woke late catches up without exceeding the rate on average).
* Back-pressure: the reader stops reading while the bytes queued in its direction (read but
  not yet sent) reach ``queue_limit(profile)``: ``rate * latency * 2 + 16 KiB`` (a fixed
  256 KiB when the rate is unlimited). The proxy's own sockets get small kernel buffers
  (``SOCKET_BUFFER``), so a client writing into a slow link blocks in ``send`` as it would
  on a real one, instead of the proxy reading megabytes ahead. They also advertise a
  one-segment MSS (``TCP_MAXSEG``): with loopback's 64 KiB MSS and small buffers the kernel
  would otherwise pace every transfer by its 200 ms zero-window probe.
* Handshake (``LinkProfile.handshake``, on by default): the client's ``connect`` returns at
  once (the kernel accepts), but as on a real link the first client byte cannot leave
  before the SYN/SYN-ACK round trip (2 * latency after the accept) and the server cannot
  send before it accepted (3 * latency). So the first request on a fresh connection costs
  two round trips, later ones one; that is what makes ``floor_ratio`` an upper bound.
* Half-close: end of stream from one side (``shutdown(SHUT_WR)`` or ``close``) is queued
  behind that direction's data and delivered as ``shutdown(SHUT_WR)`` to the other side.
  When both directions have ended, both sockets are closed. A reset (RST) from either side
  is likewise queued behind that direction's data, then both sockets are reset. If the
  proxy cannot deliver to a side (it reset or closed), both sockets are reset.
* ``reset_every``: the reader counts the bytes it accepts from the client on a connection;
  the piece that reaches the limit is cut to end exactly at the limit and marked; when the
  writer has delivered it the proxy resets both sockets (``SO_LINGER`` on with timeout 0,
  then ``close``: an RST, never a FIN) and counts a reset. The client sees
  ``ConnectionResetError`` / ``BrokenPipeError``; the server reads exactly ``reset_every``
  bytes, then ``ConnectionResetError``. The bytes the client sent past the limit are
  counted in ``bytes_up_received`` only.
* ``stall(seconds)``: for that time no byte moves on any connection: writers hold, readers
  stop reading (so back-pressure applies), and the delivery time of every queued piece is
  pushed back by the stall (the link froze with them in flight). Nothing is reset.
* ``blackhole``: accept the client, read and discard what it sends, never connect upstream,
  never answer. The client's reads time out.
* ``cut()``: reset every open connection now.

Profiles: ``set_profile`` takes effect for bytes read from now on (rate, latency, the queue
limit, ``reset_every`` counted from the start of each connection) and for new connections
(``blackhole``, ``handshake``). Pieces already queued keep their delivery times.

Not modelled: loss and retransmission, reordering, a connect that is refused after a round
trip (if the upstream refuses, the client is reset at once), delay of the RST itself.

Use it as a context manager::

    with BadLink(("127.0.0.1", intake_port), LinkProfile(rate_bps=8192, latency_s=0.3)) as link:
        upload_to(link.url)
        print(link.stats.bytes_up)
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields

SEGMENT = 1460  # bytes per piece on a rate-limited link: one TCP segment
UNLIMITED_PIECE = 64 * 1024  # piece size when the rate is unlimited
SOCKET_BUFFER = 16 * 1024  # SO_RCVBUF / SO_SNDBUF of the proxy's sockets (Linux doubles it)
MIN_QUEUE = 16 * 1024
UNLIMITED_QUEUE = 256 * 1024
POLL_S = 0.05  # socket timeout: how often a blocked thread looks at the connection's state
CONNECT_TIMEOUT_S = 5.0
JOIN_TIMEOUT_S = 2.0

# end-of-stream markers a piece can carry
_EOF = "eof"  # the source ended its stream: shutdown(SHUT_WR) the destination
_RESET = "reset"  # reset_every reached: reset both sockets after this piece (counted)
_PEER_RESET = "peer-reset"  # the source reset its connection: pass the reset on


@dataclass(frozen=True)
class LinkProfile:
    """How bad the link is. The default is a perfect link (no cap, no delay, no resets).

    ``rate_bps``: bytes per second, applied separately to each direction; None = unlimited.
    ``latency_s``: one-way propagation delay, each direction.
    ``reset_every``: after this many bytes carried upstream (client to server) on one
    connection, deliver exactly those bytes, then reset both sockets (RST); None = never.
    ``blackhole``: accept the client, read and discard what it sends, never connect upstream
    and never answer.
    ``handshake``: charge the TCP handshake on a new connection (see the module docstring).
    """

    rate_bps: float | None = None
    latency_s: float = 0.0
    reset_every: int | None = None
    blackhole: bool = False
    handshake: bool = True

    def __post_init__(self) -> None:
        if self.rate_bps is not None and not self.rate_bps > 0:
            raise ValueError(f"rate_bps must be positive or None, not {self.rate_bps!r}")
        if not self.latency_s >= 0:
            raise ValueError(f"latency_s must be >= 0, not {self.latency_s!r}")
        if self.reset_every is not None and self.reset_every < 1:
            raise ValueError(f"reset_every must be >= 1 or None, not {self.reset_every!r}")


PERFECT = LinkProfile()


def floor_ratio(profile: LinkProfile, round_trips: int = 2) -> float:
    """Best goodput a resumable upload can reach on this link, as a fraction of rate_bps.

    Every reset costs at least ``round_trips`` round trips (new connection + offset query),
    so ``reset_every`` bytes take ``reset_every / rate + round_trips * 2 * latency`` seconds.
    E.g. 64 KiB/s, 150 ms, reset every 64 KiB -> 1 s + 0.6 s -> 0.625. 1.0 when no resets,
    0.0 for a blackhole. A link with resets but no rate cap has no fraction to give
    (``ValueError``).

    On a ``BadLink`` (``handshake`` on) a reset cycle costs at least the SYN round trip, the
    offset query's round trip and the one-way latency of the last byte before the reset, so
    measured goodput stays below this figure for the default ``round_trips=2``.
    """
    if profile.blackhole:
        return 0.0
    if profile.reset_every is None:
        return 1.0
    if profile.rate_bps is None:
        raise ValueError("floor_ratio needs rate_bps when the link resets")
    carry = profile.reset_every / profile.rate_bps
    return carry / (carry + round_trips * 2 * profile.latency_s)


def queue_limit(profile: LinkProfile) -> int:
    """Bytes a direction may hold read-but-undelivered before its reader stops reading."""
    if profile.rate_bps is None:
        return UNLIMITED_QUEUE
    return max(MIN_QUEUE, int(profile.rate_bps * profile.latency_s * 2) + MIN_QUEUE)


@dataclass(frozen=True)
class LinkStats:
    """A snapshot of the link's counters.

    ``connections``: accepted from clients. ``resets``: done by the proxy (``reset_every``
    and ``cut``). ``peer_resets``: resets the proxy passed on from one side to the other.
    ``bytes_up`` / ``bytes_down``: delivered to the server / to the client.
    ``bytes_up_received`` / ``bytes_down_received``: read from clients / from the server,
    including bytes never delivered (reset, blackhole). ``open_connections``: now.
    """

    connections: int = 0
    resets: int = 0
    peer_resets: int = 0
    bytes_up: int = 0
    bytes_down: int = 0
    bytes_up_received: int = 0
    bytes_down_received: int = 0
    open_connections: int = 0


def _reset_socket(sock: socket.socket | None) -> None:
    """Close ``sock`` with an RST (SO_LINGER on, timeout 0) instead of a FIN."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _tune(sock: socket.socket) -> None:
    """Small kernel buffers (back-pressure), one-segment MSS, no Nagle, short timeouts.

    Call before ``listen`` / ``connect``: the MSS is advertised in the handshake. Without it,
    loopback's 64 KiB MSS is larger than the small receive buffer, the receiver's window
    never opens by a full segment, and every transfer crawls on the 200 ms persist timer.
    """
    for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER)
    if hasattr(socket, "TCP_MAXSEG"):
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, SEGMENT)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.settimeout(POLL_S)


def _connect(address: tuple[str, int]) -> socket.socket:
    """A tuned connection to ``address`` (options set before the handshake)."""
    error: OSError = OSError(f"cannot resolve {address!r}")
    for family, kind, proto, _, sockaddr in socket.getaddrinfo(*address, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            _tune(sock)
            sock.settimeout(CONNECT_TIMEOUT_S)
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            error = exc
            continue
        sock.settimeout(POLL_S)
        return sock
    raise error


class _Piece:
    __slots__ = ("at", "data", "end")

    def __init__(self, at: float, data: bytes, end: str | None) -> None:
        self.at = at  # delivery time (time.monotonic)
        self.data = data
        self.end = end  # None or one of the end-of-stream markers


class _Direction:
    """One direction of one connection: a delay line from ``src`` to ``dst``."""

    def __init__(self, conn: _Connection, src: socket.socket, dst: socket.socket, *,
                 upstream: bool, earliest: float) -> None:
        self.conn = conn
        self.link = conn.link
        self.src = src
        self.dst = dst
        self.is_up = upstream
        self.name = "up" if upstream else "down"
        self.cond = threading.Condition(conn.lock)
        self.queue: deque[_Piece] = deque()
        self.queued = 0  # data bytes read and not yet sent
        self.clock = earliest  # when the link is free to start serialising the next piece
        self.accepted = 0  # bytes accepted for delivery (reset_every counts these)

    def _wait(self, pause: Callable[[float], float]) -> float | None:
        """With the lock held, wait while ``pause(now)`` (seconds) is above 0; the time then,
        or None once the connection has closed."""
        while not self.conn.closed:
            now = time.monotonic()
            seconds = pause(now)
            if seconds <= 0:
                return now
            self.cond.wait(seconds)
        return None

    # -- reader ----------------------------------------------------------------------------
    def _read_pause(self, now: float) -> float:
        """Out a stall; then while the queue is full (looking again each second)."""
        if self.conn.stall_until > now:
            return self.conn.stall_until - now
        return 1.0 if self.queued >= queue_limit(self.link.profile) else 0.0

    def read_loop(self) -> None:
        conn = self.conn
        while True:
            with self.lock:
                if self._wait(self._read_pause) is None:
                    return
            try:
                data = self.src.recv(SEGMENT if self.link.profile.rate_bps else UNLIMITED_PIECE)
            except TimeoutError:
                continue
            except OSError:
                if not conn.closed:
                    self.push(b"", _PEER_RESET, self.link.profile)
                return
            profile = self.link.profile  # after recv: a set_profile while it waited counts
            if not data:
                self.push(b"", _EOF, profile)
                return
            self.link._count("bytes_up_received" if self.is_up else "bytes_down_received",
                             len(data))
            if self.is_up and profile.reset_every is not None:
                room = max(0, profile.reset_every - self.accepted)
                if len(data) >= room:
                    self.push(data[:room], _RESET, profile)
                    return
            self.push(data, None, profile)

    @property
    def lock(self) -> threading.Lock:
        return self.conn.lock

    def push(self, data: bytes, end: str | None, profile: LinkProfile) -> None:
        """Queue ``data`` (then ``end``, if given) in pieces of at most one segment when the
        rate is capped, each with its delivery time."""
        rate = profile.rate_bps
        size = SEGMENT if rate else max(1, len(data))
        with self.lock, self.link._wire_lock:
            now = time.monotonic()
            wire = self.link._wire
            for offset in range(0, max(1, len(data)), size):
                piece = data[offset:offset + size]
                start = max(now, self.clock, self.conn.stall_until)
                if rate and piece:  # the link's bandwidth is shared by its connections
                    start = max(start, wire[self.is_up])
                self.clock = start + len(piece) / rate if rate else start
                if rate and piece:
                    wire[self.is_up] = self.clock
                last = offset + size >= len(data)
                self.queue.append(_Piece(self.clock + profile.latency_s, piece,
                                         end if last else None))
            self.queued += len(data)
            self.accepted += len(data)
            self.cond.notify_all()

    def shift(self, now: float, seconds: float) -> None:
        """A stall began: push back queued deliveries and the serialisation clock (locked)."""
        for piece in self.queue:
            piece.at += seconds
        if self.clock > now:
            self.clock += seconds
        self.cond.notify_all()

    # -- writer ----------------------------------------------------------------------------
    def _write_pause(self, now: float) -> float:
        """Until the first queued piece is due and no stall holds it (each second if none)."""
        if not self.queue:
            return 1.0
        return max(self.queue[0].at, self.conn.stall_until) - now

    def write_loop(self) -> None:
        conn = self.conn
        while True:
            with self.lock:
                now = self._wait(self._write_pause)
                if now is None:
                    return
                chunks: list[bytes] = []
                size = 0
                end = None
                while self.queue and self.queue[0].at <= now and size < UNLIMITED_PIECE:
                    piece = self.queue.popleft()
                    chunks.append(piece.data)
                    size += len(piece.data)
                    if piece.end is not None:
                        end = piece.end
                        break
            if size and not self.send(b"".join(chunks)):
                return
            with self.lock:
                self.queued -= size
                self.cond.notify_all()
            if end == _EOF:
                with contextlib.suppress(OSError):
                    self.dst.shutdown(socket.SHUT_WR)
                return
            if end == _RESET:
                conn.abort("resets")
                return
            if end == _PEER_RESET:
                conn.abort("peer_resets")
                return

    def send(self, data: bytes) -> bool:
        """Send all of ``data``, counting what went; False if the connection is gone.

        Bytes are counted *before* ``send`` and the count corrected if fewer went: once the
        peer has read a byte, ``stats`` includes it (the writer thread may not have run since
        the system call). The count can exceed what went only while a ``send`` is under way.
        """
        counter = "bytes_up" if self.is_up else "bytes_down"
        view = memoryview(data)
        while view:
            if self.conn.closed:
                return False
            self.link._count(counter, len(view))
            try:
                sent = self.dst.send(view)
            except TimeoutError:
                self.link._count(counter, -len(view))
                continue
            except OSError:
                self.link._count(counter, -len(view))
                self.conn.abort("peer_resets")
                return False
            if sent != len(view):
                self.link._count(counter, sent - len(view))
            view = view[sent:]
        return True


class _Connection:
    """One client connection: the upstream connection and the two directions."""

    def __init__(self, link: BadLink, client: socket.socket, accepted_at: float,
                 stall_until: float) -> None:
        self.link = link
        self.client = client
        self.upstream: socket.socket | None = None
        self.accepted_at = accepted_at
        self.lock = threading.Lock()
        self.closed = False
        self.stall_until = stall_until  # guarded by lock; set by BadLink.stall
        self.directions: list[_Direction] = []
        self.thread = threading.Thread(target=self.run, name="badlink-conn", daemon=True)

    def run(self) -> None:
        try:
            self._run()
        finally:
            self.link._forget(self)

    def _run(self) -> None:
        profile = self.link.profile
        if profile.blackhole:
            self._swallow()
            return
        try:
            upstream = _connect(self.link.upstream)
        except OSError:
            self.abort(None)  # refused or unreachable: the client sees a reset
            return
        with self.lock:
            if self.closed:  # cut() or shutdown while connecting
                _reset_socket(upstream)
                return
            self.upstream = upstream
            rtt = 2 * profile.latency_s if profile.handshake else 0.0
            self.directions = [
                _Direction(self, self.client, upstream, upstream=True,
                           earliest=self.accepted_at + rtt),
                _Direction(self, upstream, self.client, upstream=False,
                           earliest=self.accepted_at + rtt * 1.5),
            ]
        threads = [threading.Thread(target=target, name=f"badlink-{d.name}", daemon=True)
                   for d in self.directions for target in (d.read_loop, d.write_loop)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        self.close()

    def _swallow(self) -> None:
        """Blackhole: read and discard until the client goes or the link closes it."""
        while not self.closed:
            try:
                data = self.client.recv(UNLIMITED_PIECE)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            self.link._count("bytes_up_received", len(data))
        self.close()

    def _end(self) -> tuple[socket.socket | None, ...] | None:
        """Mark the connection closed and wake both directions: its two sockets, or None when
        it was closed already (close and abort end it once between them)."""
        with self.lock:
            if self.closed:
                return None
            self.closed = True
            for direction in self.directions:
                direction.cond.notify_all()
            return (self.client, self.upstream)

    def close(self) -> None:
        """Both directions ended (or the client left a blackhole): close both, no RST."""
        sockets = self._end()
        for sock in sockets or ():
            if sock is not None:
                sock.close()

    def abort(self, counter: str | None) -> None:
        """Reset both sockets (RST) now; count it in ``counter`` if given."""
        sockets = self._end()
        if sockets is None:
            return
        if counter is not None:  # before the RST: whoever sees the reset sees it counted
            self.link._count(counter, 1)
            if counter == "resets":
                self.link._event("reset")
        for sock in sockets:
            _reset_socket(sock)

    def stall(self, now: float, until: float, seconds: float) -> None:
        with self.lock:
            self.stall_until = until
            for direction in self.directions:
                direction.shift(now, seconds)


class BadLink:
    """A TCP proxy from ``address`` to ``upstream`` through a bad link (see the module doc).

    A context manager: entering starts listening on an ephemeral port of ``host``; leaving
    stops accepting, resets every open connection and joins every thread (within about
    ``JOIN_TIMEOUT_S``). ``start()`` / ``close()`` do the same without ``with``.
    """

    def __init__(self, upstream: tuple[str, int], profile: LinkProfile = PERFECT,
                 host: str = "127.0.0.1") -> None:
        self.upstream = upstream
        self.host = host
        self._profile = profile
        self._lock = threading.Lock()
        self._counts = {f.name: 0 for f in fields(LinkStats) if f.name != "open_connections"}
        self._conns: set[_Connection] = set()
        self._threads: list[threading.Thread] = []
        self._stall_until = 0.0
        # the link's serialisation clock per direction (True: upstream), shared by every
        # connection; guarded by _wire_lock, taken last (under a connection's lock)
        self._wire = {True: 0.0, False: 0.0}
        self._wire_lock = threading.Lock()
        self._stopping = threading.Event()
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._address: tuple[str, int] | None = None
        # (time.monotonic(), "connection" | "reset"): when each was accepted / done, for a
        # timeline of what a client's time went to (benchmarks/bench_upload.py timeline)
        self.events: list[tuple[float, str]] = []

    # -- life cycle ------------------------------------------------------------------------
    def start(self) -> BadLink:
        if self._listener is not None:
            raise RuntimeError("BadLink already started")
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            _tune(listener)  # before listen(): accepted sockets inherit the small buffers
            listener.bind((self.host, 0))
            listener.listen(128)
        except OSError:
            listener.close()
            raise
        self._listener = listener
        self._address = listener.getsockname()[:2]
        self._acceptor = threading.Thread(target=self._accept_loop, name="badlink-accept",
                                          daemon=True)
        self._acceptor.start()
        return self

    def close(self) -> None:
        """Stop accepting, reset every open connection, join every thread."""
        self._stopping.set()
        deadline = time.monotonic() + JOIN_TIMEOUT_S
        if self._acceptor is not None:
            self._acceptor.join(JOIN_TIMEOUT_S)
        if self._listener is not None:
            self._listener.close()
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.abort(None)
        with self._lock:
            threads = list(self._threads)
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def __enter__(self) -> BadLink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def alive_threads(self) -> list[threading.Thread]:
        """The link's threads still running (empty after ``close``)."""
        with self._lock:
            threads = [*self._threads, *([self._acceptor] if self._acceptor else [])]
        return [t for t in threads if t.is_alive()]

    # -- where clients connect -------------------------------------------------------------
    @property
    def address(self) -> tuple[str, int]:
        """Where clients connect (host, port)."""
        if self._address is None:
            raise RuntimeError("BadLink not started")
        return self._address

    @property
    def url(self) -> str:
        """``http://host:port/`` of ``address``."""
        host, port = self.address
        return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"

    # -- the link's behaviour --------------------------------------------------------------
    @property
    def profile(self) -> LinkProfile:
        """The profile in force (see ``set_profile``)."""
        return self._profile

    def set_profile(self, profile: LinkProfile) -> None:
        """Use ``profile`` for bytes read from now on and for new connections."""
        self._profile = profile
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            with conn.lock:
                for direction in conn.directions:
                    direction.cond.notify_all()  # the queue limit may have grown

    def stall(self, seconds: float) -> None:
        """From now on, for ``seconds``, no byte moves on any connection; nothing is reset.

        Queued pieces are delivered ``seconds`` later than planned (less any overlap with a
        stall already running). New connections accepted meanwhile are stalled too.
        """
        with self._lock:
            now = time.monotonic()
            until = max(self._stall_until, now + seconds)
            shift = until - max(self._stall_until, now)
            self._stall_until = until
            with self._wire_lock:  # bytes reserved on the wire move back with the stall
                for direction, clock in self._wire.items():
                    if clock > now:
                        self._wire[direction] = clock + shift
            for conn in self._conns:  # under the link lock: no connection slips between
                conn.stall(now, until, shift)

    def cut(self) -> None:
        """Reset every open connection now (RST both sides); each counts as a reset."""
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            conn.abort("resets")

    @property
    def stats(self) -> LinkStats:
        """A consistent snapshot of the counters."""
        with self._lock:
            return LinkStats(**self._counts, open_connections=len(self._conns))

    # -- internals -------------------------------------------------------------------------
    def _count(self, name: str, amount: int) -> None:
        with self._lock:
            self._counts[name] += amount

    def _event(self, kind: str) -> None:
        with self._lock:
            self.events.append((time.monotonic(), kind))

    def _forget(self, conn: _Connection) -> None:
        with self._lock:
            self._conns.discard(conn)

    def _accept_loop(self) -> None:
        listener = self._listener
        assert listener is not None
        while not self._stopping.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                if self._stopping.is_set():
                    return
                time.sleep(POLL_S)  # e.g. out of file descriptors: try again
                continue
            accepted_at = time.monotonic()
            _tune(client)
            with self._lock:
                if self._stopping.is_set():
                    _reset_socket(client)
                    return
                conn = _Connection(self, client, accepted_at, self._stall_until)
                self._conns.add(conn)
                self._counts["connections"] += 1
                self.events.append((accepted_at, "connection"))
                self._threads = [t for t in self._threads if t.is_alive()]
                self._threads.append(conn.thread)
                conn.thread.start()
