"""Configuration: layers, types, backend names, unknown keys, masking, and `config check`."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from kiosk.config import MASK, check_sealing, load_config
from kiosk.errors import ConfigError, UnknownKey, UnknownSection
from tests.conftest import KIOSK, kiosk_env, write_config


def test_packaged_defaults_are_a_simulated_kiosk(tmp_path: Path) -> None:
    config = load_config(None, system_path=tmp_path / "absent.toml")
    assert config["hardware.fingerprint"]["type"] == "sim"
    assert config["power"]["shutdown_command"] == ["systemctl", "poweroff"]
    assert config.data_dir == Path("/var/lib/kiosk")
    assert config.sources == []


def test_layers_system_then_user_key_by_key(tmp_path: Path) -> None:
    system = tmp_path / "etc.toml"
    system.write_text('[kiosk]\nid = "poso-07"\n[power]\nport = 3500\n')
    user = tmp_path / "user.toml"
    user.write_text('[power]\nport = 3600\n')
    config = load_config(user, system_path=system)
    assert config.kiosk_id == "poso-07"          # from the system layer
    assert config["power"]["port"] == 3600       # user wins
    assert config["power"]["host"] == "127.0.0.1"  # default kept
    assert config.sources == [system, user]


def test_relative_data_dir_is_relative_to_the_file(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    assert config.data_dir == tmp_path / "data"
    assert config.device_key_path == tmp_path / "data" / "device.key"


@pytest.mark.parametrize(("body", "key", "fragment"), [
    ('[power]\nport = "3493"\n', "power.port", "an integer"),
    ("[power]\nport = 70000\n", "power.port", "from 1 to 65535"),
    ("[ui]\nfullscreen = 1\n", "ui.fullscreen", "true or false"),
    ("[power]\nmin_battery_percent = true\n", "power.min_battery_percent", "a number"),
    ('[hardware.fingerprint]\ntype = "zfm9000"\n', "hardware.fingerprint.type", "'sim'"),
    ('[hardware.gpio]\ntype = "sim"\n', "hardware.gpio.type", "'mock'"),
    ('[power]\ntype = "apc"\n', "power.type", "'sim'"),
    ("[power]\nshutdown_command = []\n", "power.shutdown_command", "non-empty list"),
    ('[kiosk]\nid = "Poso 01"\n', "kiosk.id", "lowercase"),
    ('[kiosk]\ndefault_language = "jv"\n', "kiosk.default_language", "'id', 'en'"),
    ("[kiosk]\ncolour = 3\n", "kiosk.colour", "known keys"),
    ("[printer]\nx = 1\n", "[printer]", "known section"),
    ('[upload]\nurl = "ftp://x/"\n', "upload.url", "http"),
    ('[upload]\nurl = "https://kiosk:s3cret@intake.example/"\n', "upload.url",
     "without user:password@"),
    ("[hardware.fingerprint]\nbaudrate = 12345\n", "hardware.fingerprint.baudrate", "57600"),
    # The session must outlive the idle warning (60 + 30 s, and the 5 s between keep-alives).
    ("[kiosk]\nsession_timeout_s = 60\n", "kiosk.session_timeout_s", "= 95 s"),
    ("[ui]\nidle_timeout_s = 600\n", "kiosk.session_timeout_s", "= 635 s"),
    ('[hardware.fingerprint]\ntype = "sim"\nwobble = 2\n', "hardware.fingerprint.wobble",
     "known keys"),
    # New enrollments stop on battery before the kiosk shuts down, not after.
    ("[power]\nmin_battery_percent = 5\n", "power.min_battery_percent",
     "more than power.shutdown_battery_percent = 10 %"),
    ("[power]\nmin_runtime_s = 120\n", "power.min_runtime_s",
     "more than power.shutdown_runtime_s = 120 s"),
])
def test_bad_values_name_key_value_and_allowed(tmp_path: Path, body: str, key: str,
                                               fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    assert info.value.key == key
    assert fragment in str(info.value)


def test_a_url_with_credentials_is_refused_without_repeating_them(tmp_path: Path) -> None:
    """The intake takes upload.token; a password in the URL would be shown by config show,
    status and the logs, so it is refused, and the error does not repeat it."""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, '[upload]\nurl = "https://kiosk:s3cret@intake.'
                                           'example/"\n'))
    assert "s3cret" not in str(info.value) and "kiosk:" not in str(info.value)
    assert "'https://********@intake.example/'" in str(info.value)


def test_an_unknown_key_or_section_says_so_by_its_type_and_lists_the_known(
        tmp_path: Path) -> None:
    with pytest.raises(UnknownKey) as key:
        load_config(write_config(tmp_path, "[kiosk]\ncolour = 3\n"))
    assert key.value.key == "kiosk.colour" and "default_language" in key.value.known
    assert key.value.allowed == "no such key here; known keys: " + ", ".join(key.value.known)
    with pytest.raises(UnknownSection) as section:
        load_config(write_config(tmp_path, "[printer]\nx = 1\n"))
    assert section.value.key == "[printer]" and "kiosk" in section.value.known
    assert section.value.allowed.startswith("a known section: [kiosk], ")


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[kiosk\nid = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_config(path)


@pytest.mark.parametrize(("body", "said"), [
    ("[kiosk]\nsesion_timeout_s = 300\n",
     "kiosk.sesion_timeout_s: no such key in [kiosk]; did you mean session_timeout_s?"),
    ("[kiosks]\nid = 'x'\n", "[kiosks]: no such section; did you mean [kiosk]?"),
    ("[kiosk]\nid = \n", ": is not valid TOML: "),
])
def test_a_name_or_file_that_is_wrong_is_said_in_words(tmp_path: Path, body: str,
                                                       said: str) -> None:
    """A typo named the key with "300 is not allowed; expected no such key here", a file
    with "'(file)' is not allowed; expected valid TOML": said plainly now, with the name
    meant where one is close."""
    with pytest.raises(ConfigError) as info:
        load_config(write_config(tmp_path, body))
    assert said in str(info.value)
    assert "(file)" not in str(info.value) and "(section)" not in str(info.value)


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="existing TOML file"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize("where", ["a directory", "under a file"])
def test_a_config_path_that_is_no_file_is_named_not_a_traceback(tmp_path: Path,
                                                               where: str) -> None:
    (tmp_path / "plain").write_text("")
    path = tmp_path if where == "a directory" else tmp_path / "plain" / "kiosk.toml"
    with pytest.raises(ConfigError, match="cannot be read as a TOML file") as info:
        load_config(path)
    assert str(path) in str(info.value)
    for args in (("config", "check"), ("status", "--json"), ("doctor", "--json")):
        result = subprocess.run([*KIOSK, *args], capture_output=True, text=True, timeout=60,
                                env=dict(kiosk_env(path)))
        assert "Traceback" not in result.stderr, (args, result.stderr[-2000:])
        assert result.returncode == (1 if args[0] == "doctor" else 2), args


def test_dev_central_key_refused_with_real_hardware(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, '[hardware.gpio]\ntype = "native"\n'))
    with pytest.raises(ConfigError) as info:  # loading works (hw tools); sealing refuses
        check_sealing(config)
    assert info.value.key == "sealing.central_key"
    result = _kiosk(write_config(tmp_path, '[hardware.gpio]\ntype = "native"\n'),
                    "config", "check")
    assert result.returncode == 2 and "sealing.central_key" in result.stderr


def test_secrets_are_masked_when_shown(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, '[upload]\ntoken = "s3cret-token"\n'))
    assert config.as_dict()["upload"]["token"] == MASK
    assert config.as_dict(mask_secrets=False)["upload"]["token"] == "s3cret-token"


def _kiosk(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KIOSK, *args], env=kiosk_env(config), capture_output=True,
                          text=True, timeout=60)


def test_a_session_that_outlives_the_idle_warning_is_allowed(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, (
        "[kiosk]\nsession_timeout_s = 95\n[ui]\nidle_timeout_s = 60\nidle_warning_s = 30\n")))
    assert config["kiosk"]["session_timeout_s"] == 95


def test_thresholds_that_stop_enrollments_before_the_shutdown_are_allowed(
        tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, (
        "[power]\nmin_battery_percent = 11\nmin_runtime_s = 121\n")))
    assert config["power"]["min_battery_percent"] == 11
    off = load_config(write_config(tmp_path, (  # 0: the UPS's low-battery signal decides
        "[power]\nmin_battery_percent = 0\nshutdown_battery_percent = 0\n")))
    assert off["power"]["min_battery_percent"] == 0


def test_config_check_exits_2_naming_key_value_allowed(tmp_path: Path) -> None:
    result = _kiosk(write_config(tmp_path, '[hardware.camera]\ntype = "nikon"\n'),
                    "config", "check")
    assert result.returncode == 2
    assert "hardware.camera.type" in result.stderr
    assert "'nikon'" in result.stderr
    assert "'sim'" in result.stderr
    assert result.stdout == ""


def test_config_check_ok_and_show_masks(tmp_path: Path) -> None:
    config = write_config(tmp_path, '[upload]\ntoken = "s3cret-token"\n')
    assert _kiosk(config, "config", "check").returncode == 0
    shown = _kiosk(config, "config", "show")
    assert shown.returncode == 0
    assert "s3cret-token" not in shown.stdout
    assert f'token = "{MASK}"' in shown.stdout
    assert 'id = "test-01"' in shown.stdout


@pytest.mark.parametrize(("url", "warned"), [
    ("https://intake.example.invalid/", True),  # the Pi template's placeholder
    ("https://invalid./", True),
    ("https://intake.dukcapil-poso.example.id/", False),
    ("http://127.0.0.1:8700/", False),
])
def test_config_check_warns_of_a_placeholder_intake_but_passes(tmp_path: Path, url: str,
                                                               warned: bool) -> None:
    """The template's "CHANGE" left in is valid (a kiosk on a tour enrolls without its
    intake for days) but cannot be meant: said, not refused."""
    result = _kiosk(write_config(tmp_path, f'[upload]\nurl = "{url}"\n'), "config", "check")
    assert result.returncode == 0
    assert result.stdout.startswith("configuration ok")
    assert ("warning: upload.url" in result.stderr) is warned, result.stderr


@pytest.mark.parametrize(("body", "key"), [
    ('[power]\ntype = "gpio"\ngauge = "ina219x"\n', "power.gauge"),
    ('[hardware.camera]\ntype = "v4l2"\nstill_width = 481\n', "hardware.camera.still_width"),
])
def test_config_check_catches_out_of_range_backend_values(tmp_path: Path, body: str,
                                                          key: str) -> None:
    config = write_config(tmp_path, body + '[sealing]\ncentral_key = "/nonexistent.pub"\n')
    result = _kiosk(config, "config", "check")
    assert result.returncode == 2, result.stderr
    assert key in result.stderr


def test_config_check_refuses_one_gpio_line_claimed_twice(tmp_path: Path) -> None:
    from kiosk.sealing import generate_central_keypair

    _, central = generate_central_keypair(tmp_path / "central")
    body = ('[hardware.gpio]\ntype = "native"\n[power]\ntype = "gpio"\n'
            f'power_fail_pin = 24\n[sealing]\ncentral_key = "{central}"\n')
    result = _kiosk(write_config(tmp_path, body), "config", "check")
    assert result.returncode == 2
    assert "power.power_fail_pin" in result.stderr and "one owner" in result.stderr
    fixed = body.replace("[power]", "[power]").replace("power_fail_pin = 24",
                                                       "power_fail_pin = 5")
    assert _kiosk(write_config(tmp_path, fixed), "config", "check").returncode == 0


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_option_counts_before_or_after_the_verb(tmp_path: Path, where: str) -> None:
    # A process of its own: the CLI sets up logging on the root logger, which in-process
    # would outlive this test and write to a stderr pytest has closed.
    path = tmp_path / "kiosk.toml"
    path.write_text(f'[kiosk]\nid = "poso-77"\ndata_dir = "{tmp_path / "data"}"\n')
    argv = (["--config", str(path), "config", "show"] if where == "before"
            else ["config", "show", "--config", str(path)])
    env = kiosk_env(tmp_path / "elsewhere.toml")  # KIOSK_CONFIG names another file
    done = subprocess.run([*KIOSK, *argv], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert 'id = "poso-77"' in done.stdout


def test_a_backends_secrets_are_masked_too(tmp_path: Path) -> None:
    """A ZFM's password and a card's PIN are declared by their backends, not the schema:
    `kiosk config show` masks them as it masks the upload token."""
    config_path = write_config(tmp_path, '[hardware.fingerprint]\ntype = "zfm"\n'
                               'port = "/dev/ttyAMA0"\npassword = 305419896\n'
                               '[hardware.card]\ntype = "sim"\npin = "864209"\n')
    config = load_config(config_path)
    shown = config.as_dict()
    assert shown["hardware.fingerprint"]["password"] == MASK
    assert shown["hardware.card"]["pin"] == MASK
    assert shown["hardware.fingerprint"]["port"] == "/dev/ttyAMA0"  # only the secrets
    assert config.as_dict(mask_secrets=False)["hardware.card"]["pin"] == "864209"
    printed = _kiosk(config_path, "config", "show")
    assert printed.returncode == 0, printed.stderr
    assert "305419896" not in printed.stdout and "864209" not in printed.stdout
    assert f'pin = "{MASK}"' in printed.stdout


def test_a_secret_of_the_wrong_type_is_not_printed(tmp_path: Path) -> None:
    """A password written as a string is refused for its type without showing it."""
    config_path = write_config(tmp_path, '[hardware.fingerprint]\ntype = "zfm"\n'
                               'password = "0x1234abcd"\n')
    result = _kiosk(config_path, "config", "check")
    assert result.returncode == 2
    assert "hardware.fingerprint.password" in result.stderr
    assert "1234abcd" not in result.stderr and MASK in result.stderr


@pytest.mark.parametrize("body", [
    '[sealing]\ncentral_key = "missing-central.pub"\n',
    '[sealing]\ncentral_key = "kiosk.toml"\n',  # a file, but no key
])
def test_config_check_refuses_a_central_key_no_record_could_be_sealed_to(
        tmp_path: Path, body: str) -> None:
    """`kiosk config check` said ok while `kiosk demo` refused (exit 3, sealing keys
    unusable): the central key is now read, and the message names the file and the key."""
    config = write_config(tmp_path, body)
    result = _kiosk(config, "config", "check")
    assert result.returncode == 2, result.stderr
    assert f"{config}: sealing.central_key: " in result.stderr, result.stderr
    assert "central.pub" in result.stderr and "Traceback" not in result.stderr


def test_a_bad_key_names_the_file_that_set_it(tmp_path: Path) -> None:
    """With /etc/kiosk/kiosk.toml and --config both in play, the message says which file
    to edit."""
    system = tmp_path / "system.toml"
    system.write_text('[power]\ntype = "nut"\nport = -1\n')
    user = write_config(tmp_path, '[hardware.fingerprint]\ntype = "sim"\n')
    with pytest.raises(ConfigError) as info:
        load_config(user, system_path=system)
    assert str(info.value).startswith(f"{system}: power.port: -1 is not allowed")
    assert info.value.source == system


def test_a_missing_file_named_by_kiosk_config_says_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIOSK_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match=r"^\$KIOSK_CONFIG: .*gone.toml.* an existing TOML"):
        load_config(None, system_path=tmp_path / "none.toml")


def test_screen_config_takes_the_valid_screen_keys_of_a_broken_file(tmp_path: Path) -> None:
    """`kiosk run` with a config that does not load still fills the panel it is on."""
    from kiosk.config import screen_config

    broken = tmp_path / "broken.toml"
    broken.write_text('[kiosk]\ndefault_language = "en"\ncolour = "red"\n'
                      '[ui]\nfullscreen = true\nwidth = 800\nheight = "480px"\n'
                      'panel_mm = [155.0, 86.0]\n')
    with pytest.raises(ConfigError):
        load_config(broken, system_path=tmp_path / "none.toml")
    config = screen_config(broken, system_path=tmp_path / "none.toml")
    assert config["ui"]["fullscreen"] is True and config["ui"]["width"] == 800
    assert config["ui"]["height"] == 800  # "480px" is not a height: the default stays
    assert config["kiosk"]["default_language"] == "en"
    broken.write_text("[ui\nfullscreen = true\n")  # not TOML at all: the defaults
    assert screen_config(broken, system_path=tmp_path / "none.toml")["ui"]["fullscreen"] is False
