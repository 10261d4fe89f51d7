#!/usr/bin/env bash
# `make deploy-test`: build the production images and run docker-compose.yml for real in containers, then check
# the running stack (tests/deploy/test_stack_run.py). Needs root and Debian's podman; no image registry:
#   - podman, runc, debootstrap, podman-compose are installed from Debian (idempotent);
#   - a Debian 12 base image is made with debootstrap and cached in $KIPSENSE_BUILD_CACHE/images (a second run
#     imports the cached tarball instead of bootstrapping again);
#   - the application image is built from the production Dockerfile on that base (BASE_IMAGE build argument);
#   - the third-party images (TimescaleDB, Mosquitto, Prometheus, Caddy) are stand-ins built from Debian packages
#     with the official images' paths, users and ports (deploy/test/images/), tagged with the names compose pins;
#   - Grafana is not packaged in Debian 12 and cannot be pulled: its service is not started here (its provisioning
#     and dashboards are checked statically by tests/ops/test_compose.py and tests/deploy/test_observability.py).
# KIPSENSE_DEPLOY_KEEP=1 leaves the stack running afterwards (project in $KIPSENSE_DEPLOY_PROJECT).
set -euo pipefail
cd "$(dirname "$0")/../.."
repo="$PWD"
start=$(date +%s)
cache="${KIPSENSE_BUILD_CACHE:-/var/cache/kipsense}"
images="$cache/images"
base=localhost/kipsense-base:bookworm

[ "$(id -u)" -eq 0 ] || { echo "deploy-test: needs root (podman with runc, debootstrap)" >&2; exit 1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in podman runc debootstrap podman-compose; do have_pkg "$p" || missing+=("$p"); done
if [ "${#missing[@]}" -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# runc, not crun ("cgroups in hybrid mode not supported"); no default ulimits (this host cannot raise them).
mkdir -p /etc/containers
if ! grep -q '^default_ulimits = \[\]' /etc/containers/containers.conf 2>/dev/null; then
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\ncgroup_manager = "cgroupfs"\n' \
    > /etc/containers/containers.conf
fi
P=(podman --runtime runc --cgroup-manager cgroupfs)

# Base image: Debian 12 minbase with its updates.
mkdir -p "$images"
rootfs_image=localhost/debian-minbase:bookworm
if ! "${P[@]}" image exists "$rootfs_image"; then
  if [ ! -f "$images/debian-bookworm-minbase.tar" ]; then
    rootfs="$(mktemp -d "$images/rootfs.XXXXXX")"
    debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian >/dev/null
    tar -C "$rootfs" -c . > "$images/debian-bookworm-minbase.tar.tmp"
    mv "$images/debian-bookworm-minbase.tar.tmp" "$images/debian-bookworm-minbase.tar"
    rm -rf "$rootfs"
  fi
  "${P[@]}" import -q "$images/debian-bookworm-minbase.tar" "$rootfs_image" >/dev/null
fi
"${P[@]}" build -q --ulimit nofile=20000:20000 --build-arg ROOTFS_IMAGE="$rootfs_image" -t "$base" \
  deploy/test/images/base >/dev/null
echo "deploy-test: base image ready after $(( $(date +%s) - start )) s"

build() {  # build <tag> <context> [extra podman build args...]
  local tag=$1 ctx=$2; shift 2
  "${P[@]}" build -q --ulimit nofile=20000:20000 --build-arg BASE_IMAGE="$base" -t "$tag" "$@" "$ctx" >/dev/null
}
# The host's CA bundle for pip inside the build (a TLS-inspecting proxy on the build network needs it).
build localhost/kipsense:latest "$repo" --build-arg PIP_CERT=/run/build-ca.crt \
  -v /etc/ssl/certs/ca-certificates.crt:/run/build-ca.crt:ro

# TimescaleDB stand-in: the extension is built inside the image from the source tree install-system-deps.sh
# fetched (Debian's source package); run it first on a machine where `make setup` has not.
ts_src="$cache/timescaledb-pg15/src"
[ -d "$ts_src" ] || KIPSENSE_BUILD_CACHE="$cache" bash deploy/local/install-system-deps.sh
[ -d "$ts_src" ] || { echo "deploy-test: no timescaledb source tree in $ts_src" >&2; exit 1; }
ctx="$(mktemp -d)"
trap 'rm -rf "$ctx"' EXIT
cp -r deploy/test/images/timescaledb/. "$ctx/"
cp -r "$ts_src" "$ctx/src"
build docker.io/timescale/timescaledb:2.19.3-pg15 "$ctx"
build docker.io/library/eclipse-mosquitto:2.0.20 deploy/test/images/mosquitto
build docker.io/prom/prometheus:v2.53.3 deploy/test/images/prometheus
build docker.io/library/caddy:2.8.4-alpine deploy/test/images/caddy
echo "deploy-test: images built after $(( $(date +%s) - start )) s"

export KIPSENSE_DEPLOY_PROJECT="${KIPSENSE_DEPLOY_PROJECT:-/tmp/kipsense-deploy-test}"
status=0
.venv/bin/pytest tests/deploy/test_stack_run.py -p no:cacheprovider -q || status=$?
echo "deploy-test: finished in $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
