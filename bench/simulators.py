"""Runs the simulator benchmark (``bench/simulators_speed.py``): ``.venv/bin/python bench/simulators.py``.

Run as a script, this file's folder comes first on ``sys.path``, where this very file would shadow the
``simulators`` package; the folder is therefore moved behind the repository root before anything is imported.
"""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent), *(p for p in sys.path if Path(p or ".").resolve() != BENCH), str(BENCH)]

from simulators_speed import main  # noqa: E402

if __name__ == "__main__":
    main()
