"""Spoken prompts: one fixed instruction per step, read aloud with espeak-ng.

Each screen of the citizen's flow asks for its instruction to be spoken in the chosen
language (``"id"`` Bahasa Indonesia, ``"en"`` English) and offers a "repeat" button. A new
prompt, :meth:`Speaker.stop` or leaving the screen cuts the current one off (the running
``espeak-ng`` process is terminated). No Kivy here: the screens call a :class:`Speaker`
from the UI thread and every call returns at once; processes are started, fed and waited
for by one background worker thread.

Privacy: prompts are fixed catalog instructions, never personal values (name, NIK, ...).
Callers must pass only catalog messages: prefer :meth:`Speaker.say_message`, which takes
an English msgid, refuses anything that is not a known catalog entry and translates it
through :func:`kiosk.i18n.translate`. Logs never contain the text being spoken.

``[ui] speech`` in the config is ``true``, ``false`` or ``"auto"``; see
:func:`speech_enabled` for what "auto" checks. When espeak-ng is missing or fails, one
warning is logged and the speaker goes quiet (disabled) for the rest of its life, and tells
:attr:`Speaker.on_disabled` (the screens then hide Repeat); it never raises into the UI.

Example::

    from kiosk.speech import create_speaker

    speaker = create_speaker(config["ui"]["speech"])
    speaker.say_message("Welcome", "id")   # "Selamat datang", in the background
    speaker.repeat()                       # the citizen pressed "repeat"
    speaker.stop()                         # the screen is left
    speaker.close()                        # at shutdown (safe to call twice)

The command for Indonesian is ``espeak-ng -v id -s 150 -a 100 -b 1 --stdin`` with the text
written to its standard input (so no text is ever parsed as an option, nor shown by
``ps``); English uses ``-v en-gb``. :func:`command` builds it, with ``-w FILE`` to write a
WAV file instead of playing it.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import re
import shutil
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from kiosk import i18n

log = logging.getLogger(__name__)

ESPEAK = "espeak-ng"
# espeak-ng voice per kiosk language. "en-gb" is espeak-ng's reference English voice.
VOICES: dict[str, str] = {"id": "id", "en": "en-gb"}
# Words per minute: a little slower than espeak-ng's 175 for people unused to synthetic
# speech. Amplitude is espeak-ng's -a, 0 to 200 (100 is its default).
DEFAULT_RATE = 150
DEFAULT_VOLUME = 100
ASOUND_CARDS = Path("/proc/asound/cards")
# A card line in /proc/asound/cards: " 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0".
_CARD_LINE = re.compile(r"^\s*\d+\s+\[", re.MULTILINE)
_CLOSE_JOIN_S = 1.0


class Process(Protocol):
    """A started speech process, as a runner returns it."""

    def wait(self) -> int:
        """Block until it ends; its exit status (non-zero: it failed)."""
        ...

    def terminate(self) -> None:
        """Ask it to stop now (must not block, must not raise if it already ended)."""
        ...


Runner = Callable[[list[str], str], Process]
"""Starts ``argv`` with ``text`` as input and returns at once: ``runner(argv, text)``."""


def command(language: str, *, rate: int = DEFAULT_RATE, volume: int = DEFAULT_VOLUME,
            binary: str = ESPEAK, wav: Path | str | None = None) -> list[str]:
    """The espeak-ng argv speaking standard input in ``language`` (``-w wav``: to a file).

    The text itself is not in the argv: the runner writes it to the process's stdin
    (``--stdin`` reads it whole, ``-b 1`` says it is UTF-8; SSML is not enabled, so ``<``
    and ``-`` in a prompt are just text).
    """
    voice = VOICES.get(language)
    if voice is None:
        raise ValueError(f"no voice for language {language!r}; known: {sorted(VOICES)}")
    argv = [binary, "-v", voice, "-s", str(rate), "-a", str(volume), "-b", "1"]
    if wav is not None:
        argv += ["-w", str(wav)]
    return [*argv, "--stdin"]


class _EspeakProcess:
    """A running espeak-ng: the text goes in on stdin, stderr is kept to detect failure."""

    def __init__(self, argv: list[str], text: str) -> None:
        self._text = text.encode("utf-8")
        self._popen = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            close_fds=True)
        self.error = ""

    def wait(self) -> int:
        try:
            _, err = self._popen.communicate(self._text)
        except (BrokenPipeError, ValueError):   # terminated before or while being fed
            err = b""
            self._popen.wait()
        lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines()
                 if line.strip()]
        self.error = lines[-1][:120] if lines else ""
        code = self._popen.returncode
        # espeak-ng 1.51 exits 0 when it cannot open the audio device; it says
        # "error: ..." on stderr instead.
        if code == 0 and any(line.startswith("error:") for line in lines):
            return 1
        return code

    def terminate(self) -> None:
        with contextlib.suppress(OSError):
            self._popen.terminate()


def espeak_runner(argv: list[str], text: str) -> Process:
    """The real runner: start ``argv`` (no shell) and feed it ``text`` on stdin."""
    return _EspeakProcess(argv, text)


def has_audio_output(cards: Path = ASOUND_CARDS) -> bool:
    """Whether ALSA lists at least one sound card (Linux ``/proc/asound/cards``).

    Chosen because it is one small file read, no subprocess. It counts any card, e.g. the
    Raspberry Pi's HDMI audio even when the monitor has no speaker: set ``speech = false``
    to silence such a kiosk. No ``/proc/asound`` (not Linux, or no ALSA) means False.
    """
    try:
        text = cards.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return _CARD_LINE.search(text) is not None


def speech_enabled(setting: bool | str) -> bool:
    """``[ui] speech`` as a yes/no: True/False as given; "auto" -> sound card AND espeak-ng.

    "auto" is True only if :func:`has_audio_output` finds a card and ``espeak-ng`` is on
    PATH.
    """
    if isinstance(setting, bool):
        return setting
    if setting == "auto":
        return has_audio_output() and shutil.which(ESPEAK) is not None
    raise ValueError(f"speech must be true, false or \"auto\", not {setting!r}")


@dataclass(frozen=True)
class _Request:
    generation: int
    language: str
    text: str


class Speaker:
    """Speaks one prompt at a time in the background; a new one interrupts the last.

    Callers must pass only catalog messages (fixed, translated instructions), never a
    personal value; :meth:`say_message` enforces that. Every method returns at once and is
    thread-safe. When disabled (by the config, or after espeak-ng was missing or failed)
    nothing is recorded in :attr:`spoken` and nothing runs.

    ``runner`` starts a process (default :func:`espeak_runner`); tests inject a fake one.
    """

    def __init__(self, *, enabled: bool = True, runner: Runner | None = None,
                 binary: str = ESPEAK, rate: int = DEFAULT_RATE,
                 volume: int = DEFAULT_VOLUME) -> None:
        if not 80 <= rate <= 450:
            raise ValueError(f"rate must be 80 to 450 words per minute, not {rate}")
        if not 0 <= volume <= 200:
            raise ValueError(f"volume must be 0 to 200, not {volume}")
        self._runner: Runner = runner if runner is not None else espeak_runner
        self._binary = binary
        self._rate = rate
        self._volume = volume
        self._lock = threading.Lock()
        self._enabled = enabled
        self._closed = False
        self._warned = False
        self._generation = 0
        self._current: Process | None = None
        self._last: tuple[str, str] | None = None
        self._spoken: list[tuple[str, str]] = []
        self._queue: queue.SimpleQueue[_Request | None] = queue.SimpleQueue()
        self._worker: threading.Thread | None = None
        #: Called (from the speaking thread, once) when espeak-ng goes missing or fails and
        #: the speaker goes quiet: the screens hide their Repeat button (the app hands
        #: this to its UI thread).
        self.on_disabled: Callable[[], None] | None = None

    @property
    def enabled(self) -> bool:
        """Whether prompts are spoken (False once closed or after espeak-ng failed)."""
        with self._lock:
            return self._enabled and not self._closed

    @property
    def spoken(self) -> list[tuple[str, str]]:
        """(language, text) of every prompt it was asked to speak while enabled (a copy)."""
        with self._lock:
            return list(self._spoken)

    def say(self, text: str, language: str) -> None:
        """Stop what is being spoken, then speak ``text`` (a catalog message) in the background.

        ``language`` is "id" or "en" (ValueError otherwise, even when disabled).
        """
        if language not in VOICES:
            raise ValueError(f"no voice for language {language!r}; known: {sorted(VOICES)}")
        with self._lock:
            if not self._enabled or self._closed:
                return
            self._spoken.append((language, text))
            self._last = (language, text)
            self._generation += 1
            request = _Request(self._generation, language, text)
            current, self._current = self._current, None
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="kiosk-speech",
                                                daemon=True)
                self._worker.start()
            self._queue.put(request)
        if current is not None:
            current.terminate()

    def say_message(self, msgid: str, language: str) -> None:
        """Speak catalog message ``msgid`` (an English msgid) translated into ``language``.

        Refuses (ValueError) a msgid that is not in the Indonesian catalog, the list of
        known messages, so no personal value can be spoken through here. The error does not
        repeat the refused value.
        """
        if language not in VOICES:
            raise ValueError(f"no voice for language {language!r}; known: {sorted(VOICES)}")
        if msgid not in i18n.catalog_ids("id"):
            raise ValueError("not a catalog message; only catalog messages may be spoken")
        self.say(i18n.translate(msgid, language), language)

    def say_messages(self, msgids: Sequence[str], language: str) -> None:
        """Speak several catalog messages as one utterance (an instruction and the name of
        the finger it is about; a failure and what to do next), each translated into
        ``language``. Refuses (ValueError) the whole lot when any is not a catalog message,
        as :meth:`say_message` does."""
        if language not in VOICES:
            raise ValueError(f"no voice for language {language!r}; known: {sorted(VOICES)}")
        known = i18n.catalog_ids("id")
        if not msgids or any(msgid not in known for msgid in msgids):
            raise ValueError("not a catalog message; only catalog messages may be spoken")
        self.say(" ".join(i18n.translate(msgid, language) for msgid in msgids), language)

    def repeat(self) -> None:
        """Say the last prompt again (nothing if none was said yet)."""
        with self._lock:
            last = self._last
        if last is not None:
            language, text = last
            self.say(text, language)

    def stop(self) -> None:
        """Cut off the current prompt and drop any that has not started yet."""
        with self._lock:
            self._generation += 1
            current, self._current = self._current, None
        if current is not None:
            current.terminate()

    def close(self) -> None:
        """Stop speaking and end the worker thread (idempotent; waits at most a second)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            worker = self._worker
        self.stop()
        if worker is not None:
            self._queue.put(None)
            if worker is not threading.current_thread():
                worker.join(_CLOSE_JOIN_S)

    # -- the worker thread -------------------------------------------------------------

    def _work(self) -> None:
        while True:
            request = self._queue.get()
            if request is None:
                return
            with self._lock:
                if (request.generation != self._generation or self._closed
                        or not self._enabled):
                    continue            # superseded or stopped before it started
            self._speak(request)

    def _speak(self, request: _Request) -> None:
        argv = command(request.language, rate=self._rate, volume=self._volume,
                       binary=self._binary)
        try:
            process = self._runner(argv, request.text)
        except FileNotFoundError:
            self._disable(f"{self._binary} not found")
            return
        except Exception as exc:  # never let the worker die: go quiet instead
            self._disable(f"{self._binary} could not start ({type(exc).__name__})")
            return
        with self._lock:
            superseded = request.generation != self._generation or self._closed
            if not superseded:
                self._current = process
        if superseded:                  # stop() or a new say() came while it started
            process.terminate()
        try:
            code = process.wait()
        except Exception as exc:
            code, error = -1, type(exc).__name__
        else:
            error = getattr(process, "error", "")
        with self._lock:
            if self._current is process:
                self._current = None
            interrupted = request.generation != self._generation or self._closed
        if code != 0 and not interrupted:
            reason = f"{self._binary} failed (exit {code})"
            self._disable(f"{reason}: {error}" if error else reason)

    def _disable(self, reason: str) -> None:
        with self._lock:
            was = self._enabled
            self._enabled = False
            warn = not self._warned
            self._warned = True
        if warn:
            log.warning("spoken prompts off: %s", reason)
        listener = self.on_disabled
        if was and listener is not None:
            try:
                listener()
            except Exception:  # the speaker never raises into its caller
                log.exception("speech: on_disabled failed")


def create_speaker(setting: bool | str, *, runner: Runner | None = None) -> Speaker:
    """A :class:`Speaker` for ``[ui] speech`` (True, False or "auto").

    Without ``runner`` (the real espeak-ng), a missing ``espeak-ng`` binary is one warning
    and a disabled speaker. ``runner`` lets tests inject a fake process starter.
    """
    enabled = speech_enabled(setting)
    if enabled and runner is None and shutil.which(ESPEAK) is None:
        log.warning("spoken prompts off: %s not found on PATH", ESPEAK)
        enabled = False
    log.info("spoken prompts %s (speech = %r)", "on" if enabled else "off", setting)
    return Speaker(enabled=enabled, runner=runner)
