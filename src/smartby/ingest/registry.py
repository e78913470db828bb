"""The device registry: which devices may send, what entity each feeds, and how to decode it.

A device's key is kept only as a hash with a salt of its own; a key presented with an uplink is
checked with `hmac.compare_digest`. A key the operator chose is hashed with scrypt
(`scrypt$salt$hash`), slow on purpose (a guess costs ~50 ms) because a chosen key may be guessable.
A key smartby generated is 256 random bits, which no amount of guessing finds, so it is kept as a
salted SHA-256 (`sha256$salt$hash`): registering and authenticating a city of devices then costs
microseconds per device instead of scrypt's 50 ms twice. A key once verified is remembered in
memory as a salted SHA-256 digest: the next uplink of the same device with the same key costs
microseconds, a wrong one still costs its hash.
Devices and profiles an uplink looks up are remembered for a few seconds, too.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import math
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from smartby.ingest.decoders import Decoder, ProfileError, build
from smartby.ingest.device_store import DeviceStore
from smartby.ingest.downlinks import downlink_of, merged
from smartby.ingest.encoders import build_commands
from smartby.ngsild.entity import check_entity_id, check_name, check_nesting
from smartby.ngsild.errors import AlreadyExists, BadRequestData, NgsiLdError, ResourceNotFound
from smartby.ngsild.timestamps import format_datetime, now
from smartby.records.devices import Device, PayloadProfile

DEVICE_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,128}$")
"""Device ids are one MQTT topic level and one URL path segment: no `/`, `+`, `#` or spaces."""
PROFILE_NAME = DEVICE_ID
KEY = re.compile(r"^[ -~]{16,256}$")
"""A key a device presents in an HTTP header: printable ASCII."""
DEV_EUI = re.compile(r"^[0-9a-f]{16}$")
SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_VERIFIED_MAX = 100_000
LOOKUP_SECONDS = 5.0
"""How long the uplink path trusts a device or profile it looked up."""
DEFAULT_DECODER: dict[str, Any] = {"kind": "json"}
"""A device with neither profile nor decoder sends a flat JSON object of attribute values."""
DEVICE_MEMBERS = frozenset(
    {
        "id",
        "entityId",
        "entityType",
        "key",
        "profile",
        "decoder",
        "devEui",
        "location",
        "organisation",
        "context",
        "commands",
        "downlink",
        "reportingInterval",
    }
)
MAX_INTERVAL = 7 * 86400.0
"""The longest reporting interval a device or profile may declare (a week, in seconds)."""


PROFILE_MEMBERS = frozenset({"name", "decoder", "description", "commands", "downlink", "reportingInterval"})


def check_interval(value: Any) -> float | None:
    """A declared reporting interval: seconds, a number over 0 and at most a week (None: none)."""
    if value is None:
        return None
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0 < value <= MAX_INTERVAL
        or value != value
    ):
        raise BadRequestData("reportingInterval must be a number of seconds over 0, at most 604800")
    return float(value)


def hash_key(key: str, *, generated: bool = False) -> str:
    """The stored form of a key: scrypt for a chosen key, salted SHA-256 for a generated one."""
    salt = secrets.token_bytes(16)
    if generated:
        return f"sha256${salt.hex()}${hashlib.sha256(salt + key.encode()).hexdigest()}"
    digest = hashlib.scrypt(key.encode(), salt=salt, **SCRYPT)
    return f"scrypt${salt.hex()}${digest.hex()}"


def key_matches(key_hash: str, key: str) -> bool:
    try:
        scheme, salt, expected = key_hash.split("$")
        salt_bytes, expected_bytes = bytes.fromhex(salt), bytes.fromhex(expected)
    except ValueError:
        return False
    if scheme == "sha256":
        digest = hashlib.sha256(salt_bytes + key.encode()).digest()
    elif scheme == "scrypt":
        digest = hashlib.scrypt(key.encode(), salt=salt_bytes, **SCRYPT)
    else:
        return False
    return hmac.compare_digest(digest, expected_bytes)


async def _stored(key: str, generated: bool) -> str:
    """A generated key hashed at once; a chosen one with scrypt, in a thread."""
    return hash_key(key, generated=True) if generated else await asyncio.to_thread(hash_key, key)


def new_key() -> str:
    return secrets.token_urlsafe(32)


def _dev_eui(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).replace("-", "").replace(":", "").lower()
    if not DEV_EUI.match(text):
        raise BadRequestData(f"devEui must be 16 hexadecimal digits, not {value!r}")
    return text


def _point(value: Any) -> dict[str, Any] | None:
    if value is None:
        return None
    coordinates = value.get("coordinates") if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or value.get("type") != "Point"
        or not isinstance(coordinates, list)
        or len(coordinates) not in (2, 3)
        or not all(
            isinstance(c, int | float) and not isinstance(c, bool) and math.isfinite(c) for c in coordinates
        )
    ):
        raise BadRequestData('location must be a GeoJSON Point: {"type": "Point", "coordinates": [lon, lat]}')
    if not (-180 <= coordinates[0] <= 180 and -90 <= coordinates[1] <= 90):
        raise BadRequestData("location: longitude -180..180 and latitude -90..90")
    return {"type": "Point", "coordinates": coordinates}


def _optional_text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is not None and (not isinstance(value, str) or not value or len(value) > 1024):
        raise BadRequestData(f"{name} must be a non-empty string")
    return value


def check_commands(spec: Any) -> dict[str, Any] | None:
    """A `commands` declaration (encodings by command name) that builds, or None."""
    if spec is None:
        return None
    try:
        build_commands(spec)
    except ProfileError as error:
        raise BadRequestData(f"commands: {error}") from None
    return dict(spec)


def check_downlink(spec: Any, *, profile: Any = None, complete: bool = True) -> dict[str, Any] | None:
    """A downlink declaration that works (with its profile's, for a device's), or None."""
    try:
        downlink_of(spec, complete=False)
        downlink_of(merged(profile, spec), complete=complete)
    except ValueError as error:
        raise BadRequestData(str(error)) from None
    return None if spec is None else dict(spec)


def check_decoder(spec: Any) -> dict[str, Any]:
    """A decoder declaration that builds (BadRequestData saying why not)."""
    try:
        build(spec)
    except ProfileError as error:
        raise BadRequestData(f"decoder: {error}") from None
    return dict(spec)


class DeviceRegistry:
    """Devices and payload profiles of every tenant, over a device store."""

    def __init__(self, store: DeviceStore) -> None:
        self.store = store
        self._verified: dict[tuple[str, str, str], bytes] = {}
        self._decoders: dict[tuple[str, str, str], Decoder] = {}
        self._recent: dict[tuple[str, str, str], tuple[float, Any]] = {}
        """Devices and profiles looked up lately: (kind, tenant, key) -> (when, record or None)."""

    async def _cached(self, kind: str, tenant: str, key: str, load: Callable[[], Awaitable[Any]]) -> Any:
        """A lookup on the uplink path, remembered for LOOKUP_SECONDS: another process's change to
        the registry is seen that much later, this process's at once."""
        moment = time.monotonic()
        found = self._recent.get((kind, tenant, key))
        if found is not None and moment - found[0] < LOOKUP_SECONDS:
            return found[1]
        value = await load()
        if len(self._recent) >= _VERIFIED_MAX:
            self._recent.clear()
        self._recent[(kind, tenant, key)] = (moment, value)
        return value

    def _peek(self, kind: str, tenant: str, key: str) -> tuple[bool, Any]:
        """(True, what `_cached` would return) when that needs no lookup; (False, None) otherwise."""
        found = self._recent.get((kind, tenant, key))
        if found is not None and time.monotonic() - found[0] < LOOKUP_SECONDS:
            return True, found[1]
        return False, None

    def _forget(self) -> None:
        self._recent.clear()

    # -- devices -----------------------------------------------------------------------------------

    async def register(
        self, tenant: str, body: Any, *, replace_existing: bool = False
    ) -> tuple[Device, str | None]:
        """Register a device from its JSON description; the generated key when none was given
        (shown once, never stored). Replacing a device without giving a key keeps its key."""
        if not isinstance(body, dict):
            raise BadRequestData("A device is described by a JSON object")
        check_nesting("A device", body)
        unknown = set(body) - DEVICE_MEMBERS
        if unknown:
            raise BadRequestData(f"Unknown device members: {', '.join(sorted(unknown))}")
        device_id = body.get("id")
        if not isinstance(device_id, str) or not DEVICE_ID.match(device_id):
            raise BadRequestData("id must be 1 to 128 of A-Z a-z 0-9 _ . : -")
        entity_id = check_entity_id(body.get("entityId"), "entityId")
        entity_type = check_name(body.get("entityType"))
        profile = _optional_text(body, "profile")
        decoder = body.get("decoder")
        if profile is not None and decoder is not None:
            raise BadRequestData("Give a device a profile or a decoder, not both")
        found_profile = None if profile is None else await self.store.get_profile(tenant, profile)
        if profile is not None and found_profile is None:
            raise BadRequestData(f"No payload profile {profile!r}")
        if decoder is not None:
            decoder = check_decoder(decoder)
        if profile is not None and body.get("commands") is not None:
            raise BadRequestData("A device with a profile takes its commands from the profile")
        commands = check_commands(body.get("commands"))
        downlink = check_downlink(
            body.get("downlink"), profile=None if found_profile is None else found_profile.downlink
        )
        key = body.get("key")
        generated = None
        if key is None:
            key = generated = new_key()
        elif not isinstance(key, str) or not KEY.match(key):
            raise BadRequestData("key must be 16 to 256 printable ASCII characters (it goes in a header)")
        context = _optional_text(body, "context")
        dev_eui = _dev_eui(body.get("devEui"))
        existing = await self.store.get_device(tenant, device_id)
        if existing is not None and not replace_existing:
            raise AlreadyExists(f"Device {device_id} already exists")
        keep_key = existing is not None and body.get("key") is None
        if keep_key:
            generated = None
        if dev_eui is not None:
            holder = await self.store.device_by_eui(tenant, dev_eui)
            if holder is not None and holder.id != device_id:
                raise AlreadyExists(f"DevEUI {dev_eui} belongs to device {holder.id}")
        stamp = format_datetime(now())
        device = Device(
            id=device_id,
            tenant=tenant,
            entity_id=entity_id,
            entity_type=entity_type,
            key_hash=(
                existing.key_hash if existing and keep_key else await _stored(key, generated is not None)
            ),
            created_at=existing.created_at if existing else stamp,
            modified_at=stamp,
            profile=profile,
            decoder=decoder,
            dev_eui=dev_eui,
            location=_point(body.get("location")),
            organisation=_optional_text(body, "organisation"),
            context=context,
            commands=commands,
            downlink=downlink,
            reporting_interval=check_interval(body.get("reportingInterval")),
        )
        await self.store.put_device(device)
        self._forget()
        return device, generated

    async def get(self, tenant: str, device_id: str) -> Device:
        device = await self.store.get_device(tenant, device_id)
        if device is None:
            raise ResourceNotFound(f"Device {device_id} does not exist")
        return device

    async def find(self, tenant: str, device_id: str | None, dev_eui: str | None) -> Device | None:
        """The device an uplink names, by id or else by DevEUI; None if there is none."""
        found: Device | None
        if device_id is not None:
            found = await self._cached(
                "id", tenant, device_id, lambda: self.store.get_device(tenant, device_id)
            )
            return found
        if dev_eui is None:
            return None
        try:
            eui = _dev_eui(dev_eui)
        except NgsiLdError:
            return None
        if eui is None:
            return None
        found = await self._cached("eui", tenant, eui, lambda: self.store.device_by_eui(tenant, eui))
        return found

    async def find_many(self, tenant: str, device_ids: list[str]) -> None:
        """Look the devices of these ids up in one query, for `find` and `find_now` to answer from
        memory for the next LOOKUP_SECONDS (a device not registered is remembered as None)."""
        found = await self.store.get_devices(tenant, device_ids)
        moment = time.monotonic()
        if len(self._recent) + len(device_ids) >= _VERIFIED_MAX:
            self._recent.clear()
        for device_id in device_ids:
            self._recent[("id", tenant, device_id)] = (moment, found.get(device_id))

    def find_now(self, tenant: str, device_id: str | None, dev_eui: str | None) -> tuple[bool, Device | None]:
        """`find` without waiting, for the uplink path's synchronous fast lane: (True, the device or
        None) when the answer is in memory, (False, None) when only `find` can tell."""
        if device_id is not None:
            return self._peek("id", tenant, device_id)
        if dev_eui is None:
            return True, None
        try:
            eui = _dev_eui(dev_eui)
        except NgsiLdError:
            return True, None
        if eui is None:
            return True, None
        return self._peek("eui", tenant, eui)

    def authenticated_now(self, device: Device, credential: str) -> bool:
        """Whether `credential` is the device's key as verified before (False: only `authenticate`,
        which may run scrypt, can tell)."""
        remembered = self._verified.get((device.tenant, device.id, device.key_hash))
        if remembered is None:
            return False
        quick = hashlib.sha256(device.key_hash.encode() + credential.encode()).digest()
        return hmac.compare_digest(remembered, quick)

    def interval_now(self, device: Device) -> float | None:
        """How often the device reports (seconds): its own `reportingInterval`, else its profile's
        as looked up lately (right after `decoder_now` or `decoder_for` found it), else None."""
        if device.reporting_interval is not None or device.profile is None:
            return device.reporting_interval
        known, profile = self._peek("profile", device.tenant, device.profile)
        return profile.reporting_interval if known and profile is not None else None

    def decoder_now(self, device: Device) -> Decoder | None:
        """`decoder_for` without waiting: the decoder when it is built and its profile was looked up
        lately; None when only `decoder_for` can tell (or say that the profile is gone)."""
        if device.profile is None:
            return self._decoders.get((device.tenant, "device:" + device.id, device.modified_at))
        known, profile = self._peek("profile", device.tenant, device.profile)
        if not known or profile is None:
            return None
        return self._decoders.get((device.tenant, "profile:" + profile.name, profile.modified_at))

    async def list_devices(self, tenant: str, limit: int = 100, offset: int = 0) -> list[Device]:
        return await self.store.list_devices(tenant, limit, offset)

    async def remove(self, tenant: str, device_id: str) -> None:
        self._forget()
        if not await self.store.delete_device(tenant, device_id):
            raise ResourceNotFound(f"Device {device_id} does not exist")

    async def authenticate(self, device: Device, credential: str | None) -> bool:
        if not credential:
            return False
        salt = device.key_hash.encode()
        quick = hashlib.sha256(salt + credential.encode()).digest()
        remembered = self._verified.get((device.tenant, device.id, device.key_hash))
        if remembered is not None and hmac.compare_digest(remembered, quick):
            return True
        matches = (
            key_matches(device.key_hash, credential)
            if device.key_hash.startswith("sha256$")
            else await asyncio.to_thread(key_matches, device.key_hash, credential)
        )
        if not matches:
            return False
        if len(self._verified) >= _VERIFIED_MAX:
            self._verified.clear()
        self._verified[(device.tenant, device.id, device.key_hash)] = quick
        return True

    async def decoder_for(self, device: Device) -> Decoder:
        """The device's decoder, built once per version of its declaration (ProfileError when its
        profile is gone)."""
        if device.profile is None:
            cache_key = (device.tenant, "device:" + device.id, device.modified_at)
            if cache_key not in self._decoders:
                self._decoders[cache_key] = build(device.decoder or DEFAULT_DECODER)
            return self._decoders[cache_key]
        name = device.profile
        profile = await self._cached(
            "profile", device.tenant, name, lambda: self.store.get_profile(device.tenant, name)
        )
        if profile is None:
            raise ProfileError(f"the device's payload profile {device.profile!r} does not exist")
        cache_key = (device.tenant, "profile:" + profile.name, profile.modified_at)
        if cache_key not in self._decoders:
            if len(self._decoders) > 10_000:
                self._decoders.clear()
            self._decoders[cache_key] = build(profile.decoder)
        return self._decoders[cache_key]

    # -- payload profiles --------------------------------------------------------------------------

    async def put_profile(self, tenant: str, name: str, body: Any) -> PayloadProfile:
        """Create or replace a named decoder; `body` is {"decoder": {...}, "description": "..."}."""
        if not PROFILE_NAME.match(name):
            raise BadRequestData("A profile name is 1 to 128 of A-Z a-z 0-9 _ . : -")
        if not isinstance(body, dict) or "decoder" not in body:
            raise BadRequestData('A payload profile is {"decoder": {...}, "description": "..."}')
        check_nesting("A payload profile", body)
        unknown = set(body) - PROFILE_MEMBERS
        if unknown or body.get("name", name) != name:
            raise BadRequestData(
                "A payload profile holds name, decoder, commands, downlink, reportingInterval and "
                "description only"
            )
        decoder = check_decoder(body["decoder"])
        stamp = format_datetime(now())
        existing = await self.store.get_profile(tenant, name)
        profile = PayloadProfile(
            tenant,
            name,
            decoder,
            _optional_text(body, "description"),
            existing.created_at if existing else stamp,
            stamp,
            check_commands(body.get("commands")),
            check_downlink(body.get("downlink"), complete=False),
            check_interval(body.get("reportingInterval")),
        )
        await self.store.put_profile(profile)
        self._forget()
        return profile

    async def get_profile(self, tenant: str, name: str) -> PayloadProfile:
        profile = await self.store.get_profile(tenant, name)
        if profile is None:
            raise ResourceNotFound(f"Payload profile {name} does not exist")
        return profile

    async def list_profiles(self, tenant: str) -> list[PayloadProfile]:
        return await self.store.list_profiles(tenant)

    async def remove_profile(self, tenant: str, name: str) -> None:
        self._forget()
        if not await self.store.delete_profile(tenant, name):
            raise ResourceNotFound(f"Payload profile {name} does not exist")


def device_view(device: Device) -> dict[str, Any]:
    """A device as the API and CLI show it: everything but the key hash."""
    view: dict[str, Any] = {"id": device.id, "entityId": device.entity_id, "entityType": device.entity_type}
    for name, value in (
        ("profile", device.profile),
        ("decoder", device.decoder),
        ("devEui", device.dev_eui),
        ("location", device.location),
        ("organisation", device.organisation),
        ("context", device.context),
        ("commands", device.commands),
        ("downlink", device.downlink),
        ("reportingInterval", device.reporting_interval),
    ):
        if value is not None:
            view[name] = value
    view["createdAt"] = device.created_at
    view["modifiedAt"] = device.modified_at
    return view


def profile_view(profile: PayloadProfile) -> dict[str, Any]:
    view: dict[str, Any] = {"name": profile.name, "decoder": profile.decoder}
    if profile.commands is not None:
        view["commands"] = profile.commands
    if profile.downlink is not None:
        view["downlink"] = profile.downlink
    if profile.reporting_interval is not None:
        view["reportingInterval"] = profile.reporting_interval
    if profile.description is not None:
        view["description"] = profile.description
    view["createdAt"] = profile.created_at
    view["modifiedAt"] = profile.modified_at
    return view
