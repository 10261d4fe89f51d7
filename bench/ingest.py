"""Runs the ingest benchmark (``bench/ingest_bench.py``): ``.venv/bin/python bench/ingest.py``."""

from _runner import run

if __name__ == "__main__":
    raise SystemExit(run("ingest_bench"))
