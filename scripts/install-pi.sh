#!/usr/bin/env bash
# Install the e-KTP kiosk on Raspberry Pi OS bookworm, or into a directory tree (--root).
# What it does and why: README, "Installing on a Pi"; the long version: docs/install.md.
# The files it installs are under scripts/pi/ at the paths they land (each says what it
# is for), the units under systemd/. Safe to run again: each action prints "unchanged"
# when there is nothing to do, and a second run changes nothing.
set -euo pipefail
umask 022

readonly PROG=install-pi.sh
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
readonly HERE
SRC=$(dirname "$HERE")          # the checkout this runs from: the release is built from it
readonly SRC
readonly FILES="$HERE/pi"       # scripts/pi/etc/... lands at /etc/... and so on
readonly CONFIG=/etc/kiosk/kiosk.toml
readonly DATA_DIR=/var/lib/kiosk
readonly DEVICE_KEY=$DATA_DIR/device.key
readonly OPT=/opt/kiosk
readonly UNIT_DIR=/etc/systemd/system
readonly SHUTDOWN_HOOKS=/usr/lib/systemd/system-shutdown
readonly MULTI_USER=/lib/systemd/system/multi-user.target   # bookworm's unit directory

# Debian packages the kiosk needs at run time on a Pi (installed on a live run only):
# Python 3.11 and venv; the Pi camera's picamera2 (and libcamera's tuning modules, which
# apt's --no-install-recommends would leave out: without them "no cameras available") and
# the GPIO library lgpio (from the
# Raspberry Pi archive; the venv sees them through its system site packages, so pip builds
# neither); pcscd and its CCID driver for the staff-card reader; NUT's upsd and client for
# the UPS; espeak-ng for the spoken prompts; Mesa's GL/EGL/GBM and libmtdev for Kivy on
# KMS/DRM; systemd-timesyncd (the Pi has no real-time clock); polkitd for the power-off
# rule; CA certificates for the intake's TLS; raspi-utils for pinctrl (the shutdown hook
# drives a GPIO UPS HAT's power-off pin with it, docs/power.md).
readonly RUNTIME_PACKAGES=(python3 python3-venv python3-picamera2 libcamera-ipa python3-lgpio pcscd libccid
    nut-server nut-client espeak-ng libgl1 libegl1 libgles2 libgbm1 libgl1-mesa-dri libmtdev1
    systemd-timesyncd polkitd ca-certificates raspi-utils)
# Only to build the release's venv: systemd-python and (without a wheel) pyscard compile.
readonly BUILD_PACKAGES=(python3-dev build-essential pkg-config libsystemd-dev swig
    libpcsclite-dev)

usage() {
    cat <<EOF
usage: $PROG [--root DIR] [--dry-run] [--no-venv]

Install the e-KTP kiosk on this Raspberry Pi (Raspberry Pi OS bookworm, as root):
Debian packages, the 'kiosk' system user and its groups, /var/lib/kiosk (0700),
/etc/kiosk/kiosk.toml from a template (only if absent), the device key (only if absent,
and not beside a journal: its records were signed with the lost key; exit 1 then),
a release venv under $OPT/releases/ built from this checkout and $OPT/current
pointing at it, the systemd units (enabled), udev names /dev/kiosk-fingerprint and
/dev/kiosk-card-reader, a polkit rule letting 'kiosk' power off, the hardware watchdog,
no swap, no core dumps, bounded journald, time sync, boot to the console (no desktop).
Running it again changes nothing that is already right; it never overwrites
/etc/kiosk/kiosk.toml or a key.

  --root DIR   install into the directory tree DIR instead of this machine (tests, image
               builders). Skipped there: apt-get, starting or reloading anything (systemctl
               is run with --root, offline), sysctl, udevadm, swapoff. The release venv is
               built inside DIR with chroot (DIR needs /usr/bin/python3 for this machine's
               architecture), unless --no-venv.
  --no-venv    do not build the release venv (and leave $OPT/current as it is):
               fast, for tests, or when the image builder makes the venv itself.
  --dry-run    print every action a real run would take, prefixed "would", and change
               nothing.
  -h, --help   this text.

Each line of output is one action: "<action> <what>", "unchanged <what>" or
"skipped <what>: <why>"; lines starting with '#' are notes. Exit 0 when done, 1 when
refused or failed (one line on stderr says why), 2 on a usage error.
EOF
}

die() { printf '%s: %s\n' "$PROG" "$*" >&2; exit 1; }
usage_error() { printf '%s: %s (see --help)\n' "$PROG" "$*" >&2; exit 2; }

ROOT="" DRY=0 VENV=1 LIVE=1
while [ $# -gt 0 ]; do
    case $1 in
        --root) [ $# -ge 2 ] || usage_error "--root needs a directory"; ROOT=$2; LIVE=0; shift ;;
        --root=*) ROOT=${1#--root=}; LIVE=0 ;;
        --dry-run) DRY=1 ;;
        --no-venv) VENV=0 ;;
        -h|--help) usage; exit 0 ;;
        *) usage_error "unknown argument: $1" ;;
    esac
    shift
done

if [ "$LIVE" = 0 ]; then
    [ -n "$ROOT" ] || usage_error "--root needs a directory"
    [ -d "$ROOT" ] || die "--root $ROOT: no such directory"
    ROOT=$(cd "$ROOT" && pwd -P)
    [ "$ROOT" != / ] || die "--root / is this machine: run without --root to install here"
fi

# --- refusals --------------------------------------------------------------------------------
[ "$(id -u)" -eq 0 ] || die "must run as root: it creates a system user and writes /etc and /opt (sudo $0 $*)"

os_field() {  # os_field FILE KEY: a value from an os-release file, unquoted
    sed -n "s/^$2=//p" "$1" | head -n 1 | tr -d '"'"'"
}
OS_NOTE=""
check_os() {
    local file=$ROOT/etc/os-release
    [ -e "$file" ] || file=$ROOT/usr/lib/os-release
    if [ ! -e "$file" ]; then
        [ "$LIVE" = 0 ] || die "unsupported OS: no /etc/os-release; this installer is for Raspberry Pi OS bookworm"
        OS_NOTE="# $ROOT has no etc/os-release: the OS is not checked"
        return
    fi
    local id codename name
    id=$(os_field "$file" ID) codename=$(os_field "$file" VERSION_CODENAME)
    name=$(os_field "$file" PRETTY_NAME)
    case $id in debian|raspbian) ;; *) codename="" ;; esac
    [ "$codename" = bookworm ] ||
        die "unsupported OS: ${name:-unknown}; this installer is for Raspberry Pi OS bookworm (Debian 12)"
    if [ "$LIVE" = 1 ] && [ ! -e /etc/apt/sources.list.d/raspi.list ] &&
        ! grep -qs "Raspberry Pi" /proc/device-tree/model; then
        die "unsupported OS: $name is not Raspberry Pi OS (no Raspberry Pi archive, not a Raspberry Pi); use --root DIR to fill a directory tree"
    fi
}
check_os

if [ "$LIVE" = 0 ] && [ "$VENV" = 1 ] && [ ! -x "$ROOT/usr/bin/python3" ]; then
    die "$ROOT has no /usr/bin/python3 to build the venv in: pass --no-venv, or install python3 in it first"
fi

for tool in systemctl systemd-sysusers systemd-tmpfiles; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian package systemd)"
done

# --- output and bookkeeping ------------------------------------------------------------------
CHANGES=0
change() {  # change ACTION WHAT...: a change; run the commands that follow only if it returns 0
    CHANGES=$((CHANGES + 1))
    if [ "$DRY" = 1 ]; then echo "would $*"; return 1; fi
    echo "$*"
}
unchanged() { echo "unchanged $*"; }
skipped() { echo "skipped $*"; }
quietly() {  # run a command; show its output only if it fails
    local out
    if ! out=$("$@" 2>&1); then
        printf '%s\n' "$out" >&2
        die "failed: $*"
    fi
}
SYSTEMCTL=(systemctl)
[ "$LIVE" = 1 ] || SYSTEMCTL=(systemctl --root "$ROOT")

# Numeric ids in the target ("" for the kiosk user and group until they exist).
id_in() {  # id_in FILE NAME: the third field of NAME's line in passwd or group
    awk -F: -v n="$2" '$1 == n { print $3 }' "$ROOT$1" 2>/dev/null || true
}
uid_of() { if [ "$1" = root ]; then echo 0; else id_in /etc/passwd "$1"; fi; }
gid_of() { if [ "$1" = root ]; then echo 0; else id_in /etc/group "$1"; fi; }
ids() {  # ids USER:GROUP -> UID:GID
    if [ "$1" = root:root ]; then echo 0:0; else echo "$(uid_of "${1%:*}"):$(gid_of "${1#*:}")"; fi
}

# install_file SRC DEST MODE USER:GROUP: copy SRC to DEST (a target path) unless equal.
install_file() {
    local src=$1 dest=$2 mode=$3 ids path
    ids=$(ids "$4") path=$ROOT$dest
    if [ -f "$path" ] && [ ! -L "$path" ] && cmp -s "$src" "$path" &&
        [ "$(stat -c '%a %u:%g' "$path")" = "${mode#0} $ids" ]; then
        unchanged "$dest"
        return 1
    fi
    local action=install
    [ -e "$path" ] || [ -L "$path" ] && action=update
    change "$action" "$dest" || return 0
    mkdir -p "$(dirname "$path")"
    local tmp
    tmp=$(mktemp "$(dirname "$path")/.${path##*/}.XXXXXX")
    cat "$src" >"$tmp"
    chown "$ids" "$tmp"
    chmod "$mode" "$tmp"
    mv -f "$tmp" "$path"
}

# ensure_dir DIR MODE USER:GROUP
ensure_dir() {
    local dir=$1 mode=$2 owner=$3 ids path
    ids=$(ids "$owner") path=$ROOT$dir
    if [ -d "$path" ] && [ ! -L "$path" ] && [ "$(stat -c '%a %u:%g' "$path")" = "${mode#0} $ids" ]; then
        unchanged "$dir/"
        return
    fi
    local action=create
    [ -d "$path" ] && action=fix
    change "$action" "$dir/ (mode $mode, owner $owner)" || return 0
    mkdir -p "$path"
    chown "$ids" "$path"
    chmod "$mode" "$path"
}

# ensure_link TARGET LINK: LINK (a target path) is a symlink to TARGET, replaced atomically.
ensure_link() {
    local target=$1 link=$2 path
    path=$ROOT$link
    if [ -L "$path" ] && [ "$(readlink "$path")" = "$target" ]; then
        unchanged "$link -> $target"
        return
    fi
    [ ! -e "$path" ] || [ -L "$path" ] || die "$link exists and is not a symlink: move it away first"
    change link "$link -> $target" || return 0
    mkdir -p "$(dirname "$path")"
    ln -sfn "$target" "$path.new-link"
    mv -T "$path.new-link" "$path"
}

unit_present() {  # unit_present NAME: the unit file exists in the target
    local dir
    for dir in /etc/systemd/system /lib/systemd/system /usr/lib/systemd/system; do
        [ -e "$ROOT$dir/$1" ] && return 0
    done
    return 1
}
unit_state() { "${SYSTEMCTL[@]}" is-enabled "$1" 2>/dev/null || true; }

# --- header ------------------------------------------------------------------------------------
if [ "$LIVE" = 1 ]; then
    echo "# installing on this machine from $SRC"
else
    echo "# installing into $ROOT from $SRC"
    echo "# skipped there: apt-get, sysctl, udevadm, swapoff, starting or reloading services;" \
        "systemctl runs offline (--root)"
fi
[ -z "$OS_NOTE" ] || echo "$OS_NOTE"
[ "$DRY" = 0 ] || echo "# dry run: nothing is changed"

# --- 1. Debian packages ------------------------------------------------------------------------
packages() {
    local wanted=("${RUNTIME_PACKAGES[@]}") missing=() p
    [ "$VENV" = 0 ] || wanted+=("${BUILD_PACKAGES[@]}")
    if [ "$LIVE" = 0 ]; then
        skipped "apt packages: --root (the image builder installs: ${wanted[*]})"
        return
    fi
    for p in "${wanted[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
            missing+=("$p")
    done
    if [ ${#missing[@]} = 0 ]; then
        unchanged "apt packages (${#wanted[@]} installed)"
        return
    fi
    change apt-get install "${missing[@]}" || return 0
    export DEBIAN_FRONTEND=noninteractive
    quietly apt-get update -q
    quietly apt-get install -y -q --no-install-recommends "${missing[@]}"
}
packages

# --- 2. the kiosk user, its groups, its data directory -----------------------------------------
SYSUSERS=/etc/sysusers.d/kiosk.conf
install_file "$FILES$SYSUSERS" "$SYSUSERS" 0644 root:root || true
KIOSK_GROUPS=$(awk '$1 == "m" && $2 == "kiosk" { print $3 }' "$FILES$SYSUSERS" | tr '\n' ' ')
user_ok() {  # the user exists and is in every group the sysusers file names
    [ -n "$(uid_of kiosk)" ] || return 1
    local g
    for g in $KIOSK_GROUPS; do
        awk -F: -v g="$g" '$1 == g { n = split($4, m, ",")
                                     for (i = 1; i <= n; i++) if (m[i] == "kiosk") found = 1 }
            END { exit !found }' "$ROOT/etc/group" || return 1
    done
}
if user_ok; then
    unchanged "user kiosk (groups ${KIOSK_GROUPS% })"
elif change systemd-sysusers "user kiosk (groups ${KIOSK_GROUPS% })"; then
    if [ "$LIVE" = 1 ]; then quietly systemd-sysusers "$SYSUSERS"
    else quietly systemd-sysusers --root "$ROOT" "$ROOT$SYSUSERS"; fi
    user_ok || die "systemd-sysusers did not create user kiosk in all of: $KIOSK_GROUPS"
fi

TMPFILES=/etc/tmpfiles.d/kiosk.conf
install_file "$FILES$TMPFILES" "$TMPFILES" 0644 root:root || true
tmpfiles_ok() {  # every "d" line of the tmpfiles file holds in the target
    local type path mode user group rest
    while read -r type path mode user group rest; do
        [ "$type" = d ] || continue
        [ -d "$ROOT$path" ] &&
            [ "$(stat -c '%a %u:%g' "$ROOT$path")" = "${mode#0} $(ids "$user:$group")" ] || return 1
    done < <(grep -v '^#' "$FILES$TMPFILES")
}
TMPDIRS=$(awk '$1 == "d" { print $2 }' "$FILES$TMPFILES" | tr '\n' ' ')
if tmpfiles_ok; then
    unchanged "directories ${TMPDIRS% }"
elif change systemd-tmpfiles "directories ${TMPDIRS% }"; then
    if [ "$LIVE" = 1 ]; then quietly systemd-tmpfiles --create "$TMPFILES"
    else quietly systemd-tmpfiles --root "$ROOT" --create "$ROOT$TMPFILES"; fi
    tmpfiles_ok || die "systemd-tmpfiles did not make ${TMPDIRS% } as $TMPFILES says"
fi

# --- 3. configuration and keys -----------------------------------------------------------------
ensure_dir /etc/kiosk 0750 root:kiosk
if [ -e "$ROOT$CONFIG" ]; then
    unchanged "$CONFIG (the operator's file: never overwritten)"
else
    install_file "$FILES$CONFIG" "$CONFIG" 0640 root:kiosk || true
fi

# The device key: the raw 32-byte Ed25519 seed kiosk/sealing_keys.py reads (DeviceKey). The
# kiosk would make it on first start too; made here, it is the kiosk user's from the start
# (the kiosk run as root before its first start would make it root's). Never where the key
# is missing but a journal is there: its records were sealed and signed with the lost key,
# and the intake knows that one only (README, Keys; `kiosk keys init` refuses the same).
KEY_REFUSED=""
device_key() {
    local path ids journal
    path=$ROOT$DEVICE_KEY ids=$(ids kiosk:kiosk) journal=$DATA_DIR/journal.db
    if [ -f "$path" ] && [ ! -L "$path" ]; then
        if [ "$(stat -c '%a %u:%g' "$path")" = "600 $ids" ]; then
            unchanged "$DEVICE_KEY (kept: a key is never replaced)"
        elif change fix "$DEVICE_KEY (mode 0600, owner kiosk; the key is kept)"; then
            chown "$ids" "$path"
            chmod 0600 "$path"
        fi
        return
    fi
    if [ -e "$path" ] || [ -L "$path" ]; then die "$DEVICE_KEY exists and is not a regular file"; fi
    if [ -s "$ROOT$journal" ]; then   # 0 bytes: no record in it (a lost journal, no key's)
        skipped "$DEVICE_KEY: missing, but $journal is there (records sealed and signed with the lost key)"
        KEY_REFUSED="no new device key made: $DEVICE_KEY is missing, but $journal is there, and its records were sealed and signed with the lost key (a new key would be one the intake does not know: every upload refused). Restore device.key from the kiosk's backup (mode 0600, owner kiosk) and run this again; if it is lost for good, sudo kiosk keys init --replace makes a new one (sudo kiosk keys init, if the journal holds no record), then register it: kiosk-intake register --replace"
        return 0
    fi
    change generate "$DEVICE_KEY (Ed25519 seed, mode 0600, owner kiosk)" || return 0
    local tmp
    tmp=$(mktemp "$(dirname "$path")/.device.key.XXXXXX")     # mode 0600 from birth
    head -c 32 /dev/urandom >"$tmp"
    [ "$(stat -c %s "$tmp")" = 32 ] || die "could not read 32 random bytes"
    sync "$tmp"
    chown "$ids" "$tmp"
    ln "$tmp" "$path"   # never replaces a key that appeared meanwhile
    rm -f "$tmp"
    sync "$(dirname "$path")"
}
device_key

# --- 4. the code: a release venv, and current -> it ---------------------------------------------
# $OPT/releases/<version>-<hash of the source>/ is a venv holding the kiosk; $OPT/current
# points at the active one (the layout `kiosk update` uses). Same source, same name: a
# second run finds the release complete and leaves it.
release_name() {
    local version hash
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$SRC/pyproject.toml" | head -n 1)
    hash=$(cd "$SRC" && find pyproject.toml kiosk intake -type f ! -name '*.pyc' \
        ! -path '*/__pycache__/*' -print0 | LC_ALL=C sort -z | xargs -0 sha256sum |
        sha256sum | cut -c1-12)
    echo "${version:-0}-$hash"
}
in_target() {  # run a command in the target: here, or chrooted into --root DIR
    if [ "$LIVE" = 1 ]; then quietly "$@"; else quietly chroot "$ROOT" "$@"; fi
}
target_says() {  # a command's output in the target, or nothing if it fails
    if [ "$LIVE" = 1 ]; then "$@" 2>/dev/null || true
    else chroot "$ROOT" "$@" 2>/dev/null || true; fi
}
release() {
    if [ "$VENV" = 0 ]; then
        skipped "release venv: --no-venv ($OPT/current is left as it is)"
        return
    fi
    local name rel
    name=$(release_name)
    rel=$OPT/releases/$name
    if [ -e "$ROOT$rel/.complete" ]; then
        unchanged "$rel/"
    else
        if [ -e "$ROOT$rel" ] && [ "$(readlink "$ROOT$OPT/current" 2>/dev/null)" = "releases/$name" ]; then
            die "$OPT/current points at $rel, which has no .complete mark: not rebuilding the" \
                "active release under the services; point current elsewhere first"
        fi
        if change build "$rel/ (venv with the kiosk from $SRC)"; then
            rm -rf "$ROOT$rel"   # an interrupted build (no .complete), never the active one
            mkdir -p "$ROOT$OPT/releases"
            local stage=/var/tmp/kiosk-src-$name
            rm -rf "$ROOT$stage"
            mkdir -p "$ROOT$stage"
            (cd "$SRC" && tar -cf - --exclude=__pycache__ --exclude='*.pyc' pyproject.toml \
                README.md kiosk intake) | tar -xf - -C "$ROOT$stage"
            # --system-site-packages: picamera2 and libcamera come from apt, not pip.
            in_target /usr/bin/python3 -m venv --system-site-packages "$rel"
            # They and their compiled helpers (simplejpeg) are built against the system's
            # numpy (1.24 on bookworm). A numpy 2 in the venv, which the newest OpenCV asks
            # for, would be imported first and break them ("numpy.dtype size changed"):
            # pip keeps the system's numpy and picks an OpenCV wheel made for it.
            local numpy
            numpy=$(target_says /usr/bin/python3 -I -c 'import numpy; print(numpy.__version__)')
            if [[ "$numpy" =~ ^[0-9][0-9A-Za-z.+-]*$ ]]; then
                echo "numpy==$numpy" >"$ROOT$stage.pins"
                local -x PIP_CONSTRAINT=$stage.pins  # for the pip below only
                echo "  pinned numpy==$numpy (the system's, which picamera2 from apt needs)"
            fi
            in_target "$rel/bin/pip" install --quiet --no-cache-dir "${stage}[pi]"
            rm -f "$ROOT$stage.pins"
            rm -rf "$ROOT$stage"
            touch "$ROOT$rel/.complete"
        fi
    fi
    local before
    before=$(readlink "$ROOT$OPT/current" 2>/dev/null || true)
    ensure_link "releases/$name" $OPT/current
    [ "$before" = "releases/$name" ] || [ -z "$before" ] || RELEASE_SWITCHED=1
}
RELEASE_SWITCHED=0
release
# `kiosk status`, `kiosk hw selftest` ... for maintainers over SSH: the active release's
# kiosk, run as user kiosk even under sudo, but for `kiosk update`, which needs root
# (scripts/pi/usr/local/bin/kiosk says why).
install_file "$FILES/usr/local/bin/kiosk" /usr/local/bin/kiosk 0755 root:root || true

# --- 5. systemd units, drop-ins, shutdown hooks -------------------------------------------------
UNITS_CHANGED=0
REENABLE=()
for unit in "$SRC"/systemd/*.service "$SRC"/systemd/*.timer; do
    name=${unit##*/}
    existed=0
    [ -e "$ROOT$UNIT_DIR/$name" ] && existed=1
    if install_file "$unit" "$UNIT_DIR/$name" 0644 root:root; then
        UNITS_CHANGED=1
        [ "$existed" = 0 ] || REENABLE+=("$name")
    fi
done
for dropin in "$FILES"/etc/systemd/system/*.d/*.conf; do
    dest=${dropin#"$FILES"}
    install_file "$dropin" "$dest" 0644 root:root && UNITS_CHANGED=1
done

# Executables run by systemd just before the power goes off (e.g. a UPS power-off hook):
# whatever systemd/system-shutdown/ holds.
hooks=()
if [ -d "$SRC/systemd/system-shutdown" ]; then
    for hook in "$SRC"/systemd/system-shutdown/*; do
        [ -f "$hook" ] || continue
        # systemd-shutdown runs every executable there: install programs only, not notes.
        if [ -x "$hook" ] || [ "$(head -c 2 "$hook")" = "#!" ]; then
            hooks+=("$hook")
        else
            skipped "${hook#"$SRC"/}: not a program (no #! line, not executable)"
        fi
    done
fi
if [ ${#hooks[@]} = 0 ]; then
    skipped "$SHUTDOWN_HOOKS/: systemd/system-shutdown/ holds no hooks"
fi
for hook in "${hooks[@]}"; do
    install_file "$hook" "$SHUTDOWN_HOOKS/${hook##*/}" 0755 root:root || true
done

# --- 6. devices, polkit, the system's settings -----------------------------------------------
UDEV_CHANGED=0 SYSCTL_CHANGED=0 BOOT_CHANGED=0
while IFS= read -r -d '' file; do
    dest=${file#"$FILES"}
    case $dest in
        "$CONFIG"|"$SYSUSERS"|"$TMPFILES"|/etc/systemd/system/*) continue ;;
    esac
    if install_file "$file" "$dest" 0644 root:root; then
        case $dest in
            /etc/udev/*) UDEV_CHANGED=1 ;;
            /etc/sysctl.d/*) SYSCTL_CHANGED=1 ;;
            /etc/systemd/system.conf.d/*|/etc/systemd/journald.conf.d/*) BOOT_CHANGED=1 ;;
        esac
    fi
done < <(find "$FILES/etc" -type f -print0 | LC_ALL=C sort -z)

# Swap off: an SD card's swap would hold pages of citizens' data in the clear, and wear the
# card. Raspberry Pi OS swaps to /var/swap through dphys-swapfile; swap.target masked keeps
# any other swap from starting.
if [ -e "$ROOT/var/swap" ]; then
    if change remove "/var/swap (swap file)"; then
        if [ "$LIVE" = 1 ]; then
            command -v dphys-swapfile >/dev/null && quietly dphys-swapfile swapoff
            swapoff /var/swap 2>/dev/null || true
        fi
        rm -f "$ROOT/var/swap"
    fi
fi
for unit in dphys-swapfile.service swap.target; do
    if [ "$(unit_state "$unit")" = masked ]; then
        unchanged "$unit masked"
    elif change mask "$unit"; then
        [ "$LIVE" = 0 ] || ! unit_present "$unit" || quietly systemctl stop "$unit"
        quietly "${SYSTEMCTL[@]}" mask "$unit"
    fi
done
if [ "$LIVE" = 1 ] && [ "$(wc -l </proc/swaps)" -gt 1 ]; then
    change swapoff "--all" && quietly swapoff --all
fi

# Time: the Pi has no real-time clock; records are marked clock_trusted only once synced.
if ! unit_present systemd-timesyncd.service; then
    skipped "systemd-timesyncd.service: not in the target (Debian package systemd-timesyncd)"
elif [ "$(unit_state systemd-timesyncd.service)" = enabled ]; then
    unchanged "systemd-timesyncd.service enabled"
elif change enable systemd-timesyncd.service; then
    if [ "$LIVE" = 1 ]; then quietly systemctl enable --now systemd-timesyncd.service
    else quietly "${SYSTEMCTL[@]}" enable systemd-timesyncd.service; fi
fi

# Boot to the console: the touchscreen runs from multi-user.target, no desktop.
if [ "$(readlink "$ROOT$UNIT_DIR/default.target" 2>/dev/null)" != "$MULTI_USER" ]; then
    BOOT_CHANGED=1
fi
ensure_link $MULTI_USER $UNIT_DIR/default.target

# --- 7. enable the kiosk's units ----------------------------------------------------------------
if [ "$LIVE" = 1 ] && [ "$UNITS_CHANGED" = 1 ]; then
    change systemctl daemon-reload && quietly systemctl daemon-reload
fi
for unit in "$SRC"/systemd/*.service "$SRC"/systemd/*.timer; do
    name=${unit##*/}
    grep -q '^\[Install\]' "$unit" || continue   # kiosk-metrics.service: started by its timer
    if [[ " ${REENABLE[*]} " == *" $name "* ]]; then
        change reenable "$name" && quietly "${SYSTEMCTL[@]}" reenable "$name"
    elif [ "$(unit_state "$name")" = enabled ]; then
        unchanged "$name enabled"
    else
        change enable "$name" && quietly "${SYSTEMCTL[@]}" enable "$name"
    fi
done

# --- 8. apply now (a live run only) ------------------------------------------------------------
if [ "$LIVE" = 1 ]; then
    if [ "$UDEV_CHANGED" = 1 ] && change udevadm "reload and trigger (tty, usb)"; then
        quietly udevadm control --reload
        quietly udevadm trigger --action=add --subsystem-match=tty --subsystem-match=usb
    fi
    if [ "$SYSCTL_CHANGED" = 1 ] && change sysctl "--system"; then
        quietly sysctl --system
    fi
fi

# --- summary -----------------------------------------------------------------------------------
if [ "$CHANGES" = 0 ]; then
    echo "# nothing changed"
elif [ "$DRY" = 1 ]; then
    echo "# dry run: $CHANGES changes would be made; nothing was changed"
else
    echo "# done: $CHANGES changes"
    if [ "$LIVE" = 1 ] && [ "$BOOT_CHANGED" = 1 ]; then
        echo "# reboot to apply the watchdog, journald limits and console boot: sudo reboot"
    elif [ "$LIVE" = 1 ] && [ "$RELEASE_SWITCHED" = 1 ]; then
        echo "# the services run the old release until:" \
            "sudo systemctl restart kiosk-ui kiosk-upload kiosk-power"
    fi
fi
[ -z "$KEY_REFUSED" ] || die "$KEY_REFUSED"
if [ "$LIVE" = 1 ] && { [ ! -e /etc/kiosk/central.pub ] || [ ! -e /etc/kiosk/intake.pub ]; }; then
    echo "# next: copy the intake's central.pub and intake.pub to /etc/kiosk/, set [kiosk] id," \
        "[upload] url and tls_fingerprint (or ca_file) in $CONFIG, sudo kiosk config check," \
        "register the device key" \
        "(sudo kiosk keys show), reboot (docs/install.md)"
fi
