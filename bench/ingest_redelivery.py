"""Runs ``bench/ingest_redelivery_bench.py``: ``.venv/bin/python bench/ingest_redelivery.py``."""

from _runner import run

if __name__ == "__main__":
    raise SystemExit(run("ingest_redelivery_bench"))
