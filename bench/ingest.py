"""Runs the ingest benchmark (``bench/ingest_bench.py``): ``.venv/bin/python bench/ingest.py``.

Run as a script, this file's folder comes first on ``sys.path``, where this very file would shadow the
``ingest`` package; the folder is therefore moved behind the repository root before anything is imported.
"""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent), *(p for p in sys.path if Path(p or ".").resolve() != BENCH), str(BENCH)]

from ingest_bench import main  # noqa: E402

if __name__ == "__main__":
    main()
