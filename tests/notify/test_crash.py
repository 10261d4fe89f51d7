"""The sender as a real process, killed with SIGKILL mid-batch and restarted: nothing lost, each key handled once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from store import alerts, notifications
from store.db import connect
from tests.notify.conftest import LINK_KEY, WEBHOOK_SECRET
from tests.notify.receivers import WebhookReceiver
from tests.support import wait_until

N = 40


@pytest.fixture
def slow_webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver(WEBHOOK_SECRET.encode())
    receiver.state.delay_s = 0.15
    receiver.start()
    yield receiver
    receiver.stop()


def _sender(database_url: str, tmp_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "KIPSENSE_STACK_ROOT": str(tmp_path),
        "KIPSENSE_DATABASE_URL": database_url,
        "KIPSENSE_NOTIFY_LINK_KEY": LINK_KEY,
        "KIPSENSE_NOTIFY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "KIPSENSE_NOTIFY_LEASE_S": "2",
        "KIPSENSE_NOTIFY_POLL_S": "0.2",
        "KIPSENSE_NOTIFY_RATE_PER_MINUTE": "{}",
    }
    return subprocess.Popen([sys.executable, "-m", "kipsense.cli", "notify"], env=env)


def test_sigkill_mid_batch_then_restart_loses_nothing(
    database_url: str, site: str, slow_webhook: WebhookReceiver, tmp_path: Path
) -> None:
    with connect(database_url) as conn:
        contact = notifications.create_contact(conn, name=f"hook {site}", language="en", webhook_url=slow_webhook.url)
        # no grouping window: every alert is its own message, so the batch is large
        notifications.create_route(
            conn, name=f"all-{site}", match_sites=[site], contact_ids=[contact.contact_id], group_window_s=0
        )
        for i in range(N):
            alerts.raise_alert(
                conn, device_id=f"{site}-d{i % 30:02d}", site_id=site, type=f"type{i}", severity="major",
                value=float(i), threshold=1.0, at=datetime.now(UTC),
            )  # fmt: skip
        conn.commit()
    state = slow_webhook.state
    first = _sender(database_url, tmp_path)
    try:
        wait_until(lambda: len(state.requests) >= 8, timeout=60)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        if first.poll() is None:
            first.kill()
    delivered_before_restart = len(state.requests)
    assert delivered_before_restart < N  # killed mid-batch
    with connect(database_url) as conn:
        keys = {
            m.idempotency_key
            for m in notifications.list_messages(conn, limit=500)
            if m.contact_id == contact.contact_id
        }
        assert len(keys) == N
    second = _sender(database_url, tmp_path)
    try:

        def all_sent() -> bool:
            with connect(database_url) as conn:
                return all(
                    m.status == "sent"
                    for m in notifications.list_messages(conn, limit=500)
                    if m.contact_id == contact.contact_id
                )

        wait_until(all_sent, timeout=120, interval=0.3)
    finally:
        second.terminate()
        assert second.wait(timeout=30) == 0
    assert set(state.effects) == keys and len(state.effects) == N  # nothing lost, each acted on once
    redelivered = [k for k, n in state.deliveries.items() if n > 1]
    # At least once: only what was in flight at the kill comes again, with the same key: each of the 4 sender
    # threads' current delivery, and at most one finished but not yet recorded per thread.
    assert len(redelivered) <= 8
    assert state.bad_signatures == 0
