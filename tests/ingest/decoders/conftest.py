"""Shared fixtures of the decoder tests: a fixed receive time and the default time window."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ingest.decoders import TimeWindow

RECEIVED_AT = datetime(2026, 11, 28, 8, 5, tzinfo=UTC)


@pytest.fixture
def received_at() -> datetime:
    return RECEIVED_AT


@pytest.fixture
def window() -> TimeWindow:
    return TimeWindow()
