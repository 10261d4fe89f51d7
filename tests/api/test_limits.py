"""Bounds a caller cannot talk the API out of: body size, failed-key throttling, the address it is counted under.

Against the API served by uvicorn (in this process, and once as ``kipsense api`` itself for the forwarded
headers, since those are decided where uvicorn is started).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

import httpx
import pytest

from tests.api.conftest import Keys, _free_port, make_app, serving

pytestmark = pytest.mark.stack

FAILURES = 3  # failed keys per address before 429, small so the tests stay short


@pytest.fixture(scope="module")
def strict_url(database_url: str, stack_env: dict[str, str]) -> Iterator[str]:
    """The API with a small failure limit and its default body limit (1 MiB)."""
    with serving(make_app(database_url, stack_env, auth_failures=FAILURES, key_cache_s=0)) as url:
        yield url


def _raw_request(url: str, head: str, body_part: bytes, *, timeout: float = 10.0) -> bytes:
    """Send the head and only the first part of the body, then read whatever the server answers."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as sock:
        sock.sendall(head.encode() + body_part)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return data


def test_a_huge_declared_body_is_refused_before_it_is_sent(strict_url: str, keys: Keys) -> None:
    """300 MB announced without a key: 413 at once, after 64 KiB of it, instead of waiting to read it all."""
    size = 300 * 1024 * 1024
    for auth in ("", f"Authorization: Bearer {keys.tokens['operator']}\r\n"):
        head = (
            f"POST /alerts/1/comments HTTP/1.1\r\nHost: x\r\n{auth}Content-Type: application/json\r\n"
            f"Content-Length: {size}\r\n\r\n"
        )
        answer = _raw_request(strict_url, head, b'{"text": "' + b"a" * 65536)
        assert answer.startswith(b"HTTP/1.1 413"), answer[:200]


def test_a_streamed_body_is_counted_and_cut_off(strict_url: str, keys: Keys) -> None:
    """Chunked (no Content-Length): 413 once 1 MiB has arrived, with or without a key."""

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(64):
            yield b"a" * 65536
        yield b'"}'

    for path, headers in (("/alerts/1/comments", {}), ("/alerts/1/comments", keys.headers("operator"))):
        r = httpx.post(f"{strict_url}{path}", content=chunks(), headers=headers, timeout=20)
        assert r.status_code == 413, (path, r.status_code, r.text[:200])
    small = httpx.post(f"{strict_url}/alerts/999999/comments", json={"text": "ok"}, headers=keys.headers("operator"))
    assert small.status_code == 404  # under the limit the route answers as before


def test_a_valid_key_is_never_refused_for_others_failures(strict_url: str, keys: Keys) -> None:
    bad = {"Authorization": "Bearer not-a-key"}
    answers = [httpx.get(f"{strict_url}/alerts", headers=bad).status_code for _ in range(FAILURES + 2)]
    assert answers == [401] * FAILURES + [429, 429]
    refused = httpx.get(f"{strict_url}/alerts", headers=bad)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    # the same address with a valid key (a colleague behind the same proxy): served
    for role in ("operator", "researcher"):
        assert httpx.get(f"{strict_url}/alerts", headers=keys.headers(role)).status_code == 200
    assert httpx.get(f"{strict_url}/alerts", headers=bad).status_code == 429


@contextmanager
def _kipsense_api(database_url: str, stack_env: dict[str, str], **env: str) -> Iterator[str]:
    """``kipsense api`` as the command starts it (one worker), on a free port."""
    port = _free_port()
    full_env = {
        **os.environ,
        **stack_env,
        "KIPSENSE_DATABASE_URL": database_url,
        "KIPSENSE_API_AUTH_FAILURES": str(FAILURES),
        **env,
    }
    full_env.pop("FORWARDED_ALLOW_IPS", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "kipsense.cli", "api", "--port", str(port), "--workers", "1"],
        env=full_env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/openapi.json", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("kipsense api did not start")
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _guess(url: str, forwarded_for: str) -> int:
    headers = {"Authorization": "Bearer not-a-key", "X-Forwarded-For": forwarded_for}
    return httpx.get(f"{url}/alerts", headers=headers, timeout=10).status_code


def test_forwarded_addresses_count_only_from_configured_proxies(
    database_url: str, stack_env: dict[str, str], keys: Keys
) -> None:
    # by default no proxy is trusted: a new X-Forwarded-For per guess from loopback is still one client
    with _kipsense_api(database_url, stack_env) as url:
        answers = [_guess(url, f"198.51.100.{i}") for i in range(FAILURES + 2)]
        assert answers == [401] * FAILURES + [429, 429]
    # behind a configured proxy each forwarded client has its own count, and a valid key always passes
    with _kipsense_api(database_url, stack_env, KIPSENSE_API_TRUSTED_PROXIES=json.dumps(["127.0.0.1"])) as url:
        assert [_guess(url, f"198.51.100.{i}") for i in range(FAILURES + 2)] == [401] * (FAILURES + 2)
        assert [_guess(url, "203.0.113.7") for _ in range(FAILURES + 1)] == [401] * FAILURES + [429]
        valid = {**keys.headers("operator"), "X-Forwarded-For": "203.0.113.7"}
        assert httpx.get(f"{url}/alerts", headers=valid, timeout=10).status_code == 200
