"""The development profile's notification set-up for ``kipsense run``: secrets, a mail catcher, a demo route.

Secrets are generated once into ``.local/notify-secrets.json`` (mode 0600); production sets
``KIPSENSE_NOTIFY_LINK_KEY`` and ``KIPSENSE_NOTIFY_WEBHOOK_SECRET`` itself and has no catcher. The catcher
writes each e-mail to ``.local/main/mail/*.eml`` and each webhook call to ``.local/main/webhook.log``. A demo
contact ("Demo duty"), an on-call group and a route for PM10 alerts are created only when the database has
no routes yet, so an operator's own configuration is never overwritten.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from kipsense.stack import ports
from store import notifications
from store.db import connect

DEMO_CONTACT = "Demo duty"


@dataclass(frozen=True, slots=True)
class DemoNotify:
    env: dict[str, str]
    catcher_args: list[str]
    folder: Path


def _secrets(root: Path) -> dict[str, str]:
    path = root / "notify-secrets.json"
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    values = {"link_key": secrets.token_urlsafe(32), "webhook_secret": secrets.token_urlsafe(32)}
    path.write_text(json.dumps(values) + "\n")
    path.chmod(0o600)
    return values


def prepare(root: Path, *, database_url: str, api_port: int) -> DemoNotify:
    """Ports, secrets and the demo route; returns the sender's environment and the catcher's arguments."""
    folder = root / "main"
    folder.mkdir(parents=True, exist_ok=True)
    state = folder / "notify-ports.json"
    chosen = ports.choose({"smtp": 12525, "webhook": 18025}, keep={})  # free now; remembered for the README
    ports.save(state, chosen)
    keys = _secrets(root)
    hook = f"http://127.0.0.1:{chosen['webhook']}/hook"
    with connect(database_url) as conn:
        contacts = [c for c in notifications.list_contacts(conn) if c.name == DEMO_CONTACT]
        if contacts:
            notifications.update_contact(conn, contact_id=contacts[0].contact_id, webhook_url=hook)
        elif not notifications.list_routes(conn):
            contact = notifications.create_contact(
                conn, name=DEMO_CONTACT, language="fi", phone="+358 40 000 0000", email="duty@kipsense.local",
                webhook_url=hook,
            )  # fmt: skip
            group = notifications.create_group(conn, name="Demo on-call", member_ids=[contact.contact_id])
            notifications.create_route(
                conn,
                name="Demo: PM10 limit",
                match_types=["pm10_limit"],
                group_ids=[group.group_id],
                escalation_group_ids=[group.group_id],
                repeat_every_s=1800,
            )
        conn.commit()
    env = {
        "KIPSENSE_NOTIFY_LINK_KEY": keys["link_key"],
        "KIPSENSE_NOTIFY_WEBHOOK_SECRET": keys["webhook_secret"],
        "KIPSENSE_NOTIFY_SMTP_HOST": "127.0.0.1",
        "KIPSENSE_NOTIFY_SMTP_PORT": str(chosen["smtp"]),
        "KIPSENSE_NOTIFY_SMTP_MODE": "insecure",
        "KIPSENSE_NOTIFY_PUBLIC_URL": f"http://127.0.0.1:{api_port}",
    }
    args = ["notify", "catcher", "--dir", str(folder), "--smtp-port", str(chosen["smtp"])]
    args += ["--webhook-port", str(chosen["webhook"])]
    return DemoNotify(env=env, catcher_args=args, folder=folder)
