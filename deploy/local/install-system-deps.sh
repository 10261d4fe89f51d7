#!/usr/bin/env bash
# Installs the Debian packages the local stack needs: PostgreSQL server + headers, the timescaledb extension,
# Mosquitto + clients, mdbtools (Arbin .res import). Idempotent: a machine that already has everything is left alone and nothing needs root.
# TimescaleDB comes from apt when the distribution offers postgresql-<ver>-timescaledb; otherwise it is built
# from Debian's own source package of the next release against the installed server, and the built tree is
# cached outside the clone (KIPSENSE_BUILD_CACHE, default /var/cache/kipsense) so a second run is instant.
set -euo pipefail

cache_root="${KIPSENSE_BUILD_CACHE:-/var/cache/kipsense}"
need_root() {
  if [ "$(id -u)" -ne 0 ]; then
    echo "kipsense: $1 must be installed, which needs root (run this once with sudo: $0)" >&2
    exit 1
  fi
}
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }

apt_updated=0
apt_install() {
  need_root "packages $*"
  if [ "$apt_updated" -eq 0 ]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

missing=()
# mdbtools: mdb-export reads Arbin .res cycler files (Microsoft Access databases).
for p in postgresql postgresql-contrib mosquitto mosquitto-clients mdbtools; do
  have_pkg "$p" || missing+=("$p")
done
# A Python able to create virtual environments (pyenv and other builds ship venv; Debian's needs a package).
if ! python3 -c "import venv, ensurepip" >/dev/null 2>&1; then
  missing+=(python3-venv)
fi
[ "${#missing[@]}" -eq 0 ] || apt_install "${missing[@]}"

pg_ver="$(ls /usr/lib/postgresql | sort -V | tail -n 1)"
pg_config="/usr/lib/postgresql/${pg_ver}/bin/pg_config"
have_pkg "postgresql-server-dev-${pg_ver}" || apt_install "postgresql-server-dev-${pg_ver}"

ext_dir="$("$pg_config" --sharedir)/extension"
if ls "$ext_dir"/timescaledb.control >/dev/null 2>&1; then
  exit 0
fi

# Distribution package first.
need_root "the timescaledb extension"
apt-get update -qq
apt_updated=1
if apt-cache show "postgresql-${pg_ver}-timescaledb" >/dev/null 2>&1; then
  apt_install "postgresql-${pg_ver}-timescaledb"
  exit 0
fi

# Build from Debian's source package of the newer release.
build_cache="${cache_root}/timescaledb-pg${pg_ver}"
if [ ! -f "${build_cache}/build/install_manifest.done" ]; then
  have_pkg cmake || apt_install cmake
  have_pkg build-essential || apt_install build-essential
  have_pkg libssl-dev || apt_install libssl-dev
  have_pkg dpkg-dev || apt_install dpkg-dev
  src_list=/etc/apt/sources.list.d/kipsense-deb-src.sources
  if [ ! -f "$src_list" ]; then
    cat > "$src_list" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt-get update -qq
  fi
  rm -rf "$build_cache"
  mkdir -p "$build_cache"
  (cd "$build_cache" && apt-get source -qq timescaledb >/dev/null 2>&1)
  src_dir="$(find "$build_cache" -maxdepth 1 -mindepth 1 -type d -name 'timescaledb-*' | head -n 1)"
  [ -n "$src_dir" ] || { echo "kipsense: apt-get source timescaledb produced no source tree" >&2; exit 1; }
  mv "$src_dir" "${build_cache}/src"
  cmake -S "${build_cache}/src" -B "${build_cache}/build" -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF \
    -DTAP_CHECKS=OFF -DWARNINGS_AS_ERRORS=OFF -DPG_CONFIG="$pg_config" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "${build_cache}/build" -j "$(nproc)" >/dev/null
  touch "${build_cache}/build/install_manifest.done"
fi
cmake --install "${build_cache}/build" >/dev/null
echo "kipsense: timescaledb built from source and installed for PostgreSQL ${pg_ver}"
