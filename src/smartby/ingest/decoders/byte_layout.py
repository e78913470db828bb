"""The `bytes` decoder: fixed LoRaWAN frame layouts, declared field by field.

A layout names the frame's `length` (the fewest bytes a valid frame has) and its fields: byte
`offset`, `type` (u8 u16 u32 i8 i16 i32 f32 bool bits), `endian` (big, the LoRaWAN custom, or
little), then `mask` and `shift` to pick bits out of an integer (`bits` is a u8 that needs a mask),
and `scale`, `add`, `convert`, `unitCode`, `unitText` for the value. Every field must lie inside
`length`, checked when the profile is registered, so a frame of the declared length always decodes.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from smartby.ingest.decoders.json_fields import attribute_name
from smartby.ingest.decoders.reading import DecodeError, ProfileError, Reading, finite
from smartby.ingest.decoders.units import Scaling

TYPES: dict[str, tuple[str, int]] = {
    "u8": ("B", 1),
    "u16": ("H", 2),
    "u32": ("I", 4),
    "i8": ("b", 1),
    "i16": ("h", 2),
    "i32": ("i", 4),
    "f32": ("f", 4),
    "bool": ("B", 1),
    "bits": ("B", 1),
}
MAX_LENGTH = 242
"""The largest LoRaWAN application payload (DR with the longest frames in EU868)."""


@dataclass(frozen=True)
class ByteField:
    attribute: str
    offset: int
    kind: str
    layout: struct.Struct
    mask: int | None
    shift: int
    scaling: Scaling


def _whole(value: Any) -> int | None:
    """A whole number as JSON writes one (5 or 5.0), or None."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class ByteLayoutDecoder:
    def __init__(self, spec: Mapping[str, Any]) -> None:
        length = _whole(spec.get("length"))
        if length is None or not 1 <= length <= MAX_LENGTH:
            raise ProfileError(f"length must be the frame's size in bytes, 1 to {MAX_LENGTH}")
        self.length = length
        fields = spec.get("fields")
        if not isinstance(fields, list) or not fields:
            raise ProfileError("fields must be a non-empty list")
        self.fields = [self._field(number, field) for number, field in enumerate(fields)]

    def _field(self, number: int, field: Any) -> ByteField:
        where = f"field {number}"
        if not isinstance(field, dict):
            raise ProfileError(f"{where} must be an object")
        name = attribute_name(field.get("attribute"), where)
        where = f"field {number} ({name})"
        kind = field.get("type")
        if kind not in TYPES:
            raise ProfileError(f"{where}: type must be one of {', '.join(TYPES)}")
        code, size = TYPES[kind]
        offset = _whole(field.get("offset"))
        if offset is None or offset < 0:
            raise ProfileError(f"{where}: offset must be a byte position (0 or more)")
        if offset + size > self.length:
            raise ProfileError(
                f"{where}: bytes {offset}..{offset + size - 1} lie outside the frame of {self.length} bytes"
            )
        endian = field.get("endian", "big")
        if endian not in ("big", "little"):
            raise ProfileError(f"{where}: endian must be big or little")
        mask = _whole(field.get("mask"))
        shift = _whole(field.get("shift", 0))
        if field.get("mask") is not None and (mask is None or mask <= 0):
            raise ProfileError(f"{where}: mask must be a positive integer")
        if shift is None or not 0 <= shift < size * 8:
            raise ProfileError(f"{where}: shift must be 0 to {size * 8 - 1}")
        if kind == "bits" and mask is None:
            raise ProfileError(f"{where}: a bits field needs a mask")
        if kind == "f32" and (mask is not None or shift):
            raise ProfileError(f"{where}: mask and shift apply to integer fields only")
        scaling = Scaling.of(field, where)
        if kind == "bool" and scaling.changes_value:
            raise ProfileError(f"{where}: a bool cannot be scaled or converted")
        layout = struct.Struct((">" if endian == "big" else "<") + code)
        return ByteField(name, offset, kind, layout, mask, shift, scaling)

    def __call__(self, payload: bytes, meta: Mapping[str, Any]) -> list[Reading]:
        if len(payload) < self.length:
            raise DecodeError(f"the frame has {len(payload)} bytes, the layout needs {self.length}")
        readings = []
        for field in self.fields:
            value: Any = field.layout.unpack_from(payload, field.offset)[0]
            if field.kind != "f32":
                value = value >> field.shift
                if field.mask is not None:
                    value &= field.mask
            if field.kind == "bool":
                value = bool(value)
            else:
                value = field.scaling.apply(finite(value, field.attribute), field.attribute)
            readings.append(
                Reading(field.attribute, value, field.scaling.unit_code, unit_text=field.scaling.unit_text)
            )
        return readings
