"""The one error type every decoder raises for input it refuses, with a machine-readable reason."""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    """Why a message went to quarantine. Stored as text in the quarantine table; keep values stable."""

    NOT_UTF8 = "not_utf8"
    NOT_JSON = "not_json"
    TOO_DEEP = "too_deep"
    DUPLICATE_KEY = "duplicate_key"
    NON_FINITE = "non_finite"
    WRONG_TYPE = "wrong_type"
    MISSING_FIELD = "missing_field"
    UNKNOWN_FIELD = "unknown_field"
    OUT_OF_RANGE = "out_of_range"
    BAD_TIMESTAMP = "bad_timestamp"
    FUTURE_TIMESTAMP = "future_timestamp"
    TOO_OLD = "too_old"
    DEVICE_MISMATCH = "device_mismatch"
    UNKNOWN_DEVICE = "unknown_device"
    RETIRED_DEVICE = "retired_device"
    UNKNOWN_FORMAT = "unknown_format"
    BAD_TOPIC = "bad_topic"
    OVERSIZED = "oversized"
    EMPTY = "empty"
    BAD_PROTOBUF = "bad_protobuf"
    KIND_MISMATCH = "kind_mismatch"
    BAD_UNIT = "bad_unit"
    BAD_NAME = "bad_name"
    UNSUPPORTED_VERSION = "unsupported_version"
    UNKNOWN_ALIAS = "unknown_alias"


class DecodeError(ValueError):
    """A payload that cannot become readings. ``reason`` is machine-readable, ``detail`` is for people."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(f"{reason.value}: {detail}")
        self.reason = reason
        self.detail = detail
