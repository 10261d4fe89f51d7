"""Runs a benchmark module from a runner script whose name is also the name of a repository package.

``bench/ingest.py``, ``bench/api.py`` and ``bench/simulators.py`` are run as scripts, so this folder comes
first on ``sys.path``, where those files would shadow the ``ingest``, ``api`` and ``simulators`` packages.
``run`` moves the folder behind the repository root before the benchmark module is imported.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def run(module: str) -> object:
    """Import ``bench/<module>.py`` with the repository's packages first on the path; return its ``main()``."""
    sys.path[:] = [str(BENCH.parent), *(p for p in sys.path if Path(p or ".").resolve() != BENCH), str(BENCH)]
    return importlib.import_module(module).main()
