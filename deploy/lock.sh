#!/usr/bin/env bash
# Pins every Python dependency for Linux x86-64 / CPython 3.11: requirements.lock (runtime: the image) and
# requirements-dev.lock (runtime + dev extra: `make setup`, CI). Run after changing pyproject.toml;
# tests/deploy/test_lock.py fails while a requirement of pyproject.toml has no pin here.
set -euo pipefail
cd "$(dirname "$0")/.."
tool="${TMPDIR:-/tmp}/kipsense-uv"
[ -x "$tool/bin/uv" ] || { python3 -m venv "$tool" && "$tool/bin/pip" install -q "uv==0.13.*"; }
for extra in "" dev; do
  out=requirements${extra:+-$extra}.lock
  "$tool/bin/uv" pip compile pyproject.toml ${extra:+--extra "$extra"} --python-version 3.11 \
    --python-platform x86_64-unknown-linux-gnu --no-header --annotation-style line -q -o "$out"
done
