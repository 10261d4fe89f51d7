"""``kipsense models``: train, evaluate, activate/deactivate, list and export — the researcher loop.

Example::

    kipsense models train --name line1 --detector process_monitor --devices line-1 --start 2024-05-01 --end 2024-05-02
    kipsense models evaluate line1 --start 2024-05-02 --end 2024-05-15 --plots plots/
    kipsense models activate line1
    kipsense models export --devices dust-01,dust-02 --columns pm10,rh --start 2024-05-01 --end 2024-05-02 \\
        --out dust.parquet
    kipsense models score --partition 0/2     # a streaming scorer for half of the devices
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def _time(text: str) -> datetime:
    """ISO 8601; a time without a zone is UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _param(text: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"parameters look like key=value, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def _url() -> str:
    from kipsense.settings import DatabaseSettings

    return DatabaseSettings().database_url


def _out(text: str) -> None:
    """The command's own output."""
    sys.stdout.write(text + "\n")


def _fail(message: str) -> int:
    sys.stderr.write(f"kipsense models: {message}\n")
    return 1


def _kind_of(conn: Any, devices: list[str]) -> str | None:
    from store import devices as store_devices

    kinds = set()
    for device_id in devices:
        device = store_devices.get(conn, device_id=device_id)
        if device is None:
            return None
        kinds.add(device.kind)
    return kinds.pop() if len(kinds) == 1 else None


def cmd_train(args: argparse.Namespace) -> int:
    from models.training import TrainingError, TrainSpec, default_detector, train
    from store.db import connect

    devices = [d for group in args.devices for d in group]
    with connect(_url()) as conn:
        kind = args.kind or _kind_of(conn, devices)
        if kind is None:
            return _fail("devices must exist and be of one kind (or give --kind)")
        detector = args.detector or default_detector(kind, tuple(args.columns or ()))
        if detector is None:
            return _fail(f"give --detector for {kind} devices (a registry name, e.g. stream_monitor for one series)")
        spec = TrainSpec(
            name=args.name,
            detector=detector,
            kind=kind,
            devices=tuple(devices),
            start=args.start,
            end=args.end,
            columns=tuple(args.columns or ()),
            params=dict(args.param or []),
            exclude_truth=not args.keep_truth,
            severity=args.severity,
        )
        try:
            record = train(conn, spec, created_by=args.by)
        except TrainingError as exc:
            return _fail(str(exc))
        conn.commit()
    _out(
        f"model {record.model_id}: {record.name}@{record.version} ({record.detector}) on {record.n_samples} rows"
        f" of {len(record.devices)} device(s), columns {','.join(record.columns)}; {record.fingerprint[:19]}"
    )
    return 0


def _fmt(v: Any) -> str:
    return "-" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


_SHOWN = (
    "event_recall",
    "point_precision",
    "far",
    "mar",
    "median_delay_s",
    "false_alarms_per_sensor_day",
    "composite_f1",
    "event_f1",
    "alarms",
)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from models.assessment import assess
    from store import models as store_models
    from store.db import connect

    with connect(_url()) as conn:
        record = store_models.find(conn, ref=args.model)
        if record is None:
            return _fail(f"no model {args.model!r}")
        try:
            result = assess(
                conn,
                record,
                start=args.start,
                end=args.end,
                devices=args.devices and [d for g in args.devices for d in g],
                kinds=args.kinds,
                tolerance_s=args.tolerance_s,
            )
        except ValueError as exc:
            return _fail(str(exc))
        summary = {**result.summary(), "window": [args.start.isoformat(), args.end.isoformat()]}
        store_models.set_metrics(conn, model_id=record.model_id, metrics=summary)
        conn.commit()
    plots: list[Path] = []
    if args.plots:
        from models.plots import plot_assessment

        plots = plot_assessment(result, args.plots)
    if args.json:
        _out(json.dumps({**summary, "plots": [str(p) for p in plots]}, indent=1))
        return 0
    _out(f"{record.name}@{record.version}: {summary['events']} truth events on {len(summary['devices'])} device(s)")
    _out(f"{'':12}" + "".join(f"{k:>16}" for k in _SHOWN))
    for name in ("detector", "no_alarm", "all_alarm"):
        _out(f"{name:12}" + "".join(f"{_fmt(summary[name][k]):>16}" for k in _SHOWN))
    for p in plots:
        _out(f"plot: {p}")
    return 0


def cmd_activate(args: argparse.Namespace) -> int:
    from store import models as store_models
    from store.db import connect

    with connect(_url()) as conn:
        record = store_models.find(conn, ref=args.model)
        if record is None:
            return _fail(f"no model {args.model!r}")
        store_models.set_active(conn, model_id=record.model_id, active=args.action == "activate")
        conn.commit()
    _out(f"model {record.model_id} ({record.name}@{record.version}) {args.action}d")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from store import models as store_models
    from store.db import connect

    with connect(_url()) as conn:
        rows = store_models.list_models(conn, active=True if args.active else None)
    if args.json:
        keep = ("model_id", "name", "version", "detector", "kind", "columns", "devices", "active", "metrics")
        out = [{k: getattr(r, k) for k in keep} | {"created_at": r.created_at.isoformat()} for r in rows]
        _out(json.dumps(out, indent=1))
        return 0
    for r in rows:
        flag = "active" if r.active else "-"
        _out(
            f"{r.model_id:5} {r.name + '@' + str(r.version):28} {r.detector:12} {r.kind:8} {flag:7} {r.n_samples} rows"
        )
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from models.export import export
    from models.training import DEFAULT_COLUMNS
    from store import history
    from store.db import connect

    devices = [d for g in args.devices for d in g]
    with connect(_url()) as conn:
        kind = args.kind or _kind_of(conn, devices)
        if kind is None:
            return _fail("devices must exist and be of one kind (or give --kind)")
        columns = args.columns or list(
            DEFAULT_COLUMNS.get(kind, ()) or history.tags(conn, device_ids=devices, start=args.start, end=args.end)
        )
        try:
            hist = history.read(conn, kind=kind, columns=columns, device_ids=devices, start=args.start, end=args.end)
            path = export(hist, args.out)
        except ValueError as exc:
            return _fail(str(exc))
    _out(f"wrote {len(hist)} rows x {len(hist.columns)} columns to {path}")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import signal
    import threading

    from kipsense.settings import ScorerSettings
    from models.scorer import Partition, Scorer
    from store import migrate

    try:
        partition = Partition.parse(args.partition)
    except ValueError as exc:
        return _fail(str(exc))
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    url = _url()
    migrate.apply(url)
    Scorer(settings=ScorerSettings(), database_url=url, partition=partition).run(stop)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("models", help="train, evaluate, activate and export detector models")
    msub = p.add_subparsers(dest="models_command", required=True)

    def window(q: argparse.ArgumentParser) -> None:
        q.add_argument("--start", type=_time, required=True, help="ISO 8601 (UTC when no zone)")
        q.add_argument("--end", type=_time, required=True)

    q = msub.add_parser("train", help="fit a detector on stored normal history and register it")
    q.add_argument("--name", required=True)
    q.add_argument(
        "--detector",
        help="registry name; default: stream_monitor for one column or a non-process kind, else process_monitor",
    )
    q.add_argument("--devices", type=_csv, action="append", required=True, help="comma-separated (repeatable)")
    q.add_argument("--kind", choices=["dust", "met", "cycler", "process"], help="default: the devices' kind")
    q.add_argument("--columns", type=_csv, help="metrics or process tags (default per kind; all tags)")
    q.add_argument("--param", type=_param, action="append", help="detector parameter key=value (JSON value)")
    q.add_argument("--keep-truth", action="store_true", help="also train on rows inside ground-truth events")
    q.add_argument("--severity", default="warning", choices=["info", "warning", "major", "critical"])
    q.add_argument("--by", default="cli", help="who trained it (stored with the model)")
    window(q)
    q.set_defaults(func=cmd_train)

    q = msub.add_parser("evaluate", help="score a model over history against the ground truth, with baselines")
    q.add_argument("model", help="model id, name (latest version) or name@version")
    q.add_argument("--devices", type=_csv, action="append", help="default: the model's devices")
    q.add_argument("--kinds", type=_csv, help="truth event kinds to evaluate on (default: all)")
    q.add_argument("--tolerance-s", type=float, default=0.0, help="detections this long after an event count")
    q.add_argument("--plots", type=Path, help="directory for PNG plots of scores, limit and truth")
    q.add_argument("--json", action="store_true")
    window(q)
    q.set_defaults(func=cmd_evaluate)

    for action in ("activate", "deactivate"):
        q = msub.add_parser(action, help=f"{action} a model in the streaming scorer")
        q.add_argument("model")
        q.set_defaults(func=cmd_activate, action=action)

    q = msub.add_parser("list", help="registered models")
    q.add_argument("--active", action="store_true")
    q.add_argument("--json", action="store_true")
    q.set_defaults(func=cmd_list)

    q = msub.add_parser("export", help="history to .npz or .parquet for notebooks")
    q.add_argument("--devices", type=_csv, action="append", required=True)
    q.add_argument("--kind", choices=["dust", "met", "cycler", "process"])
    q.add_argument("--columns", type=_csv)
    q.add_argument("--out", type=Path, required=True, help="file ending in .npz or .parquet")
    window(q)
    q.set_defaults(func=cmd_export)

    q = msub.add_parser("score", help="streaming scorer for one partition of the devices")
    q.add_argument("--partition", default="0/1", help="i/N: this process scores the i-th of N device shares")
    q.set_defaults(func=cmd_score)
