#!/usr/bin/env bash
# Installs Debian's Chromium and its WebDriver for the operator page's browser test. Idempotent: when both are
# present nothing happens and no root is needed. No browser build is ever downloaded from anywhere else.
set -euo pipefail

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

missing=()
for p in chromium chromium-driver; do
  have_pkg "$p" || missing+=("$p")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "kipsense: ${missing[*]} must be installed, which needs root (run this once with sudo: $0)" >&2
  exit 1
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
