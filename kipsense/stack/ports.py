"""Port choice for the local services: their own ports, never a silent connection to a foreign server."""

from __future__ import annotations

import json
import socket
from pathlib import Path


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts TCP connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def port_bindable(port: int, host: str = "127.0.0.1") -> bool:
    """True when a listener could bind ``host:port`` now.

    A port nobody listens on may still be held: as the local end of a client connection from the ephemeral
    range, or by a socket bound but not yet listening. A server started there fails with "address in use".
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def free_port_from(start: int, taken: set[int]) -> int:
    """First port at or above ``start`` that nothing listens on or holds, and is not in ``taken``."""
    port = start
    while port in taken or port_in_use(port) or not port_bindable(port):
        port += 1
        if port > start + 200:
            raise RuntimeError(f"no free port in {start}..{start + 200}")
    return port


def load_or_choose(state_file: Path, defaults: dict[str, int]) -> dict[str, int]:
    """Ports remembered in ``state_file``; on first use, the defaults or the next free ports, then remembered.

    Once remembered, a port is never changed silently: if something else holds it later, starting fails with
    a clear error instead (see ``LocalStack.up``).
    """
    if state_file.exists():
        remembered: dict[str, int] = json.loads(state_file.read_text())
        if set(remembered) >= set(defaults):
            return remembered
    chosen: dict[str, int] = {}
    for name, default in defaults.items():
        chosen[name] = free_port_from(default, set(chosen.values()))
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(chosen, indent=2) + "\n")
    return chosen
