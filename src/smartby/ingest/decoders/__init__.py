"""Payload decoders: device bytes to readings. Pure code, no I/O, nothing evaluated.

A decoder is declared as data (a JSON or TOML object, kept as a named payload profile or inline on
a device) and built once with `build`:

- `{"kind": "json", "fields": [...], "observedAt": ...}`: JSON members by path (`json_fields`);
- `{"kind": "bytes", "length": 12, "fields": [...]}`: a fixed byte layout (`byte_layout`);
- `{"kind": "plugin", "name": "elsys"}`: a Python decoder from the `smartby.decoders` entry points.

`build` refuses a declaration that cannot work (ProfileError); a built decoder raises only
DecodeError, whatever bytes it is given.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartby.ingest.decoders.byte_layout import ByteLayoutDecoder
from smartby.ingest.decoders.json_fields import JsonDecoder
from smartby.ingest.decoders.plugins import PluginDecoder
from smartby.ingest.decoders.reading import DecodeError, Decoder, ProfileError, Reading

__all__ = ["KINDS", "DecodeError", "Decoder", "ProfileError", "Reading", "build"]

KINDS = ("json", "bytes", "plugin")


def build(spec: Any) -> Decoder:
    """The decoder a declaration describes; ProfileError says what is wrong with it."""
    if not isinstance(spec, Mapping):
        raise ProfileError("a decoder is declared as an object with a kind")
    kind = spec.get("kind")
    if kind == "json":
        return JsonDecoder(spec)
    if kind == "bytes":
        return ByteLayoutDecoder(spec)
    if kind == "plugin":
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ProfileError("a plugin decoder needs the plugin's name")
        return PluginDecoder(name)
    raise ProfileError(f"kind must be one of {', '.join(KINDS)}, not {kind!r}")
