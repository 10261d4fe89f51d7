"""Notification latency: alert raised (committed) -> message handed to the SMTP server and to the webhook receiver.

Everything is real and on loopback: a fresh database on the TEST stack, the sender as its own process
(``kipsense notify``, as ``make run`` starts it), an aiosmtpd SMTP server and an HTTP receiver that checks each
webhook's signature. The load is the demo's: dust episodes that put 24 sensors of a site into alert within a few
seconds (the first alert makes one message per channel, the other 23 join it), episodes starting every
``--every`` seconds at different sites so several overlap, while cycler/process alerts that no route matches
keep arriving too. The clock runs from the commit of an episode's first alert to the receiver's arrival time
(one machine, one clock).

    .venv/bin/python bench/notifications.py --episodes 150
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _common import machine, markdown_table, update_results_md, write_results

from kipsense.stack import LocalStack
from store import admin, alerts, migrate, notifications
from store.db import connect
from tests.notify.receivers import SmtpReceiver, WebhookReceiver
from tests.support import wait_until

ROOT = Path(__file__).resolve().parent.parent
SENSORS = 24


def _episode(url: str, site: str, rng: np.random.Generator, t0: dict[str, float], spread_s: float) -> None:
    """One dust episode: 24 sensors of one site cross the limit within ``spread_s`` seconds."""
    offsets = np.sort(rng.uniform(0, spread_s, SENSORS))
    offsets[0] = 0.0
    start = time.monotonic()
    with connect(url) as conn:
        for i, offset in enumerate(offsets):
            delay = start + offset - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            alerts.raise_alert(
                conn, device_id=f"{site}-d{i:02d}", site_id=site, type="pm10_limit", severity="major",
                value=60.0 + i, threshold=50.0, at=datetime.now(UTC),
            )  # fmt: skip
            conn.commit()
            if i == 0:
                t0[site] = time.time()


def _noise(url: str, stop: threading.Event, rng: np.random.Generator) -> int:
    """Cycler/process alerts no route matches: outbox rows the sender must route past."""
    n = 0
    with connect(url) as conn:
        while not stop.wait(float(rng.exponential(0.5))):
            alerts.raise_alert(
                conn, device_id=f"cyc-{n % 8}", site_id="lab", type=f"cycler_fault_{n}", severity="warning",
                value=1.0, threshold=0.5, at=datetime.now(UTC),
            )  # fmt: skip
            conn.commit()
            n += 1
    return n


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes", type=int, default=150)
    parser.add_argument("--every", type=float, default=1.0, help="seconds between episode starts")
    parser.add_argument("--spread", type=float, default=10.0, help="seconds over which an episode's 24 alerts come")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    stack = LocalStack(ROOT / ".local", "test")
    stack.up()
    admin_url = stack.admin_url()
    name = f"bench_notify_{secrets.token_hex(3)}"
    admin.ensure_database(admin_url, name)
    url = admin_url.rsplit("/", 1)[0] + "/" + name
    smtp = SmtpReceiver().start()
    secret = secrets.token_urlsafe(32)
    hook = WebhookReceiver(secret.encode()).start()
    sender: subprocess.Popen[bytes] | None = None
    try:
        migrate.apply(url)
        sites = [f"site{i:04d}" for i in range(args.episodes)]
        with connect(url) as conn:
            for site in sites:
                conn.execute("INSERT INTO sites (site_id, name) VALUES (%s, %s)", (site, site))
            conn.execute("INSERT INTO sites (site_id, name) VALUES ('lab', 'Battery lab')")
            contact = notifications.create_contact(
                conn, name="duty", language="fi", email="duty@bench.test", webhook_url=hook.url
            )
            notifications.create_route(
                conn, name="pm10", match_types=["pm10_limit"], contact_ids=[contact.contact_id], repeat_every_s=None
            )
            conn.commit()
        env = {
            **os.environ,
            "KIPSENSE_STACK_ROOT": str(ROOT / ".local" / "bench-notify-none"),
            "KIPSENSE_DATABASE_URL": url,
            "KIPSENSE_NOTIFY_LINK_KEY": secrets.token_urlsafe(32),
            "KIPSENSE_NOTIFY_WEBHOOK_SECRET": secret,
            "KIPSENSE_NOTIFY_SMTP_HOST": "127.0.0.1",
            "KIPSENSE_NOTIFY_SMTP_PORT": str(smtp.port),
            "KIPSENSE_NOTIFY_SMTP_MODE": "insecure",
            "KIPSENSE_NOTIFY_RATE_PER_MINUTE": "{}",  # one contact for every site here; production limits per target
        }
        sender = subprocess.Popen([sys.executable, "-m", "kipsense.cli", "notify"], env=env)
        time.sleep(2.0)  # the sender is up and listening
        rng = np.random.default_rng(args.seed)
        t0: dict[str, float] = {}
        stop_noise = threading.Event()
        noise_count: list[int] = []
        noise = threading.Thread(target=lambda: noise_count.append(_noise(url, stop_noise, rng)), daemon=True)
        noise.start()
        threads = []
        for i, site in enumerate(sites):
            th = threading.Thread(
                target=_episode, args=(url, site, np.random.default_rng(args.seed + i), t0, args.spread)
            )
            th.start()
            threads.append(th)
            time.sleep(args.every)
        for th in threads:
            th.join()
        stop_noise.set()
        noise.join()
        wait_until(lambda: len(smtp.messages) >= len(sites) and len(hook.state.requests) >= len(sites), timeout=120)
        time.sleep(2.0)  # anything extra (a second message per episode) would arrive now
    finally:
        if sender is not None:
            sender.send_signal(signal.SIGTERM)
            sender.wait(timeout=30)
        smtp.stop()
        hook.stop()
    mail_ms = [
        (at - t0[m["Subject"].rsplit(": ", 1)[-1].split(",")[0].strip()]) * 1000
        for m, at in zip(smtp.messages, smtp.received_at, strict=True)
    ]
    hook_ms = [(r["at"] - t0[r["body"]["alerts"][0]["site_id"]]) * 1000 for r in hook.state.requests]
    both = np.array(mail_ms + hook_ms)
    with connect(url) as conn:
        stats = notifications.stats(conn)
    admin.drop_database(admin_url, name)
    result = {
        "episodes": len(sites),
        "alerts_per_episode": SENSORS,
        "unrouted_noise_alerts": noise_count[0] if noise_count else 0,
        "mails_received": len(smtp.messages),
        "webhooks_received": len(hook.state.requests),
        "messages_per_episode_per_channel": (len(smtp.messages) + len(hook.state.requests)) / (2 * len(sites)),
        "bad_signatures": hook.state.bad_signatures,
        "alert_to_delivery_p50_ms": round(float(np.percentile(both, 50)), 1),
        "alert_to_delivery_p99_ms": round(float(np.percentile(both, 99)), 1),
        "alert_to_delivery_max_ms": round(float(both.max()), 1),
        "email_p50_ms": round(float(np.percentile(mail_ms, 50)), 1),
        "email_p99_ms": round(float(np.percentile(mail_ms, 99)), 1),
        "webhook_p50_ms": round(float(np.percentile(hook_ms, 50)), 1),
        "webhook_p99_ms": round(float(np.percentile(hook_ms, 99)), 1),
        "delivery_log_sent": stats.sent,
        "delivery_log_failed": stats.failed,
        "target_p99_ms": 2000,
        "machine": machine(),
        "command": (
            f".venv/bin/python bench/notifications.py --episodes {args.episodes}"
            + (f" --every {args.every:g}" if args.every != 1.0 else "")
            + (f" --spread {args.spread:g}" if args.spread != 10.0 else "")
            + (f" --seed {args.seed}" if args.seed != 7 else "")
        ),
    }
    write_results("notifications", result)
    table = markdown_table(
        ["channel", "messages", "p50 ms", "p99 ms"],
        [
            ["e-mail (SMTP)", str(len(mail_ms)), str(result["email_p50_ms"]), str(result["email_p99_ms"])],
            ["webhook", str(len(hook_ms)), str(result["webhook_p50_ms"]), str(result["webhook_p99_ms"])],
            ["both", str(len(both)), str(result["alert_to_delivery_p50_ms"]), str(result["alert_to_delivery_p99_ms"])],
        ],
    )
    update_results_md(
        "notifications",
        "## Notifications: alert raised -> message at the SMTP server and the webhook receiver\n\n"
        f"`{result['command']}` (the sender as its own process; {len(sites)} dust episodes of {SENSORS} alerts "
        f"each, one starting every {args.every:g} s and spread over {args.spread:g} s, plus "
        f"{result['unrouted_noise_alerts']} cycler alerts no route matches; target p99 ≤ 2 s).\n\n"
        f"{table}\n\nMessages per episode and channel: {result['messages_per_episode_per_channel']:g} "
        f"(grouping); bad signatures: {result['bad_signatures']}; worst: {result['alert_to_delivery_max_ms']} ms.\n",
    )
    print({k: v for k, v in result.items() if k != "machine"})
    return 0


if __name__ == "__main__":
    sys.exit(main())
