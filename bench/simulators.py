"""Runs the simulator benchmark (``bench/simulators_speed.py``): ``.venv/bin/python bench/simulators.py``."""

from _runner import run

if __name__ == "__main__":
    raise SystemExit(run("simulators_speed"))
