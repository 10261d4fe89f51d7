"""The local stack: idempotent start, usable exports, ports outside the ephemeral range, no stacks made by accident."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from kipsense.stack import LocalStack, StackError, ports

ROOT = Path(__file__).resolve().parents[2]


def _test_stack_root() -> Path:
    return Path(os.environ.get("KIPSENSE_TEST_STACK_ROOT", ROOT / ".local"))


def _exports(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            found[key] = shlex.split(value)[0]
    return found


@pytest.fixture
def stack_root() -> Iterator[Path]:
    """A folder the service user can reach (pytest's own tmp folders are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="kipsense-stack-"))
    path.chmod(0o755)
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_up_is_idempotent(stack_env: dict[str, str]) -> None:
    stack = LocalStack(_test_stack_root(), "test")
    first = stack.up()
    again = stack.up()
    assert first == again
    assert again.postgres_running and again.mqtt_running


def test_env_exports_reach_timescaledb_and_the_broker(stack_env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "kipsense.cli", "stack", "env", "--name", "test"],
        env={**os.environ, "KIPSENSE_STACK_ROOT": str(_test_stack_root())},
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    exports = _exports(out)
    assert {"KIPSENSE_DATABASE_URL", "KIPSENSE_MQTT_HOST", "KIPSENSE_MQTT_PORT"} <= exports.keys()
    assert exports["KIPSENSE_MQTT_PORT"] == stack_env["KIPSENSE_MQTT_PORT"]
    assert "KIPSENSE_MQTT_TLS_CA" in out  # how to use the TLS listener, printed as a comment
    with psycopg.connect(exports["KIPSENSE_DATABASE_URL"]) as conn:
        row = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'").fetchone()
        hypertables = conn.execute("SELECT count(*) FROM timescaledb_information.hypertables").fetchone()
    assert row is not None
    assert hypertables is not None and hypertables[0] >= 1
    with socket.create_connection((exports["KIPSENSE_MQTT_HOST"], int(exports["KIPSENSE_MQTT_PORT"])), timeout=2):
        pass


def _listening(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a port a stopped server just left is in TIME_WAIT
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def _check_serving(stack: LocalStack) -> dict[str, int]:
    """The stack's remembered ports, after checking that its servers answer there and nowhere in the range."""
    remembered = ports.load(stack.dir / "ports.json")
    assert set(remembered) == {"postgres", "mqtt", "mqtt_tls"}
    assert not any(ports.in_ephemeral_range(p) for p in remembered.values()), remembered
    env = stack.env()
    assert env["KIPSENSE_MQTT_PORT"] == str(remembered["mqtt"])
    assert f":{remembered['postgres']}/" in env["KIPSENSE_DATABASE_URL"]
    with psycopg.connect(env["KIPSENSE_DATABASE_URL"]) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
    assert stack.tls_listener() == (remembered["mqtt_tls"], stack.dir / "services" / "mosquitto" / "tls" / "ca.crt")
    for name in ("mqtt", "mqtt_tls"):
        assert ports.port_in_use(remembered[name]), name
    return remembered


def test_ports_move_out_of_the_ephemeral_range_and_away_from_other_servers(
    stack_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    low, high = ports.ephemeral_range()
    in_range = next(p for p in range(high - 50, high) if ports.port_bindable(p))
    with _listening(ports.free_port_from(23_000, set())) as foreign:
        held = foreign.getsockname()[1]
        # A stack made before ports were kept out of the range, whose broker port another server took since.
        ports.save(stack_root / "old" / "ports.json", {"postgres": in_range, "mqtt": held})
        stack = LocalStack(stack_root, "old")
        status = stack.up()
        try:
            assert status.postgres_running and status.mqtt_running
            moved = _check_serving(stack)
            assert moved["mqtt"] != held and moved["postgres"] != in_range
            assert status.notices == (
                f"postgres port {in_range} lies in the kernel's ephemeral range {low}-{high}: "
                f"moved to {moved['postgres']}",
                f"mqtt port {held} is held by another program: moved to {moved['mqtt']}",
            )
            assert stack.up().notices == ()  # running services keep their ports
        finally:
            stack.down()
    # Ports that pass the check but are taken when the servers start (another program was quicker): the stack
    # chooses again and starts, instead of failing with "address already in use".
    taken = {moved["postgres"]: _listening(moved["postgres"]), moved["mqtt_tls"]: _listening(moved["mqtt_tls"])}
    real_usable = ports.usable
    monkeypatch.setattr(ports, "usable", lambda port: port in taken or real_usable(port))
    try:
        status = stack.up()
        again = _check_serving(stack)
        assert again["postgres"] not in taken and again["mqtt_tls"] not in taken and again["mqtt"] == moved["mqtt"]
        assert status.notices == (
            f"postgres port {moved['postgres']} was taken as the server started: moved to {again['postgres']}",
            f"mqtt_tls port {moved['mqtt_tls']} was taken as the server started: moved to {again['mqtt_tls']}",
        )
    finally:
        stack.down()
        for sock in taken.values():
            sock.close()


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "KIPSENSE_STACK_ROOT"}
    return subprocess.run(
        [sys.executable, "-m", "kipsense.cli", "stack", *args], env=env, capture_output=True, text=True, cwd=cwd
    )


def test_env_and_status_create_nothing_and_names_are_not_paths(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for action in ("env", "status", "down"):
        out = _cli(action, "--name", "test", cwd=elsewhere)
        assert out.returncode == 1 and "there is no stack 'test'" in out.stderr, out
        assert out.stdout == ""
    for name in ("../x", "a/b", "..", ".hidden", "Main", ""):
        out = _cli("up", "--name", name, cwd=elsewhere)
        assert out.returncode == 1 and "invalid stack name" in out.stderr, (name, out)
    assert list(tmp_path.rglob("*")) == [elsewhere]  # no .local, no x next to it
    with pytest.raises(StackError, match="invalid stack name"):
        LocalStack(tmp_path, "../x")
