"""Replay of the Tennessee Eastman benchmark runs (Braatz set) as a process line with ground truth.

The 22 runs ship inside the ``bibmon`` wheel (``bibmon/tennessee_eastman/dNN.dat`` training and
``dNN_te.dat`` testing files, 52 columns: XMEAS(1..41) then XMV(1..11), one row per 3 minutes). They are
located through the import system without importing ``bibmon`` itself.

Fault onsets follow Chiang, Russell and Braatz (2001), checked against the files themselves:

- testing runs ``dNN_te.dat`` (960 rows, 48 h): the fault is switched on after 8 h, so rows 0..159 are
  normal and the fault is present from row **160** (0-based). Run 6 shows it plainly: the A feed
  (XMEAS(1)) reads about 0.25 up to row 159 and 0 from row 160.
- training runs ``dNN.dat`` (480 rows): the simulation ran 25 h with the fault switched on after 1 h, and
  only the 480 observations taken *after* the fault were stored, so the fault is present from row **0**.
  (Reading "sample 20" from the 500-sample length of ``d00.dat`` is a common slip: in ``d06.dat`` the
  A feed is already 0 in row 0.)
- ``d00.dat`` (normal training, 500 rows) is stored transposed (52 x 500); ``d00`` runs have no fault.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

import numpy as np
from numpy.typing import NDArray

from kipsense.records import TruthEvent
from simulators.process.frame import ProcessFrame, datetime64_ms

TEP_SAMPLE_S: Final = 180.0
TEST_ONSET: Final = 160
TRAIN_ONSET: Final = 0
VARIABLES: Final = tuple(f"xmeas_{i}" for i in range(1, 42)) + tuple(f"xmv_{i}" for i in range(1, 12))
DESCRIPTIONS: Final = (
    "A feed (stream 1)", "D feed (stream 2)", "E feed (stream 3)", "A and C feed (stream 4)",
    "Recycle flow (stream 8)", "Reactor feed rate (stream 6)", "Reactor pressure", "Reactor level",
    "Reactor temperature", "Purge rate (stream 9)", "Product separator temperature",
    "Product separator level", "Product separator pressure", "Product separator underflow (stream 10)",
    "Stripper level", "Stripper pressure", "Stripper underflow (stream 11)", "Stripper temperature",
    "Stripper steam flow", "Compressor work", "Reactor cooling water outlet temperature",
    "Separator cooling water outlet temperature",
    *(f"Reactor feed component {c} (stream 6)" for c in "ABCDEF"),
    *(f"Purge gas component {c} (stream 9)" for c in "ABCDEFGH"),
    *(f"Product component {c} (stream 11)" for c in "DEFGH"),
    "D feed flow valve", "E feed flow valve", "A feed flow valve", "A and C feed flow valve",
    "Compressor recycle valve", "Purge valve", "Separator pot liquid flow valve",
    "Stripper liquid product flow valve", "Stripper steam valve", "Reactor cooling water flow",
    "Condenser cooling water flow",
)  # fmt: skip


@dataclass(frozen=True, slots=True, eq=False)
class TepRun:
    """One benchmark run: ``X`` is (n, 52); ``onset`` the first faulty row (None for the normal runs)."""

    name: str
    fault: int
    test: bool
    X: NDArray[np.float64]
    onset: int | None
    variables: tuple[str, ...] = VARIABLES
    sample_interval_s: float = TEP_SAMPLE_S


def tep_data_dir() -> Path:
    """Folder of the ``.dat`` files inside the installed ``bibmon`` package."""
    spec = importlib.util.find_spec("bibmon")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            "the Tennessee Eastman data ship with the 'bibmon' package (pip install bibmon==1.2.0 --no-deps)"
        )
    for root in spec.submodule_search_locations:
        folder = Path(root) / "tennessee_eastman"
        if (folder / "d00_te.dat").is_file():
            return folder
    raise FileNotFoundError("bibmon is installed but its tennessee_eastman data files are missing")


def _fault_number(run: str) -> int:
    digits = run.strip().lower().removeprefix("d").removesuffix(".dat").removesuffix("_te")
    if not digits.isdigit() or not 0 <= int(digits) <= 21:
        raise ValueError(f"TEP run must be 0..21 (e.g. 'd01', '1'), got {run!r}")
    return int(digits)


def load_tep(run: str, *, test: bool) -> TepRun:
    """Load run ``run`` ('d05', '05' or '5') of the testing (``test=True``) or training set."""
    fault = _fault_number(run)
    name = f"d{fault:02d}{'_te' if test else ''}"
    x = np.loadtxt(tep_data_dir() / f"{name}.dat", dtype=np.float64)
    if x.shape[0] == len(VARIABLES) and x.shape[1] != len(VARIABLES):
        x = x.T  # d00.dat is stored variable-major
    if x.ndim != 2 or x.shape[1] != len(VARIABLES):
        raise ValueError(f"{name}.dat has shape {x.shape}, expected (n, 52)")
    onset = None if fault == 0 else (TEST_ONSET if test else TRAIN_ONSET)
    return TepRun(name=name, fault=fault, test=test, X=np.ascontiguousarray(x), onset=onset)


@dataclass(frozen=True, slots=True)
class TepConfig:
    """Which run to replay, under which device id."""

    run: str = "d01"
    test: bool = True
    device_id: str = "tep-1"


class TepReplay:
    """Streams a TEP run as a process line; its truth is one ``tep_fault_<n>`` event from the onset to the end.

    Example
    -------
    >>> from datetime import UTC, datetime
    >>> replay = TepReplay(TepConfig(run="d06", test=True))
    >>> frame = replay.generate(datetime(2024, 1, 1, tzinfo=UTC), 200)
    >>> frame.truth[0].kind
    'tep_fault_6'
    """

    def __init__(self, config: TepConfig) -> None:
        self.config = config
        self.run = load_tep(config.run, test=config.test)
        self.tags: tuple[str, ...] = VARIABLES
        self.sample_interval_s = self.run.sample_interval_s

    @property
    def n_rows(self) -> int:
        """Length of the run."""
        return int(self.run.X.shape[0])

    def truth(self, start: datetime) -> tuple[TruthEvent, ...]:
        """The fault of the run when replayed from ``start``."""
        r = self.run
        if r.onset is None:
            return ()
        dt = timedelta(seconds=r.sample_interval_s)
        params: dict[str, object] = {"run": r.name, "fault": r.fault, "onset_index": r.onset}
        return (
            TruthEvent(
                self.config.device_id, f"tep_fault_{r.fault}", start + r.onset * dt, start + self.n_rows * dt, params
            ),
        )

    def _frame(self, start: datetime, lo: int, hi: int) -> ProcessFrame:
        dt_ms = round(self.run.sample_interval_s * 1000.0)
        times = datetime64_ms(start) + (np.arange(lo, hi, dtype=np.int64) * dt_ms).astype("timedelta64[ms]")
        dt = timedelta(seconds=self.run.sample_interval_s)
        t0, t1 = start + lo * dt, start + hi * dt
        truth = tuple(e for e in self.truth(start) if e.start < t1 and e.end > t0)
        return ProcessFrame(self.config.device_id, self.tags, times, self.run.X[lo:hi].copy(), truth)

    def chunks(self, start: datetime, chunk_steps: int) -> Iterator[ProcessFrame]:
        """Frames of ``chunk_steps`` rows until the run ends (the last one may be shorter)."""
        if chunk_steps < 1:
            raise ValueError("chunk_steps must be >= 1")
        for lo in range(0, self.n_rows, chunk_steps):
            yield self._frame(start, lo, min(lo + chunk_steps, self.n_rows))

    def generate(self, start: datetime, n_steps: int | None = None) -> ProcessFrame:
        """The first ``n_steps`` rows (all rows when None) as one frame."""
        n = self.n_rows if n_steps is None else n_steps
        if not 1 <= n <= self.n_rows:
            raise ValueError(f"n_steps must be 1..{self.n_rows}")
        return self._frame(start, 0, n)
