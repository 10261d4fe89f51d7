"""Port choice for the local services: their own ports, outside the kernel's ephemeral range, never a silent
connection to a foreign server.

Linux gives the local end of every outgoing connection a port from ``net.ipv4.ip_local_port_range``
(32768-60999 by default). A listener port inside that range can be taken at any moment by some client's
connection (a test suite opens thousands), and the server then fails with "address already in use". So every
listener port of a stack (PostgreSQL, MQTT, MQTT over TLS) is chosen outside that range, unless the kernel
reserves it (``ip_local_reserved_ports``), and is checked free and bindable before it is remembered.

A check is not a reservation: another program can still bind the port between the check and the server's
start. ``port_lock`` serialises choosing and starting among stacks on the machine, and ``LocalStack.up``
chooses again when a server reports the address in use (see there).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from kipsense.stack.runner import StackError

log = logging.getLogger(__name__)

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_RESERVED_FILE = Path("/proc/sys/net/ipv4/ip_local_reserved_ports")
#: Linux's default, for systems without the /proc file.
DEFAULT_EPHEMERAL = (32768, 60999)
#: How many candidate ports ``free_port_from`` tries before giving up.
SPAN = 200


def ephemeral_range(path: Path = _RANGE_FILE) -> tuple[int, int]:
    """The ports the kernel hands out for outgoing connections (inclusive)."""
    try:
        low, high = (int(x) for x in path.read_text().split())
    except (OSError, ValueError):
        return DEFAULT_EPHEMERAL
    return low, high


def reserved_ports(path: Path = _RESERVED_FILE) -> set[int]:
    """Ports the kernel never hands out for outgoing connections although they lie in the ephemeral range."""
    try:
        text = path.read_text().strip()
    except OSError:
        return set()
    out: set[int] = set()
    for part in filter(None, text.split(",")):
        low, _, high = part.partition("-")
        out.update(range(int(low), int(high or low) + 1))
    return out


def in_ephemeral_range(port: int) -> bool:
    """True when the kernel may give ``port`` to an outgoing connection at any time."""
    low, high = ephemeral_range()
    return low <= port <= high and port not in reserved_ports()


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


def usable(port: int, *, ephemeral_ok: bool = False) -> bool:
    """True when a server of ours may take ``port``: outside the ephemeral range, nobody on it, bindable."""
    if not 1024 <= port <= 65535 or (not ephemeral_ok and in_ephemeral_range(port)):
        return False
    return not port_in_use(port) and port_bindable(port)


def free_port_from(start: int, taken: set[int]) -> int:
    """First usable port at or above ``start`` (skipping the ephemeral range) that is not in ``taken``.

    Where the kernel's range leaves no room (a range configured as 1024-65535), the first free port inside it
    is taken, with a warning: the stack still starts, and a port lost at start is chosen again.
    """
    low, high = ephemeral_range()
    port, tried = start, 0
    while tried < SPAN and port <= 65535:
        if low <= port <= high and port not in reserved_ports():
            port = high + 1
            continue
        if port not in taken and usable(port):
            return port
        port += 1
        tried += 1
    for port in range(start, min(start + SPAN, 65536)):
        if port not in taken and usable(port, ephemeral_ok=True):
            log.warning(
                "no free port outside the kernel's ephemeral range %d-%d near %d; using %d, which an outgoing "
                "connection may take (reserve it in net.ipv4.ip_local_reserved_ports to prevent that)",
                low,
                high,
                start,
                port,
            )
            return port
    raise StackError(f"no free port near {start}, inside or outside the ephemeral range {low}-{high}")


def choose(defaults: dict[str, int], keep: dict[str, int], avoid: set[int] | None = None) -> dict[str, int]:
    """A port for every name in ``defaults``: the one in ``keep`` if given, else the first usable from the default.

    No two names share a port, and no port in ``avoid`` (ports that just failed) is chosen.
    """
    chosen = {name: keep[name] for name in defaults if name in keep}
    for name, default in defaults.items():
        if name not in chosen:
            chosen[name] = free_port_from(default, set(chosen.values()) | (avoid or set()))
    return {name: chosen[name] for name in defaults}


def load(state_file: Path) -> dict[str, int]:
    """The ports remembered in ``state_file`` (empty when there are none)."""
    if not state_file.exists():
        return {}
    remembered: dict[str, int] = json.loads(state_file.read_text())
    return remembered


def save(state_file: Path, ports: dict[str, int]) -> None:
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(ports, indent=2) + "\n")


@contextmanager
def port_lock(path: Path | None = None) -> Iterator[None]:
    """Hold the machine-wide lock under which stacks choose ports and start their servers.

    Two ``kipsense stack up`` in different checkouts would otherwise both find the same port free and race for
    it. Where the lock file cannot be opened (another user's file), stacks go on without it: the retry in
    ``LocalStack.up`` still settles a race.
    """
    path = path or Path(tempfile.gettempdir()) / "kipsense-stack-ports.lock"
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except OSError:
        yield
        return
    try:
        if os.fstat(fd).st_uid == os.geteuid():
            os.fchmod(fd, 0o666)  # the umask narrowed it: other users' stacks must be able to take the lock too
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
