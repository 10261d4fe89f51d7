"""Verified API keys remembered for a few seconds, so most requests need no key lookup in the database."""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict

from store.apikeys import ApiKey


class KeyCache:
    """Tokens verified within the last ``ttl_s`` seconds, at most ``max_keys`` of them (oldest dropped first).

    Only successful verifications are kept: an unknown token is looked up (and counted as a failure) every
    time. A revoked key therefore stops working within ``ttl_s`` in every API process; ``ttl_s=0`` turns the
    cache off. Tokens are kept by their SHA-256, not as text.
    """

    def __init__(self, *, ttl_s: float, max_keys: int) -> None:
        self._ttl = ttl_s
        self._max = max_keys
        self._keys: OrderedDict[bytes, tuple[float, ApiKey]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _digest(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    def get(self, token: str) -> ApiKey | None:
        """The key ``token`` was verified as, if that was less than ``ttl_s`` ago."""
        if self._ttl <= 0:
            return None
        digest = self._digest(token)
        with self._lock:
            entry = self._keys.get(digest)
            if entry is None:
                return None
            if time.monotonic() >= entry[0]:
                del self._keys[digest]
                return None
            return entry[1]

    def put(self, token: str, key: ApiKey) -> None:
        """Remember that ``token`` was just verified as ``key``."""
        if self._ttl <= 0:
            return
        digest = self._digest(token)
        with self._lock:
            self._keys[digest] = (time.monotonic() + self._ttl, key)
            self._keys.move_to_end(digest)
            while len(self._keys) > self._max:
                self._keys.popitem(last=False)

    def __len__(self) -> int:
        return len(self._keys)
