"""OpenAPI schemas of the device API's bodies (docs/devices.md): a device, a payload profile, its
decoder (one member per `kind`) and ChirpStack's uplink event. Each pattern is the server's own
(smartby.ingest.registry, smartby.ingest.decoders); rules between members a JSON Schema cannot
state are in the descriptions."""

from __future__ import annotations

from typing import Any

from smartby.api.openapi import ATTRIBUTE_NAME, NAME, SCHEMAS, STRING
from smartby.ingest.decoders.byte_layout import MAX_LENGTH, TYPES
from smartby.ingest.decoders.json_fields import TIME_FORMATS
from smartby.ingest.decoders.plugins import installed
from smartby.ingest.decoders.units import CONVERSIONS
from smartby.ingest.envelopes import BASE64, DEV_EUI
from smartby.ingest.registry import DEVICE_ID, KEY, MAX_INTERVAL

TEXT = {"type": "string", "minLength": 1, "maxLength": 1024}
NAME_TEXT = {"type": "string", "minLength": 1}
NUMBER = {"type": "number"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, or null: the server reads a member given as null as one not given."""
    return {"anyOf": [schema, {"type": "null"}]}


STEP = r"([^.\[\]]+|\[[0-9]+\])"
PATH = {"type": "string", "pattern": rf"^\$?\.?{STEP}(\.?{STEP})*$"}
"""A member's path in a JSON payload: names and [index]es, e.g. `uplink.temp` or `$.values[0]`."""
SCALING = {
    "scale": nullable(NUMBER),
    "add": nullable(NUMBER),
    "convert": nullable({"enum": sorted(CONVERSIONS)}),
    "unitCode": nullable(NAME_TEXT),
    "unitText": nullable(NAME_TEXT),
}
ATTRIBUTE = {"type": "string", "pattern": ATTRIBUTE_NAME}


def decoder_kind(kind: str, required: list[str], **members: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["kind", *required],
        "properties": {"kind": {"const": kind}, **members},
        "additionalProperties": False,
    }


JSON_FIELD = {
    "type": "object",
    "required": ["attribute"],
    "properties": {"attribute": ATTRIBUTE, "path": PATH, "required": {"type": "boolean"}, **SCALING},
    "additionalProperties": False,
}
BYTE_FIELD = {
    "type": "object",
    "description": "A field's bytes lie inside the frame (offset + its size <= length); a bits "
    "field has a mask; f32 takes no mask or shift and bool no scaling; shift is below the type's bits.",
    "required": ["attribute", "type", "offset"],
    "properties": {
        "attribute": ATTRIBUTE,
        "type": {"enum": list(TYPES)},
        "offset": {"type": "integer", "minimum": 0, "maximum": MAX_LENGTH - 1},
        "endian": {"enum": ["big", "little"]},
        "mask": nullable({"type": "integer", "minimum": 1}),
        "shift": {"type": "integer", "minimum": 0, "maximum": 31},
        **SCALING,
    },
    "additionalProperties": False,
}
TIME_SOURCE = {
    "anyOf": [
        PATH,
        {
            "type": "object",
            "required": ["path"],
            "properties": {
                "path": PATH,
                "format": {
                    "description": "One of these, or a strftime pattern (with a %).",
                    "anyOf": [{"enum": list(TIME_FORMATS)}, {"type": "string", "pattern": "%"}],
                },
            },
            "additionalProperties": False,
        },
    ]
}
PLUGINS = sorted(installed())
DECODER: dict[str, Any] = {
    "description": "How a device's payload becomes readings (docs/devices.md): by `kind`.",
    "oneOf": [
        decoder_kind(
            "json",
            [],
            fields=nullable({"type": "array", "minItems": 1, "maxItems": 4, "items": JSON_FIELD}),
            observedAt=nullable(TIME_SOURCE),
        ),
        decoder_kind(
            "bytes",
            ["length", "fields"],
            length={"type": "integer", "minimum": 1, "maximum": MAX_LENGTH},
            fields={"type": "array", "minItems": 1, "maxItems": 4, "items": BYTE_FIELD},
        ),
        *([decoder_kind("plugin", ["name"], name={"enum": PLUGINS})] if PLUGINS else []),
    ],
}
INTERVAL = {"type": "number", "exclusiveMinimum": 0, "maximum": MAX_INTERVAL}
DEVICE: dict[str, Any] = {
    "type": "object",
    "description": "A device (docs/devices.md). It also takes `profile` (a payload profile's name, "
    "instead of a decoder), `commands` and `downlink`, described there.",
    "required": ["id", "entityId", "entityType"],
    "properties": {
        "id": {"type": "string", "pattern": DEVICE_ID.pattern},
        "entityId": {"$ref": SCHEMAS + "Uri"},
        "entityType": {"$ref": SCHEMAS + "EntityType"},
        "key": nullable({"type": "string", "pattern": KEY.pattern, "description": "Printable ASCII."}),
        "decoder": nullable({"$ref": SCHEMAS + "Decoder"}),
        "devEui": nullable(
            {
                "type": "string",
                "pattern": DEV_EUI.pattern,
                "description": "16 hexadecimal digits, - and : ignored; one device's alone.",
            }
        ),
        "location": nullable(
            {
                "type": "object",
                "required": ["type", "coordinates"],
                "properties": {
                    "type": {"const": "Point"},
                    "coordinates": {
                        "type": "array",
                        "minItems": 2,
                        "maxItems": 3,
                        "prefixItems": [
                            {"type": "number", "minimum": -180, "maximum": 180},
                            {"type": "number", "minimum": -90, "maximum": 90},
                        ],
                        "items": NUMBER,
                    },
                },
            }
        ),
        "organisation": nullable(TEXT),
        "context": nullable(TEXT),
        "reportingInterval": nullable(INTERVAL),
    },
    "additionalProperties": False,
}
DEVICE_REPLACEMENT: dict[str, Any] = {
    **DEVICE,
    "description": "A device, its id the path's. " + DEVICE["description"],
    "required": ["entityId", "entityType"],
    "properties": {name: member for name, member in DEVICE["properties"].items() if name != "id"},
}
PROFILE: dict[str, Any] = {
    "type": "object",
    "description": "A payload profile (docs/devices.md); it also takes `commands` and `downlink`, "
    "and `name`, which is its path's.",
    "required": ["decoder"],
    "properties": {
        "decoder": {"$ref": SCHEMAS + "Decoder"},
        "description": nullable(TEXT),
        "reportingInterval": nullable(INTERVAL),
    },
    "additionalProperties": False,
}
CHIRPSTACK_EVENT: dict[str, Any] = {
    "type": "object",
    "description": "A ChirpStack v4 event (JSON marshaler). An up event names its device in "
    "deviceInfo.devEui and carries the frame, base64, in data.",
    "properties": {
        "deviceInfo": {
            "type": "object",
            "properties": {
                "devEui": {"type": "string", "pattern": DEV_EUI.pattern},
                "deviceName": STRING,
                "applicationId": STRING,
                "tenantId": STRING,
            },
        },
        "data": {"type": "string", "pattern": BASE64.pattern},
        "fPort": {"type": "integer", "minimum": 0, "maximum": 255},
        "fCnt": {"type": "integer", "minimum": 0, "maximum": 2**32 - 1},
        "time": STRING,
        "object": {"type": "object"},
    },
}
COMMAND: dict[str, Any] = {
    "type": "object",
    "description": "A command to a device (docs/commands.md): its name, its value, and when it "
    "expires (an ISO 8601 date-time) or its lifetime in seconds (ttl), not both.",
    "required": ["name", "value"],
    "properties": {
        "name": {
            "type": "string",
            "pattern": f"^{NAME}$",
            "description": "One the device's commands declare.",
        },
        "value": {},
        "expires": nullable({"type": "string", "format": "date-time"}),
        "ttl": nullable({"type": "number", "exclusiveMinimum": 0, "maximum": 366 * 86400}),
    },
    "not": {"required": ["expires", "ttl"]},
    "additionalProperties": False,
}
INGEST_SCHEMAS = {
    "Command": COMMAND,
    "Decoder": DECODER,
    "Device": DEVICE,
    "DeviceReplacement": DEVICE_REPLACEMENT,
    "PayloadProfile": PROFILE,
    "ChirpStackEvent": CHIRPSTACK_EVENT,
}
"""The device API's bodies, by name, for components.schemas."""


def ingest_body(description: str, name: str) -> dict[str, Any]:
    """A JSON body of the component `name`."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": {"$ref": SCHEMAS + name}}},
        }
    }
