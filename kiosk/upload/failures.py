"""Why an upload attempt failed, as one line that names no person, and what it means.

Every failed request becomes a :class:`Failure`: its ``reason`` goes to the journal's
``last_error`` (``kiosk queue show``), and its flags tell the uploader what to do next: the
link is down (end the pass), the link is flaky (send again at once), the intake refused the
record for good (``rejected``), or asked for a pause. ``kiosk doctor`` names a dead link
with the same words (:func:`link_reason`, :func:`exception_chain`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import requests

from kiosk.core.intake_api import CODE_KEY, ERROR_KEY, PERMANENT_KEY

MAX_DETAIL = 200  # characters of an intake's error text kept in last_error


class Failure(Exception):
    """One failed attempt for one record: ``reason`` goes to the journal's ``last_error``.

    ``reject``: the intake refused the record for good (the record goes to ``rejected``);
    ``retry_after``: the intake asked for a pause (seconds, from ``Retry-After``)."""

    def __init__(self, reason: str, *, link_down: bool = False, forget_url: bool = False,
                 reject: bool = False, retry_after: float | None = None,
                 broken: bool = False) -> None:
        super().__init__(reason)
        self.reason = one_line(reason)
        self.link_down = link_down
        self.broken = broken  # the link reached the intake and broke mid-exchange: flaky
        self.forget_url = forget_url
        self.reject = reject
        self.retry_after = retry_after


def parse_refusal(body: bytes | str | None) -> tuple[str, str, bool] | None:
    """(code, reason, permanent) of an intake's refusal body (``docs/upload.md``), or None
    when the body is not one."""
    if not body:
        return None
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get(CODE_KEY), str):
        return None
    permanent = doc.get(PERMANENT_KEY, True)
    return (one_line(doc[CODE_KEY], 40), error_detail(body),
            permanent if isinstance(permanent, bool) else True)


def one_line(text: str, limit: int = 300) -> str:
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def error_detail(body: bytes | str | None) -> str:
    """The ``error`` of an intake's JSON answer (or its short text), on one line."""
    if not body:
        return ""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
    with contextlib.suppress(ValueError, AttributeError, RecursionError):
        error = json.loads(text).get(ERROR_KEY)
        if isinstance(error, str):
            text = error
    return one_line(text, MAX_DETAIL)


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, its causes and contexts, and exceptions carried in its args (urllib3 wraps
    the socket's error that way), each once: where the reason for a failed request is."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo.extend(e for e in (current.__cause__, current.__context__) if e is not None)
        todo.extend(a for a in current.args if isinstance(a, BaseException))


LINK_REASONS = (
    ("Connection refused", "connection refused"),
    ("Name or service not known", "the intake's host name does not resolve"),
    ("Temporary failure in name resolution", "the intake's host name does not resolve"),
    ("No route to host", "no route to the intake's host"),
    ("Network is unreachable", "network unreachable"),
    ("Connection reset", "connection reset"),
    ("CERTIFICATE_VERIFY_FAILED", "the intake's TLS certificate does not verify "
     "(upload.ca_file)"),
    ("Fingerprints did not match", "the intake's TLS certificate is not the pinned one "
     "(upload.tls_fingerprint)"),
    ("WRONG_VERSION_NUMBER", "the intake does not speak TLS there (an http:// intake?)"),
    ("RemoteDisconnected", "the intake closed the connection"),
    ("Connection aborted", "connection dropped"),
    ("Broken pipe", "connection dropped"),
)


def not_the_intake(answer: str, what: str) -> Failure:
    """Something answered in the intake's place: on village Wi-Fi, usually a captive portal's
    login page. Every record would get the same, so the link counts as down."""
    return Failure(f"the upload URL answered {answer} while {what}, not as the intake: a "
                    "captive portal or proxy in the way? (log the link in, or check "
                    "[upload] url)", link_down=True)


# Reasons for a connection that reached the intake and was then cut: the link is up but
# flaky (a rural link that resets every few tens of KB), so the request is worth sending
# again at once, unlike a timeout, a refusal or a name that does not resolve.
BROKEN_REASONS = frozenset({"connection reset", "the intake closed the connection",
                             "connection dropped"})


def link_failure(exc: BaseException, timeout_s: float) -> Failure:
    """The failure for a request that got no HTTP answer: the link counts as down."""
    reason = link_reason(exc, timeout_s)
    return Failure(reason, link_down=True, broken=reason in BROKEN_REASONS)


def link_reason(exc: BaseException, timeout_s: float) -> str:
    """A short reason for a request that got no HTTP answer (the text names no person)."""
    chain = list(exception_chain(exc))
    if any(isinstance(e, requests.Timeout | TimeoutError) for e in chain):
        return f"no answer from the intake within {timeout_s:g} s"
    text = " ".join(f"{type(e).__name__}: {e}" for e in chain)
    if "timed out" in text:
        return f"no answer from the intake within {timeout_s:g} s"
    for needle, reason in LINK_REASONS:
        if needle in text:
            return reason
    return f"cannot reach the intake ({type(chain[-1]).__name__})"
