"""The `json` decoder: attributes picked out of a JSON payload by path, scaled and converted.

Paths are dotted member names with list indices (`data.sensors[0].temp`, an optional leading `$.`).
That covers what devices, ChirpStack codecs and The Things Stack formatters send (objects of
measurements, sometimes an array of them) without a dependency; filters, wildcards and recursive
descent (what jsonpath-ng adds) would make one payload yield a varying number of readings of one
attribute, which a device profile has no use for.

A profile without `fields` takes every top-level member of a JSON object as an attribute of the
same name (members that are not attribute names, or are reserved, are left out).

A payload that is a JSON array holds several readings of the device, each element decoded as if it
were the payload (its own `observedAt`): what a gateway or a device that buffers sends, one message
for many readings. It is decoded whole or not at all: one bad element dead-letters the payload.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from smartby.ingest.decoders.reading import DecodeError, ProfileError, Reading, finite
from smartby.ingest.decoders.units import Scaling
from smartby.ingest.local_time import AmbiguousTime, NonexistentTime, to_utc
from smartby.ngsild.entity import check_name
from smartby.ngsild.errors import NgsiLdError
from smartby.ngsild.timestamps import format_datetime

_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
RESERVED = frozenset(
    {"id", "type", "@context", "@id", "@type", "scope", "location", "observationSpace", "operationSpace"}
    | {"createdAt", "modifiedAt", "deletedAt", "observedAt"}
)
"""Members of an entity that a device's flat JSON cannot set as attributes."""
TIME_FORMATS = ("iso8601", "epoch", "epoch_ms")
MAX_ARRAY = 1000
"""Readings one payload may hold as a JSON array (a gateway's, or a device's buffered ones)."""


def parse_path(path: Any, where: str) -> tuple[str | int, ...]:
    if not isinstance(path, str) or not path:
        raise ProfileError(f"{where}: path must be a non-empty string")
    text = path.removeprefix("$").removeprefix(".")
    steps: list[str | int] = []
    position = 0
    while position < len(text):
        if text[position] == "." and steps:
            position += 1
        match = _STEP.match(text, position)
        if match is None:
            raise ProfileError(f"{where}: cannot read path {path!r} at character {position}")
        steps.append(match.group(1) if match.group(1) is not None else int(match.group(2)))
        position = match.end()
    if not steps:
        raise ProfileError(f"{where}: path {path!r} names nothing")
    return tuple(steps)


_MISSING = object()


def follow(document: Any, steps: tuple[str | int, ...]) -> Any:
    """The value at a path, or _MISSING."""
    for step in steps:
        if isinstance(step, int):
            if not isinstance(document, list) or step >= len(document):
                return _MISSING
        elif not isinstance(document, dict) or step not in document:
            return _MISSING
        document = document[step]
    return document


def attribute_name(name: Any, where: str) -> str:
    try:
        checked = check_name(name)
    except NgsiLdError as error:
        raise ProfileError(f"{where}: {error.detail}") from None
    if checked in RESERVED:
        raise ProfileError(f"{where}: {checked} is not an attribute a device can report")
    return checked


@dataclass(frozen=True)
class TimeSource:
    """Where a reading's observedAt comes from: a path and its format; naive times are in `zone`."""

    path: tuple[str | int, ...]
    format: str
    zone: ZoneInfo

    @classmethod
    def of(cls, spec: Any, where: str) -> TimeSource:
        if isinstance(spec, str):
            spec = {"path": spec}
        if not isinstance(spec, dict):
            raise ProfileError(f"{where}: observedAt must be a path or an object with path and format")
        time_format = spec.get("format", "iso8601")
        if not isinstance(time_format, str) or not (time_format in TIME_FORMATS or "%" in time_format):
            raise ProfileError(f"{where}: format is one of {', '.join(TIME_FORMATS)} or a strftime pattern")
        try:
            zone = ZoneInfo(str(spec.get("zone", "UTC")))
        except (ZoneInfoNotFoundError, ValueError):
            raise ProfileError(f"{where}: unknown time zone {spec.get('zone')!r}") from None
        return cls(parse_path(spec.get("path"), where), time_format, zone)

    def read(self, document: Any) -> str | None:
        raw = follow(document, self.path)
        if raw is _MISSING or raw is None:
            return None
        try:
            if self.format in ("epoch", "epoch_ms"):
                if isinstance(raw, bool) or not isinstance(raw, int | float):
                    raise DecodeError(f"observedAt {raw!r} is not a number of seconds")
                seconds = raw / 1000 if self.format == "epoch_ms" else raw
                moment = datetime.fromtimestamp(seconds, UTC)
            elif not isinstance(raw, str):
                raise DecodeError(f"observedAt {raw!r} is not a string")
            elif self.format == "iso8601":
                moment = datetime.fromisoformat(raw.replace("Z", "+00:00") if raw.endswith("Z") else raw)
            else:
                moment = datetime.strptime(raw, self.format)
            return format_datetime(to_utc(moment, self.zone, "earlier"))
        except (ValueError, OverflowError, OSError, AmbiguousTime, NonexistentTime) as error:
            if isinstance(error, DecodeError):
                raise
            raise DecodeError(f"observedAt {raw!r} is not a time in {self.format}: {error}") from None


@dataclass(frozen=True)
class JsonField:
    attribute: str
    path: tuple[str | int, ...]
    scaling: Scaling
    required: bool


class JsonDecoder:
    """A JSON payload to readings (see the module docstring)."""

    def __init__(self, spec: Mapping[str, Any]) -> None:
        fields = spec.get("fields")
        self.fields: list[JsonField] | None = None
        if fields is not None:
            if not isinstance(fields, list) or not fields:
                raise ProfileError("fields must be a non-empty list")
            self.fields = []
            for number, field in enumerate(fields):
                where = f"field {number}"
                if not isinstance(field, dict):
                    raise ProfileError(f"{where} must be an object")
                name = attribute_name(field.get("attribute"), where)
                if not isinstance(field.get("required", False), bool):
                    raise ProfileError(f"{where}: required is true or false")
                self.fields.append(
                    JsonField(
                        name,
                        parse_path(field.get("path", name), where),
                        Scaling.of(field, where),
                        field.get("required", False),
                    )
                )
        source = spec.get("observedAt")
        self.time = None if source is None else TimeSource.of(source, "observedAt")

    def __call__(self, payload: bytes, meta: Mapping[str, Any]) -> list[Reading]:
        document = meta["decoded"] if meta.get("decoded") is not None else _parse(payload)
        if not isinstance(document, list):
            return self._one(document)
        if not document:
            raise DecodeError("the payload is an empty array of readings")
        if len(document) > MAX_ARRAY:
            raise DecodeError(f"the payload is an array of {len(document)} readings; {MAX_ARRAY} at most")
        readings: list[Reading] = []
        for number, item in enumerate(document):
            try:
                readings.extend(self._one(item))
            except DecodeError as error:
                raise DecodeError(f"reading {number} of the array: {error}") from None
        return readings

    def _one(self, document: Any) -> list[Reading]:
        observed = self.time.read(document) if self.time is not None else None
        if self.fields is None:
            return _flat(document, observed)
        readings = []
        for field in self.fields:
            raw = follow(document, field.path)
            if raw is _MISSING or raw is None:
                if field.required:
                    raise DecodeError(f"{field.attribute}: nothing at the path {_text(field.path)}")
                continue
            value = field.scaling.apply(finite(raw, field.attribute), field.attribute)
            scaling = field.scaling
            readings.append(Reading(field.attribute, value, scaling.unit_code, observed, scaling.unit_text))
        if not readings:
            raise DecodeError("none of the profile's fields is in the payload")
        return readings


def _parse(payload: bytes) -> Any:
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError as error:
        raise DecodeError(f"the payload is not JSON: {error}") from None


def _flat(document: Any, observed: str | None) -> list[Reading]:
    if not isinstance(document, dict):
        raise DecodeError("the payload is not a JSON object of attribute values")
    readings = []
    for name, value in document.items():
        if value is None or name in RESERVED:
            continue
        try:
            check_name(name)
        except NgsiLdError:
            continue
        readings.append(Reading(name, finite(value, name), None, observed))
    if not readings:
        raise DecodeError("the JSON object holds no attribute values")
    return readings


def _text(path: tuple[str | int, ...]) -> str:
    return "".join(f"[{step}]" if isinstance(step, int) else f".{step}" for step in path).lstrip(".")
