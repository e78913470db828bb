"""The mapping of a CSV import: how a file's columns become entities, times and attributes.

A mapping is a TOML or JSON file (docs/import.md describes every field). It is validated once,
when it is loaded; a mistake in it is a `MappingError` naming the field, before any row is read.
"""

from __future__ import annotations

import codecs
import json
import re
import tomllib
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import isodate  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from smartby.ngsild.entity import check_entity_id, check_name, is_uri
from smartby.ngsild.errors import BadRequestData

ValueType = Literal["number", "integer", "string", "boolean"]
Ambiguity = Literal["earlier", "later", "raise"]
"""What a local time that occurs twice (the hour repeated when daylight saving time ends) becomes."""

DELIMITERS = {",": ",", ";": ";", "\t": "\t", "tab": "\t"}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


class MappingError(ValueError):
    """A mapping that cannot be used; the message names the field and the source."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AttributeColumn(_Strict):
    """One column that becomes one attribute (a Property) of the row's entity."""

    column: str = Field(min_length=1)
    name: str
    type: ValueType = "number"
    unit_code: str | None = Field(None, min_length=1)
    scale: float | None = None
    dataset_id: str | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, name: str) -> str:
        return _checked(check_name, name)

    @field_validator("dataset_id")
    @classmethod
    def _dataset(cls, dataset_id: str | None) -> str | None:
        return None if dataset_id is None else _checked(check_entity_id, dataset_id)

    @model_validator(mode="after")
    def _scale_needs_a_number(self) -> AttributeColumn:
        if self.scale is not None and self.type != "number":
            raise ValueError(f"scale applies to number columns, not to a {self.type} ({self.column})")
        if self.scale is not None and not (self.scale == self.scale and abs(self.scale) != float("inf")):
            raise ValueError("scale must be a finite number")
        return self


class TimeColumns(_Strict):
    """Where a row's time is: a local time column, a UTC column, or both (the UTC one wins)."""

    column: str | None = Field(None, min_length=1)
    format: str = "iso"
    zone: str | None = None
    ambiguous: Ambiguity = "raise"
    utc_column: str | None = Field(None, min_length=1)
    utc_format: str | None = None

    @field_validator("zone")
    @classmethod
    def _zone(cls, zone: str | None) -> str | None:
        if zone is not None:
            try:
                ZoneInfo(zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"{zone!r} is not an IANA time zone (e.g. Europe/Copenhagen)") from None
        return zone

    @field_validator("format", "utc_format")
    @classmethod
    def _format(cls, text: str | None) -> str | None:
        if text is None or text == "iso":
            return text
        sample = datetime(2001, 2, 3, 4, 5, 6, tzinfo=UTC)
        try:
            datetime.strptime(sample.strftime(text), text)
        except ValueError:
            raise ValueError(
                f"{text!r} is neither 'iso' nor a strptime format such as '%Y-%m-%d %H:%M:%S'"
            ) from None
        if "%" not in text:
            raise ValueError(f"{text!r} is neither 'iso' nor a strptime format with % directives")
        return text

    @model_validator(mode="after")
    def _somewhere(self) -> TimeColumns:
        if self.column is None and self.utc_column is None:
            raise ValueError("give the time `column`, the `utc_column`, or both")
        if self.column is not None and self.zone is None:
            raise ValueError(
                "a local time `column` needs the `zone` its times are in (e.g. Europe/Copenhagen, or UTC)"
            )
        return self

    @property
    def zoneinfo(self) -> ZoneInfo:
        return ZoneInfo(self.zone or "UTC")


class IdTemplate:
    """An entity id with `{COLUMN}` placeholders, filled from each row."""

    def __init__(self, template: str) -> None:
        self.template = template
        self.literals: list[str] = []
        self.columns: list[str] = []
        position = 0
        for match in _PLACEHOLDER.finditer(template):
            self.literals.append(template[position : match.start()])
            column = match.group(1).strip()
            if not column:
                raise ValueError(f"{template!r} has an empty placeholder {{}}")
            self.columns.append(column)
            position = match.end()
        self.literals.append(template[position:])
        if any("{" in part or "}" in part for part in self.literals):
            raise ValueError(f"{template!r} has an unmatched brace")
        _checked(check_entity_id, self.fill(["x"] * len(self.columns)))

    def fill(self, values: list[str]) -> str:
        parts = [self.literals[0]]
        for value, literal in zip(values, self.literals[1:], strict=True):
            parts.append(value)
            parts.append(literal)
        return "".join(parts)


class Mapping(_Strict):
    """How the rows of one CSV layout become history."""

    description: str = ""
    delimiter: str = ","
    decimal: Literal[".", ","] = "."
    encoding: str = "utf-8-sig"
    context: str | dict[str, Any] | list[Any] | None = None
    type: str
    id: str
    filter: dict[str, list[str]] = Field(default_factory=dict)
    time: TimeColumns
    attributes: list[AttributeColumn] = Field(min_length=1)
    interval: str | None = None

    @field_validator("delimiter")
    @classmethod
    def _delimiter(cls, delimiter: str) -> str:
        if delimiter not in DELIMITERS:
            raise ValueError("the delimiter is one of ',', ';' or a tab ('\\t' or 'tab')")
        return DELIMITERS[delimiter]

    @field_validator("encoding")
    @classmethod
    def _encoding(cls, encoding: str) -> str:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise ValueError(f"{encoding!r} is not a known text encoding") from None
        return encoding

    @field_validator("type")
    @classmethod
    def _type(cls, name: str) -> str:
        return _checked(check_name, name)

    @field_validator("context")
    @classmethod
    def _context(cls, context: Any) -> Any:
        if isinstance(context, str) and not is_uri(context):
            raise ValueError(f"{context!r} is not a context URL")
        return context

    @field_validator("id")
    @classmethod
    def _id(cls, template: str) -> str:
        IdTemplate(template)
        return template

    @field_validator("interval")
    @classmethod
    def _interval(cls, interval: str | None) -> str | None:
        if interval is not None:
            _duration(interval)
        return interval

    @model_validator(mode="after")
    def _consistent(self) -> Mapping:
        if self.decimal == "," and self.delimiter == ",":
            raise ValueError("decimal commas need another delimiter (';' or a tab)")
        seen: set[tuple[str, str | None]] = set()
        for attribute in self.attributes:
            key = (attribute.name, attribute.dataset_id)
            if key in seen:
                raise ValueError(f"attribute {attribute.name} is mapped twice (give each a dataset_id)")
            seen.add(key)
        return self

    @property
    def id_template(self) -> IdTemplate:
        return IdTemplate(self.id)

    @property
    def interval_delta(self) -> timedelta | None:
        return None if self.interval is None else _duration(self.interval)

    def columns(self) -> list[str]:
        """Every column the mapping reads."""
        wanted = [*self.id_template.columns, *self.filter]
        wanted += [c for c in (self.time.column, self.time.utc_column) if c is not None]
        wanted += [attribute.column for attribute in self.attributes]
        return list(dict.fromkeys(wanted))


def _checked(check: Any, value: str) -> str:
    try:
        return str(check(value))
    except BadRequestData as error:
        raise ValueError(error.detail) from None


def _duration(text: str) -> timedelta:
    try:
        duration = isodate.parse_duration(text)
    except (isodate.ISO8601Error, ValueError):
        raise ValueError(f"{text!r} is not an ISO 8601 duration such as PT5M or PT1H") from None
    if not isinstance(duration, timedelta) or duration <= timedelta(0):
        raise ValueError(f"the interval {text!r} must be a positive fixed duration (no months or years)")
    return duration


def parse_mapping(data: Any, source: str) -> Mapping:
    """Validate a mapping already read into Python objects."""
    try:
        return Mapping.model_validate(data)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            where = ".".join(str(part) for part in item["loc"]) or "mapping"
            message = str(item["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
        raise MappingError(f"{source}: " + "; ".join(problems)) from None


def read_mapping(text: str, source: str) -> Mapping:
    """A mapping from TOML or JSON text (JSON when it starts with `{`)."""
    try:
        data = json.loads(text) if text.lstrip().startswith("{") else tomllib.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        raise MappingError(f"{source}: not valid TOML or JSON: {error}") from None
    return parse_mapping(data, source)


def shipped_mappings() -> dict[str, str]:
    """The mappings that come with smartby, by name, each with its description."""
    folder = resources.files("smartby.data") / "mappings"
    found: dict[str, str] = {}
    for item in sorted(folder.iterdir(), key=lambda i: i.name):
        if item.name.endswith(".toml"):
            name = item.name.removesuffix(".toml")
            found[name] = read_mapping(item.read_text("utf-8"), name).description
    return found


def load_mapping(name_or_path: str) -> Mapping:
    """A mapping file, or the shipped mapping of that name (see `shipped_mappings`)."""
    path = Path(name_or_path)
    if path.is_file():
        try:
            text = path.read_text("utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise MappingError(f"{path}: cannot be read: {error}") from None
        return read_mapping(text, str(path))
    shipped = resources.files("smartby.data") / "mappings" / f"{name_or_path}.toml"
    if "/" not in name_or_path and shipped.is_file():
        return read_mapping(shipped.read_text("utf-8"), name_or_path)
    names = ", ".join(shipped_mappings())
    raise MappingError(f"{name_or_path}: no such file, nor a shipped mapping ({names})")
