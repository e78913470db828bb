"""/ingest/v1: the device registry, payload profiles, dead letters, and HTTP uplinks.

Registry endpoints are for the city's operators (with SMARTBY_INGEST_ADMIN_TOKEN set, they need it
as a Bearer token); uplink endpoints are for devices and LoRaWAN network servers, which present a
device key or the integration secret. Every handler parses, calls `Ingestion` or its registry once,
and renders.
"""

from __future__ import annotations

import base64
import hmac
from typing import Any

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from smartby.api import openapi as oa
from smartby.api.ingest_bodies import ingest_body
from smartby.api.limits import PayloadTooLarge
from smartby.api.negotiation import JSON
from smartby.api.render import json_response, no_content
from smartby.api.request import check_params, flag, integer, read_body, tenant_of
from smartby.ingest import registry
from smartby.ingest.commands import DeviceCommands, command_view, polled_view
from smartby.ingest.envelopes import EnvelopeError, chirpstack_event
from smartby.ingest.pipeline import Ingestion, Outcome
from smartby.ingest.registry import device_view, profile_view
from smartby.ingest.uplinks import Envelope, Uplink
from smartby.ngsild.errors import (
    BadRequestData,
    InternalError,
    InvalidRequest,
    NgsiLdError,
    OperationNotSupported,
    ResourceNotFound,
)
from smartby.ngsild.timestamps import normalize_datetime, now
from smartby.records.commands import STATES
from smartby.records.devices import DeadLetter, DeadLetterQuery

router = APIRouter(prefix="/ingest/v1", tags=["Device ingestion"])
NO_PARAMS: frozenset[str] = frozenset()
PAGE_PARAMS = frozenset({"limit", "offset"})
LETTER_PARAMS = frozenset({"deviceId", "transport", "since", "until", "limit", "offset", "count"})
PURGE_PARAMS = frozenset({"deviceId", "transport", "since", "until"})
DEVICE_ID = {
    **oa.path("deviceId", "The device id (A-Z a-z 0-9 _ . : -)."),
    "schema": {"type": "string", "pattern": registry.DEVICE_ID.pattern},
}
PROFILE_NAME = {
    **oa.path("name", "The payload profile's name."),
    "schema": {"type": "string", "pattern": registry.PROFILE_NAME.pattern},
}
LETTER_ID = {
    **oa.path("letterId", "The dead letter's number."),
    "schema": {"type": "string", "pattern": "^[0-9]{1,18}$"},
}
KEY_HEADERS = [
    oa.header("X-API-Key", "The device key (or the integration secret)."),
    oa.header("Authorization", "Bearer <device key, integration secret or admin token>."),
]
ADMIN = [oa.header("Authorization", "Bearer <SMARTBY_INGEST_ADMIN_TOKEN>, when it is set."), oa.TENANT]
RAW_BODY = {
    "requestBody": {
        "required": True,
        "description": "The device's payload as it sent it (JSON, or bytes for a byte-layout profile).",
        "content": {"application/json": {"schema": {}}, "application/octet-stream": {"schema": {}}},
    }
}
DOWNLINK_EVENTS = ("downlink_ack", "downlink_nack", "downlink_failed")
"""The Things Stack's webhook messages about a downlink that say what became of a command."""
PAGE = [oa.query("limit", "Items per page.", {**oa.INTEGER, "minimum": 1}), oa.PAGING[1]]
LETTER_FILTERS = [
    oa.query("deviceId", "Only this device's dead letters."),
    oa.query("transport", "Only those that came in this way: http, chirpstack-http, tts-http, mqtt, ..."),
    oa.query("since", "Received at or after this ISO 8601 time.", oa.DATE_TIME),
    oa.query("until", "Received before this ISO 8601 time.", oa.DATE_TIME),
]


class Unauthorized(NgsiLdError):
    """HTTP 401: the request needs a key, token or secret it did not present."""

    type_name = "InvalidRequest"
    status = 401
    title = "Unauthorized"


def ingestion_of(request: Request) -> Ingestion:
    ingestion: Ingestion = request.app.state.ingestion
    return ingestion


def _bearer(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    return token.strip() or None if scheme.lower() == "bearer" else None


def admin(request: Request) -> Ingestion:
    """The ingestion of an operator's request (the admin token checked when one is set and
    SMARTBY_AUTH is off: with it on, access control checked the admin's key already)."""
    ingestion = ingestion_of(request)
    token = ingestion.settings.ingest_admin_token
    if token is not None and ingestion.settings.auth == "off":
        given = _bearer(request) or ""
        if not hmac.compare_digest(given.encode(), token.get_secret_value().encode()):
            raise Unauthorized("This endpoint needs the ingest admin token (Authorization: Bearer ...)")
    return ingestion


async def _json_body(request: Request) -> Any:
    return (
        await read_body(request, (JSON,), ingestion_of(request).settings.max_body_bytes, document=True)
    ).data


# -- devices ---------------------------------------------------------------------------------------


@router.get("/devices", summary="List devices", openapi_extra=oa.operation([*ADMIN, *PAGE]))
async def list_devices(request: Request) -> Response:
    check_params(request, PAGE_PARAMS)
    ingestion = admin(request)
    limit = integer(request, "limit", 100, low=1, high=ingestion.settings.max_limit)
    devices = await ingestion.registry.list_devices(tenant_of(request), limit, integer(request, "offset", 0))
    return json_response(request, None, [device_view(d) for d in devices], JSON)


@router.post(
    "/devices",
    status_code=201,
    summary="Register a device (the generated key is in the response, once)",
    openapi_extra=oa.operation(ADMIN, ingest_body("The device: id, entityId, entityType, ...", "Device")),
)
async def create_device(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    ingestion = admin(request)
    device, key = await ingestion.registry.register(tenant_of(request), await _json_body(request))
    view = device_view(device)
    if key is not None:
        view["key"] = key
    location = f"/ingest/v1/devices/{device.id}"
    return json_response(request, None, view, JSON, status=201, headers={"Location": location})


@router.get("/devices/{deviceId}", summary="A device", openapi_extra=oa.operation([DEVICE_ID, *ADMIN]))
async def get_device(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    device = await admin(request).registry.get(tenant_of(request), request.path_params["deviceId"])
    return json_response(request, None, device_view(device), JSON)


@router.put(
    "/devices/{deviceId}",
    summary="Register or replace a device (without a key, a replaced device keeps its own)",
    openapi_extra=oa.operation([DEVICE_ID, *ADMIN], ingest_body("The device.", "DeviceReplacement")),
)
async def put_device(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    ingestion = admin(request)
    body = await _json_body(request)
    if isinstance(body, dict):
        if body.get("id", request.path_params["deviceId"]) != request.path_params["deviceId"]:
            raise BadRequestData("The id in the body differs from the id in the URL")
        body = {**body, "id": request.path_params["deviceId"]}
    device, key = await ingestion.registry.register(tenant_of(request), body, replace_existing=True)
    view = device_view(device)
    if key is not None:
        view["key"] = key
    return json_response(request, None, view, JSON)


@router.delete(
    "/devices/{deviceId}",
    status_code=204,
    summary="Remove a device",
    openapi_extra=oa.operation([DEVICE_ID, *ADMIN]),
)
async def delete_device(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    await admin(request).registry.remove(tenant_of(request), request.path_params["deviceId"])
    return no_content(request)


# -- commands to devices (docs/commands.md) ---------------------------------------------------------

COMMAND_ID = oa.path("commandId", "The command's id.")
COMMAND_PARAMS = frozenset({"state", "limit", "offset"})


def commands_of(request: Request) -> DeviceCommands:
    commands = admin(request).commands
    if commands is None:
        raise OperationNotSupported("This server keeps no commands to devices")
    return commands


@router.post(
    "/devices/{deviceId}/commands",
    status_code=201,
    summary="Send a command to a device (its record, state pending, sent or failed, is the response)",
    openapi_extra=oa.operation(
        [DEVICE_ID, *ADMIN],
        ingest_body('{"name": "dim", "value": 0.4, "expires": "<ISO 8601>"} (or "ttl": seconds)', "Command"),
    ),
)
async def send_command(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    commands = commands_of(request)
    device_id = request.path_params["deviceId"]
    command = await commands.submit(tenant_of(request), device_id, await _json_body(request))
    location = f"/ingest/v1/devices/{device_id}/commands/{command.id}"
    return json_response(
        request, None, command_view(command), JSON, status=201, headers={"Location": location}
    )


@router.get(
    "/devices/{deviceId}/commands",
    summary="A device's commands, newest first",
    openapi_extra=oa.operation(
        [
            DEVICE_ID,
            *ADMIN,
            oa.query(
                "state",
                "Only commands in these states (comma-separated): pending, sent, confirmed, ...",
                {"type": "string", "pattern": oa.names_of(STATES)},
            ),
            *PAGE,
        ]
    ),
)
async def list_commands(request: Request) -> Response:
    check_params(request, COMMAND_PARAMS)
    commands = commands_of(request)
    state = request.query_params.get("state")
    states = [] if not state else state.split(",")
    found = await commands.of_device(
        tenant_of(request),
        request.path_params["deviceId"],
        states,
        integer(request, "limit", 100, low=1, high=commands.settings.max_limit),
        integer(request, "offset", 0),
    )
    return json_response(request, None, [command_view(command) for command in found], JSON)


@router.get(
    "/devices/{deviceId}/commands/{commandId}",
    summary="One command to a device",
    openapi_extra=oa.operation([DEVICE_ID, COMMAND_ID, *ADMIN]),
)
async def get_command(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    command = await commands_of(request).get(
        tenant_of(request), request.path_params["deviceId"], request.path_params["commandId"]
    )
    return json_response(request, None, command_view(command), JSON)


# -- payload profiles ------------------------------------------------------------------------------


@router.get("/profiles", summary="List payload profiles", openapi_extra=oa.operation(ADMIN))
async def list_profiles(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    profiles = await admin(request).registry.list_profiles(tenant_of(request))
    return json_response(request, None, [profile_view(p) for p in profiles], JSON)


@router.put(
    "/profiles/{name}",
    summary="Create or replace a payload profile",
    openapi_extra=oa.operation(
        [PROFILE_NAME, *ADMIN], ingest_body('{"decoder": {...}, "description": "..."}', "PayloadProfile")
    ),
)
async def put_profile(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    ingestion = admin(request)
    profile = await ingestion.registry.put_profile(
        tenant_of(request), request.path_params["name"], await _json_body(request)
    )
    return json_response(request, None, profile_view(profile), JSON)


@router.get(
    "/profiles/{name}", summary="A payload profile", openapi_extra=oa.operation([PROFILE_NAME, *ADMIN])
)
async def get_profile(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    profile = await admin(request).registry.get_profile(tenant_of(request), request.path_params["name"])
    return json_response(request, None, profile_view(profile), JSON)


@router.delete(
    "/profiles/{name}",
    status_code=204,
    summary="Remove a payload profile",
    openapi_extra=oa.operation([PROFILE_NAME, *ADMIN]),
)
async def delete_profile(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    await admin(request).registry.remove_profile(tenant_of(request), request.path_params["name"])
    return no_content(request)


# -- dead letters ----------------------------------------------------------------------------------


def letter_view(letter: DeadLetter) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": letter.id,
        "receivedAt": letter.received_at,
        "transport": letter.transport,
        "reason": letter.reason,
        "payload": base64.b64encode(letter.payload).decode(),
    }
    if letter.device_id is not None:
        view["deviceId"] = letter.device_id
    if letter.topic is not None:
        view["topic"] = letter.topic
    return view


def _time_param(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return None if value is None else normalize_datetime(value, name)


def _letter_query(request: Request, *, limit: int = 100, offset: int = 0) -> DeadLetterQuery:
    return DeadLetterQuery(
        device_id=request.query_params.get("deviceId"),
        transport=request.query_params.get("transport"),
        since=_time_param(request, "since"),
        until=_time_param(request, "until"),
        limit=limit,
        offset=offset,
    )


@router.get(
    "/deadletters",
    summary="List dead letters, newest first (payload in base64)",
    openapi_extra=oa.operation([*ADMIN, *LETTER_FILTERS, *PAGE]),
)
async def list_dead_letters(request: Request) -> Response:
    check_params(request, LETTER_PARAMS)
    ingestion = admin(request)
    tenant = tenant_of(request)
    query = _letter_query(
        request,
        limit=integer(request, "limit", 100, low=1, high=ingestion.settings.max_limit),
        offset=integer(request, "offset", 0),
    )
    letters = await ingestion.devices.list_dead_letters(tenant, query)
    headers = {}
    if flag(request, "count"):
        headers["NGSILD-Results-Count"] = str(await ingestion.devices.count_dead_letters(tenant, query))
    return json_response(request, None, [letter_view(x) for x in letters], JSON, headers=headers)


@router.delete(
    "/deadletters",
    summary="Purge the dead letters the filters select (all without filters)",
    openapi_extra=oa.operation([*ADMIN, *LETTER_FILTERS]),
)
async def purge_dead_letters(request: Request) -> Response:
    check_params(request, PURGE_PARAMS)
    ingestion = admin(request)
    removed = await ingestion.devices.purge_dead_letters(tenant_of(request), _letter_query(request))
    return json_response(request, None, {"deleted": removed}, JSON)


def _letter_id(request: Request) -> int:
    text = request.path_params["letterId"]
    if not (text.isascii() and text.isdigit()) or len(text) > 18:  # "³".isdigit(), but not int("³")
        raise ResourceNotFound(f"No dead letter {text}")
    return int(text)


@router.get(
    "/deadletters/{letterId}", summary="A dead letter", openapi_extra=oa.operation([LETTER_ID, *ADMIN])
)
async def get_dead_letter(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    ingestion = admin(request)
    letter = await ingestion.devices.get_dead_letter(tenant_of(request), _letter_id(request))
    if letter is None:
        raise ResourceNotFound(f"No dead letter {request.path_params['letterId']}")
    return json_response(request, None, letter_view(letter), JSON)


@router.delete(
    "/deadletters/{letterId}", summary="Delete a dead letter", openapi_extra=oa.operation([LETTER_ID, *ADMIN])
)
async def delete_dead_letter(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    ingestion = admin(request)
    if not await ingestion.devices.delete_dead_letter(tenant_of(request), _letter_id(request)):
        raise ResourceNotFound(f"No dead letter {request.path_params['letterId']}")
    return no_content(request)


@router.get(
    "/stats", summary="Uplinks accepted and dead-lettered since start", openapi_extra=oa.operation(ADMIN)
)
async def stats(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    tenant_of(request)  # the counts are the server's, but a malformed NGSILD-Tenant is refused everywhere
    return json_response(request, None, admin(request).stats.as_dict(), JSON)


# -- uplinks ---------------------------------------------------------------------------------------


def _received_at() -> str:
    return now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _credential(request: Request, *extra: str) -> str | None:
    for name in ("x-api-key", *extra):
        value = request.headers.get(name)
        if value:
            return value
    return _bearer(request)


async def _raw_body(request: Request) -> bytes:
    limit = ingestion_of(request).settings.max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes")
    raw = await request.body()
    if len(raw) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes")
    return raw


async def _deliver(
    request: Request, transport: str, envelope: Envelope, device_id: str | None, raw: bytes, *extra: str
) -> Response:
    uplink = Uplink(
        transport=transport,
        envelope=envelope,
        tenant=tenant_of(request),
        device_id=device_id,
        credential=_credential(request, *extra),
        payload=raw,
        received_at=_received_at(),
    )
    outcome = await ingestion_of(request).ingest(uplink, wait=True)
    if outcome.status == "accepted":
        return no_content(request)
    raise _error(outcome)


def _error(outcome: Outcome) -> NgsiLdError:
    if outcome.status == "unknown-device":
        return ResourceNotFound(outcome.reason.capitalize())
    if outcome.status == "unauthorized":
        return Unauthorized(f"The device key is missing or wrong ({outcome.reason})")
    if outcome.status in ("undecodable", "rejected"):
        return BadRequestData(outcome.reason)
    return InternalError(outcome.reason)


@router.post(
    "/devices/{deviceId}/up",
    responses=oa.answers(204),
    summary="An uplink from a device: its payload as the body, its key in X-API-Key or Authorization "
    "(204; 200 with the commands that waited for it, for a device with the http downlink)",
    openapi_extra=oa.operation([DEVICE_ID, *KEY_HEADERS, oa.TENANT], RAW_BODY),
)
async def device_uplink(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    raw = await _raw_body(request)
    device_id = request.path_params["deviceId"]
    stored = await _deliver(request, "http", "plain", device_id, raw)
    ingestion, tenant = ingestion_of(request), tenant_of(request)
    commands = ingestion.commands
    if commands is None or not commands.polled(tenant, device_id):
        return stored
    taken = await commands.for_uplink(tenant, await ingestion.registry.get(tenant, device_id))
    if not taken:
        return stored
    return json_response(request, None, {"commands": [polled_view(command) for command in taken]}, JSON)


@router.post(
    "/chirpstack",
    responses=oa.answers(204),
    summary="ChirpStack v4 HTTP integration: up events are ingested, other events acknowledged",
    openapi_extra=oa.operation(
        [
            {
                **oa.query(
                    "event",
                    "The ChirpStack event type: up, join, status, ack, txack, log, location, integration.",
                ),
                "required": True,
            },
            *KEY_HEADERS,
            oa.TENANT,
        ],
        ingest_body("A ChirpStack v4 event (JSON marshaler).", "ChirpStackEvent"),
    ),
)
async def chirpstack(request: Request) -> Response:
    check_params(request, frozenset({"event"}))
    event = request.query_params.get("event")
    if not event:
        raise InvalidRequest("ChirpStack calls this URL with ?event=up (or another event type)")
    raw = await _raw_body(request)
    if event == "up":
        return await _deliver(request, "chirpstack-http", "chirpstack", None, raw)
    try:
        chirpstack_event(raw)
    except EnvelopeError as error:
        raise BadRequestData(str(error)) from None
    if event == "ack":
        return await _integration_event(request, raw, "chirpstack")
    return no_content(request)


async def _integration_event(request: Request, raw: bytes, network: str, *extra: str) -> Response:
    """A network server's word on a command (ChirpStack's ack event, The Things Stack's downlink
    messages), taken when it presents the integration secret (or none is set and its transport is
    trusted); acknowledged either way, as other events are."""
    ingestion = ingestion_of(request)
    secret = ingestion.settings.ingest_integration_secret
    given = _credential(request, *extra) or ""
    if secret is not None and not hmac.compare_digest(given.encode(), secret.get_secret_value().encode()):
        raise Unauthorized("A command acknowledgement needs the integration secret")
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequestData("The event is not JSON") from None
    if ingestion.commands is not None:
        if network == "chirpstack":
            await ingestion.commands.chirpstack_ack(tenant_of(request), message)
        else:
            await ingestion.commands.tts_event(tenant_of(request), message)
    return no_content(request)


@router.post(
    "/ttn",
    responses=oa.answers(204),
    summary="The Things Stack v3 webhook: uplink messages are ingested, other messages acknowledged",
    openapi_extra=oa.operation(
        [*KEY_HEADERS, oa.header("X-Downlink-Apikey", "Sent by The Things Stack webhooks."), oa.TENANT],
        oa.json_body("A The Things Stack v3 message."),
    ),
)
async def things_stack(request: Request) -> Response:
    check_params(request, NO_PARAMS)
    raw = await _raw_body(request)
    try:
        message = orjson.loads(raw)
    except orjson.JSONDecodeError:
        message = None
    if isinstance(message, dict) and any(name in message for name in DOWNLINK_EVENTS):
        return await _integration_event(request, raw, "tts", "x-downlink-apikey")
    if isinstance(message, dict) and "uplink_message" not in message:
        return no_content(request)
    return await _deliver(request, "tts-http", "tts", None, raw, "x-downlink-apikey")
