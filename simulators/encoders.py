"""The payloads a simulated fleet sends, built from generator frames, in the formats a real fleet mixes.

- dust sensors: native JSON (``sensors/<id>/json``), SenML packs (``sensors/<id>/senml``) or Sensor.Community
  airrohr firmware JSON (``sensors/<id>/airrohr``); which one a device speaks is fixed per seed by
  :func:`assign_formats`;
- met stations and cycler channels: native JSON;
- the process line: native JSON (``{"ts", "tags"}``) or Sparkplug B births and data (see :func:`sparkplug_birth`).

Device behaviour recorded in a dust frame becomes message behaviour here: clock skew shifts the stamped time,
readings held during an outage go out as one batch when the device is next present (native JSON and SenML
carry timestamps; the airrohr firmware keeps no history and sends none, so those readings are lost), and a
duplicate is the same payload sent twice. airrohr messages carry no time at all: the receiver stamps them
with its receive time and flags them ``time_estimated``.

Values are rounded as a device would print them (see ``DECIMALS``), so a decoded payload equals the rounded
frame values exactly.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final

import numpy as np
from google.protobuf.message import DecodeError as ProtobufDecodeError  # type: ignore[import-untyped,unused-ignore]
from numpy.typing import NDArray

from ingest.decoders.sparkplug import REBIRTH_METRIC, DataType, Metric, encode_payload
from ingest.decoders.sparkplug.schema import payload_class
from simulators.cycler.frame import FLOAT_FIELDS, CyclerFrame
from simulators.frames import DustFrame
from simulators.process.frame import ProcessFrame


class Format(StrEnum):
    """Payload formats of ``sensors/<id>/<format>`` topics."""

    JSON = "json"
    SENML = "senml"
    AIRROHR = "airrohr"


#: Decimals each dust field is sent with.
DECIMALS: Final[dict[str, int]] = {
    "pm1": 2,
    "pm25": 2,
    "pm10": 2,
    "temperature": 2,
    "rh": 2,
    "lat": 6,
    "lon": 6,
    "battery": 1,
    "rssi": 0,
}
MET_DECIMALS: Final[dict[str, int]] = {"wind_speed": 2, "wind_dir": 1, "temperature": 2, "rh": 2}
_SENML_UNITS: Final[dict[str, str]] = {
    "pm1": "ug/m3",
    "pm25": "ug/m3",
    "pm10": "ug/m3",
    "temperature": "Cel",
    "rh": "%RH",
    "lat": "lat",
    "lon": "lon",
    "battery": "%EL",
    "rssi": "dBm",
}
#: airrohr value types of a PMS5003 + BME280 station (the PMS reports PM1 too); no GPS on fixed stations.
_AIRROHR_TYPES: Final[dict[str, str]] = {
    "pm1": "PMS_P0",
    "pm10": "PMS_P1",
    "pm25": "PMS_P2",
    "temperature": "BME280_temperature",
    "rh": "BME280_humidity",
    "rssi": "signal",
}
#: Messages a device sends per native JSON back-fill batch (well under the broker's and decoder's limits).
BATCH_READINGS: Final = 500

#: One outgoing message: (device id, format / topic suffix, payload).
Message = tuple[str, str, bytes]


@dataclass(frozen=True, slots=True)
class FormatMix:
    """Shares of fixed dust sensors speaking each format; mobile units always send native JSON (GPS per reading)."""

    senml: float = 0.15
    airrohr: float = 0.15

    def __post_init__(self) -> None:
        if self.senml < 0 or self.airrohr < 0 or self.senml + self.airrohr > 1:
            raise ValueError("format shares must be >= 0 and add up to at most 1")


def assign_formats(
    device_ids: Sequence[str], *, seed: int, mix: FormatMix | None = None, mobile: Sequence[str] = ()
) -> dict[str, Format]:
    """device id -> format, the same for the same seed and ids (one uniform draw per device, in order)."""
    mix = mix or FormatMix()
    draws = np.random.default_rng([seed, 0x5E41]).random(len(device_ids))
    moving = set(mobile)
    out: dict[str, Format] = {}
    for device_id, u in zip(device_ids, draws.tolist(), strict=True):
        if device_id in moving or u >= mix.senml + mix.airrohr:
            out[device_id] = Format.JSON
        else:
            out[device_id] = Format.SENML if u < mix.senml else Format.AIRROHR
    return out


def iso_ms(ms: int) -> str:
    """Unix milliseconds as ISO 8601 UTC with milliseconds (``2026-11-28T08:00:00.000Z``)."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _rounded(arrays: Mapping[str, NDArray[np.float64]], decimals: Mapping[str, int]) -> dict[str, list[list[Any]]]:
    """Each field rounded to its decimals as nested lists, NaN/inf as None (not sent)."""
    out: dict[str, list[list[Any]]] = {}
    for name, places in decimals.items():
        arr = np.round(arrays[name], places)
        listed: list[list[Any]] = np.where(np.isfinite(arr), arr, np.nan).tolist()
        out[name] = [[None if v != v else v for v in row] for row in listed]  # NaN -> None
    return out


def stamped_ms(frame: DustFrame) -> NDArray[np.int64]:
    """(T, N) times each dust device stamps its readings with: the true time plus its clock error."""
    times = frame.times.astype("datetime64[ms]").astype(np.int64)[:, None]
    if frame.clock_offset_s is None:
        return np.broadcast_to(times, frame.pm10.shape).copy()
    return times + np.round(frame.clock_offset_s * 1000.0).astype(np.int64)


# -- one reading in each format ----------------------------------------------------------------------------
def native_reading(values: Mapping[str, Any], ms: int) -> dict[str, Any]:
    """A native JSON reading object (fields that were not measured are left out)."""
    out: dict[str, Any] = {"ts": iso_ms(ms)}
    out.update((k, v) for k, v in values.items() if v is not None)
    return out


def senml_pack(device_id: str, readings: Sequence[tuple[int, Mapping[str, float | None]]]) -> bytes:
    """One SenML pack of one or more readings: base name and base time once, then ``t`` relative to it."""
    base_ms = readings[0][0]
    pack: list[dict[str, Any]] = []
    for ms, values in readings:
        for name, value in values.items():
            if value is None:
                continue
            record: dict[str, Any] = {"n": name, "u": _SENML_UNITS[name], "v": value}
            if not pack:
                record = {"bn": f"urn:dev:kipsense:{device_id}:", "bt": base_ms / 1000, **record}
            elif ms != base_ms:
                record["t"] = (ms - base_ms) / 1000
            pack.append(record)
    return json.dumps(pack).encode()


def airrohr_message(chip_id: int, values: Mapping[str, float | None]) -> bytes:
    """An airrohr firmware message: every value a decimal string, no timestamp."""
    entries = []
    for name, value_type in _AIRROHR_TYPES.items():
        value = values.get(name)
        if value is not None:
            text = str(int(value)) if name == "rssi" else f"{value:.{DECIMALS[name]}f}"
            entries.append({"value_type": value_type, "value": text})
    return json.dumps(
        {"esp8266id": str(chip_id), "software_version": "NRZ-2020-133", "sensordatavalues": entries}
    ).encode()


def chip_id(device_id: str, seed: int) -> int:
    """A stable pretend ESP8266 chip id for an airrohr device."""
    digest = np.random.default_rng([seed, *device_id.encode()]).integers(1_000_000, 16_000_000)
    return int(digest)


# -- frames -> messages ------------------------------------------------------------------------------------
class DustEncoder:
    """Turns dust frames into messages, one device at a time in its own format.

    Stateful across frames: readings a device held during an outage are sent when it is next present, even
    if that is in a later frame.
    """

    def __init__(self, formats: Mapping[str, Format], *, seed: int = 0) -> None:
        self.formats = dict(formats)
        self._chips = {d: chip_id(d, seed) for d, f in self.formats.items() if f is Format.AIRROHR}
        self._held: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self._seq: dict[str, int] = {}

    def rows(self, frame: DustFrame) -> Iterator[list[Message]]:
        """For each time step of ``frame``, the messages the devices send at that step."""
        values = _rounded({name: getattr(frame, name) for name in DECIMALS}, DECIMALS)
        stamps = stamped_ms(frame).tolist()
        shape = frame.pm10.shape
        backfill = frame.backfill if frame.backfill is not None else np.zeros(shape, dtype=bool)
        duplicate = frame.duplicate if frame.duplicate is not None else np.zeros(shape, dtype=bool)
        present, held, dup = frame.present.tolist(), backfill.tolist(), duplicate.tolist()
        fmts = [self.formats.get(d, Format.JSON) for d in frame.device_ids]
        for t in range(shape[0]):
            out: list[Message] = []
            for n, device_id in enumerate(frame.device_ids):
                if not (present[t][n] or held[t][n]):
                    continue
                reading: dict[str, Any] = {name: values[name][t][n] for name in DECIMALS}
                if fmts[n] is Format.JSON:  # only the native format numbers its readings
                    reading["seq"] = self._seq[device_id] = self._seq.get(device_id, -1) + 1
                if held[t][n]:
                    if fmts[n] is not Format.AIRROHR:
                        self._held.setdefault(device_id, []).append((stamps[t][n], reading))
                    continue
                stored = self._held.pop(device_id, None)
                if stored:
                    out.extend(self._batch(device_id, fmts[n], stored))
                msg = self._single(device_id, fmts[n], stamps[t][n], reading)
                out.append(msg)
                if dup[t][n]:
                    out.append(msg)
            yield out

    def messages(self, frame: DustFrame) -> list[Message]:
        """Every message of ``frame`` in sending order."""
        return [m for row in self.rows(frame) for m in row]

    def _single(self, device_id: str, fmt: Format, ms: int, reading: dict[str, Any]) -> Message:
        if fmt is Format.SENML:
            return device_id, fmt.value, senml_pack(device_id, [(ms, reading)])
        if fmt is Format.AIRROHR:
            return device_id, fmt.value, airrohr_message(self._chips[device_id], reading)
        return device_id, fmt.value, json.dumps(native_reading(reading, ms)).encode()

    @staticmethod
    def _batch(device_id: str, fmt: Format, stored: list[tuple[int, dict[str, Any]]]) -> Iterator[Message]:
        for i in range(0, len(stored), BATCH_READINGS):
            part = stored[i : i + BATCH_READINGS]
            if fmt is Format.SENML:
                yield device_id, fmt.value, senml_pack(device_id, part)
            else:
                doc = {"device": device_id, "readings": [native_reading(v, ms) for ms, v in part]}
                yield device_id, Format.JSON.value, json.dumps(doc).encode()


def met_rows(frame: DustFrame) -> Iterator[list[Message]]:
    """For each time step, the native JSON messages of the frame's met stations."""
    met = frame.met
    arrays = {"wind_speed": met.wind_speed, "wind_dir": met.wind_dir % 360.0, "temperature": met.temperature}
    arrays["rh"] = met.rh
    values = _rounded(arrays, MET_DECIMALS)
    times = frame.times.astype("datetime64[ms]").astype(np.int64).tolist()
    for t, ms in enumerate(times):
        yield [
            (device_id, "json", json.dumps(native_reading({k: values[k][t][m] for k in MET_DECIMALS}, ms)).encode())
            for m, device_id in enumerate(met.device_ids)
        ]


def cycler_rows(frame: CyclerFrame) -> Iterator[list[Message]]:
    """For each time step, one native JSON message per channel that sent a sample (BEEP field names)."""
    times = frame.times.astype("datetime64[ms]").astype(np.int64).tolist()
    floats = {name: frame.column(name).tolist() for name in FLOAT_FIELDS}
    cyc, stp, typ = frame.cycle_index.tolist(), frame.step_index.tolist(), frame.step_type.tolist()
    present = frame.present.tolist()
    for t, ms in enumerate(times):
        out: list[Message] = []
        for n, device_id in enumerate(frame.device_ids):
            if not present[t][n]:
                continue
            doc: dict[str, Any] = {
                "ts": iso_ms(ms),
                "cycle_index": cyc[t][n],
                "step_index": stp[t][n],
                "step_type": frame.step_type_names[typ[t][n]],
            }
            doc.update((name, col[t][n]) for name, col in floats.items() if col[t][n] == col[t][n])
            out.append((device_id, "json", json.dumps(doc).encode()))
        yield out


def process_json_rows(frame: ProcessFrame) -> Iterator[list[Message]]:
    """For each time step, the line's native JSON message ``{"ts", "tags"}`` (no message when nothing was sent)."""
    times = frame.times.astype("datetime64[ms]").astype(np.int64).tolist()
    for ms, row in zip(times, frame.values.tolist(), strict=True):
        tags = {tag: v for tag, v in zip(frame.tags, row, strict=True) if v == v}
        yield [(frame.device_id, "json", json.dumps({"ts": iso_ms(ms), "tags": tags}).encode())] if tags else []


# -- Sparkplug B -------------------------------------------------------------------------------------------
def _value(v: float) -> float | None:
    return v if v == v else None  # NaN -> null metric


def sparkplug_birth(tags: Sequence[str], values: Sequence[float], *, timestamp_ms: int, bd_seq: int) -> bytes:
    """NBIRTH: every tag by name with alias ``index + 1`` and its current value (seq 0), plus ``bdSeq``."""
    pairs = enumerate(zip(tags, values, strict=True))
    metrics = [Metric(tag, _value(v), DataType.DOUBLE, alias=i + 1) for i, (tag, v) in pairs]
    metrics.append(Metric("bdSeq", bd_seq, DataType.UINT64))
    return encode_payload(metrics, timestamp_ms=timestamp_ms, seq=0)


def sparkplug_data(values: Sequence[float], *, timestamp_ms: int, seq: int) -> bytes:
    """NDATA: the sent values by alias only (a NaN is a value that was not sent and is left out)."""
    metrics = [Metric(None, v, alias=i + 1) for i, v in enumerate(values) if v == v]
    return encode_payload(metrics, timestamp_ms=timestamp_ms, seq=seq)


def is_rebirth_request(payload: bytes) -> bool:
    """True for an NCMD payload carrying ``Node Control/Rebirth`` = true (anything unreadable is not one)."""
    try:
        message = payload_class().FromString(payload)
    except ProtobufDecodeError:
        return False
    return any(
        m.name == REBIRTH_METRIC and m.WhichOneof("value") == "boolean_value" and m.boolean_value
        for m in message.metrics
    )


def sparkplug_death(bd_seq: int) -> bytes:
    """NDEATH (the MQTT will): only ``bdSeq``, matching the birth it ends."""
    return encode_payload([Metric("bdSeq", bd_seq, DataType.UINT64)])
