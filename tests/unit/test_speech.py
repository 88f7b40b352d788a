"""Spoken prompts: kiosk.speech with a fake process starter, plus one real espeak-ng run."""

from __future__ import annotations

import logging
import shutil
import threading
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiosk import speech
from kiosk.speech import Speaker, create_speaker, speech_enabled
from tests.polling import wait_until

WAIT_S = 5.0


class FakeProcess:
    """Speaks "forever" until terminated, or ends at once with ``exit_code``."""

    def __init__(self, argv: list[str], text: str, exit_code: int | None = None) -> None:
        self.argv = argv
        self.text = text
        self.terminated = threading.Event()
        self.finished = threading.Event()
        self._exit_code = exit_code

    def wait(self) -> int:
        if self._exit_code is not None:
            self.finished.set()
            return self._exit_code
        self.terminated.wait(WAIT_S)
        self.finished.set()
        return -15

    def terminate(self) -> None:
        self.terminated.set()

    @property
    def voice(self) -> str:
        return self.argv[self.argv.index("-v") + 1]


class FakeRunner:
    def __init__(self, exit_code: int | None = None) -> None:
        self.started: list[FakeProcess] = []
        self.exit_code = exit_code
        self._lock = threading.Lock()

    def __call__(self, argv: list[str], text: str) -> FakeProcess:
        process = FakeProcess(argv, text, self.exit_code)
        with self._lock:
            self.started.append(process)
        return process

    def wait_started(self, count: int) -> bool:
        return wait_until(lambda: len(self.started) >= count, WAIT_S)


@pytest.fixture
def runner() -> FakeRunner:
    return FakeRunner()


@pytest.fixture
def speaker(runner: FakeRunner) -> Iterator[Speaker]:
    made = Speaker(enabled=True, runner=runner)
    yield made
    made.close()


def test_say_records_and_starts_one_process_with_the_voice(
        speaker: Speaker, runner: FakeRunner) -> None:
    speaker.say("Selamat datang", "id")
    assert speaker.spoken == [("id", "Selamat datang")]
    assert runner.wait_started(1)
    time.sleep(0.05)
    assert len(runner.started) == 1
    process = runner.started[0]
    assert process.voice == "id"
    assert process.text == "Selamat datang"
    assert process.argv[0] == "espeak-ng"
    assert "Selamat datang" not in process.argv      # text goes on stdin, not argv
    assert process.argv[-1] == "--stdin"
    assert process.argv[process.argv.index("-s") + 1] == "150"
    assert not process.terminated.is_set()


def test_english_uses_an_english_voice(speaker: Speaker, runner: FakeRunner) -> None:
    speaker.say("Welcome", "en")
    assert runner.wait_started(1)
    assert runner.started[0].voice == "en-gb"


def test_say_returns_at_once_while_a_prompt_is_speaking(
        speaker: Speaker, runner: FakeRunner) -> None:
    speaker.say("Selamat datang", "id")
    assert runner.wait_started(1)
    started = time.monotonic()
    speaker.say("Selamat datang", "id")
    assert time.monotonic() - started < 0.5


def test_a_second_say_terminates_the_first(speaker: Speaker, runner: FakeRunner) -> None:
    speaker.say("Selamat datang", "id")
    assert runner.wait_started(1)
    speaker.say("Welcome", "en")
    assert runner.started[0].terminated.is_set()
    assert runner.wait_started(2)
    assert runner.started[1].text == "Welcome"
    assert runner.started[1].voice == "en-gb"
    assert not runner.started[1].terminated.is_set()
    assert speaker.spoken == [("id", "Selamat datang"), ("en", "Welcome")]
    assert speaker.enabled          # an interrupted prompt is not a failure


def test_repeat_says_the_last_prompt_again(speaker: Speaker, runner: FakeRunner) -> None:
    speaker.repeat()                # nothing said yet: nothing to repeat
    assert speaker.spoken == []
    speaker.say("Selamat datang", "id")
    assert runner.wait_started(1)
    speaker.repeat()
    assert runner.started[0].terminated.is_set()
    assert runner.wait_started(2)
    assert (runner.started[1].text, runner.started[1].voice) == ("Selamat datang", "id")
    assert speaker.spoken == [("id", "Selamat datang")] * 2


def test_stop_terminates_and_repeat_still_works(speaker: Speaker, runner: FakeRunner) -> None:
    speaker.say("Selamat datang", "id")
    assert runner.wait_started(1)
    speaker.stop()
    assert runner.started[0].terminated.is_set()
    assert runner.started[0].finished.wait(WAIT_S)
    assert speaker.enabled
    speaker.stop()                  # nothing speaking: harmless
    speaker.repeat()
    assert runner.wait_started(2)


def test_stop_while_starting_terminates_and_drops_what_is_queued() -> None:
    entered, gate = threading.Event(), threading.Event()
    started: list[FakeProcess] = []

    def slow_runner(argv: list[str], text: str) -> FakeProcess:
        entered.set()
        gate.wait(WAIT_S)           # a slow process start
        process = FakeProcess(argv, text)
        started.append(process)
        return process

    made = Speaker(enabled=True, runner=slow_runner)
    try:
        made.say("first", "en")
        assert entered.wait(WAIT_S)     # "first" is being started
        made.say("second", "en")        # queued behind it
        made.stop()                     # the screen is left
        gate.set()
        assert wait_until(lambda: len(started) == 1, WAIT_S)
        assert started[0].terminated.wait(WAIT_S)   # started too late: cut off at once
        assert started[0].finished.wait(WAIT_S)
        time.sleep(0.05)
        assert [p.text for p in started] == ["first"]   # "second" never ran
        assert made.enabled
    finally:
        made.close()


def test_close_twice_is_safe_and_silences(runner: FakeRunner) -> None:
    made = Speaker(enabled=True, runner=runner)
    made.say("Selamat datang", "id")
    assert runner.wait_started(1)
    made.close()
    assert runner.started[0].terminated.is_set()
    made.close()
    assert not made.enabled
    made.say("Welcome", "en")
    made.repeat()
    time.sleep(0.05)
    assert len(runner.started) == 1
    assert made.spoken == [("id", "Selamat datang")]


def test_close_without_ever_speaking() -> None:
    made = Speaker(enabled=True, runner=FakeRunner())
    made.close()
    made.close()


def test_disabled_speaker_records_nothing_and_runs_nothing(runner: FakeRunner) -> None:
    made = Speaker(enabled=False, runner=runner)
    made.say("Selamat datang", "id")
    made.say_message("Welcome", "en")
    made.repeat()
    made.stop()
    made.close()
    time.sleep(0.05)
    assert made.spoken == []
    assert runner.started == []
    assert not made.enabled


def test_unknown_language_is_refused(speaker: Speaker) -> None:
    with pytest.raises(ValueError, match="language"):
        speaker.say("Selamat datang", "jv")
    assert speaker.spoken == []


def test_say_message_translates_a_catalog_message(speaker: Speaker, runner: FakeRunner) -> None:
    speaker.say_message("Welcome", "id")
    assert speaker.spoken == [("id", "Selamat datang")]
    assert runner.wait_started(1)
    assert runner.started[0].text == "Selamat datang"
    speaker.say_message("Welcome", "en")
    assert speaker.spoken[-1] == ("en", "Welcome")


def test_say_message_refuses_what_is_not_a_catalog_message(
        speaker: Speaker, runner: FakeRunner) -> None:
    for msgid in ("3174011501900001", "Budi Santoso", ""):
        with pytest.raises(ValueError, match="catalog") as refused:
            speaker.say_message(msgid, "id")
        if msgid:
            assert msgid not in str(refused.value)      # the error does not echo it
        with pytest.raises(ValueError, match="catalog"):
            speaker.say_message(msgid, "en")
    time.sleep(0.05)
    assert speaker.spoken == []
    assert runner.started == []


def test_say_messages_speaks_several_catalog_messages_as_one_utterance(
        speaker: Speaker, runner: FakeRunner) -> None:
    speaker.say_messages(["Good. Lift your finger.", "Right index finger"], "id")
    assert runner.wait_started(1)
    assert speaker.spoken == [("id", "Bagus. Angkat jari Anda. Telunjuk kanan")]
    assert runner.started[0].text == "Bagus. Angkat jari Anda. Telunjuk kanan"


def test_say_messages_refuses_all_when_one_is_not_a_catalog_message(
        speaker: Speaker, runner: FakeRunner) -> None:
    for said in (["Good. Lift your finger.", "Budi Santoso"], []):
        with pytest.raises(ValueError, match="catalog") as refused:
            speaker.say_messages(said, "en")
        assert "Budi" not in str(refused.value)
    time.sleep(0.05)
    assert speaker.spoken == [] and runner.started == []


def test_a_failing_process_warns_once_and_disables(caplog: pytest.LogCaptureFixture) -> None:
    failing = FakeRunner(exit_code=1)
    made = Speaker(enabled=True, runner=failing)
    try:
        with caplog.at_level(logging.WARNING, logger="kiosk.speech"):
            made.say("Selamat datang", "id")
            assert wait_until(lambda: not made.enabled, WAIT_S)
            made.say("Selamat datang", "id")
            made.repeat()
            time.sleep(0.05)
        assert len(failing.started) == 1
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "exit 1" in warnings[0].getMessage()
        assert "Selamat" not in caplog.text         # never the text itself
    finally:
        made.close()


def test_a_failing_process_tells_on_disabled_once_from_the_speaking_thread() -> None:
    """espeak-ng failing at run time (no sound device): whoever shows Repeat is told, once,
    so it can hide it; the listener's own error does not reach the speaker's caller."""
    made = Speaker(enabled=True, runner=FakeRunner(exit_code=1))
    told: list[str] = []

    def listener() -> None:
        told.append(threading.current_thread().name)
        raise RuntimeError("a broken listener")

    made.on_disabled = listener
    try:
        made.say("Selamat datang", "id")
        assert wait_until(lambda: told, WAIT_S)
        made.say("Selamat datang", "id")
        time.sleep(0.05)
        assert told == ["kiosk-speech"]
    finally:
        made.close()
    assert told == ["kiosk-speech"]  # closing is not "went quiet"


def test_a_missing_binary_disables_with_a_warning(caplog: pytest.LogCaptureFixture,
                                                   tmp_path: Path) -> None:
    missing = str(tmp_path / "no-espeak-ng")
    made = Speaker(enabled=True, binary=missing)    # the real runner
    try:
        with caplog.at_level(logging.WARNING, logger="kiosk.speech"):
            made.say("Selamat datang", "id")
            assert wait_until(lambda: not made.enabled, WAIT_S)
            made.say("Selamat datang", "id")
            time.sleep(0.05)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "not found" in warnings[0].getMessage()
        assert "Selamat" not in caplog.text
        assert made.spoken == [("id", "Selamat datang")]
    finally:
        made.close()


def test_create_speaker_without_espeak_on_path_is_disabled_with_a_warning(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    with caplog.at_level(logging.WARNING, logger="kiosk.speech"):
        made = create_speaker(True)
    assert not made.enabled
    assert "not found" in caplog.text
    made.say("Selamat datang", "id")
    assert made.spoken == []
    made.close()


def test_create_speaker_follows_the_setting(runner: FakeRunner) -> None:
    on = create_speaker(True, runner=runner)
    off = create_speaker(False, runner=runner)
    assert on.enabled
    assert not off.enabled
    on.say_message("Welcome", "id")
    assert runner.wait_started(1)
    on.close()
    off.close()


def test_speech_enabled_true_and_false_as_given() -> None:
    assert speech_enabled(True) is True
    assert speech_enabled(False) is False
    with pytest.raises(ValueError):
        speech_enabled("yes")


def test_speech_enabled_auto_is_false_without_a_sound_card(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "has_audio_output", lambda: False)
    monkeypatch.setattr(speech.shutil, "which", lambda name: "/usr/bin/espeak-ng")
    assert speech_enabled("auto") is False
    assert not create_speaker("auto", runner=FakeRunner()).enabled


def test_speech_enabled_auto_needs_a_card_and_espeak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech, "has_audio_output", lambda: True)
    monkeypatch.setattr(speech.shutil, "which", lambda name: "/usr/bin/espeak-ng")
    assert speech_enabled("auto") is True
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    assert speech_enabled("auto") is False


def test_has_audio_output_reads_the_alsa_card_list(tmp_path: Path) -> None:
    cards = tmp_path / "cards"
    assert speech.has_audio_output(cards) is False          # no /proc/asound at all
    cards.write_text("--- no soundcards ---\n")
    assert speech.has_audio_output(cards) is False
    cards.write_text(" 0 [vc4hdmi0       ]: vc4-hdmi - vc4-hdmi-0\n"
                     "                      vc4-hdmi-0\n")
    assert speech.has_audio_output(cards) is True


def test_command_lines() -> None:
    assert speech.command("id") == [
        "espeak-ng", "-v", "id", "-s", "150", "-a", "100", "-b", "1", "--stdin"]
    assert speech.command("en")[1:3] == ["-v", "en-gb"]
    assert speech.command("id", wav="/tmp/x.wav")[-3:] == ["-w", "/tmp/x.wav", "--stdin"]
    with pytest.raises(ValueError):
        speech.command("fr")


def test_rate_and_volume_are_checked() -> None:
    with pytest.raises(ValueError):
        Speaker(rate=10)
    with pytest.raises(ValueError):
        Speaker(volume=300)


@pytest.mark.skipif(shutil.which("espeak-ng") is None,
                    reason="espeak-ng is not installed (make installs it; "
                           "apt-get install espeak-ng): the real command line cannot run")
def test_real_espeak_ng_writes_an_indonesian_wav(tmp_path: Path) -> None:
    out = tmp_path / "prompt.wav"
    argv = speech.command("id", wav=out)
    process = speech.espeak_runner(argv, "Silakan sentuh layar untuk memulai pendaftaran.")
    assert process.wait() == 0
    with wave.open(str(out), "rb") as wav:
        frames, rate = wav.getnframes(), wav.getframerate()
        assert wav.getnchannels() == 1
    assert rate > 0
    assert frames / rate > 0.3
