"""Where the real cycler files are: ``KIPSENSE_CYCLER_SAMPLES``, else ``shared/data/cycler-samples`` beside the
checkout (or its parent folders), else the workplace's ``/work/shared`` (a clone made elsewhere, as CI does). They
are read from there, never copied into the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WORKPLACE = Path("/work")


def samples_dir() -> Path | None:
    env = os.environ.get("KIPSENSE_CYCLER_SAMPLES")
    if env:
        return Path(env)
    for base in (ROOT, *ROOT.parents, WORKPLACE):
        d = base / "shared" / "data" / "cycler-samples"
        if d.is_dir():
            return d
    return None


@pytest.fixture(scope="session")
def samples() -> Path:
    d = samples_dir()
    if d is None:
        pytest.fail("the real cycler files (shared/data/cycler-samples) were not found; set KIPSENSE_CYCLER_SAMPLES")
    return d
