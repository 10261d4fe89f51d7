"""A batch of decoded messages and its one-transaction write.

Readings, device events, ``last_seen`` updates, recorded conflicts and quarantine rows of a batch commit
together (one transaction), so an acknowledgement sent after the commit covers all of them. Each reading is
written with the message that carried it, so a reading that conflicts with a stored one (same key, other
values) is recorded naming its topic and payload (``store.conflicts``). A batch the database refuses
for a reason that retrying cannot fix (a value out of a column's range, a constraint) would otherwise be
retried forever and stall the stream; it is split: each message is written in its own transaction, and the
ones the database still refuses go to quarantine with reason ``rejected_by_database``. The Sparkplug state of
the edge nodes the batch touched is written in the same transaction (see ``ingest.decoding``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

import psycopg

from ingest.decoding import Outcome
from kipsense.settings import QUARANTINE_KEEP_BYTES
from store import devices as store_devices
from store import quarantine as store_quarantine
from store import readings as store_readings
from store import sparkplug_nodes as store_sparkplug
from store.quarantine import QuarantineItem
from store.readings import Item
from store.row_blocks import RowBlock

#: ``node_key -> state`` (None: forget the node) to persist with a batch.
SparkplugStates = Mapping[str, dict[str, Any] | None]

Conn = psycopg.Connection[Any]

REJECTED: Final = "rejected_by_database"
#: Errors that mean "the database is not there", not "the data is wrong": keep the batch and retry.
OUTAGE_ERRORS: Final = (psycopg.OperationalError, psycopg.InterfaceError)


@dataclass(slots=True)
class Message:
    """One received message; ``generation`` is the connection it arrived on (0 = from the spool: no ack)."""

    mid: int
    qos: int
    topic: str
    payload: bytes
    received_at: datetime
    received_mono: float
    generation: int
    dup: bool = False
    outcome: Outcome | None = None


@dataclass(slots=True)
class Batch:
    messages: list[Message] = field(default_factory=list)
    rows: int = 0
    started: float = 0.0

    def add(self, msg: Message) -> None:
        self.messages.append(msg)
        if msg.outcome is not None:
            self.rows += msg.outcome.rows

    def clear(self) -> None:
        self.messages.clear()
        self.rows = 0


@dataclass(frozen=True, slots=True)
class WriteOptions:
    """What a commit writes besides readings: the quarantine prefix length and Sparkplug node states."""

    keep_bytes: int
    sparkplug: SparkplugStates = field(default_factory=dict)
    #: ``node_key -> last seq`` of nodes whose alias tables did not change.
    sparkplug_seqs: Mapping[str, int | None] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CommitResult:
    offered: int
    inserted: int
    quarantined: list[QuarantineItem]
    rejected: int
    conflicts: int = 0

    @property
    def duplicates(self) -> int:
        """Readings offered again exactly as stored (redeliveries), skipped silently."""
        return self.offered - self.inserted - self.conflicts


def _outcome(msg: Message) -> Outcome:
    if msg.outcome is None:  # pragma: no cover - the writer decodes every message before committing
        raise RuntimeError("message committed before it was decoded")
    return msg.outcome


def _write(
    conn: Conn,
    records: list[Item],
    sources: list[Message],
    quarantined: list[QuarantineItem],
    worker: str,
    keep_bytes: int,
) -> tuple[int, int]:
    """Rows inserted and conflicts recorded; ``sources[i]`` is the message of ``records[i]``."""
    inserted = conflicts = 0
    if records:
        now = datetime.now(UTC)
        written = store_readings.write_records(conn, records, received_at=now, sources=sources, worker=worker)
        inserted, conflicts = written.inserted, written.conflicts
        last: dict[str, datetime] = {}
        for rec in records:
            at = rec.last_time if isinstance(rec, RowBlock) else rec.time
            seen = last.get(rec.device_id)
            if seen is None or at > seen:
                last[rec.device_id] = at
        store_devices.touch_seen(conn, device_ids=list(last), last_times=list(last.values()), received=now)
        store_readings.notify_new(conn)
    store_quarantine.add_many(conn, quarantined, worker=worker, keep_bytes=keep_bytes)
    return inserted, conflicts


def commit(
    conn: Conn, messages: Sequence[Message], *, worker: str, options: WriteOptions | None = None
) -> CommitResult:
    """Write the batch in one transaction; outage errors propagate with nothing written."""
    options = options or WriteOptions(keep_bytes=QUARANTINE_KEEP_BYTES)
    records: list[Item] = []
    sources: list[Message] = []
    for m in messages:
        items = _outcome(m).items
        records += items
        sources += [m] * len(items)
    quarantined = [q for m in messages if (q := _outcome(m).quarantined) is not None]
    try:
        with conn.transaction():
            inserted, conflicts = _write(conn, records, sources, quarantined, worker, options.keep_bytes)
            store_sparkplug.save(conn, options.sparkplug, seqs=options.sparkplug_seqs)
        return CommitResult(sum(_outcome(m).rows for m in messages), inserted, quarantined, 0, conflicts)
    except OUTAGE_ERRORS:
        raise
    except psycopg.Error:
        pass
    return _commit_one_by_one(conn, messages, worker=worker, options=options)


def _commit_one_by_one(conn: Conn, messages: Sequence[Message], *, worker: str, options: WriteOptions) -> CommitResult:
    offered = inserted = rejected = conflicts = 0
    quarantined: list[QuarantineItem] = []
    for msg in messages:
        outcome = _outcome(msg)
        if outcome.quarantined is not None:
            quarantined.append(outcome.quarantined)
            continue
        if not outcome.rows:
            continue
        try:
            items = outcome.items
            with conn.transaction():
                new, conflicted = _write(conn, items, [msg] * len(items), [], worker, options.keep_bytes)
            inserted += new
            conflicts += conflicted
            offered += outcome.rows
        except OUTAGE_ERRORS:
            raise
        except psycopg.Error as exc:
            rejected += 1
            detail = f"{type(exc).__name__}: {exc}"[:500]
            device = outcome.device_id
            item = QuarantineItem(msg.topic, device, REJECTED, detail, msg.payload, msg.received_at)
            msg.outcome = Outcome(quarantined=item)
            quarantined.append(item)
    with conn.transaction():
        store_quarantine.add_many(conn, quarantined, worker=worker, keep_bytes=options.keep_bytes)
        store_sparkplug.save(conn, options.sparkplug, seqs=options.sparkplug_seqs)
    return CommitResult(offered, inserted, quarantined, rejected, conflicts)
