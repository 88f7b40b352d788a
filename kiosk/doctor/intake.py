"""The doctor's questions to the intake: is it reachable, is its TLS certificate the one
this kiosk trusts, and is this kiosk registered there with the key it signs with?

One request answers all three: ``GET {url}kiosks/<kiosk-id>``, signed with the device key
exactly as the uploader signs (:class:`kiosk.request_signing.KioskAuth`, through the
uploader's own session: :func:`kiosk.upload.tus.upload_session`, so TLS is verified the
same way). The intake answers ``200`` only to a registered kiosk asking about itself, and
refuses anything else with its refusal code (``unknown_kiosk``, ``revoked_kiosk``,
``wrong_key``; ``docs/upload.md``) before it reads anything else.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from urllib.parse import quote, urljoin, urlsplit

import requests

from kiosk.config import Config
from kiosk.core.intake_api import (
    CENTRAL_KEY_ID_KEY,
    CODE_KEY,
    ERROR_KEY,
    HEALTH_ENDPOINT,
    INTAKE_KEY_ID_KEY,
    KEY_ID_KEY,
    KIOSKS_ENDPOINT,
    REGISTERED_KEY,
    SERVER_PRODUCT,
    TOKEN_REFUSED,
    RefusalCode,
)
from kiosk.doctor.findings import Finding, fail, ok, skip, warn
from kiosk.errors import SealingError

# OpenSSL's X509_V_ERR_* codes (x509_vfy.h) -> what went wrong with the certificate
_NOT_YET_VALID, _EXPIRED = 9, 10
_UNKNOWN_CA = (2, 18, 19, 20, 21, 27, 30)  # self-signed, unknown issuer, untrusted, ...
_HOSTNAME_MISMATCH, _IP_MISMATCH = 62, 64


def intake_checks(config: Config, timeout_s: float) -> Iterator[Finding]:
    """Two findings: ``intake`` (reached, TLS, it is the intake) and ``registration``."""
    from kiosk.request_signing import KioskAuth
    from kiosk.sealing_keys import DeviceKey
    from kiosk.upload.tus import upload_session

    section = config["upload"]
    url = section["url"]
    base = url if url.endswith("/") else url + "/"
    target = urljoin(base, f"{KIOSKS_ENDPOINT}/{quote(config.kiosk_id)}")
    session = upload_session(ca_file=section["ca_file"], fingerprint=section["tls_fingerprint"])
    try:
        session.auth = KioskAuth(config.kiosk_id, DeviceKey.load(config.device_key_path))
        signed = True
    except (SealingError, OSError):
        signed = False  # still ask: reachability and TLS do not need the signature
    if section["token"]:
        session.headers["Authorization"] = f"Bearer {section['token']}"
    started = time.monotonic()
    try:
        with session:
            resp = session.get(target, timeout=(timeout_s, timeout_s),
                               verify=session.verify, allow_redirects=False)
    except requests.exceptions.SSLError as exc:
        detail, fix = tls_failure(exc, config)
        yield fail("intake", f"{url}: {detail}", fix)
        yield skip("registration", "not asked: the intake's certificate is not trusted")
        return
    except requests.RequestException as exc:
        detail, fix = link_failure(exc, url, timeout_s)
        yield fail("intake", f"{url}: {detail}", fix)
        yield skip("registration", "not asked: the intake is not reachable")
        return
    elapsed = time.monotonic() - started
    yield from _answer(config, resp, url, elapsed, signed)


def _how(config: Config, url: str) -> str:
    section = config["upload"]
    if not url.startswith("https://"):
        return "plain http"
    if section["tls_fingerprint"]:
        return "TLS, the pinned certificate"
    if section["ca_file"]:
        return f"TLS, certificate verified against {section['ca_file']}"
    return "TLS, certificate verified against the system's CAs"


def _answer(config: Config, resp: requests.Response, url: str, elapsed: float,
            signed: bool) -> Iterator[Finding]:
    server = resp.headers.get("Server", "")
    kind = resp.headers.get("Content-Type", "")
    try:
        body = json.loads(resp.content) if kind.startswith("application/json") else None
    except ValueError:
        body = None
    if not server.startswith(SERVER_PRODUCT) and not isinstance(body, dict):
        yield fail("intake", f"{url} answered HTTP {resp.status_code} ({kind or 'no type'}), "
                   "not as the intake: a captive portal or a proxy in the way?",
                   "log the link in (a village Wi-Fi's login page), or check [upload] url")
        yield skip("registration", "not asked: something else answered in the intake's place")
        return
    if resp.status_code >= 500:
        yield fail("intake", f"{url} answered HTTP {resp.status_code}: the intake is up but "
                   "failing", "see the intake's log at the central office")
        yield skip("registration", "not asked: the intake is failing")
        return
    yield ok("intake", f"{url} answered in {elapsed:.2f} s ({_how(config, url)})")
    yield registration(config, resp.status_code, body if isinstance(body, dict) else {},
                       signed)


def registration(config: Config, status: int, body: dict[str, object], signed: bool
                 ) -> Finding:
    """The ``registration`` finding from the intake's answer to the signed request."""
    kiosk = config.kiosk_id
    code = body.get(CODE_KEY) if isinstance(body.get(CODE_KEY), str) else None
    register = (f"at the intake: `kiosk-intake register --data DIR --kiosk {kiosk} --key HEX` "
                "with the key `kiosk keys show` prints on this kiosk")
    if not signed:
        return skip("registration", "not asked: the device key is unusable (see key.device)")
    if status == 200 and body.get(REGISTERED_KEY) is True:
        mismatch = _key_mismatch(config, body)
        if mismatch:
            return fail("registration", f"registered as {kiosk}, but {mismatch[0]}", mismatch[1])
        return ok("registration", f"registered as {kiosk} (device key id {body.get(KEY_ID_KEY)})")
    if status == 404:  # admitted (the signature verified), but an intake without /kiosks/
        return warn("registration", f"the intake accepted this kiosk's signature ({kiosk}) "
                    "but does not know GET /kiosks/ (an older intake)",
                    "update the intake to answer the doctor's question")
    if code == RefusalCode.UNKNOWN_KIOSK:
        return fail("registration", f"the intake does not know kiosk {kiosk}", register)
    if code == RefusalCode.REVOKED_KIOSK:
        return fail("registration", f"the intake revoked kiosk {kiosk}: {body.get(ERROR_KEY)}",
                    "if that was a mistake, register this kiosk's key again: " + register)
    if code == RefusalCode.WRONG_KEY:
        return fail("registration", f"the intake holds another device key for {kiosk}",
                    "if this kiosk's device.key was replaced, register the new one ("
                    + register + "); else restore the old device.key from backup")
    if status == 401 and body.get(ERROR_KEY) == TOKEN_REFUSED:
        return fail("registration", "the intake wants a bearer token this kiosk does not "
                    "send (or it is wrong)", "set [upload] token to the intake's token")
    detail = f"HTTP {status}" + (f" [{code}]" if code else "") + (
        f": {str(body.get(ERROR_KEY))[:200]}" if body.get(ERROR_KEY) else "")
    return fail("registration", f"the intake refused the signed request: {detail}",
                "see docs/upload.md, \"Kiosk authentication\"; " + register)


def _key_mismatch(config: Config, body: dict[str, object]) -> tuple[str, str] | None:
    """(what differs, the fix) when the intake's central or receipt key is not the one this
    kiosk holds a copy of; None when they match, or when either side does not say (an
    older intake, the development key, a key file the key lines already fail)."""
    from kiosk.receipts import load_intake_public_key
    from kiosk.sealing import key_id, load_central_public_key

    central, intake = config.central_key_path, config.intake_key_path
    pairs = [  # (the intake's key id, our copy, how to read it, what differs, the fix)
        (CENTRAL_KEY_ID_KEY, None if config.uses_dev_central_key else central,
         load_central_public_key,
         "this kiosk seals records to central key {ours} and the intake opens central key "
         "{theirs}: every record would be refused (undecryptable)",
         f"copy the intake's DIR/keys/central.pub to {central} (sealing.central_key) and "
         "restart the kiosk; records sealed before open only where central key {ours}'s "
         "private key is"),
        (INTAKE_KEY_ID_KEY, intake, load_intake_public_key,
         "this kiosk trusts intake key {ours} and the intake signs receipts with {theirs}: "
         "no receipt would verify, no record be acknowledged",
         f"copy the intake's DIR/keys/intake.pub to {intake} (upload.intake_key)"),
    ]
    for name, path, load, what, fix in pairs:
        theirs = body.get(name)
        if not isinstance(theirs, str) or path is None:
            continue
        try:
            ours = key_id(load(path))
        except (SealingError, OSError):
            continue  # the key lines above say what is wrong with the file
        if ours != theirs:
            return what.format(ours=ours, theirs=theirs), fix.format(ours=ours)
    return None


def tls_failure(exc: BaseException, config: Config) -> tuple[str, str]:
    """(what is wrong with the intake's certificate, the fix), named by OpenSSL's code."""
    section = config["upload"]
    host = urlsplit(section["url"]).hostname or "?"
    trust = (f"upload.ca_file ({section['ca_file']})" if section["ca_file"]
             else "the system's CAs")
    pin = ("pin the intake's own certificate instead: upload.tls_fingerprint = the SHA-256 "
           "`kiosk-intake keys init` printed (or name its tls.crt in upload.ca_file)")
    from kiosk.upload.failures import exception_chain

    chain = list(exception_chain(exc))
    text = " ".join(str(e) for e in chain)
    verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
    code = getattr(verify, "verify_code", None)
    if "Fingerprints did not match" in text:
        return ("the TLS certificate is not the pinned one (upload.tls_fingerprint): another "
                "server, or the intake's certificate was replaced",
                "compare with the fingerprint the intake's `kiosk-intake keys init` printed; "
                "if the intake has a new certificate, set upload.tls_fingerprint to it")
    if code == _EXPIRED:
        return ("the intake's TLS certificate has expired (or this kiosk's clock is ahead: "
                "see the clock line)",
                "renew the certificate at the intake (`kiosk-intake serve --cert/--key`), "
                "or fix the kiosk's clock")
    if code == _NOT_YET_VALID:
        return ("the intake's TLS certificate is not valid yet: this kiosk's clock is behind "
                "(see the clock line)", "synchronise the clock (`sudo timedatectl set-ntp "
                "true`), then ask again")
    if code in (_HOSTNAME_MISMATCH, _IP_MISMATCH):
        return (f"the intake's TLS certificate does not name {host} (wrong host)",
                f"use a host name the certificate names in upload.url, or make the intake's "
                f"certificate for {host} (`kiosk-intake keys init --tls-name {host}`)")
    if code in _UNKNOWN_CA or "unable to get local issuer" in text or "self-signed" in text:
        return (f"the intake's TLS certificate is signed by a CA this kiosk does not trust "
                f"({trust}): unknown CA", pin)
    if "WRONG_VERSION_NUMBER" in text:
        return ("the intake does not speak TLS there (an http:// intake?)",
                "use http:// in upload.url for a plain intake on this machine, or start the "
                "intake with --cert/--key")
    reason = getattr(verify, "verify_message", None) or type(chain[-1]).__name__
    return (f"the TLS handshake failed: {reason}",
            f"check the intake's certificate against {trust} and upload.url")


def link_failure(exc: BaseException, url: str, timeout_s: float) -> tuple[str, str]:
    """(why no answer came, the fix), in the uploader's words (``link_reason``)."""
    from kiosk.upload.failures import link_reason

    reason = link_reason(exc, timeout_s)
    parts = urlsplit(url)
    where = f"{parts.hostname}:{parts.port or (443 if parts.scheme == 'https' else 80)}"
    if reason == "connection refused":
        return (f"connection refused at {where}: nothing listens there",
                "start the intake (`kiosk-intake serve` at the central office) or correct "
                "[upload] url")
    if "does not resolve" in reason:
        return (reason, "check the host name in [upload] url and the kiosk's DNS "
                        "(/etc/resolv.conf, `getent hosts " + f"{parts.hostname}`)")
    if "within" in reason:
        return (f"{reason} (the link or the intake is down)",
                f"check the link (`ping {parts.hostname}`) and that the intake runs; "
                "records wait safely in the outbox meanwhile")
    return (reason, f"check the link and [upload] url; `curl -v {url}{HEALTH_ENDPOINT}` from "
                    "the kiosk")
