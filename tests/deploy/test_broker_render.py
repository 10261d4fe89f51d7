"""One source for the broker's configuration: the committed production file is what the code renders."""

from __future__ import annotations

from pathlib import Path

from kipsense.stack.mosquitto import (
    FD_RESERVE,
    OPEN_FILES,
    BrokerConfig,
    Listener,
    TlsFiles,
    production_config,
    render_config,
)

ROOT = Path(__file__).resolve().parents[2]


def test_committed_production_config_is_the_rendered_one() -> None:
    committed = (ROOT / "deploy/mosquitto/mosquitto.conf").read_text()
    assert committed == render_config(production_config()), (
        "deploy/mosquitto/mosquitto.conf differs from the code: "
        "run `kipsense deploy broker-config -o deploy/mosquitto/mosquitto.conf`"
    )


def test_production_listeners_fit_the_open_file_limit() -> None:
    config = production_config()
    assert sum(lst.max_connections for lst in config.listeners) <= OPEN_FILES - FD_RESERVE
    devices, services = config.listeners
    assert devices.tls is not None and devices.username_as_clientid
    assert services.tls is None and not services.username_as_clientid


def test_render_puts_listener_options_under_their_listener() -> None:
    config = BrokerConfig(
        header="# t",
        listeners=(
            Listener(1, "127.0.0.1", 10, username_as_clientid=False),
            Listener(2, None, 20, tls=TlsFiles("ca", "crt", "key")),
        ),
        password_file="/p",  # noqa: S106 (a path)
        acl_file="/a",
        persistence_dir="/d/",
        log_dest="stdout",
        pid_file="/pid",
    )
    lines = render_config(config).splitlines()
    first, second = lines.index("listener 1 127.0.0.1"), lines.index("listener 2")
    assert "use_username_as_clientid true" not in lines[first:second]
    assert lines[second:].index("use_username_as_clientid true") < lines[second:].index("certfile crt")
    assert lines.index("per_listener_settings false") < first and "pid_file /pid" in lines
