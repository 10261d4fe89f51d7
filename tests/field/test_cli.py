"""``kipsense devices`` against the test stack, with ``--json`` output as scripts read it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kipsense import mqtt_auth
from kipsense.cli import main
from kipsense.settings import MqttSettings


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, stack_env: dict[str, str], database_url: str) -> None:
    for name, value in stack_env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("KIPSENSE_DATABASE_URL", database_url)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.usefixtures("cli_env")
def test_devices_lifecycle(
    capsys: pytest.CaptureFixture[str], mqtt_settings: MqttSettings, uid: str, tmp_path: Path
) -> None:
    device = f"{uid}-cli"
    code, out, _ = _run(capsys, "devices", "create", device, "--lat", "63.84", "--lon", "23.03", "--json")
    assert code == 0
    creds = json.loads(out)
    assert creds["username"] == device and creds["reloaded"]
    assert mqtt_settings.password_file is not None
    assert mqtt_auth.verify_password(creds["password"], mqtt_auth.read_users(mqtt_settings.password_file)[device])

    code, out, _ = _run(capsys, "devices", "update", device, "--firmware", "3.2", "--interval", "30", "--json")
    assert code == 0 and json.loads(out)["firmware"] == "3.2" and json.loads(out)["expected_interval_s"] == 30.0

    code, out, _ = _run(capsys, "devices", "list", "--site", "park", "--json")
    assert device in [d["device_id"] for d in json.loads(out)]

    code, out, _ = _run(capsys, "devices", "rotate", device, "--json")
    assert code == 0 and json.loads(out)["password"] != creds["password"]

    qr = tmp_path / "label.svg"
    code, out, _ = _run(capsys, "devices", "claim", device, "--valid-for", "120", "--qr", str(qr), "--json")
    assert code == 0 and len(json.loads(out)["code"]) == 14 and qr.read_text().lstrip().startswith("<?xml")

    code, out, _ = _run(capsys, "devices", "revoke", device, "--json")
    assert code == 0 and device not in mqtt_auth.read_users(mqtt_settings.password_file)
    code, out, _ = _run(capsys, "devices", "retire", device)
    assert code == 0 and out.startswith("retired")
    code, out, _ = _run(capsys, "devices", "list", "--json")
    assert device not in [d["device_id"] for d in json.loads(out)]


@pytest.mark.usefixtures("cli_env")
def test_bad_input_gets_a_clear_error(capsys: pytest.CaptureFixture[str], uid: str) -> None:
    code, _, err = _run(capsys, "devices", "create", "bad/name")
    assert code == 1 and "MQTT username" in err
    code, _, err = _run(capsys, "devices", "create", f"{uid}-x", "--site", "nowhere")
    assert code == 1 and "unknown site" in err
    code, _, err = _run(capsys, "devices", "rotate")
    assert code == 2 and "device id is required" in err
    code, _, err = _run(capsys, "devices", "revoke", f"{uid}-absent")
    assert code == 1 and "no device" in err
