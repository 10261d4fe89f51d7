"""How the service configures each worker slot."""

from __future__ import annotations

from ingest.service import slot_settings
from kipsense.settings import IngestSettings


def test_a_worker_running_alone_subscribes_directly_several_share() -> None:
    settings = IngestSettings(share_group="g")
    assert slot_settings(settings, 0, workers=1).shared is False
    assert all(slot_settings(settings, slot, workers=3).shared for slot in range(3))
    assert slot_settings(settings, 2).shared is True  # a slot started on its own keeps the configured setting
