"""Port choice: the defaults when free, the next free port otherwise, and remembered once chosen."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from kipsense.stack.ports import free_port_from, load_or_choose, port_bindable, port_in_use


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port something else listens on for the duration of the test."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_listening_port_is_in_use(held_port: int) -> None:
    assert port_in_use(held_port)


def test_a_held_default_is_skipped_and_the_choice_remembered(held_port: int, tmp_path: Path) -> None:
    state = tmp_path / "ports.json"
    chosen = load_or_choose(state, {"postgres": held_port})
    assert chosen["postgres"] > held_port
    assert not port_in_use(chosen["postgres"])
    assert json.loads(state.read_text()) == chosen


def test_two_services_never_share_a_port(tmp_path: Path) -> None:
    start = free_port_from(40_000, set())
    chosen = load_or_choose(tmp_path / "ports.json", {"postgres": start, "mqtt": start})
    assert chosen["postgres"] != chosen["mqtt"]


def test_a_remembered_port_is_kept_even_when_taken_later(held_port: int, tmp_path: Path) -> None:
    state = tmp_path / "ports.json"
    state.write_text(json.dumps({"postgres": held_port}))
    assert load_or_choose(state, {"postgres": 55432}) == {"postgres": held_port}


def test_a_port_bound_without_listening_is_not_chosen() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))  # held, but nothing accepts connections on it
        held = sock.getsockname()[1]
        assert not port_in_use(held)
        assert not port_bindable(held)
        assert free_port_from(held, set()) > held
