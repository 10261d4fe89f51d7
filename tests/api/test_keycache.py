"""The verified-key cache: hits within the TTL, expiry, bounds, off at 0; a revoked key stops working after it."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from api.keycache import KeyCache
from store import apikeys
from store.apikeys import ApiKey
from store.db import connect
from tests.api.conftest import make_app

KEY = ApiKey(1, "k", "operator", [])


def test_a_verified_token_is_remembered_until_its_ttl() -> None:
    cache = KeyCache(ttl_s=0.2, max_keys=10)
    assert cache.get("ks_a") is None
    cache.put("ks_a", KEY)
    assert cache.get("ks_a") == KEY
    assert cache.get("ks_b") is None
    time.sleep(0.25)
    assert cache.get("ks_a") is None
    assert len(cache) == 0


def test_the_oldest_token_goes_first_when_full() -> None:
    cache = KeyCache(ttl_s=60, max_keys=2)
    for token in ("ks_a", "ks_b", "ks_c"):
        cache.put(token, KEY)
    assert len(cache) == 2
    assert cache.get("ks_a") is None
    assert cache.get("ks_c") == KEY


def test_ttl_zero_remembers_nothing() -> None:
    cache = KeyCache(ttl_s=0, max_keys=10)
    cache.put("ks_a", KEY)
    assert cache.get("ks_a") is None


@pytest.mark.stack
@pytest.mark.parametrize("ttl_s", [0.0, 0.5])
def test_a_revoked_key_is_refused_once_the_cache_forgets_it(
    database_url: str, stack_env: dict[str, str], ttl_s: float
) -> None:
    with connect(database_url) as conn:
        key, token = apikeys.create(conn, name=f"revoked after {ttl_s}", role="operator")
        conn.commit()
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(make_app(database_url, stack_env, key_cache_s=ttl_s)) as client:
        assert client.get("/alerts", headers=headers).status_code == 200
        with connect(database_url) as conn:
            assert apikeys.revoke(conn, key_id=key.key_id)
            conn.commit()
        time.sleep(ttl_s + 0.1)
        assert client.get("/alerts", headers=headers).status_code == 401
