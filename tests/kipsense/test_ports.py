"""Port choice: outside the kernel's ephemeral range, the defaults when free, never two names on one port."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kipsense.stack import DEFAULT_PORTS, ports
from kipsense.stack.ports import (
    choose,
    ephemeral_range,
    free_port_from,
    in_ephemeral_range,
    load,
    port_bindable,
    port_in_use,
    reserved_ports,
    save,
    usable,
)


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port outside the ephemeral range something else listens on for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", free_port_from(21_000, set())))
        sock.listen()
        yield sock.getsockname()[1]


def test_the_kernel_range_is_read(tmp_path: Path) -> None:
    (tmp_path / "range").write_text("40000\t50000\n")
    (tmp_path / "reserved").write_text("41000,42000-42002\n")
    assert ephemeral_range(tmp_path / "range") == (40000, 50000)
    assert reserved_ports(tmp_path / "reserved") == {41000, 42000, 42001, 42002}
    assert ephemeral_range(tmp_path / "missing") == (32768, 60999)  # Linux's default


def test_no_default_port_lies_in_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    for stack, chosen in DEFAULT_PORTS.items():
        assert len(set(chosen.values())) == len(chosen), stack
        for name, port in chosen.items():
            assert not low <= port <= high, f"{stack} {name} {port}"
    assert set(DEFAULT_PORTS["test"]) == {"postgres", "mqtt", "mqtt_tls"}


def test_a_choice_starting_inside_the_range_jumps_past_it() -> None:
    low, high = ephemeral_range()
    port = free_port_from(low + 10, set())
    assert not in_ephemeral_range(port) and port > high


def test_a_held_default_is_skipped(held_port: int) -> None:
    assert port_in_use(held_port) and not usable(held_port)
    chosen = choose({"postgres": held_port}, {})
    assert chosen["postgres"] > held_port and usable(chosen["postgres"])


def test_kept_ports_stay_and_no_two_names_share_one(held_port: int) -> None:
    start = free_port_from(21_000, set())
    chosen = choose({"postgres": start, "mqtt": start, "mqtt_tls": start}, {"mqtt": held_port})
    assert chosen["mqtt"] == held_port
    assert len(set(chosen.values())) == 3
    assert choose({"postgres": start}, {}, avoid={start})["postgres"] != start


def test_ports_are_remembered(tmp_path: Path) -> None:
    assert load(tmp_path / "ports.json") == {}
    save(tmp_path / "ports.json", {"postgres": 15442, "mqtt": 11893})
    assert load(tmp_path / "ports.json") == {"postgres": 15442, "mqtt": 11893}


def test_a_port_bound_without_listening_is_not_chosen() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", free_port_from(22_000, set())))  # held, but nothing accepts connections on it
        held = sock.getsockname()[1]
        assert not port_in_use(held)
        assert not port_bindable(held)
        assert free_port_from(held, set()) > held


def test_a_range_that_leaves_no_room_still_gives_a_port(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(ports, "ephemeral_range", lambda: (1024, 65535))
    with caplog.at_level("WARNING", logger="kipsense.stack.ports"):
        port = free_port_from(21_000, set())
    assert 21_000 <= port < 21_000 + ports.SPAN and usable(port, ephemeral_ok=True)
    assert "ephemeral range 1024-65535" in caplog.text
