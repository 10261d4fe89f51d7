"""The local broker's TLS listener: a client trusting the generated CA connects; one that does not is refused."""

from __future__ import annotations

import shutil
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from kipsense import mqtt_auth
from kipsense.stack.mosquitto import LocalMosquitto
from kipsense.stack.ports import free_port_from
from kipsense.stack.runner import service_user

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def tls_broker(stack_env: dict[str, str]) -> Iterator[tuple[LocalMosquitto, str]]:
    """A broker of its own (the shared test broker keeps running untouched) with the TLS listener on."""
    # Under the stack folder: the broker's service user can reach it, unlike a private temporary folder.
    directory = ROOT / ".local" / "test" / f"tls-{threading.get_native_id()}"
    port = free_port_from(52_000, set())
    broker = LocalMosquitto(dir=directory, port=port, user=service_user(), tls_port=free_port_from(port + 1, {port}))
    password = mqtt_auth.generate_password()
    directory.mkdir(parents=True, exist_ok=True)
    broker.write_config(mqtt_auth.hash_password(password))
    broker.start()
    try:
        yield broker, password
    finally:
        broker.stop()
        shutil.rmtree(directory, ignore_errors=True)


def _connect(port: int, password: str, context: ssl.SSLContext | None) -> bool:
    """True when the broker accepts the ingest account (over TLS with a context)."""
    result: dict[str, Any] = {}
    done = threading.Event()
    user = mqtt_auth.ingest_usernames()[0]
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=user, protocol=mqtt.MQTTv5)
    client.username_pw_set(user, password)
    if context is not None:
        client.tls_set_context(context)

    def on_connect(c: Any, u: Any, flags: Any, reason: Any, props: Any) -> None:
        result["ok"] = not reason.is_failure
        done.set()

    client.on_connect = on_connect
    client.connect("127.0.0.1", port, keepalive=10)
    client.loop_start()
    try:
        done.wait(60)  # an event, bounded generously: a TLS handshake on a loaded machine is slow
    finally:
        client.disconnect()
        client.loop_stop()
        client._reset_sockets()  # paho keeps its wake-up socket pair until garbage collection
    return bool(result.get("ok"))


def test_config_has_a_tls_listener(tls_broker: tuple[LocalMosquitto, str]) -> None:
    broker, _ = tls_broker
    conf = (broker.dir / "mosquitto.conf").read_text()
    assert f"listener {broker.effective_tls_port()} 127.0.0.1" in conf
    assert broker.ca_file.exists()
    assert oct((broker.tls_dir / "ca.key").stat().st_mode & 0o777) == "0o600"


def test_client_trusting_the_ca_connects(tls_broker: tuple[LocalMosquitto, str]) -> None:
    broker, password = tls_broker
    port = broker.effective_tls_port()
    assert port is not None
    context = ssl.create_default_context(cafile=str(broker.ca_file))  # verifies chain and host name
    assert _connect(port, password, context)


def test_client_not_trusting_the_ca_is_refused(tls_broker: tuple[LocalMosquitto, str]) -> None:
    broker, _ = tls_broker
    port = broker.effective_tls_port()
    assert port is not None
    context = ssl.create_default_context()  # system roots only
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, pytest.raises(ssl.SSLCertVerificationError):
        context.wrap_socket(raw, server_hostname="127.0.0.1").close()
    trusting = ssl.create_default_context(cafile=str(broker.ca_file))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with trusting.wrap_socket(raw, server_hostname="localhost") as tls:
            assert tls.version() in {"TLSv1.2", "TLSv1.3"}


def test_both_listeners_share_the_accounts(tls_broker: tuple[LocalMosquitto, str]) -> None:
    broker, password = tls_broker
    assert _connect(broker.port, password, None)  # the plain port serves local clients with the same accounts
    assert not _connect(broker.port, "wrong-" + password, None)
