"""CSV records to readings, as pure functions of the text: what a row holds, or why it cannot be
read (a `RowError` naming the line). No I/O here; `csv_import` feeds it a file."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import quote

from smartby.ingest.local_time import AmbiguousTime, NonexistentTime, to_utc
from smartby.ingest.mapping import AttributeColumn, Mapping, MappingError
from smartby.ngsild.entity import Instance, is_uri
from smartby.ngsild.timestamps import from_micros, micros_of

_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_WHOLE = re.compile(r"[+-]?[0-9]{1,15}")
_INTEGER_LIMIT = 2**63
_TRUE = frozenset({"true", "t", "yes", "y", "ja", "j", "1", "on"})
_FALSE = frozenset({"false", "f", "no", "n", "nej", "0", "off"})
_ID_SAFE = "-._~!$&'()*+,;=:@"
"""Characters kept as they are when a column value goes into an entity id; others are %-encoded."""
_KNOWN_IDS = 100_000
"""Entity ids remembered by the values they were made of (most files hold few entities)."""


class RowError(ValueError):
    """A row that cannot be read: its line in the file and the reason."""

    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Reading:
    """What one row says: an entity, a time (microseconds since the epoch, UTC) and its values
    as attribute instances keyed by attribute name."""

    entity_id: str
    at: int
    attributes: dict[str, Instance]


def csv_records(lines: Iterable[str], delimiter: str) -> Iterator[tuple[int, list[str] | str]]:
    """Each record of a CSV text with the line it starts on: its fields, or the reason the csv
    module could not split it. Blank lines are skipped."""
    reader = csv.reader(lines, delimiter=delimiter)
    previous = 0
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            yield previous + 1, f"not readable as CSV: {error}"
            if reader.line_num == previous:
                return
            previous = reader.line_num
            continue
        line = previous + 1
        previous = reader.line_num
        if fields:
            yield line, fields


def parse_number(text: str, decimal: str) -> int | float:
    """A number as a CSV writes it: `12`, `-3.5`, `1e3`, or with a decimal comma `3,88`. Whole
    numbers stay integers; NaN, infinities and thousands separators are refused."""
    written = text
    if decimal == ",":
        if "." in text:
            raise ValueError(f"{written!r} is not a number with a decimal comma")
        text = text.replace(",", ".")
    if not _NUMBER.fullmatch(text):
        raise ValueError(f"{written!r} is not a number")
    if _WHOLE.fullmatch(text):
        return int(text)
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{written!r} is out of range")
    return value


def parse_integer(text: str, decimal: str) -> int:
    number = parse_number(text, decimal)
    if isinstance(number, float):
        if not number.is_integer():
            raise ValueError(f"{text!r} is not a whole number")
        number = int(number)
    if not -_INTEGER_LIMIT < number < _INTEGER_LIMIT:
        raise ValueError(f"{text!r} is out of range")
    return number


def parse_boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(f"{text!r} is not a boolean (true/false, yes/no, ja/nej, 1/0)")


def _converter(attribute: AttributeColumn, decimal: str) -> Callable[[str], Any]:
    if attribute.type == "integer":
        return lambda text: parse_integer(text, decimal)
    if attribute.type == "boolean":
        return parse_boolean
    if attribute.type == "string":
        return str
    scale = attribute.scale
    if scale is None:
        return lambda text: parse_number(text, decimal)

    def scaled(text: str) -> float:
        value = parse_number(text, decimal) * scale
        if not math.isfinite(value):
            raise ValueError(f"{text!r} times {scale} is out of range")
        return value

    return scaled


def parse_time(text: str, format: str) -> datetime:
    """A date-time in ISO 8601 (`format` "iso") or in a strptime format; naive if it names no zone."""
    if format == "iso":
        return datetime.fromisoformat(text)
    return datetime.strptime(text, format)


class RowParser:
    """Reads the rows of one CSV layout (a mapping and the file's header) into readings."""

    def __init__(self, mapping: Mapping, header: Sequence[str], names: Sequence[str] | None = None) -> None:
        header = [column.strip() for column in header]
        index: dict[str, int] = {}
        for position, column in enumerate(header):
            index.setdefault(column, position)
        missing = [column for column in mapping.columns() if column not in index]
        if missing:
            raise MappingError(
                f"the file has no column {', '.join(repr(c) for c in missing)} "
                f"(its header: {', '.join(header)}); is the delimiter {mapping.delimiter!r} right?"
            )
        self.header = header
        self.width = len(header)
        template = mapping.id_template
        self._template = template
        self._ids: dict[tuple[str, ...], str] = {}
        self._id_columns = [(index[column], column) for column in template.columns]
        self._filter = [(index[column], frozenset(values)) for column, values in mapping.filter.items()]
        time = mapping.time
        self._local = None if time.column is None else (index[time.column], time.column)
        self._utc = None if time.utc_column is None else (index[time.utc_column], time.utc_column)
        self._format = time.format
        self._utc_format = time.utc_format or time.format
        self._zone = time.zoneinfo
        self._ambiguous = time.ambiguous
        names = names if names is not None else [attribute.name for attribute in mapping.attributes]
        self._attributes = [
            (index[a.column], a.column, name, _converter(a, mapping.decimal), a.unit_code, a.dataset_id)
            for a, name in zip(mapping.attributes, names, strict=True)
        ]

    def parse(self, fields: Sequence[str], line: int) -> Reading | None:
        """The reading of a row, or None when the mapping's filter leaves it out; RowError when it
        cannot be read."""
        if len(fields) != self.width:
            raise RowError(line, self._width_problem(fields))
        for position, allowed in self._filter:
            if fields[position].strip() not in allowed:
                return None
        entity_id = self._entity_id(fields, line)
        at = self._time(fields, line)
        observed = from_micros(at)
        attributes: dict[str, Instance] = {}
        for position, column, name, convert, unit, dataset in self._attributes:
            text = fields[position].strip()
            if not text:
                continue
            try:
                value = convert(text)
            except ValueError as error:
                raise RowError(line, f"{column}: {error}") from None
            instance: Instance = {"type": "Property", "value": value, "observedAt": observed}
            if unit is not None:
                instance["unitCode"] = unit
            if dataset is not None:
                instance["datasetId"] = dataset
            attributes[name] = instance
        if not attributes:
            raise RowError(line, "no value in any attribute column")
        return Reading(entity_id, at, attributes)

    def _width_problem(self, fields: Sequence[str]) -> str:
        said = f"{len(fields)} fields where the header has {self.width}"
        if len(fields) > self.width:
            return f"{said} (a delimiter inside an unquoted value?)"
        lost = [column for position, column in enumerate(self.header) if position >= len(fields)]
        return f"{said}: missing column {', '.join(lost)}"

    def _entity_id(self, fields: Sequence[str], line: int) -> str:
        key = tuple(fields[position] for position, _ in self._id_columns)
        known = self._ids.get(key)
        if known is not None:
            return known
        values = []
        for position, column in self._id_columns:
            text = fields[position].strip()
            if not text:
                raise RowError(line, f"{column} is empty and the entity id needs it")
            values.append(quote(text, safe=_ID_SAFE))
        entity_id = self._template.fill(values)
        if not is_uri(entity_id):
            raise RowError(line, f"{entity_id!r} is not a valid entity id")
        if len(self._ids) < _KNOWN_IDS:
            self._ids[key] = entity_id
        return entity_id

    def _time(self, fields: Sequence[str], line: int) -> int:
        if self._utc is not None:
            position, column = self._utc
            text = fields[position].strip()
            if text or self._local is None:
                return self._moment(text, column, self._utc_format, UTC, line)
        assert self._local is not None
        position, column = self._local
        return self._moment(fields[position].strip(), column, self._format, self._zone, line)

    def _moment(self, text: str, column: str, format: str, zone: tzinfo, line: int) -> int:
        if not text:
            raise RowError(line, f"{column}: no time")
        try:
            moment = parse_time(text, format)
        except ValueError:
            raise RowError(line, f"{column}: {text!r} is not a time in the format {format}") from None
        try:
            return micros_of(to_utc(moment, zone, self._ambiguous))
        except (AmbiguousTime, NonexistentTime) as error:
            raise RowError(line, f"{column}: {error}") from None
        except OverflowError:
            raise RowError(line, f"{column}: {text!r} is out of range") from None
