"""Command encoders: a command's name and value to the bytes a device is sent. Pure code, no I/O.

The mirror of the payload decoders, declared as data beside them: a payload profile (or a device
without one) holds `commands`, an object of encodings by command name (docs/commands.md):

- `{"kind": "json", "fields": [{"path": "light.level", "scale": 0.01}]}`: a JSON object built
  member by member; each field takes the command's value (or a `member` of an object value, or a
  `const`) to a dotted `path`. Without `fields`, `{name: value}`.
- `{"kind": "bytes", "length": 2, "fields": [{"offset": 0, "type": "u8", "const": 1},
  {"offset": 1, "type": "u8", "scale": 0.01}]}`: a fixed LoRaWAN frame, field by field as in the
  `bytes` decoder (`type`, `endian`, `mask`, `shift`).

A field's `scale` and `add` are declared as a decoder declares them (device number * scale + add =
the value), so an encoder field is its decoder field: the encoder sends (value - add) / scale,
rounded for integer types. An encoding may name its LoRaWAN `fPort` and `confirmed`, and
`confirmBy`: the attribute whose next reading confirms the command when it shows the value.

A device whose profile declares no commands takes any command as `{name: value}` in JSON.
`build_commands` refuses a declaration that cannot work (ProfileError); an encoder raises only
EncodeError, whatever value it is given.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from smartby.ingest.decoders.byte_layout import MAX_LENGTH, TYPES
from smartby.ingest.decoders.json_fields import attribute_name
from smartby.ingest.decoders.reading import ProfileError
from smartby.ngsild.entity import check_name
from smartby.ngsild.errors import NgsiLdError

MAX_COMMANDS = 100
"""Command encodings one profile may declare."""
ENCODING_MEMBERS = frozenset({"kind", "fields", "length", "fPort", "confirmed", "confirmBy"})
FIELD_MEMBERS = frozenset(
    {"path", "member", "const", "scale", "add", "offset", "type", "endian", "mask", "shift"}
)
_MISSING = object()


class EncodeError(ValueError):
    """The command's value does not fit the device's encoding."""


@dataclass(frozen=True)
class Encoded:
    """What goes to the device: the bytes, and for LoRaWAN the port and whether to confirm."""

    payload: bytes
    f_port: int | None
    confirmed: bool
    confirm_by: str | None


def command_name(name: Any, where: str = "name") -> str:
    """A command's name: an attribute name (its `<name>_status` and `<name>_info` are attributes too)."""
    try:
        return check_name(name)
    except NgsiLdError as error:
        raise ProfileError(f"{where}: {error.detail}") from None


def _number(value: Any, what: str, *, zero: bool = True) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or (value == 0 and not zero)
    ):
        raise ProfileError(f"{what} must be a finite number" + ("" if zero else ", not 0"))
    return float(value)


@dataclass(frozen=True)
class _Source:
    """Where a field's value comes from: the command's value, a member of it, or a constant."""

    member: tuple[str, ...] | None
    const: Any
    scale: float | None
    add: float | None

    @classmethod
    def of(cls, field: Mapping[str, Any], where: str) -> _Source:
        member = field.get("member")
        if member is not None and (not isinstance(member, str) or not member):
            raise ProfileError(f"{where}: member must be a dotted member name")
        return cls(
            None if member is None else tuple(member.split(".")),
            field.get("const", _MISSING),
            _number(field.get("scale"), f"{where}: scale", zero=False),
            _number(field.get("add"), f"{where}: add"),
        )

    def take(self, value: Any, what: str) -> Any:
        if self.const is not _MISSING:
            return self.const
        if self.member is not None:
            for step in self.member:
                if not isinstance(value, dict) or step not in value:
                    raise EncodeError(f"{what}: the value has no member {'.'.join(self.member)}")
                value = value[step]
        if self.scale is None and self.add is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise EncodeError(f"{what}: {value!r} is not a number")
        result = (float(value) - (self.add or 0.0)) / (self.scale or 1.0)
        result = round(result, 9)
        return int(result) if result.is_integer() else result


class JsonEncoding:
    def __init__(self, name: str, spec: Mapping[str, Any]) -> None:
        self.name = name
        fields = spec.get("fields")
        self.fields: list[tuple[tuple[str, ...], _Source]] | None = None
        if fields is not None:
            if not isinstance(fields, list) or not fields:
                raise ProfileError(f"command {name}: fields must be a non-empty list")
            self.fields = []
            for number, field in enumerate(fields):
                where = f"command {name}, field {number}"
                if not isinstance(field, dict) or set(field) - FIELD_MEMBERS:
                    raise ProfileError(f"{where} must be an object of {', '.join(sorted(FIELD_MEMBERS))}")
                path = field.get("path", name)
                if not isinstance(path, str) or not path or any(not step for step in path.split(".")):
                    raise ProfileError(f"{where}: path must be a dotted member name")
                self.fields.append((tuple(path.split(".")), _Source.of(field, where)))

    def __call__(self, value: Any) -> bytes:
        if self.fields is None:
            document: Any = {self.name: value}
        else:
            document = {}
            for path, source in self.fields:
                target = document
                for step in path[:-1]:
                    target = target.setdefault(step, {})
                    if not isinstance(target, dict):
                        raise EncodeError(f"command {self.name}: two fields write {'.'.join(path)}")
                target[path[-1]] = source.take(value, f"command {self.name}")
        try:
            return orjson.dumps(document)
        except TypeError as error:
            raise EncodeError(f"command {self.name}: {error}") from None


@dataclass(frozen=True)
class _ByteField:
    offset: int
    kind: str
    layout: struct.Struct
    mask: int | None
    shift: int
    source: _Source


class BytesEncoding:
    def __init__(self, name: str, spec: Mapping[str, Any]) -> None:
        self.name = name
        length = spec.get("length")
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= MAX_LENGTH:
            raise ProfileError(f"command {name}: length must be the frame's size in bytes, 1 to {MAX_LENGTH}")
        self.length = length
        fields = spec.get("fields")
        if not isinstance(fields, list) or not fields:
            raise ProfileError(f"command {name}: fields must be a non-empty list")
        self.fields = [self._field(number, field) for number, field in enumerate(fields)]

    def _field(self, number: int, field: Any) -> _ByteField:
        where = f"command {self.name}, field {number}"
        if not isinstance(field, dict) or set(field) - FIELD_MEMBERS:
            raise ProfileError(f"{where} must be an object of {', '.join(sorted(FIELD_MEMBERS))}")
        kind = field.get("type")
        if kind not in TYPES:
            raise ProfileError(f"{where}: type must be one of {', '.join(TYPES)}")
        code, size = TYPES[kind]
        offset = field.get("offset")
        if (
            isinstance(offset, bool)
            or not isinstance(offset, int)
            or offset < 0
            or offset + size > self.length
        ):
            raise ProfileError(f"{where}: offset must put the field's {size} bytes inside the frame")
        endian = field.get("endian", "big")
        if endian not in ("big", "little"):
            raise ProfileError(f"{where}: endian must be big or little")
        mask, shift = field.get("mask"), field.get("shift", 0)
        if mask is not None and (isinstance(mask, bool) or not isinstance(mask, int) or mask <= 0):
            raise ProfileError(f"{where}: mask must be a positive integer")
        if isinstance(shift, bool) or not isinstance(shift, int) or not 0 <= shift < size * 8:
            raise ProfileError(f"{where}: shift must be 0 to {size * 8 - 1}")
        if kind == "f32" and (mask is not None or shift):
            raise ProfileError(f"{where}: mask and shift apply to integer fields only")
        if kind == "bits" and mask is None:
            raise ProfileError(f"{where}: a bits field needs a mask")
        if code.islower() and (mask is not None or shift):
            raise ProfileError(f"{where}: mask and shift apply to unsigned fields only")
        layout = struct.Struct((">" if endian == "big" else "<") + code)
        return _ByteField(offset, kind, layout, mask, shift, _Source.of(field, where))

    def __call__(self, value: Any) -> bytes:
        frame = bytearray(self.length)
        what = f"command {self.name}"
        for field in self.fields:
            raw = field.source.take(value, what)
            if field.kind == "f32":
                if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
                    raise EncodeError(f"{what}: {raw!r} is not a number")
                try:
                    field.layout.pack_into(frame, field.offset, float(raw))
                except (struct.error, OverflowError):
                    raise EncodeError(f"{what}: {raw!r} does not fit a 32-bit float") from None
                continue
            if field.kind == "bool":
                if not isinstance(raw, bool):
                    raise EncodeError(f"{what}: {raw!r} is not true or false")
                raw = int(raw)
            elif isinstance(raw, float) and math.isfinite(raw):
                raw = round(raw)
            if isinstance(raw, bool) or not isinstance(raw, int):
                raise EncodeError(f"{what}: {raw!r} is not a number")
            if field.mask is not None:
                if raw & ~field.mask:
                    raise EncodeError(f"{what}: {raw} does not fit the mask {field.mask:#x}")
                size = field.layout.size
                current = int.from_bytes(frame[field.offset : field.offset + size], _order(field))
                raw = current | raw << field.shift
            elif field.shift:
                raw <<= field.shift
            try:
                field.layout.pack_into(frame, field.offset, raw)
            except struct.error:
                raise EncodeError(f"{what}: {raw} does not fit a {field.kind}") from None
        return bytes(frame)


def _order(field: _ByteField) -> Literal["big", "little"]:
    return "big" if field.layout.format.startswith(">") else "little"


@dataclass(frozen=True)
class CommandEncoding:
    """One command's encoder and LoRaWAN particulars."""

    encode: JsonEncoding | BytesEncoding
    f_port: int | None
    confirmed: bool
    confirm_by: str | None

    def __call__(self, value: Any) -> Encoded:
        return Encoded(self.encode(value), self.f_port, self.confirmed, self.confirm_by)


def build_encoding(name: str, spec: Any) -> CommandEncoding:
    if not isinstance(spec, Mapping):
        raise ProfileError(f"command {name}: an encoding is an object with a kind")
    unknown = set(spec) - ENCODING_MEMBERS
    if unknown:
        raise ProfileError(f"command {name}: unknown members {', '.join(sorted(unknown))}")
    kind = spec.get("kind", "json")
    encode: JsonEncoding | BytesEncoding
    if kind == "json":
        encode = JsonEncoding(name, spec)
    elif kind == "bytes":
        encode = BytesEncoding(name, spec)
    else:
        raise ProfileError(f"command {name}: kind must be json or bytes, not {kind!r}")
    f_port = spec.get("fPort")
    if f_port is not None and (
        isinstance(f_port, bool) or not isinstance(f_port, int) or not 1 <= f_port <= 223
    ):
        raise ProfileError(f"command {name}: fPort must be 1 to 223")
    confirmed = spec.get("confirmed", False)
    if not isinstance(confirmed, bool):
        raise ProfileError(f"command {name}: confirmed must be true or false")
    confirm_by = spec.get("confirmBy")
    if confirm_by is not None:
        confirm_by = attribute_name(confirm_by, f"command {name}: confirmBy")
    return CommandEncoding(encode, f_port, confirmed, confirm_by)


class CommandEncoder:
    """A device's command encodings, by name; the default JSON `{name: value}` when it declares none."""

    def __init__(self, spec: Any) -> None:
        if spec is not None and (not isinstance(spec, Mapping) or len(spec) > MAX_COMMANDS):
            raise ProfileError(
                f"commands must be an object of at most {MAX_COMMANDS} encodings by command name"
            )
        self.declared = spec is not None
        self.encodings = {
            command_name(name, "commands"): build_encoding(name, encoding)
            for name, encoding in (spec or {}).items()
        }

    def __call__(self, name: str, value: Any) -> Encoded:
        encoding = self.encodings.get(name)
        if encoding is None:
            if self.declared:
                known = ", ".join(sorted(self.encodings)) or "none"
                raise EncodeError(f"the device's profile has no command {name!r} (it has: {known})")
            encoding = CommandEncoding(JsonEncoding(name, {}), None, False, None)
        return encoding(value)


def build_commands(spec: Any) -> CommandEncoder:
    """The encoder a `commands` declaration describes; ProfileError says what is wrong with it."""
    return CommandEncoder(spec)
