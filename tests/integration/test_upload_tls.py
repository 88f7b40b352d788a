"""The intake over HTTPS: its self-signed certificate pinned by fingerprint or trusted as a
CA file; a wrong certificate sends nothing; plain http:// to another machine is refused."""

from __future__ import annotations

import json
import socket
import subprocess
from pathlib import Path

import pytest

from intake.tls import ensure_tls_pair, fingerprint
from kiosk.journal import Journal
from tests.conftest import KIOSK, kiosk_env
from tests.upload_helpers import (
    IntakeServer,
    Site,
    check_acknowledged,
    demo_site_fixtures,
    upload,
)

pytestmark = pytest.mark.timeout(180)


template, site, ids = demo_site_fixtures(2, seed=41)


def https_intake(site: Site) -> IntakeServer:
    keys = site.intake_dir / "keys"
    assert (keys / "tls.crt").exists()  # keys init made it
    return IntakeServer(site.intake_dir, 0, "--cert", str(keys / "tls.crt"),
                        "--key", str(keys / "tls.key"))


def pin(site: Site) -> str:
    return fingerprint((site.intake_dir / "keys" / "tls.crt").read_bytes())


def test_https_with_the_pinned_certificate(site: Site, ids: list[str]) -> None:
    with https_intake(site) as intake:
        assert intake.url.startswith("https://127.0.0.1:")
        # a client that connects and never speaks TLS holds nobody up
        with socket.create_connection(("127.0.0.1", intake.port)):
            site.configure(intake.url, tls_fingerprint=":".join(
                pin(site)[i:i + 2] for i in range(0, 64, 2)).upper())
            done = upload(site, "--once")
        assert done.returncode == 0, done.stderr[-2000:]
    with Journal.open_readonly(site.journal_path) as journal:
        assert check_acknowledged(site, journal) == ids


def test_https_with_the_certificate_as_ca_file(site: Site, ids: list[str]) -> None:
    with https_intake(site) as intake:
        site.configure(intake.url, ca_file="intake/keys/tls.crt")
        done = upload(site, "--once")
        assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.parametrize("how", ["fingerprint", "ca_file", "system"])
def test_a_wrong_certificate_sends_nothing_and_says_why(
        site: Site, ids: list[str], tmp_path: Path, how: str) -> None:
    other, _ = ensure_tls_pair(tmp_path / "other")  # a man in the middle's certificate
    settings = {"fingerprint": {"tls_fingerprint": fingerprint(other.read_bytes())},
                "ca_file": {"ca_file": str(other)}, "system": {}}[how]
    with https_intake(site) as intake:
        site.configure(intake.url, **settings, retries=0)
        done = upload(site, "--once")
        assert done.returncode == 1
        log = intake.log.read_text()
    want = ("is not the pinned one (upload.tls_fingerprint)" if how == "fingerprint"
            else "TLS certificate does not verify")
    assert want in done.stderr
    listed = json.loads(subprocess.run([*KIOSK, "queue", "list", "--json"],
                                       env=kiosk_env(site.config), capture_output=True,
                                       text=True, timeout=60).stdout)
    assert [e["state"] for e in listed] == ["sealed", "sealed"]  # kept, to send later
    assert want in listed[0]["last_error"]
    assert "started" not in log  # not one upload was created


@pytest.mark.parametrize(("url", "extra", "code"), [
    ("http://intake.dukcapil.example/", {}, 2),
    ("http://10.1.2.3:8700/", {}, 2),
    ("http://10.1.2.3:8700/", {"allow_insecure": True}, 0),
    ("http://127.0.0.1:8700/", {}, 0),
    ("http://localhost:8700/", {}, 0),
    ("http://[::1]:8700/", {}, 0),
    ("https://intake.dukcapil.example/", {}, 0),
])
def test_config_check_refuses_plain_http_to_another_machine(
        site: Site, url: str, extra: dict[str, object], code: int) -> None:
    site.configure(url, **extra)
    done = subprocess.run([*KIOSK, "config", "check"], env=kiosk_env(site.config),
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == code, done.stderr
    if code:
        assert "upload.url" in done.stderr and "https://" in done.stderr
        refused = upload(site, "--once")
        assert refused.returncode == 2 and "upload.url" in refused.stderr
