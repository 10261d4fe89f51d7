"""Runs the API latency benchmark (``bench/api_latency.py``): ``.venv/bin/python bench/api.py``.

Run as a script, this file's folder comes first on ``sys.path``, where this very file would shadow the ``api``
package; the folder is therefore moved behind the repository root before anything is imported.
"""

import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent), *(p for p in sys.path if Path(p or ".").resolve() != BENCH), str(BENCH)]

from api_latency import main  # noqa: E402

if __name__ == "__main__":
    raise SystemExit(main())
