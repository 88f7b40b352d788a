#!/usr/bin/env bash
# `make run`: the development kiosk on simulated hardware, with a local intake server and the
# uploader beside it, the way a deployed kiosk runs (three systemd units) but in one terminal.
#
#   .dev/kiosk.toml   the kiosk's config (paths relative to it); KIOSK_CONFIG wins if set
#   .dev/data/        the kiosk's journal and device key
#   .dev/intake/      the local intake: central and receipt keys, received packets
#
# The intake is provisioned with the three commands of README "Keys and registering a kiosk".
# Stopping the kiosk (closing the window, Ctrl-C) stops the intake and the uploader too.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
bin="$here/.venv/bin"
dev="$here/.dev"
intake="$dev/intake"
port="${KIOSK_DEV_INTAKE_PORT:-8700}"

mkdir -p "$dev"
if [ ! -f "$intake/keys/central.pub" ] || [ ! -f "$intake/keys/intake.pub" ]; then
    "$bin/kiosk-intake" keys init --data "$intake"
fi
if [ ! -f "$dev/kiosk.toml" ]; then
    cat > "$dev/kiosk.toml" <<EOF
# Development kiosk made by \`make run\`; paths are relative to this file.
[kiosk]
id = "dev-01"
data_dir = "data"

[sealing]
central_key = "intake/keys/central.pub"

[upload]
url = "http://127.0.0.1:$port/"
intake_key = "intake/keys/intake.pub"
interval_s = 5
EOF
fi
export KIOSK_CONFIG="${KIOSK_CONFIG:-$dev/kiosk.toml}"

"$bin/kiosk" config check
keys=$("$bin/kiosk" keys init)
echo "$keys"
kiosk_id=$(awk '/^kiosk id:/ {print $3}' <<<"$keys")
device_key=$(awk '/^device key:/ {print $3}' <<<"$keys")
if [ ! -f "$intake/devices/$kiosk_id.json" ]; then
    "$bin/kiosk-intake" register --data "$intake" --kiosk "$kiosk_id" --key "$device_key"
fi

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

"$bin/kiosk-intake" serve --data "$intake" --host 127.0.0.1 --port "$port" \
    >"$dev/intake.log" 2>&1 &
pids+=($!)
"$bin/kiosk" upload >"$dev/upload.log" 2>&1 &
pids+=($!)
echo "intake: http://127.0.0.1:$port/ (log .dev/intake.log); uploader log .dev/upload.log"
echo "stats:  $bin/kiosk-intake stats --data $intake --json"

if [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; then
    "$bin/kiosk" run
else
    echo "no display: running on a virtual screen (xvfb-run)"
    xvfb-run -a -s "-screen 0 1280x800x24" "$bin/kiosk" run
fi
