"""What every decoder yields: readings, and the one error a decoder may raise."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple


class Reading(NamedTuple):
    """One measured value, named as the attribute of the device's entity it becomes."""

    name: str
    value: Any
    unit_code: str | None = None
    observed_at: str | None = None
    """ISO 8601 UTC; None means the moment smartby received the uplink."""
    unit_text: str | None = None
    """The unit in words, for one without a UN/CEFACT code (`DKK/MWh`): a `unitText` sub-Property."""


class DecodeError(ValueError):
    """The payload does not fit the decoder (the uplink is dead-lettered with this message)."""


class ProfileError(ValueError):
    """A decoder declaration that cannot work (refused when the profile is registered)."""


Decoder = Callable[[bytes, Mapping[str, Any]], list[Reading]]
"""A decoder: payload bytes and the envelope's metadata (`received_at`, `dev_eui`, `f_port`, and
`decoded` when the network server decoded the payload already) to readings."""


def finite(value: Any, what: str) -> Any:
    """Reject NaN and infinities, which JSON (and so NGSI-LD) cannot carry."""
    if isinstance(value, float) and not math.isfinite(value):
        raise DecodeError(f"{what} is not a finite number")
    return value
