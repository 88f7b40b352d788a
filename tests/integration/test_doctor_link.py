"""`kiosk doctor` and the outside world: the intake's TLS certificate named by what is
wrong with it, a silent intake that costs its timeout once, upsd and its driver through
the NUT backend, and the intake's answer to the doctor's question (`GET /kiosks/<id>`)."""

from __future__ import annotations

import datetime
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from intake.tls import ensure_tls_pair, fingerprint
from kiosk.core.ids import KEY_ID
from tests.conftest import KIOSK, kiosk_env
from tests.doctor_helpers import configure, doctor, intake_fixture
from tests.hil.nut_harness import NutServer, free_port, nut_or_fail
from tests.upload_helpers import IntakeServer, Site, demo_site_fixtures, kiosk_auth

pytestmark = pytest.mark.timeout(240)

template, site, ids = demo_site_fixtures(2, seed=13)
intake = intake_fixture()


# -- the intake's certificate --
def _cert(path: Path, names: list[str], *, days: tuple[int, int] = (-1, 365)
          ) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = datetime.datetime.now(datetime.UTC)
    alt = [x509.DNSName(n) for n in names]
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    path.mkdir(parents=True, exist_ok=True)
    (path / "tls.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (path / "tls.key").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return path / "tls.crt", path / "tls.key"


def _https(site: Site, cert: Path, key: Path) -> IntakeServer:
    return IntakeServer(site.intake_dir, 0, "--cert", str(cert), "--key", str(key))


def test_https_intake_with_its_certificate_is_green(site: Site) -> None:
    keys = site.intake_dir / "keys"
    with _https(site, keys / "tls.crt", keys / "tls.key") as server:
        site.configure(server.url.replace("127.0.0.1", "localhost"), ca_file=str(
            keys / "tls.crt"))
        code, found, done = doctor(site)
        assert code == 0, done.stdout
        assert "certificate verified against" in found["intake"]["detail"]
        site.configure(server.url, tls_fingerprint=fingerprint((keys / "tls.crt").read_bytes()))
        code, found, done = doctor(site)
        assert code == 0, done.stdout
        assert "the pinned certificate" in found["intake"]["detail"]


@pytest.mark.parametrize(("case", "detail", "fix"), [
    ("unknown CA", "signed by a CA this kiosk does not trust", "upload.tls_fingerprint"),
    ("wrong pin", "not the pinned one", "upload.tls_fingerprint"),
    ("expired", "has expired", "renew the certificate"),
    ("wrong host", "does not name localhost (wrong host)", "--tls-name localhost"),
])
def test_certificate_failures_are_named(site: Site, tmp_path: Path, case: str, detail: str,
                                        fix: str) -> None:
    keys = site.intake_dir / "keys"
    cert, key = keys / "tls.crt", keys / "tls.key"
    if case == "expired":
        cert, key = _cert(tmp_path / "expired", ["localhost"], days=(-30, -1))
    elif case == "wrong host":
        cert, key = _cert(tmp_path / "elsewhere", ["intake.dukcapil.example"])
    with _https(site, cert, key) as server:
        url = server.url.replace("127.0.0.1", "localhost")
        if case == "unknown CA":
            other, _ = ensure_tls_pair(tmp_path / "other")  # a CA this intake is not under
            site.configure(url, ca_file=str(other))
        elif case == "wrong pin":
            other, _ = ensure_tls_pair(tmp_path / "other")
            site.configure(url, tls_fingerprint=fingerprint(other.read_bytes()))
        else:
            site.configure(url, ca_file=str(cert))
        code, found, _done = doctor(site)
    assert code == 1
    assert found["intake"]["status"] == "fail"
    assert detail in found["intake"]["detail"], found["intake"]
    assert fix in found["intake"]["fix"], found["intake"]
    assert found["registration"]["status"] == "skip"


# -- a dead link and a dead upsd --
def test_a_silent_intake_costs_the_timeout_once(site: Site) -> None:
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        configure(site, f"http://127.0.0.1:{silent.getsockname()[1]}/",
                  "[doctor]\ntimeout_s = 2\n")
        started = time.monotonic()
        code, found, _done = doctor(site)
        elapsed = time.monotonic() - started
    assert code == 1
    assert "no answer from the intake within 2 s" in found["intake"]["detail"]
    assert "check the link" in found["intake"]["fix"]
    assert elapsed < 15, elapsed  # Python's start included; the request itself is 2 s


def test_ctrl_c_while_the_doctor_waits_exits_130_without_a_traceback(site: Site) -> None:
    with socket.socket() as silent:  # the doctor waits for its answer
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        configure(site, f"http://127.0.0.1:{silent.getsockname()[1]}/",
                  "[doctor]\ntimeout_s = 30\n")
        # SIGINT as a terminal's Ctrl-C delivers it (not ignored, as in a background job)
        run = subprocess.Popen([*KIOSK, "doctor"], env=kiosk_env(site.config),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        silent.settimeout(60)
        asking, _ = silent.accept()  # the doctor's checks are running
        with asking:
            run.send_signal(signal.SIGINT)
            out, err = run.communicate(timeout=60)
    assert "Traceback" not in err, err[-2000:]
    assert run.returncode == 130, (run.returncode, out[-500:], err[-500:])


@pytest.fixture
def nut() -> Iterator[NutServer]:
    with nut_or_fail() as server:
        yield server


def test_ups_through_upsd_then_upsd_stopped_then_the_driver_stopped(
        site: Site, intake: IntakeServer, nut: NutServer) -> None:
    configure(site, intake.url, nut.power_config)
    code, found, done = doctor(site)
    assert code == 0, done.stdout
    assert "source mains" in found["ups"]["detail"]

    nut.stop_driver()
    code, found, done = doctor(site)
    assert code == 1
    assert found["ups"]["status"] == "fail"
    assert "upsdrvctl start" in found["ups"]["fix"], found["ups"]

    nut.stop_upsd()
    code, found, done = doctor(site)
    assert code == 1
    assert "refused the connection" in found["ups"]["detail"]
    assert "sudo systemctl start nut-server" in found["ups"]["fix"]
    assert [n for n, f in found.items() if f["status"] != "ok"] == ["ups"]


def test_upsd_nowhere_answers_within_the_timeout(site: Site, intake: IntakeServer) -> None:
    port = free_port()
    configure(site, intake.url, f'[power]\ntype = "nut"\nport = {port}\n')
    code, found, _done = doctor(site)
    assert code == 1
    assert f"127.0.0.1:{port}" in found["ups"]["detail"]
    assert "nut-server" in found["ups"]["fix"]


# -- the intake's answer to the doctor's question --
def test_intake_answers_kiosks_id_only_to_that_kiosk(site: Site, intake: IntakeServer) -> None:
    auth = kiosk_auth(site)
    mine = requests.get(f"{intake.url}kiosks/test-01", auth=auth, timeout=10)
    assert mine.status_code == 200
    body = mine.json()
    assert body["kiosk_id"] == "test-01" and body["registered"] is True
    assert KEY_ID.fullmatch(body["key_id"]), body["key_id"]
    other = requests.get(f"{intake.url}kiosks/other-02", auth=auth, timeout=10)
    assert other.status_code == 404
    unsigned = requests.get(f"{intake.url}kiosks/test-01", timeout=10)
    assert unsigned.status_code == 401 and unsigned.json()["code"] == "unsigned"
    (site.intake_dir / "devices" / "test-01.json").unlink()
    gone = requests.get(f"{intake.url}kiosks/test-01", auth=auth, timeout=10)
    assert gone.status_code == 403 and gone.json()["code"] == "unknown_kiosk"


def test_an_intake_behind_a_bearer_token_is_named_by_its_answer(site: Site,
                                                                 tmp_path: Path) -> None:
    """The doctor tells the token's 401 by the intake's own answer (one text both ends
    take from kiosk.core.intake_api), not by a word in it: without the token it names
    ``[upload] token``; with it, the kiosk is registered."""
    token = tmp_path / "token"
    token.write_text("s3cret-token\n")
    with IntakeServer(site.intake_dir, 0, "--token-file", str(token)) as server:
        site.configure(server.url)
        code, found, done = doctor(site)
        assert code == 1, done.stdout
        assert found["registration"]["status"] == "fail", found["registration"]
        assert "[upload] token" in found["registration"]["fix"], found["registration"]
        site.configure(server.url, token="s3cret-token")
        code, found, done = doctor(site)
        assert found["registration"]["status"] == "ok", found["registration"]
