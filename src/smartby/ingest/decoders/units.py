"""Unit conversions decoders apply by name, and the UN/CEFACT code of what they produce.

Devices report in whatever unit their maker chose; NGSI-LD context should hold one unit per
attribute, so a profile converts on the way in (`"convert": "fahrenheit-celsius"`) or scales with
its own factor and addend.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from smartby.ingest.decoders.reading import DecodeError, ProfileError, finite


@dataclass(frozen=True)
class Conversion:
    apply: Callable[[float], float]
    unit_code: str
    """UN/CEFACT common code of the result (CEL = degree Celsius, KWH = kilowatt hour, ...)."""


CONVERSIONS: dict[str, Conversion] = {
    "fahrenheit-celsius": Conversion(lambda v: (v - 32.0) * 5.0 / 9.0, "CEL"),
    "kelvin-celsius": Conversion(lambda v: v - 273.15, "CEL"),
    "wh-kwh": Conversion(lambda v: v / 1000.0, "KWH"),
    "mbar-hpa": Conversion(lambda v: v, "A97"),
    "pa-hpa": Conversion(lambda v: v / 100.0, "A97"),
    "mv-v": Conversion(lambda v: v / 1000.0, "VLT"),
    "ms-kmh": Conversion(lambda v: v * 3.6, "KMH"),
    "mph-kmh": Conversion(lambda v: v * 1.609344, "KMH"),
    "inch-mm": Conversion(lambda v: v * 25.4, "MMT"),
}


@dataclass(frozen=True)
class Scaling:
    """What a field does to its raw number: `value * scale + add`, then a named conversion; the
    unitCode is the declared one, else the conversion's; unitText, the unit in words, is declared."""

    scale: float | None = None
    add: float | None = None
    convert: Conversion | None = None
    unit_code: str | None = None
    unit_text: str | None = None

    @classmethod
    def of(cls, spec: dict[str, Any], where: str) -> Scaling:
        scale = _number(spec.get("scale"), f"{where}: scale")
        add = _number(spec.get("add"), f"{where}: add")
        conversion = None
        if spec.get("convert") is not None:
            name = spec["convert"]
            if name not in CONVERSIONS:
                known = ", ".join(sorted(CONVERSIONS))
                raise ProfileError(f"{where}: unknown conversion {name!r} (known: {known})")
            conversion = CONVERSIONS[name]
        unit = _text(spec.get("unitCode"), f"{where}: unitCode")
        if unit is None and conversion is not None:
            unit = conversion.unit_code
        return cls(scale, add, conversion, unit, _text(spec.get("unitText"), f"{where}: unitText"))

    @property
    def changes_value(self) -> bool:
        return self.scale is not None or self.add is not None or self.convert is not None

    def apply(self, value: Any, what: str) -> Any:
        if not self.changes_value:
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(f"{what} is not a number: {value!r}")
        result = float(value)
        if self.scale is not None:
            result *= self.scale
        if self.add is not None:
            result += self.add
        if self.convert is not None:
            result = self.convert.apply(result)
        result = round(result, 9)
        return finite(int(result) if result.is_integer() and isinstance(value, int) else result, what)


def _text(value: Any, what: str) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise ProfileError(f"{what} must be a non-empty string")
    return value


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ProfileError(f"{what} must be a finite number")
    return float(value)
