"""A stand-in for systemd in the ``kiosk update`` tests: it runs one kiosk service from
``ROOT/current/bin/kiosk`` the way a ``Type=notify`` unit does, and restarts it on demand.

    python tests/update_supervisor.py serve STATE ROOT -- power watch   # in the background
    python tests/update_supervisor.py restart STATE   # like `systemctl restart`: exit 0 once
                                                      # the new process said READY=1
    python tests/update_supervisor.py status STATE    # like `systemctl is-active`

``serve`` gives the service a notification socket (``NOTIFY_SOCKET``), starts it through the
``current`` link (the kernel follows the link and the script's ``#!`` line, as under systemd)
and records in ``STATE/service.json`` its pid, its command line (whose first word is the
release's Python) and whether it said ``READY=1``. A service that exits is not started again
(systemd would, every ``RestartSec``; the test wants to see it down).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

READY_TIMEOUT_S = 30


def _write(state: Path, doc: dict) -> None:
    tmp = state / "service.json.tmp"
    tmp.write_text(json.dumps(doc))
    os.replace(tmp, state / "service.json")


def _read(state: Path) -> dict:
    try:
        return json.loads((state / "service.json").read_text())
    except (OSError, ValueError):
        return {}


def serve(state: Path, root: Path, args: list[str]) -> int:
    state.mkdir(parents=True, exist_ok=True)
    sock_path = state / "notify.sock"
    if sock_path.exists():
        sock_path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(0.1)
    flags = {"restart": False, "stop": False}
    signal.signal(signal.SIGHUP, lambda *_: flags.__setitem__("restart", True))
    signal.signal(signal.SIGTERM, lambda *_: flags.__setitem__("stop", True))
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["NOTIFY_SOCKET"] = str(sock_path)
    log = (state / "service.log").open("ab")
    child: subprocess.Popen | None = None
    generation = 0

    def stop_child() -> None:
        if child is not None and child.poll() is None:
            child.terminate()
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()

    def start() -> subprocess.Popen:
        nonlocal generation
        generation += 1
        log.write(f"--- start {generation}: {root}/current -> "
                  f"{os.path.realpath(root / 'current')}\n".encode())
        log.flush()
        proc = subprocess.Popen([str(root / "current" / "bin" / "kiosk"), *args], env=env,
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + READY_TIMEOUT_S
        ready = False
        while not ready and proc.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(TimeoutError):
                ready = b"READY=1" in sock.recv(4096).split(b"\n")
        try:
            cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().decode().split("\0")
        except OSError:
            cmdline = []
        _write(state, {"generation": generation, "pid": proc.pid, "ready": ready,
                       "exit": proc.poll(), "cmdline": [c for c in cmdline if c],
                       "release": os.path.realpath(root / "current")})
        return proc

    (state / "supervisor.pid").write_text(str(os.getpid()))
    child = start()
    while not flags["stop"]:
        if flags["restart"]:
            flags["restart"] = False
            stop_child()
            child = start()
        with contextlib.suppress(TimeoutError):
            sock.recv(4096)  # WATCHDOG=1 pings: drained, not checked here
        if child.poll() is not None and _read(state).get("exit") is None:
            _write(state, _read(state) | {"exit": child.returncode})
    stop_child()
    return 0


def restart(state: Path) -> int:
    before = _read(state).get("generation", 0)
    os.kill(int((state / "supervisor.pid").read_text()), signal.SIGHUP)
    deadline = time.monotonic() + READY_TIMEOUT_S + 15
    while time.monotonic() < deadline:
        doc = _read(state)
        if doc.get("generation", 0) > before:
            if doc["ready"] and doc["exit"] is None:
                return 0
            tail = (state / "service.log").read_text(errors="replace").splitlines()[-8:]
            print(f"service {doc['release']}/bin/kiosk failed to start (exit {doc['exit']}, "
                  f"READY=1 {'sent' if doc['ready'] else 'never sent'}):", *tail, sep="\n",
                  file=sys.stderr)
            return 1
        time.sleep(0.05)
    print("the supervisor did not restart the service", file=sys.stderr)
    return 1


def status(state: Path) -> int:
    doc = _read(state)
    alive = doc.get("ready") and doc.get("exit") is None
    if alive:
        try:
            os.kill(doc["pid"], 0)
        except OSError:
            alive = False
    print("active" if alive else f"failed (exit {doc.get('exit')})")
    return 0 if alive else 3


if __name__ == "__main__":
    command, state_dir = sys.argv[1], Path(sys.argv[2])
    if command == "serve":
        rest = sys.argv[3:]
        sys.exit(serve(state_dir.resolve(), Path(rest[0]).resolve(),
                       rest[rest.index("--") + 1:]))
    sys.exit({"restart": restart, "status": status}[command](state_dir))
