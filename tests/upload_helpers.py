"""Helpers the upload tests share: a *site* (an intake data directory plus a kiosk config
wired to it), the intake server as a subprocess, and the check that every acknowledged
record's receipt verifies for the packet the intake stored."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest
import requests

from kiosk.config import load_config
from kiosk.journal import Journal
from kiosk.receipts import load_intake_public_key, verify_receipt
from kiosk.request_signing import KioskAuth
from kiosk.sealing import DeviceKey, build_packet
from tests.conftest import KIOSK, REPO, kiosk_env, write_config

INTAKE = [sys.executable, "-m", "intake.cli"]
KIOSK_ID = "test-01"


# -- sites and the intake --------------------------------------------------------------------------
@dataclass
class Site:
    """``root/intake`` (the intake's data) and ``root/kiosk.toml`` (data in ``root/data``).

    The config names everything relative to ``root``, so a copied site works as is. A site
    of a kiosk other than ``test-01`` names its ``kiosk_id``; one that uploads to an intake
    several kiosks share names that intake's data directory (``intake``; the config then
    names its keys by absolute path).
    """

    root: Path
    kiosk_id: str = KIOSK_ID
    intake: Path | None = None

    @property
    def intake_dir(self) -> Path:
        return self.intake if self.intake is not None else self.root / "intake"

    @property
    def config(self) -> Path:
        return self.root / "kiosk.toml"

    @property
    def journal_path(self) -> Path:
        return self.root / "data" / "journal.db"

    @property
    def intake_key(self) -> bytes:
        return load_intake_public_key(self.intake_dir / "keys" / "intake.pub")

    def configure(self, url: str = "http://127.0.0.1:9/", *,
                  intake_key: str | None = "intake/keys/intake.pub", **upload: Any) -> Path:
        """(Re)write the kiosk config: the intake at ``url`` plus ``[upload]`` keys."""
        keys = "intake/keys" if self.intake is None else str(self.intake / "keys")
        if intake_key == "intake/keys/intake.pub":
            intake_key = f"{keys}/intake.pub"
        lines = [f'url = "{url}"']
        if intake_key is not None:
            lines.append(f'intake_key = "{intake_key}"')
        lines += [f"{k} = {json.dumps(v)}" for k, v in upload.items()]
        head = f'[kiosk]\nid = "{self.kiosk_id}"\n' if self.kiosk_id != KIOSK_ID else ""
        return write_config(self.root, f'{head}[sealing]\ncentral_key = "{keys}/central.pub"\n'
                                       "[upload]\n" + "\n".join(lines) + "\n")


def intake_env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO))


def intake_cli(*args: str) -> str:
    result = subprocess.run([*INTAKE, *args], capture_output=True, text=True, timeout=60,
                            env=intake_env(), cwd=REPO)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def make_site(root: Path, *, register: bool = True, kiosk_id: str = KIOSK_ID,
              intake: Path | None = None) -> Site:
    """Intake keys, a kiosk config pointing at them, the kiosk's device key registered.

    ``intake``: an intake data directory made already (``keys init``), shared by several
    sites (each with its own ``kiosk_id``)."""
    site = Site(root, kiosk_id, intake)
    root.mkdir(parents=True, exist_ok=True)
    if intake is None:
        intake_cli("keys", "init", "--data", str(site.intake_dir))
    site.configure()
    device = DeviceKey.load_or_create(load_config(site.config).device_key_path)
    if register:
        intake_cli("register", "--data", str(site.intake_dir), "--kiosk", kiosk_id,
                   "--key", device.public_bytes.hex())
    return site


def demo(site: Site, citizens: int, seed: int = 0) -> list[str]:
    result = subprocess.run([*KIOSK, "demo", "--citizens", str(citizens), "--seed", str(seed)],
                            env=kiosk_env(site.config), capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    return [line.split()[1] for line in result.stdout.splitlines()]


def stats(site: Site) -> dict[str, Any]:
    return json.loads(intake_cli("stats", "--data", str(site.intake_dir), "--json"))


def closed_port_url() -> str:
    """A URL where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


class IntakeServer:
    """``kiosk-intake serve --data DIR --port P`` as a subprocess; ``url`` once listening."""

    def __init__(self, data: Path, port: int = 0, *extra: str) -> None:
        self.log = data.parent / "intake-serve.log"
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*INTAKE, "serve", "--data", str(data), "--port", str(port), *extra],
                stdout=subprocess.PIPE, stderr=log, text=True, env=intake_env(), cwd=REPO)
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once the socket listens
        if not line.startswith("listening on "):
            self.proc.kill()
            self.proc.wait(timeout=10)
            pytest.fail(f"intake did not start: {line!r} {self.log.read_text()[-2000:]}")
        self.url = line.split()[2]
        self.port = int(self.url.rsplit(":", 1)[1].strip("/"))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)
        assert self.proc.stdout is not None
        self.proc.stdout.close()

    def __enter__(self) -> IntakeServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def check_acknowledged(site: Site, journal: Journal) -> list[str]:
    """Every acknowledged record has a receipt that verifies with the intake key, for the
    packet this kiosk holds, which is byte for byte the packet the intake stored. Returns
    the acknowledged ids."""
    key = site.intake_key
    done = journal.records("acknowledged")
    for info in done:
        receipt = journal.receipt(info.id)
        assert receipt is not None, f"{info.id} acknowledged without a receipt"
        stored = (site.intake_dir / "records" / site.kiosk_id / f"{info.id}.pkt").read_bytes()
        stored_sha = hashlib.sha256(stored).hexdigest()
        verify_receipt(receipt, key, kiosk_id=site.kiosk_id, record_id=info.id,
                       packet_sha256=stored_sha)
        assert info.manifest is not None
        ours = build_packet(info.manifest, journal.step_blobs(info.id))
        assert hashlib.sha256(ours).hexdigest() == stored_sha
    return [info.id for info in done]


def upload(site: Site, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, "upload", *args], env=kiosk_env(site.config),
                          capture_output=True, text=True, timeout=timeout)


def kill_upload_daemon(site: Site, rng: random.Random, *, times: int,
                       between: tuple[float, float]) -> int:
    """Start ``kiosk upload`` (the daemon) and SIGKILL it after a random ``between`` seconds,
    ``times`` times or until the outbox is empty; returns how many kills landed."""
    env = kiosk_env(site.config)
    kills = 0
    for _ in range(times):
        proc = subprocess.Popen([*KIOSK, "upload"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(*between))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        with Journal.open_readonly(site.journal_path) as journal:
            if not journal.outbox():
                break
    return kills


def queue(site: Site) -> dict[str, dict[str, Any]]:
    result = subprocess.run([*KIOSK, "queue", "list", "--json"], env=kiosk_env(site.config),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    return {entry["id"]: entry for entry in json.loads(result.stdout)}


def kiosk_auth(site: Site) -> KioskAuth:
    """Requests signed as the site's kiosk, as its uploader signs them."""
    return KioskAuth(site.kiosk_id,
                     DeviceKey.load_or_create(load_config(site.config).device_key_path))


def tus_head(url: str, site: Site) -> requests.structures.CaseInsensitiveDict[str]:
    """The intake's view of a tus upload (``Upload-Offset``, ``Upload-Length``)."""
    resp = requests.head(url, headers={"Tus-Resumable": "1.0.0"}, timeout=10,
                         auth=kiosk_auth(site))
    assert resp.status_code == 200, resp.status_code
    return resp.headers


def read_lines(stream: IO[str], count: int) -> list[str]:
    return [stream.readline().rstrip("\n") for _ in range(count)]


def demo_site_fixtures(citizens: int, seed: int) -> tuple[Any, Any, Any]:
    """``template, site, ids`` fixtures for a test module: ``citizens`` demo records sealed
    once per module; each test works on a copy of that site (journal, device key, intake
    keys), so every test starts from the same outbox::

        template, site, ids = demo_site_fixtures(3, seed=11)
    """
    @pytest.fixture(scope="module")
    def template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
        with pytest.MonkeyPatch.context() as mp:  # the autouse isolation is per test
            mp.setenv("KIOSK_SYSTEM_CONFIG",
                      str(tmp_path_factory.getbasetemp() / "no-etc.toml"))
            mp.delenv("KIOSK_CONFIG", raising=False)
            made = make_site(tmp_path_factory.mktemp("template"))
            record_ids = demo(made, citizens, seed=seed)
        return made.root, record_ids

    @pytest.fixture
    def site(template: tuple[Path, list[str]], tmp_path: Path) -> Site:
        shutil.copytree(template[0], tmp_path / "site")
        return Site(tmp_path / "site")

    @pytest.fixture
    def ids(template: tuple[Path, list[str]]) -> list[str]:
        return template[1]

    return template, site, ids


def unfinished_upload_offsets(site: Site) -> list[int]:
    """The offsets of the tus uploads the intake holds unfinished (processed ones are gone)."""
    db = sqlite3.connect(site.intake_dir / "tus" / "uploads.db")
    try:
        return [row[0] for row in db.execute("SELECT offset FROM uploads")]
    finally:
        db.close()
