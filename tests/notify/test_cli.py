"""``kipsense notify`` commands against the real database, and the development profile's set-up for make run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from kipsense import notify_demo
from store import notifications
from store.db import connect


def _cli(database_url: str, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KIPSENSE_DATABASE_URL": database_url, "KIPSENSE_STACK_ROOT": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-m", "kipsense.cli", "notify", *args], env=env, capture_output=True, text=True, timeout=60
    )


def test_contacts_groups_and_routes_from_the_command_line(database_url: str, tmp_path: Path) -> None:
    made = _cli(
        database_url, tmp_path, "contact", "add", "--name", "Cli Aino", "--email", "a@cli.test", "--language", "sv"
    )
    assert made.returncode == 0, made.stderr
    contact_id = json.loads(made.stdout)["contact_id"]
    group = _cli(database_url, tmp_path, "group", "add", "--name", "cli duty", "--member", str(contact_id))
    group_id = json.loads(group.stdout)["group_id"]
    route = _cli(
        database_url, tmp_path, "route", "add", "--name", "cli route", "--type", "pm10_limit", "--group", str(group_id),
        "--quiet", "22:00-07:00", "--min-severity", "major", "--tag", "north-fence",
    )  # fmt: skip
    assert route.returncode == 0, route.stderr
    route_id = json.loads(route.stdout)["route_id"]
    assert _cli(database_url, tmp_path, "route", "set", str(route_id), "--enabled", "false").returncode == 0
    listed = [json.loads(line) for line in _cli(database_url, tmp_path, "routes").stdout.splitlines()]
    [mine] = [r for r in listed if r["route_id"] == route_id]
    assert mine["enabled"] is False and mine["quiet_from"] == "22:00:00" and mine["match_tags"] == ["north-fence"]
    oncall = [json.loads(line) for line in _cli(database_url, tmp_path, "oncall").stdout.splitlines()]
    assert any(o["group_id"] == group_id and o["contact_id"] == contact_id for o in oncall)
    bad = _cli(database_url, tmp_path, "route", "add", "--name", "x", "--quiet", "25:00-07:00")
    assert bad.returncode == 2 and "HH:MM-HH:MM" in bad.stderr
    dup = _cli(database_url, tmp_path, "route", "add", "--name", "cli route")
    assert dup.returncode == 1 and "kipsense notify:" in dup.stderr
    assert _cli(database_url, tmp_path, "route", "delete", "99999").returncode == 1


def test_sender_refuses_to_start_without_a_link_key(database_url: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KIPSENSE_NOTIFY_")}
    env.update({"KIPSENSE_DATABASE_URL": database_url, "KIPSENSE_STACK_ROOT": str(tmp_path)})
    done = subprocess.run(
        [sys.executable, "-m", "kipsense.cli", "notify"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2 and "KIPSENSE_NOTIFY_LINK_KEY" in done.stderr


def test_make_run_set_up_is_made_once_and_keeps_its_secrets(database_url: str, tmp_path: Path) -> None:
    with connect(database_url) as conn:
        conn.execute("DELETE FROM notify_routes")
        conn.commit()
    first = notify_demo.prepare(tmp_path, database_url=database_url, api_port=8000)
    second = notify_demo.prepare(tmp_path, database_url=database_url, api_port=8000)
    secrets_file = tmp_path / "notify-secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600
    assert first.env["KIPSENSE_NOTIFY_LINK_KEY"] == second.env["KIPSENSE_NOTIFY_LINK_KEY"]
    assert len(first.env["KIPSENSE_NOTIFY_LINK_KEY"]) >= 32
    with connect(database_url) as conn:
        demo = [c for c in notifications.list_contacts(conn) if c.name == notify_demo.DEMO_CONTACT]
        routes = [r for r in notifications.list_routes(conn) if r.name == "Demo: PM10 limit"]
    assert len(demo) == 1 and len(routes) == 1
    assert demo[0].webhook_url == f"http://127.0.0.1:{second.catcher_args[-1]}/hook"
