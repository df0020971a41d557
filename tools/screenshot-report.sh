#!/usr/bin/env bash
# Renders a report (report.html, compare.html) to a PNG with headless Chromium,
# to check by eye that the inline SVG charts draw. Needs Debian's `chromium`.
# Usage: tools/screenshot-report.sh REPORT.html [OUT.png] [WIDTH] [HEIGHT]
set -euo pipefail

html=${1:?usage: tools/screenshot-report.sh REPORT.html [OUT.png] [WIDTH] [HEIGHT]}
out=${2:-${html%.html}.png}
width=${3:-1100}
height=${4:-4000}

browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
[ -n "$browser" ] || { echo "screenshot-report: no chromium found; install the Debian package 'chromium'" >&2; exit 1; }
[ -f "$html" ] || { echo "screenshot-report: $html does not exist" >&2; exit 1; }

# A throwaway profile keeps runs independent; --no-sandbox is needed as root (CI containers).
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
sandbox=()
[ "$(id -u)" -eq 0 ] && sandbox=(--no-sandbox)
"$browser" --headless --disable-gpu "${sandbox[@]}" --user-data-dir="$profile" --hide-scrollbars \
  --window-size="$width,$height" --screenshot="$(realpath -m "$out")" "file://$(realpath "$html")" >/dev/null 2>&1
[ -s "$out" ] || { echo "screenshot-report: chromium wrote no $out" >&2; exit 1; }
echo "wrote $out"
