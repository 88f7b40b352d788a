"""scripts/install-pi.sh into a directory tree (--root): what it installs, that a second run
changes nothing, that --dry-run lists the same actions and writes nothing, that it refuses
clearly (issue #12, item 1). Never run here without --root: that would install on this
machine."""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kiosk.config import check_devices, check_sealing, load_config
from kiosk.sealing_keys import DeviceKey
from tests.conftest import REPO

SCRIPT = REPO / "scripts" / "install-pi.sh"
FILES = REPO / "scripts" / "pi"
ENABLED = {"multi-user.target.wants": ["kiosk-power.service", "kiosk-ui.service",
                                       "kiosk-upload.service"],
           "timers.target.wants": ["kiosk-metrics.timer"]}
GROUPS = ["video", "render", "input", "gpio", "i2c", "dialout"]

pytestmark = pytest.mark.skipif(os.geteuid() != 0,
                                reason="install-pi.sh needs root (it sets files' owners)")


def run(*args: str, script: Path = SCRIPT, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                            timeout=60)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def actions(output: str) -> list[str]:
    """The action lines (notes start with '#')."""
    return [line for line in output.splitlines() if line and not line.startswith("#")]


def listing(root: Path) -> list[str]:
    """Every path under ``root`` with its type, mode, owner, and link target or SHA-256."""
    out = []
    for path in sorted(root.rglob("*")):
        info = path.lstat()
        what = (f"-> {os.readlink(path)}" if path.is_symlink()
                else hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "")
        out.append(f"{path.relative_to(root)} {stat.filemode(info.st_mode)} "
                   f"{info.st_uid}:{info.st_gid} {what}")
    return out


def ids(root: Path, name: str) -> tuple[int, int]:
    for line in (root / "etc/passwd").read_text().splitlines():
        fields = line.split(":")
        if fields[0] == name:
            return int(fields[2]), int(fields[3])
    raise AssertionError(f"no user {name} in {root}/etc/passwd")


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One --root install on an empty tree, shared by the checks that only read it."""
    root = tmp_path_factory.mktemp("pi-root")
    return root, run("--root", str(root), "--no-venv").stdout


def test_install_pi_is_shellcheck_clean() -> None:
    if shutil.which("shellcheck") is None:
        pytest.fail("shellcheck is missing; `make test` installs it (Debian package shellcheck)")
    result = subprocess.run(["shellcheck", str(SCRIPT), str(FILES / "usr/local/bin/kiosk")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_help_names_the_fast_mode_and_what_root_mode_skips() -> None:
    text = run("--help").stdout
    for word in ("--root DIR", "--no-venv", "--dry-run", "apt-get", "sysctl", "udevadm"):
        assert word in text


def test_a_fresh_tree_gets_the_kiosk_user_in_the_device_groups(
        installed: tuple[Path, str]) -> None:
    root, _ = installed
    passwd = [line.split(":") for line in (root / "etc/passwd").read_text().splitlines()]
    kiosk = next(p for p in passwd if p[0] == "kiosk")
    assert int(kiosk[2]) < 1000  # a system user
    assert kiosk[5:] == ["/var/lib/kiosk", "/usr/sbin/nologin"]
    members = {fields[0]: fields[3].split(",") for fields in (
        line.split(":") for line in (root / "etc/group").read_text().splitlines())}
    assert [g for g in GROUPS if "kiosk" not in members.get(g, [])] == []
    assert "kiosk:!" in (root / "etc/shadow").read_text()  # locked: no password login


def test_the_data_directory_and_device_key_belong_to_the_kiosk_user_only(
        installed: tuple[Path, str]) -> None:
    root, _ = installed
    uid, gid = ids(root, "kiosk")
    data = (root / "var/lib/kiosk").stat()
    assert (stat.S_IMODE(data.st_mode), data.st_uid, data.st_gid) == (0o700, uid, gid)
    key_path = root / "var/lib/kiosk/device.key"
    info = key_path.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, uid, gid)
    before = key_path.read_bytes()
    # The kiosk reads it as its device key, and does not make another.
    key = DeviceKey.load_or_create(key_path)
    assert len(key.public_bytes) == 32 and key_path.read_bytes() == before
    metrics = (root / "var/lib/prometheus/node-exporter").stat()
    assert (metrics.st_uid, stat.S_IMODE(metrics.st_mode)) == (uid, 0o755)


def test_the_units_are_installed_and_enabled_and_the_machine_boots_to_the_console(
        installed: tuple[Path, str]) -> None:
    root, _ = installed
    units = root / "etc/systemd/system"
    for unit in [*REPO.glob("systemd/*.service"), *REPO.glob("systemd/*.timer")]:
        assert (units / unit.name).read_bytes() == unit.read_bytes(), unit.name
    for target, names in ENABLED.items():
        for name in names:
            link = units / target / name
            assert os.readlink(link) == f"/etc/systemd/system/{name}"
    assert not (units / "graphical.target.wants").exists()
    assert os.readlink(units / "default.target") == "/lib/systemd/system/multi-user.target"
    for masked in ("dphys-swapfile.service", "swap.target"):
        assert os.readlink(units / masked) == "/dev/null"
    kms = (units / "kiosk-ui.service.d/kms.conf").read_text()
    assert "SDL_VIDEODRIVER=kmsdrm" in kms


def test_every_file_under_scripts_pi_lands_at_its_path_with_its_mode(
        installed: tuple[Path, str]) -> None:
    root, _ = installed
    _, kiosk_gid = ids(root, "kiosk")
    for source in (FILES / "etc").rglob("*"):
        if not source.is_file():
            continue
        target = root / source.relative_to(FILES)
        assert target.read_bytes() == source.read_bytes(), target
        info = target.stat()
        if target.name == "kiosk.toml":  # the operator's config: root's, readable by kiosk
            assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (
                0o640, 0, kiosk_gid)
        else:
            assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o644, 0), target
    wrapper = root / "usr/local/bin/kiosk"
    assert wrapper.read_bytes() == (FILES / "usr/local/bin/kiosk").read_bytes()
    assert (stat.S_IMODE(wrapper.stat().st_mode), wrapper.stat().st_uid) == (0o755, 0)
    etc_kiosk = (root / "etc/kiosk").stat()
    assert (stat.S_IMODE(etc_kiosk.st_mode), etc_kiosk.st_gid) == (0o750, kiosk_gid)
    # Each of these is commented: it says what it is for.
    for source in (FILES / "etc").rglob("*"):
        if source.is_file():
            assert source.read_text().lstrip().startswith(("#", "//")), source


def test_a_second_run_changes_nothing(installed: tuple[Path, str]) -> None:
    root, _ = installed
    before = listing(root)
    again = run("--root", str(root), "--no-venv").stdout
    assert listing(root) == before
    assert again.rstrip().endswith("# nothing changed")
    assert [a for a in actions(again) if not a.startswith(("unchanged ", "skipped "))] == []


def test_dry_run_lists_the_same_actions_as_a_real_run_and_writes_nothing(
        installed: tuple[Path, str], tmp_path: Path) -> None:
    _, real = installed
    dry = run("--root", str(tmp_path), "--no-venv", "--dry-run").stdout
    assert list(tmp_path.iterdir()) == []
    assert [a.removeprefix("would ") for a in actions(dry)] == actions(real)
    assert sum(a.startswith("would ") for a in actions(dry)) > 20
    assert "nothing was changed" in dry.splitlines()[-1]


def test_dry_run_on_an_installed_tree_would_change_nothing(installed: tuple[Path, str]) -> None:
    root, _ = installed
    before = listing(root)
    dry = run("--root", str(root), "--no-venv", "--dry-run").stdout
    assert [a for a in actions(dry) if a.startswith("would ")] == []
    assert listing(root) == before


def test_the_operators_config_and_the_key_are_never_replaced(
        installed: tuple[Path, str], tmp_path: Path) -> None:
    subprocess.run(["cp", "-a", f"{installed[0]}/.", str(tmp_path)], check=True)
    config = tmp_path / "etc/kiosk/kiosk.toml"
    config.write_text('[kiosk]\nid = "poso-07"\n')
    key = tmp_path / "var/lib/kiosk/device.key"
    seed = key.read_bytes()
    key.chmod(0o644)  # a maintainer's mistake: the installer puts the mode right
    unit = tmp_path / "etc/systemd/system/kiosk-ui.service"
    unit.write_text(unit.read_text() + "# edited\n")  # ours: put back
    out = run("--root", str(tmp_path), "--no-venv").stdout
    assert config.read_text() == '[kiosk]\nid = "poso-07"\n'
    assert key.read_bytes() == seed and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert unit.read_bytes() == (REPO / "systemd/kiosk-ui.service").read_bytes()
    assert "fix /var/lib/kiosk/device.key (mode 0600, owner kiosk; the key is kept)" in out
    assert "update /etc/systemd/system/kiosk-ui.service" in out
    assert "reenable kiosk-ui.service" in out
    assert "unchanged /etc/kiosk/kiosk.toml (the operator's file: never overwritten)" in out


def test_a_lost_device_key_is_not_replaced_when_the_journal_holds_records(
        installed: tuple[Path, str], tmp_path: Path) -> None:
    """The installer made a device key whenever there was none: run again on a kiosk whose
    key was lost, it replaced it silently, and the intake refused every upload signed with
    the new one (README, Keys: `kiosk keys init` refuses it without --replace)."""
    from kiosk.journal import Journal

    subprocess.run(["cp", "-a", f"{installed[0]}/.", str(tmp_path)], check=True)
    data = tmp_path / "var/lib/kiosk"
    with Journal.open(data / "journal.db", kiosk_id="poso-07", boot_id="b",
                      clock_trusted=lambda: True) as journal:
        journal.create_record(assisted=False)
    (data / "device.key").unlink()
    unit = tmp_path / "etc/systemd/system/kiosk-ui.service"
    unit.write_text(unit.read_text() + "# edited\n")
    result = run("--root", str(tmp_path), "--no-venv", check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert not (data / "device.key").exists()
    assert [f for f in data.iterdir() if f.name.startswith(".device.key")] == []
    assert ("skipped /var/lib/kiosk/device.key: missing, but /var/lib/kiosk/journal.db is "
            "there") in result.stdout, result.stdout
    assert "generate /var/lib/kiosk/device.key" not in result.stdout
    # the rest is installed all the same; one line on stderr says why it failed
    assert unit.read_bytes() == (REPO / "systemd/kiosk-ui.service").read_bytes()
    err = result.stderr.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("install-pi.sh: "), result.stderr
    assert "backup" in err[0] and "kiosk keys init --replace" in err[0], err[0]
    assert "kiosk-intake register --replace" in err[0], err[0]
    # a journal of 0 bytes holds no record (README: a lost journal, but no key to keep)
    (data / "journal.db").write_bytes(b"")
    for leftover in data.glob("journal.db-*"):
        leftover.unlink()
    result = run("--root", str(tmp_path), "--no-venv")
    assert "generate /var/lib/kiosk/device.key" in result.stdout
    assert (data / "device.key").stat().st_size == 32


def test_the_installed_config_loads_and_names_the_real_devices(
        installed: tuple[Path, str]) -> None:
    root, _ = installed
    config = load_config(root / "etc/kiosk/kiosk.toml", system_path=root / "none.toml")
    check_sealing(config)  # not the development central key: real hardware is configured
    check_devices(config)  # every backend's options are ones it knows
    assert {kind: config[f"hardware.{kind}"]["type"] for kind in (
        "fingerprint", "camera", "card", "gpio")} == {
        "fingerprint": "zfm", "camera": "picamera2", "card": "pcsc", "gpio": "native"}
    assert config["hardware.fingerprint"]["port"] == "/dev/kiosk-fingerprint"
    rules = (root / "etc/udev/rules.d/99-kiosk.rules").read_text()
    assert 'SYMLINK+="kiosk-fingerprint"' in rules
    # The directory the tmpfiles line makes is the one the config and the units use, and
    # the key the installer made is the one the config names.
    assert str(config.data_dir) == "/var/lib/kiosk"
    assert "d /var/lib/kiosk 0700 kiosk kiosk" in (
        root / "etc/tmpfiles.d/kiosk.conf").read_text()
    assert (root / str(config.device_key_path).lstrip("/")).is_file()
    assert config["power"]["shutdown_command"] == ["systemctl", "poweroff"]
    # The officer's stick button looks where the udev rule mounts a stick, for the kiosk
    # user only and with nothing on it to run (a stick is untrusted: docs/security.md).
    usb = (root / "etc/udev/rules.d/90-kiosk-usb.rules").read_text()
    mounts = [line for line in usb.splitlines() if "systemd-mount" in line
              and not line.startswith("#")]
    assert len(mounts) == 2  # vfat and exfat
    for line in mounts:
        # tied to the stick: pulled, the automount goes (else a look at the mount point
        # blocks until that stick comes back: systemd-mount(1))
        assert "--automount=yes --bind-device" in line
        assert line.endswith(f'$devnode {config["usb"]["mount_point"]}"')
        options = line.split("--options=")[1].split()[0].split(",")
        assert {"uid=kiosk", "gid=kiosk", "umask=0077", "nodev", "nosuid", "noexec"} <= set(
            options)


def _polkit_verdicts(rule: str, cases: list[tuple[str, str]]) -> list[str]:
    """Evaluate a polkit rules file in polkitd's own JavaScript engine (Duktape, polkit
    121+), with polkit's ``addRule`` and ``Result``; return each case's answer."""
    name = ctypes.util.find_library("duktape") or "libduktape.so.207"
    try:
        duk = ctypes.CDLL(name)
    except OSError:
        pytest.fail("libduktape (polkitd's JavaScript engine) is missing; `make test` "
                    "installs it (Debian package libduktape207)")
    duk.duk_create_heap.restype = ctypes.c_void_p
    duk.duk_create_heap.argtypes = [ctypes.c_void_p] * 5
    duk.duk_eval_raw.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t,
                                 ctypes.c_uint]
    duk.duk_safe_to_lstring.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    duk.duk_safe_to_lstring.restype = ctypes.c_char_p
    duk.duk_destroy_heap.argtypes = [ctypes.c_void_p]
    # duk_peval_string(): EVAL | SAFE | NOSOURCE | STRLEN | NOFILENAME (duktape.h, 2.x)
    flags = (1 << 3) | (1 << 7) | (1 << 9) | (1 << 10) | (1 << 11)
    program = (
        'var rules = []; var polkit = {addRule: function (f) { rules.push(f); }, Result: '
        '{NO: "no", YES: "yes", AUTH_SELF: "auth_self", AUTH_ADMIN: "auth_admin", '
        'NOT_HANDLED: null}};\n' + rule + '\n;var cases = ' + json.dumps(cases) + ';'
        'JSON.stringify(cases.map(function (c) { var a = {id: c[1], lookup: function () '
        '{ return undefined; }}; var s = {user: c[0], groups: [c[0]]}; for (var i = 0; '
        'i < rules.length; i++) { var r = rules[i](a, s); if (r !== undefined && r !== '
        'null) return r; } return "not handled"; }))')
    ctx = duk.duk_create_heap(None, None, None, None, None)
    try:
        status = duk.duk_eval_raw(ctx, program.encode(), 0, flags)
        answer = duk.duk_safe_to_lstring(ctx, -1, None).decode()
    finally:
        duk.duk_destroy_heap(ctx)
    assert status == 0, answer
    return json.loads(answer)


def test_polkit_lets_the_kiosk_user_power_off_and_nothing_more(
        installed: tuple[Path, str]) -> None:
    root, _ = installed
    rule = (root / "etc/polkit-1/rules.d/50-kiosk-poweroff.rules").read_text()
    login1 = "org.freedesktop.login1."
    allowed = [("kiosk", login1 + a) for a in (
        "power-off", "power-off-multiple-sessions", "power-off-ignore-inhibit")]
    refused = [("kiosk", login1 + a) for a in (
        "reboot", "halt", "suspend", "hibernate", "set-wall-message")] + [
        ("kiosk", "org.freedesktop.systemd1.manage-units"),
        ("kiosk", "org.freedesktop.packagekit.package-install"),
        ("pi", login1 + "power-off"), ("nobody", login1 + "power-off-multiple-sessions")]
    verdicts = _polkit_verdicts(rule, allowed + refused)
    assert verdicts == ["yes"] * len(allowed) + ["not handled"] * len(refused)


def _copy_program(root: Path, program: str, name: str) -> None:
    """``program`` from this machine into ``root`` at ``name``, with the libraries it
    loads at their paths, so ``chroot root`` can run it."""
    source = Path(shutil.which(program) or program).resolve()
    (root / name.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, root / name.lstrip("/"))
    ldd = subprocess.run(["ldd", str(source)], capture_output=True, text=True, check=True)
    for line in ldd.stdout.splitlines():
        path = next((w for w in line.split() if w.startswith("/")), None)
        if path:
            (root / path.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(Path(path).resolve(), root / path.lstrip("/"))


# Stand-ins for the image's python3 and the venv's pip: they make what the installer
# expects (bin/pip, bin/kiosk) and record how they were called; sh, mkdir, chmod, cat.
FAKE_PYTHON = """#!/bin/sh
if [ "$1 $2" = "-I -c" ]; then  # the system's numpy, as Debian's python3-numpy has it
    echo 1.24.2
    exit 0
fi
[ "$1 $2 $3" = "-m venv --system-site-packages" ] || exit 9
mkdir -p "$4/bin"
cat >"$4/bin/pip" <<'PIP'
#!/bin/sh
src=${4%"[pi]"}
[ "$1 $2 $3" = "install --quiet --no-cache-dir" ] || exit 8
[ -f "$src/pyproject.toml" ] && [ -f "$src/kiosk/cli.py" ] || exit 7
echo "$@" >"${0%/pip}/pip-args"
[ -z "$PIP_CONSTRAINT" ] || cat "$PIP_CONSTRAINT" >"${0%/pip}/pip-constraints"
echo "#!/bin/sh" >"${0%/pip}/kiosk"
PIP
chmod 755 "$4/bin/pip"
echo "$@" >"$4/bin/venv-args"
"""


def test_a_bookworm_tree_gets_the_user_the_hooks_and_a_release(tmp_path: Path) -> None:
    """A tree with Debian's groups and a python3 in it; a checkout whose
    systemd/system-shutdown/ holds a hook (another engineer's UPS power-off hook lands
    there). The release venv is built in the tree with chroot, by stand-ins for python3
    and pip; a second run finds it complete and changes nothing."""
    checkout = tmp_path / "checkout"
    for part in ("scripts", "systemd", "kiosk", "intake"):
        shutil.copytree(REPO / part, checkout / part,
                        ignore=shutil.ignore_patterns("__pycache__"))
    for part in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / part, checkout / part)
    hooks = checkout / "systemd/system-shutdown"
    hooks.mkdir(exist_ok=True)
    (hooks / "zz-test-hook").write_text("#!/bin/sh\n# a test hook\nexit 0\n")
    (hooks / "zz-test-hook").chmod(0o644)  # installed 0755 whatever its mode here
    (hooks / "README.md").write_text("What the hook does.\n")  # not a program: left out
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\nVERSION_CODENAME=bookworm\n')
    (root / "etc/passwd").write_text("root:x:0:0:root:/root:/bin/bash\n")
    (root / "etc/group").write_text("root:x:0:\ndialout:x:20:\nvideo:x:44:pi\n")
    _copy_program(root, "dash", "/bin/sh")
    _copy_program(root, "mkdir", "/usr/bin/mkdir")
    _copy_program(root, "chmod", "/usr/bin/chmod")
    _copy_program(root, "cat", "/usr/bin/cat")
    (root / "usr/bin/python3").write_text(FAKE_PYTHON)
    (root / "usr/bin/python3").chmod(0o755)
    (root / "var/tmp").mkdir(parents=True)
    script = checkout / "scripts/install-pi.sh"

    out = run("--root", str(root), script=script).stdout

    groups = {f[0]: f for f in (line.split(":") for line in
                                (root / "etc/group").read_text().splitlines())}
    assert groups["video"][2] == "44" and set(groups["video"][3].split(",")) == {"pi", "kiosk"}
    assert groups["dialout"][2:] == ["20", "kiosk"]
    assert "root:x:0:0:root:/root:/bin/bash" in (root / "etc/passwd").read_text()
    target = root / "usr/lib/systemd/system-shutdown/zz-test-hook"
    assert target.read_bytes() == (hooks / "zz-test-hook").read_bytes()
    assert (stat.S_IMODE(target.stat().st_mode), target.stat().st_uid) == (0o755, 0)
    assert "install /usr/lib/systemd/system-shutdown/zz-test-hook" in out
    assert sorted(p.name for p in target.parent.iterdir()) == [
        "kiosk-ups-poweroff", "zz-test-hook"]
    assert "skipped systemd/system-shutdown/README.md: not a program" in out
    # The release: <version>-<hash of the source>, built at its final path in the tree.
    current = os.readlink(root / "opt/kiosk/current")
    name = current.removeprefix("releases/")
    version, _, digest = name.rpartition("-")
    assert version == "0.1.0" and len(digest) == 12 and current == f"releases/{name}"
    release = root / "opt/kiosk/releases" / name
    assert (release / "bin/venv-args").read_text().split() == [
        "-m", "venv", "--system-site-packages", f"/opt/kiosk/releases/{name}"]
    assert (release / "bin/pip-args").read_text().split()[-1] == (
        f"/var/tmp/kiosk-src-{name}[pi]")
    # pip kept the system's numpy, which picamera2 from apt is built against.
    assert (release / "bin/pip-constraints").read_text() == "numpy==1.24.2\n"
    assert "pinned numpy==1.24.2" in out
    assert (release / ".complete").exists() and (release / "bin/kiosk").exists()
    assert list((root / "var/tmp").iterdir()) == []  # the staged source is gone
    assert f"build /opt/kiosk/releases/{name}/ (venv with the kiosk from {checkout})" in out

    before = listing(root)
    again = run("--root", str(root), script=script).stdout
    assert listing(root) == before
    assert f"unchanged /opt/kiosk/releases/{name}/" in again
    assert again.rstrip().endswith("# nothing changed")
    # Another source is another release; current moves to it, the old one stays.
    (checkout / "kiosk/cli.py").write_text((checkout / "kiosk/cli.py").read_text() + "\n")
    third = run("--root", str(root), script=script).stdout
    assert os.readlink(root / "opt/kiosk/current") != current
    assert (release / ".complete").exists()
    assert "link /opt/kiosk/current -> releases/0.1.0-" in third


def test_a_tree_without_python_needs_no_venv(tmp_path: Path) -> None:
    result = run("--root", str(tmp_path), check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "--no-venv" in result.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was written


def test_refuses_an_unsupported_os_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/os-release").write_text(
        'PRETTY_NAME="Debian GNU/Linux 11 (bullseye)"\nID=debian\nVERSION_CODENAME=bullseye\n')
    result = run("--root", str(tmp_path), "--no-venv", check=False)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "unsupported OS" in result.stderr
    assert "bullseye" in result.stderr
    assert [p.name for p in tmp_path.rglob("*")] == ["etc", "os-release"]


def test_refuses_to_run_without_root_on_the_live_system() -> None:
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", str(SCRIPT),
         "--dry-run"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and "must run as root" in result.stderr


def test_usage_errors_exit_2() -> None:
    result = run("--frobnicate", check=False)
    assert result.returncode == 2 and "unknown argument: --frobnicate" in result.stderr
    assert run("--root", check=False).returncode == 2


def test_the_touchscreen_unit_with_its_kms_drop_in_verifies(
        installed: tuple[Path, str], tmp_path: Path) -> None:
    root, _ = installed
    kiosk = Path(sys.executable).parent / "kiosk"
    units = root / "etc/systemd/system"
    unit = tmp_path / "kiosk-ui.service"
    unit.write_text((units / unit.name).read_text().replace(
        "/opt/kiosk/current/bin/kiosk", str(kiosk)))
    shutil.copytree(units / "kiosk-ui.service.d", tmp_path / "kiosk-ui.service.d")
    result = subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0 and result.stdout + result.stderr == "", (
        result.stdout + result.stderr)


def _nut_monitor_condition() -> str:
    dropin = REPO / "scripts/pi/etc/systemd/system/nut-monitor.service.d/kiosk.conf"
    lines = [line for line in dropin.read_text().splitlines()
             if line.startswith("ExecCondition=")]
    assert len(lines) == 1, lines
    return lines[0].split("=", 1)[1]


@pytest.mark.parametrize(("upsmon_conf", "runs"), [
    (None, False),  # no upsmon.conf at all
    ("# MINSUPPLIES 1\nSHUTDOWNCMD \"/sbin/shutdown -h +0\"\n", False),  # Debian's: none
    ("#MONITOR myups@localhost 1 upsmon pass primary\n", False),  # commented out
    ("MONITOR ups@localhost 1 upsmon secret primary\n", True),
    ("  MONITOR ups@127.0.0.1 1 monuser pw secondary\n", True),
])
def test_nut_monitor_runs_only_where_upsmon_is_set_up(tmp_path: Path, upsmon_conf: str | None,
                                                      runs: bool) -> None:
    """NUT's upsmon without a MONITOR line (the kiosk's power watcher does its job) exits
    "insufficient power configured!" under MODE=standalone, and the boot ends degraded: the
    drop-in's ExecCondition skips it then, and lets a site's configured upsmon run."""
    conf = tmp_path / "upsmon.conf"
    if upsmon_conf is not None:
        conf.write_text(upsmon_conf)
    command = _nut_monitor_condition().replace("/etc/nut/upsmon.conf", str(conf))
    assert command.startswith("/bin/sh -c '") and command.endswith("'")
    result = subprocess.run(["/bin/sh", "-c", command[len("/bin/sh -c '"):-1]],
                            capture_output=True, text=True, timeout=10)
    assert (result.returncode == 0) is runs, result
    assert 1 <= result.returncode <= 254 or runs  # skipped, not failed (systemd.service(5))


def test_the_nut_monitor_drop_in_verifies_against_nuts_unit(tmp_path: Path) -> None:
    shipped = Path("/lib/systemd/system/nut-monitor.service")
    if not shipped.exists():
        pytest.fail("nut-monitor.service is missing; `make test` installs nut-client")
    shutil.copy(shipped, tmp_path / shipped.name)
    shutil.copytree(REPO / "scripts/pi/etc/systemd/system/nut-monitor.service.d",
                    tmp_path / "nut-monitor.service.d")
    result = subprocess.run(["systemd-analyze", "verify", str(tmp_path / shipped.name)],
                            capture_output=True, text=True, timeout=60)
    problems = [line for line in (result.stdout + result.stderr).splitlines()
                if "kiosk.conf" in line or "ExecCondition" in line]
    assert result.returncode == 0 or not problems, result.stdout + result.stderr
    assert not problems, problems
