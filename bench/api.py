"""Runs the API latency benchmark (``bench/api_latency.py``): ``.venv/bin/python bench/api.py``."""

from _runner import run

if __name__ == "__main__":
    raise SystemExit(run("api_latency"))
