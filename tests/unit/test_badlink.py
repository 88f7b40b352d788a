"""The bad-link harness (``tests/badlink.py``) against tiny TCP servers on 127.0.0.1.

Timing windows are generous enough for a loaded 2-core CI machine and tight enough to catch
a link that does not cap, delay or stall at all.
"""

from __future__ import annotations

import random
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.badlink import (
    SEGMENT,
    BadLink,
    LinkProfile,
    LinkStats,
    floor_ratio,
    queue_limit,
)
from tests.polling import wait_until

KIB = 1024


# -- upstream servers ------------------------------------------------------------------------
class Upstream(socketserver.ThreadingTCPServer):
    """A tiny server. ``mode``: ``echo`` sends back what it reads; ``sink`` reads to the end
    of the stream, then answers with the byte count; ``source`` reads a line ``N\\n`` and
    answers with N bytes. Every connection's byte count and error (an exception's name or
    None) are recorded when it ends."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, mode: str) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.mode = mode
        self.finished = threading.Condition()
        self.accepted = 0
        self.received: list[int] = []
        self.errors: list[str | None] = []
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.server_address[:2]
        return str(host), int(port)

    def wait_finished(self, count: int, timeout: float = 5.0) -> list[int]:
        """The byte counts of the first ``count`` connections to end."""
        with self.finished:
            assert self.finished.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} of {count} upstream connections ended")
            return self.received[:count]


class _Handler(socketserver.BaseRequestHandler):
    server: Upstream

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.settimeout(10)
        server = self.server
        with server.finished:
            server.accepted += 1
        total = 0
        error = None
        try:
            if server.mode == "source":
                line = b""
                while not line.endswith(b"\n"):
                    chunk = sock.recv(64)
                    if not chunk:
                        return
                    line += chunk
                total = len(line)
                sock.sendall(b"s" * int(line))
                return
            while data := sock.recv(64 * KIB):
                total += len(data)
                if server.mode == "echo":
                    sock.sendall(data)
            if server.mode == "sink":
                sock.sendall(str(total).encode())
        except OSError as exc:
            error = type(exc).__name__
        finally:
            with server.finished:
                server.received.append(total)
                server.errors.append(error)
                server.finished.notify_all()


StartUpstream = Callable[[str], Upstream]


@pytest.fixture
def upstream() -> Iterator[StartUpstream]:
    servers: list[Upstream] = []

    def start(mode: str) -> Upstream:
        server = Upstream(mode)
        server.thread.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


# -- helpers ---------------------------------------------------------------------------------
def recv_all(sock: socket.socket) -> bytes:
    chunks = []
    while data := sock.recv(64 * KIB):
        chunks.append(data)
    return b"".join(chunks)


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    chunks = []
    while size:
        data = sock.recv(min(size, 64 * KIB))
        assert data, "unexpected end of stream"
        chunks.append(data)
        size -= len(data)
    return b"".join(chunks)


def round_trip(sock: socket.socket, payload: bytes) -> bytes:
    """Send ``payload`` to an echo server while reading it back (a sender thread)."""
    sender = threading.Thread(target=sock.sendall, args=(payload,))
    sender.start()
    try:
        return recv_exactly(sock, len(payload))
    finally:
        sender.join(10)


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> None:
    assert wait_until(predicate, timeout), "timed out waiting"


def connect(link: BadLink, timeout: float = 10.0) -> socket.socket:
    return socket.create_connection(link.address, timeout=timeout)


# -- tests -----------------------------------------------------------------------------------
def test_pass_through_carries_1_mib_each_way_with_exact_counts(upstream: StartUpstream) -> None:
    echo = upstream("echo")
    payload = random.Random(1).randbytes(1 << 20)
    with BadLink(echo.address) as link:
        with connect(link) as client:
            def send() -> None:
                client.sendall(payload)
                client.shutdown(socket.SHUT_WR)  # the half-close must reach the server

            sender = threading.Thread(target=send)
            sender.start()
            got = recv_all(client)  # ... and the server's close must reach us as EOF
            sender.join(10)
        assert got == payload
        assert echo.wait_finished(1) == [1 << 20]
        wait_for(lambda: link.stats.open_connections == 0)
        assert link.stats == LinkStats(connections=1, bytes_up=1 << 20, bytes_down=1 << 20,
                                       bytes_up_received=1 << 20, bytes_down_received=1 << 20)
    assert link.alive_threads() == []


def test_counters_are_exact_under_concurrent_connections(upstream: StartUpstream) -> None:
    echo = upstream("echo")
    size, count = 128 * KIB, 8
    results: list[bool] = []

    def client(n: int) -> None:
        payload = random.Random(n).randbytes(size)
        with connect(link) as sock:
            results.append(round_trip(sock, payload) == payload)

    with BadLink(echo.address) as link:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(count)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(20)
        assert results == [True] * count
        stats = link.stats
    assert (stats.connections, stats.resets) == (count, 0)
    assert stats.bytes_up == stats.bytes_down == stats.bytes_up_received == size * count


@pytest.mark.parametrize("direction", ["up", "down"])
def test_rate_cap_serialises_each_direction(upstream: StartUpstream, direction: str) -> None:
    size = 256 * KIB  # at 512 KiB/s: 0.5 s
    server = upstream("sink" if direction == "up" else "source")
    with BadLink(server.address, LinkProfile(rate_bps=512 * KIB)) as link:
        started = time.monotonic()
        with connect(link) as client:
            if direction == "up":
                client.sendall(b"u" * size)
                client.shutdown(socket.SHUT_WR)
                assert recv_all(client) == str(size).encode()
            else:
                client.sendall(f"{size}\n".encode())
                assert len(recv_all(client)) == size
        elapsed = time.monotonic() - started
        stats = link.stats
    assert 0.4 <= elapsed <= 0.9, elapsed
    assert (stats.bytes_up if direction == "up" else stats.bytes_down) == size


def test_connections_share_the_links_bandwidth(upstream: StartUpstream) -> None:
    """Two connections sending at once get the link's rate between them, not each: a
    client that opens a second connection beside a transfer gains no bandwidth."""
    sink = upstream("sink")
    size = 128 * KIB  # two of them at 512 KiB/s: 0.5 s together (0.25 s if not shared)
    answers: list[bytes] = []

    def client() -> None:
        with connect(link) as sock:
            sock.sendall(b"s" * size)
            sock.shutdown(socket.SHUT_WR)
            answers.append(recv_all(sock))

    with BadLink(sink.address, LinkProfile(rate_bps=512 * KIB)) as link:
        started = time.monotonic()
        threads = [threading.Thread(target=client) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(10)
        elapsed = time.monotonic() - started
        stats = link.stats
    assert answers == [str(size).encode()] * 2
    assert stats.bytes_up == 2 * size
    assert 0.45 <= elapsed <= 1.2, elapsed


def test_latency_delays_each_way_and_the_handshake(upstream: StartUpstream) -> None:
    echo = upstream("echo")
    latency = 0.1
    with BadLink(echo.address, LinkProfile(latency_s=latency)) as link:
        started = time.monotonic()
        with connect(link) as client:
            client.sendall(b"ping")
            assert recv_exactly(client, 4) == b"ping"
            first = time.monotonic() - started  # SYN/SYN-ACK round trip + one round trip
            started = time.monotonic()
            client.sendall(b"pong")
            assert recv_exactly(client, 4) == b"pong"
            second = time.monotonic() - started  # one round trip
        link.set_profile(LinkProfile(latency_s=latency, handshake=False))
        started = time.monotonic()
        with connect(link) as client:
            client.sendall(b"ping")
            assert recv_exactly(client, 4) == b"ping"
            unshaken = time.monotonic() - started
    assert 4 * latency <= first <= 4 * latency + 0.25, first
    assert 2 * latency <= second <= 2 * latency + 0.2, second
    assert 2 * latency <= unshaken <= 2 * latency + 0.2, unshaken


@pytest.mark.parametrize("rate", [None, 256 * KIB])
def test_reset_every_delivers_exactly_the_limit_then_resets_both_sides(
        upstream: StartUpstream, rate: float | None) -> None:
    sink = upstream("sink")
    limit = 32 * KIB
    payload = b"r" * (100 * KIB)
    with BadLink(sink.address, LinkProfile(rate_bps=rate, reset_every=limit)) as link:
        for _ in range(2):  # counted per connection: the second one gets its own 32 KiB
            data = None
            error: OSError | None = None
            with connect(link, timeout=5) as client:
                try:
                    client.sendall(payload)
                    data = client.recv(1024)  # the reset, never a clean end of stream
                except OSError as exc:
                    error = exc
            assert isinstance(error, ConnectionResetError | BrokenPipeError), (error, data)
        assert sink.wait_finished(2) == [limit, limit]
        assert sink.errors == ["ConnectionResetError"] * 2
        stats = link.stats
    assert (stats.connections, stats.resets, stats.bytes_up) == (2, 2, 2 * limit)
    assert stats.bytes_up_received >= 2 * limit
    assert stats.bytes_down == 0


def test_stall_holds_every_byte_including_those_in_flight_then_resumes(
        upstream: StartUpstream) -> None:
    echo = upstream("echo")
    latency, stall = 0.2, 0.5
    with BadLink(echo.address, LinkProfile(latency_s=latency, handshake=False)) as link:
        with connect(link) as client:
            assert round_trip(client, b"ping") == b"ping"
            started = time.monotonic()
            client.sendall(b"x" * 1000)  # due at the server at +0.2 s
            time.sleep(0.05)
            link.stall(stall)  # in flight: now due at +0.7 s, back at the client at +0.9 s
            client.settimeout(0.3)
            with pytest.raises(TimeoutError):
                client.recv(1)
            assert link.stats.bytes_up == 4  # only the ping moved
            client.settimeout(5)
            assert recv_exactly(client, 1000) == b"x" * 1000
            elapsed = time.monotonic() - started
            assert round_trip(client, b"again") == b"again"  # the same connection still works
        stats = link.stats
    # not pushing back what was in flight would give 0.05 + stall + latency = 0.75 s
    assert stall + 2 * latency <= elapsed <= stall + 2 * latency + 0.4, elapsed
    assert (stats.connections, stats.resets, stats.peer_resets) == (1, 0, 0)
    assert echo.accepted == 1


def test_blackhole_accepts_swallows_and_never_answers(upstream: StartUpstream) -> None:
    echo = upstream("echo")
    request = b"HEAD /files/x HTTP/1.1\r\nHost: intake\r\n\r\n"
    with BadLink(echo.address, LinkProfile(blackhole=True)) as link:
        with connect(link, timeout=0.5) as client:
            client.sendall(request)
            with pytest.raises(TimeoutError):
                client.recv(1)
        wait_for(lambda: link.stats.bytes_up_received == len(request))
        stats = link.stats
    assert echo.accepted == 0
    assert (stats.connections, stats.bytes_up, stats.bytes_down) == (1, 0, 0)


def test_cut_resets_every_open_connection(upstream: StartUpstream) -> None:
    echo = upstream("echo")
    with BadLink(echo.address) as link:
        clients = [connect(link, timeout=5) for _ in range(2)]
        try:
            for client in clients:
                assert round_trip(client, b"hello") == b"hello"
            link.cut()
            for client in clients:
                with pytest.raises(ConnectionResetError):
                    client.recv(1)
        finally:
            for client in clients:
                client.close()
        echo.wait_finished(2)
        assert echo.errors == ["ConnectionResetError"] * 2
        with connect(link) as client:  # the link itself still works
            assert round_trip(client, b"after") == b"after"
        assert link.stats.resets == 2


def test_backpressure_blocks_a_client_sending_into_a_slow_link(upstream: StartUpstream) -> None:
    sink = upstream("sink")
    profile = LinkProfile(rate_bps=32 * KIB)
    with BadLink(sink.address, profile) as link:
        client = socket.socket()
        client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16 * KIB)
        client.connect(link.address)
        client.setblocking(False)
        sent = 0
        chunk = b"b" * (64 * KIB)
        deadline = time.monotonic() + 0.5
        try:
            while time.monotonic() < deadline:
                try:
                    sent += client.send(chunk)
                except BlockingIOError:
                    time.sleep(0.005)
            stats = link.stats
        finally:
            client.close()
    # without back-pressure the proxy would swallow megabytes in 0.5 s
    assert sent < 256 * KIB, sent
    assert stats.bytes_up_received - stats.bytes_up <= queue_limit(profile) + SEGMENT
    assert stats.bytes_up <= 16 * KIB + 2 * SEGMENT  # 0.5 s at 32 KiB/s


def test_set_profile_applies_to_bytes_moved_from_now_on(upstream: StartUpstream) -> None:
    echo = upstream("echo")
    payload = b"p" * (64 * KIB)
    with BadLink(echo.address) as link, connect(link) as client:
        started = time.monotonic()
        assert round_trip(client, payload) == payload
        fast = time.monotonic() - started
        link.set_profile(LinkProfile(rate_bps=256 * KIB))  # 64 KiB: 0.25 s each way, pipelined
        started = time.monotonic()
        assert round_trip(client, payload) == payload
        slow = time.monotonic() - started
    assert fast < 0.15, fast
    assert 0.22 <= slow <= 0.6, slow


def test_leaving_resets_open_connections_and_joins_every_thread(upstream: StartUpstream) -> None:
    echo = upstream("echo")
    link = BadLink(echo.address, LinkProfile(rate_bps=64 * KIB, latency_s=0.05))
    with link, connect(link) as client:
        assert round_trip(client, b"hi") == b"hi"
        with connect(link) as idle:  # a second, idle connection
            started = time.monotonic()
            link.close()
            took = time.monotonic() - started
            with pytest.raises(ConnectionResetError):
                idle.recv(1)
    assert took < 1.0, took
    assert link.alive_threads() == []
    assert not [t for t in threading.enumerate() if t.name.startswith("badlink-")]


def test_floor_ratio() -> None:
    profile = LinkProfile(rate_bps=65536, latency_s=0.15, reset_every=65536)
    assert floor_ratio(profile) == pytest.approx(0.625)
    assert floor_ratio(profile, round_trips=1) == pytest.approx(1 / 1.3)
    assert floor_ratio(LinkProfile(rate_bps=65536, latency_s=0.15)) == 1.0
    assert floor_ratio(LinkProfile(blackhole=True)) == 0.0
    with pytest.raises(ValueError, match="rate_bps"):
        floor_ratio(LinkProfile(reset_every=65536))


@pytest.mark.parametrize("bad", [{"rate_bps": 0}, {"latency_s": -0.1}, {"reset_every": 0}])
def test_profile_rejects_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        LinkProfile(**bad)  # type: ignore[arg-type]
