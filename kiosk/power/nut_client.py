"""A small client of NUT's upsd network protocol (the transport under :mod:`kiosk.power.nut`).

Protocol (NUT ``docs/net-protocol.txt``; TCP, port 3493, one ASCII line per command and
answer, ``\\n``-terminated; quoted values escape ``"`` and ``\\`` with a backslash)::

    > LIST VAR ups
    < BEGIN LIST VAR ups
    < VAR ups battery.charge "100"
    < VAR ups ups.status "OB LB"
    < END LIST VAR ups
    > GET VAR ups ups.status
    < VAR ups ups.status "OL"
    < ERR UNKNOWN-UPS                  (or DATA-STALE, DRIVER-NOT-CONNECTED, ...)
    > LOGOUT
    < OK Goodbye

Reading needs no USERNAME/PASSWORD/LOGIN. No Python binding is used: Debian's
``python3-nut`` lives outside the venv, and PyPI's ``PyNUTClient`` (2.8.5) reports every
failure as one generic exception and spins forever when upsd closes the socket mid-list;
the client below is small and puts a deadline on every socket operation.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time

from kiosk.errors import DeviceError, DeviceNotFound, DeviceProtocolError, DeviceTimeout
from kiosk.options import Integer, Number, Option, String

log = logging.getLogger(__name__)
wire = logging.getLogger("kiosk.wire.ups")

_MAX_LINE = 4096  # upsd's own lines are far shorter; a longer one is not upsd talking
_MAX_LIST = 2000  # variables in one LIST VAR; a real UPS has under 200

#: Where upsd is and how long each question may take, declared once: :class:`NutClient`'s
#: defaults and the ``[power]`` options of ``type = "nut"`` (:class:`~kiosk.power.nut.NutUps`).
CONNECTION_OPTIONS: dict[str, Option] = {
    "host": String("127.0.0.1", test=lambda v: bool(v) and not any(c.isspace() for c in v),
                   allowed="a host name or address", description="upsd's address"),
    "port": Integer(3493, 1, 65535, description="upsd's TCP port"),
    "timeout": Number(3.0, above=0, maximum=60, allowed="seconds, more than 0 and at most 60",
                      description="seconds for each question to upsd"),
}


# What went wrong, by type, for whoever says what to do about it (kiosk doctor): each is
# the DeviceError it always was (not found, or a timeout worth retrying), named more closely.
class UpsdRefused(DeviceNotFound):
    """Nothing listens at upsd's address (connection refused): upsd is not running there."""


class UpsdTimeout(DeviceTimeout):
    """upsd's address took no connection, or upsd gave no answer, within the timeout."""


class UnknownUps(DeviceNotFound):
    """upsd has no UPS of the configured name (``ERR UNKNOWN-UPS``)."""


class NutDriverDown(DeviceNotFound):
    """upsd runs, the UPS's driver does not (``ERR DRIVER-NOT-CONNECTED``)."""


class NutDataStale(DeviceTimeout):
    """The UPS's driver has lost contact with the UPS (``ERR DATA-STALE``)."""


# upsd's ERR codes -> what they mean for the kiosk. DATA-STALE is the driver briefly losing
# the UPS (a cable, a busy USB bus): worth retrying. The others need a maintainer.
_ERRORS: dict[str, tuple[type[DeviceError], str]] = {
    "UNKNOWN-UPS": (UnknownUps, "upsd knows no UPS named {ups!r}; check [power] ups "
                                "against the sections of ups.conf ({known})"),
    "DRIVER-NOT-CONNECTED": (NutDriverDown, "upsd runs but the driver for {ups!r} does not; "
                                            "check `upsdrvctl start` and the UPS cable"),
    "DATA-STALE": (NutDataStale, "the NUT driver for {ups!r} has lost contact with the UPS "
                                 "(DATA-STALE); check the UPS cable"),
    "ACCESS-DENIED": (DeviceError, "upsd refused access to {ups!r}; allow this host in "
                                   "upsd.conf / upsd.users"),
}


class NutClient:
    """One connection to upsd. Not thread-safe; :class:`NutUps` serialises its use.

    Every socket operation runs against a deadline of ``timeout`` seconds per command.
    Errors: :class:`DeviceNotFound` (nothing listening: :class:`UpsdRefused`; host
    unknown), :class:`UpsdTimeout` (no answer in time), :class:`DeviceProtocolError` (a line
    that is not NUT, or the connection closed mid-answer), and the ERR mapping above.
    """

    def __init__(self, host: str = CONNECTION_OPTIONS["host"].default,
                 port: int = CONNECTION_OPTIONS["port"].default, *,
                 timeout: float = CONNECTION_OPTIONS["timeout"].default) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self._sock: socket.socket | None = None
        self._buffer = b""

    @property
    def where(self) -> str:
        return f"upsd at {self.host}:{self.port}"

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Open the TCP connection (a no-op when connected)."""
        if self._sock is not None:
            return
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except ConnectionRefusedError as exc:
            raise UpsdRefused(f"{self.where} refused the connection: is upsd running "
                                 "(nut-server; `upsd` and `upsdrvctl start`)?") from exc
        except TimeoutError as exc:
            raise UpsdTimeout(f"{self.where} did not accept a connection within "
                                f"{self.timeout:g} s") from exc
        except OSError as exc:  # unknown host, no route
            raise DeviceNotFound(f"{self.where} is unreachable: {exc}") from exc
        self._sock = sock
        self._buffer = b""
        log.debug("connected to %s", self.where)

    def close(self) -> None:
        """Say LOGOUT (best effort) and close. Safe when not connected."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            sock.settimeout(min(self.timeout, 0.5))
            sock.sendall(b"LOGOUT\n")
        except OSError:
            pass  # upsd already gone: nothing to say goodbye to
        finally:
            sock.close()

    # -- commands ---------------------------------------------------------------------------
    def list_ups(self) -> dict[str, str]:
        """``LIST UPS``: name -> description."""
        return {words[1]: words[2] if len(words) > 2 else ""
                for words in self._list("UPS", "UPS") if len(words) >= 2}

    def list_var(self, ups: str) -> dict[str, str]:
        """``LIST VAR <ups>``: every variable of the UPS, name -> value."""
        return {words[2]: words[3] for words in self._list(f"VAR {ups}", "VAR", ups=ups)
                if len(words) >= 4 and words[1] == ups}

    def get_var(self, ups: str, var: str) -> str | None:
        """``GET VAR <ups> <var>``; ``None`` when the UPS does not support ``var``."""
        return self.get_vars(ups, [var])[var]

    def get_vars(self, ups: str, names: list[str]) -> dict[str, str | None]:
        """``GET VAR`` for each name, one after the other, under one deadline.

        Strictly one command, one answer: upsd writes each answer separately, so both
        pipelined GETs and ``LIST VAR`` meet upsd's Nagle delay against our delayed ACK
        and cost ~40 ms a read; four plain round trips on loopback take ~0.2 ms.
        """
        deadline = time.monotonic() + self.timeout
        values: dict[str, str | None] = {}
        for var in names:
            self._send(f"GET VAR {ups} {var}", deadline)
            words = self._words(deadline)
            if words[:1] == ["ERR"]:
                code = words[1] if len(words) > 1 else "?"
                if code != "VAR-NOT-SUPPORTED":
                    raise self._error(code, ups)
                values[var] = None
            elif len(words) == 4 and words[:3] == ["VAR", ups, var]:
                values[var] = words[3]
            else:
                self._drop()
                raise DeviceProtocolError(f"{self.where}: unexpected answer to GET VAR "
                                          f"{var}: {' '.join(words)[:80]!r}")
        return values

    def _list(self, query: str, item: str, *, ups: str = "") -> list[list[str]]:
        deadline = time.monotonic() + self.timeout
        self._send(f"LIST {query}", deadline)
        first = self._reply(deadline, ups=ups)
        if first != ["BEGIN", "LIST", *query.split()]:
            self._drop()
            raise DeviceProtocolError(f"{self.where}: expected BEGIN LIST {query}, got "
                                      f"{' '.join(first)[:80]!r}")
        items: list[list[str]] = []
        while True:
            words = self._words(deadline)
            if words == ["END", "LIST", *query.split()]:
                return items
            if not words or words[0] != item or len(items) >= _MAX_LIST:
                self._drop()
                raise DeviceProtocolError(f"{self.where}: unexpected line in LIST {query}: "
                                          f"{' '.join(words)[:80]!r}")
            items.append(words)

    # -- lines ------------------------------------------------------------------------------
    def _words(self, deadline: float) -> list[str]:
        try:
            return split_line(self._readline(deadline))
        except DeviceProtocolError:
            self._drop()
            raise

    def _reply(self, deadline: float, *, ups: str) -> list[str]:
        words = self._words(deadline)
        if words[:1] == ["ERR"]:
            raise self._error(words[1] if len(words) > 1 else "?", ups)
        return words

    def _error(self, code: str, ups: str) -> DeviceError:
        cls, text = _ERRORS.get(code, (DeviceProtocolError, "upsd answered ERR {code}"))
        known = "?"
        if code == "UNKNOWN-UPS":
            # Name the UPSes upsd does know: the likely fix is one of them.
            with contextlib.suppress(DeviceError):
                known = ", ".join(self.list_ups()) or "none"
        return cls(f"{self.where}: " + text.format(ups=ups, code=code, known=known))

    def _send(self, line: str, deadline: float) -> None:
        sock = self._require()
        wire.debug("> %s", line)
        try:
            sock.settimeout(_remaining(deadline, self))
            sock.sendall(line.encode("ascii") + b"\n")
        except TimeoutError as exc:
            self._drop()
            raise UpsdTimeout(f"{self.where}: sending {line.split()[0]} timed out") from exc
        except OSError as exc:
            self._drop()
            raise DeviceProtocolError(f"{self.where}: connection lost ({exc})") from exc

    def _readline(self, deadline: float) -> str:
        sock = self._require()
        while b"\n" not in self._buffer:
            if len(self._buffer) > _MAX_LINE:
                self._drop()
                raise DeviceProtocolError(f"{self.where}: a line longer than {_MAX_LINE} "
                                          "bytes; is this really upsd?")
            try:
                sock.settimeout(_remaining(deadline, self))
                chunk = sock.recv(4096)
            except TimeoutError as exc:
                self._drop()
                raise UpsdTimeout(f"{self.where} did not answer within "
                                    f"{self.timeout:g} s") from exc
            except OSError as exc:
                self._drop()
                raise DeviceProtocolError(f"{self.where}: connection lost ({exc})") from exc
            if not chunk:  # upsd closed the connection (restarted, or not upsd at all)
                self._drop()
                raise DeviceProtocolError(f"{self.where} closed the connection")
            self._buffer += chunk
        raw, _, self._buffer = self._buffer.partition(b"\n")
        line = raw.rstrip(b"\r").decode("utf-8", errors="replace")
        wire.debug("< %s", line)
        return line

    def _require(self) -> socket.socket:
        if self._sock is None:
            raise DeviceError(f"{self.where}: not connected")
        return self._sock

    def _drop(self) -> None:
        """Forget a connection in an unknown state: the next command must reconnect."""
        sock, self._sock = self._sock, None
        self._buffer = b""
        if sock is not None:
            sock.close()


def _remaining(deadline: float, client: NutClient) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        client._drop()
        raise UpsdTimeout(f"{client.where} did not answer within {client.timeout:g} s")
    return left


def split_line(line: str) -> list[str]:
    """Split one protocol line into words: ``VAR ups x "a \\"b\\""`` -> 4 words.

    Quoted words may hold spaces; inside them ``\\"`` is a quote and ``\\\\`` a backslash.
    """
    words: list[str] = []
    i, n = 0, len(line)
    while i < n:
        if line[i] == " ":
            i += 1
            continue
        if line[i] == '"':
            i += 1
            word = []
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n:
                    i += 1
                word.append(line[i])
                i += 1
            if i >= n:
                raise DeviceProtocolError(f"unterminated quote in upsd line {line[:80]!r}")
            i += 1
            words.append("".join(word))
        else:
            end = line.find(" ", i)
            end = n if end < 0 else end
            words.append(line[i:end])
            i = end
    return words
