"""The generated ACL and the secret-derived name of the ingest workers' shared subscription."""

from __future__ import annotations

from pathlib import Path

import pytest

from kipsense import mqtt_auth


def _blocks(acl: str) -> dict[str, list[str]]:
    """Rules per ``user`` block; device patterns (before any ``user`` line) under ``""``."""
    blocks: dict[str, list[str]] = {"": []}
    current = ""
    for line in acl.splitlines():
        if not line or line.startswith("#"):
            continue
        if line.startswith("user "):
            current = line.split(" ", 1)[1]
            blocks[current] = []
        else:
            blocks[current].append(line)
    return blocks


def test_ingest_accounts_may_write_only_rebirth_requests() -> None:
    blocks = _blocks(mqtt_auth.render_acl())
    assert set(blocks) == {"", *mqtt_auth.ingest_usernames()}
    for user in mqtt_auth.ingest_usernames():
        assert [r for r in blocks[user] if not r.startswith("topic read ")] == ["topic write spBv1.0/+/NCMD/+"]
    devices = blocks[""]
    assert all(r.startswith("pattern ") and "%u" in r for r in devices)
    assert "pattern read spBv1.0/+/NCMD/%u" in devices
    assert not any(r.startswith("topic") for r in devices)


def test_share_group_name_is_stable_and_needs_the_secret() -> None:
    name = mqtt_auth.share_group_name("ingest", "s3cret-password")
    assert name == mqtt_auth.share_group_name("ingest", "s3cret-password")
    assert name.startswith("ingest-") and len(name) == len("ingest-") + 32
    assert name != mqtt_auth.share_group_name("ingest", "s3cret-passwore")
    assert name.removeprefix("ingest-") != mqtt_auth.share_group_name("other", "s3cret-password").removeprefix("other-")


@pytest.mark.parametrize(("label", "secret"), [("", "x"), ("a/b", "x"), ("a+", "x"), ("#", "x"), ("ingest", "")])
def test_share_group_name_refuses_bad_input(label: str, secret: str) -> None:
    with pytest.raises(ValueError, match="shared-subscription"):
        mqtt_auth.share_group_name(label, secret)


def test_write_acl_replaces_stale_rules_privately(tmp_path: Path) -> None:
    acl = tmp_path / "acl"
    acl.write_text("pattern write sensors/%u/#\n")  # the rules of an earlier version
    assert mqtt_auth.write_acl(acl)
    assert acl.read_text() == mqtt_auth.render_acl()
    assert acl.stat().st_mode & 0o777 == 0o600
    assert not mqtt_auth.write_acl(acl)  # already current: nothing to reload
