"""Python decoders found through the `smartby.decoders` entry point group.

A plugin is any callable `(payload: bytes, meta: Mapping[str, Any]) -> list[Reading]` that a
distribution declares, e.g. in its pyproject:

    [project.entry-points."smartby.decoders"]
    elsys = "smartby.ingest.decoders.elsys:decode"

smartby's own example registers the same way a third party's would.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from smartby.ingest.decoders.reading import DecodeError, Decoder, ProfileError, Reading

GROUP = "smartby.decoders"


@functools.cache
def installed() -> dict[str, Any]:
    """The entry points of the group by name (loaded on first use, not here)."""
    return {point.name: point for point in entry_points(group=GROUP)}


@functools.cache
def load(name: str) -> Decoder:
    points = installed()
    if name not in points:
        known = ", ".join(sorted(points)) or "none"
        raise ProfileError(f"no decoder plugin {name!r} is installed (installed: {known})")
    try:
        loaded = points[name].load()
    except Exception as error:
        raise ProfileError(f"decoder plugin {name!r} cannot be loaded: {error}") from None
    if not callable(loaded):
        raise ProfileError(f"decoder plugin {name!r} is not callable")
    decoder: Decoder = loaded
    return decoder


class PluginDecoder:
    """A plugin, held to the decoder contract: a plugin's bug is the payload's DecodeError, never
    an exception that reaches the transport, and what it returns must be readings."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.plugin = load(name)

    def __call__(self, payload: bytes, meta: Mapping[str, Any]) -> list[Reading]:
        try:
            found = self.plugin(payload, meta)
        except DecodeError:
            raise
        except Exception as error:
            raise DecodeError(f"decoder plugin {self.name} failed: {type(error).__name__}: {error}") from None
        if not isinstance(found, list) or not all(isinstance(r, tuple) and 4 <= len(r) <= 5 for r in found):
            raise DecodeError(f"decoder plugin {self.name} did not return a list of readings")
        return [Reading(*reading) for reading in found]
