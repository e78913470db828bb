"""The device registry: validated registrations, keys kept only as hashes, decoders per profile."""

from __future__ import annotations

from typing import Any

import pytest

from smartby.ingest.decoders import ProfileError
from smartby.ingest.registry import DeviceRegistry, device_view, hash_key, key_matches
from smartby.ngsild.errors import AlreadyExists, BadRequestData, ResourceNotFound
from smartby.store import Store

SENSOR = {
    "id": "traffic-158324",
    "entityId": "urn:ngsi-ld:TrafficFlowObserved:158324",
    "entityType": "TrafficFlowObserved",
    "devEui": "70-B3-D5-7E-D0-00-12-34",
    "location": {"type": "Point", "coordinates": [10.1396, 56.2149]},
}


def test_keys_are_hashed_with_a_salt_of_their_own() -> None:
    first, second = hash_key("correct horse battery"), hash_key("correct horse battery")
    assert first != second and first.startswith("scrypt$") and "correct" not in first
    assert key_matches(first, "correct horse battery") and key_matches(second, "correct horse battery")
    assert not key_matches(first, "correct horse battery!")
    assert not key_matches("sha1$00$00", "x") and not key_matches("garbage", "x")


def test_generated_keys_are_hashed_with_salted_sha256() -> None:
    first, second = hash_key("k" * 43, generated=True), hash_key("k" * 43, generated=True)
    assert first != second and first.startswith("sha256$") and "kkk" not in first
    assert key_matches(first, "k" * 43) and key_matches(second, "k" * 43)
    assert not key_matches(first, "k" * 42)


async def test_a_generated_key_is_stored_as_sha256_a_chosen_one_as_scrypt(store: Store) -> None:
    registry = DeviceRegistry(store)
    generated, key = await registry.register("", SENSOR)
    chosen_body = {**SENSOR, "id": "t2", "devEui": None, "key": "a chosen key, 16+"}
    chosen, _ = await registry.register("", chosen_body)
    assert key is not None and generated.key_hash.startswith("sha256$")
    assert chosen.key_hash.startswith("scrypt$")
    assert await registry.authenticate(generated, key)
    assert not await registry.authenticate(generated, key + "x")
    assert await registry.authenticate(chosen, "a chosen key, 16+")


async def test_register_authenticate_and_remove(store: Store) -> None:
    registry = DeviceRegistry(store)
    device, key = await registry.register("", SENSOR)
    assert key is not None and len(key) >= 32
    assert device.dev_eui == "70b3d57ed0001234" and key not in device.key_hash
    assert "keyHash" not in device_view(device) and "key_hash" not in device_view(device)
    assert await registry.authenticate(device, key)
    assert await registry.authenticate(device, key)
    assert not await registry.authenticate(device, key + "x")
    assert not await registry.authenticate(device, None)
    assert await registry.find("", None, "70B3D57ED0001234") == device
    assert await registry.find("", "traffic-158324", None) == device
    assert await registry.find("", None, "not hex") is None
    with pytest.raises(AlreadyExists):
        await registry.register("", SENSOR)
    with pytest.raises(AlreadyExists, match="DevEUI"):
        await registry.register("", {**SENSOR, "id": "other"})
    replaced, given = await registry.register(
        "", {**SENSOR, "key": "a key of sixteen+"}, replace_existing=True
    )
    assert given is None and replaced.created_at == device.created_at
    assert await registry.authenticate(replaced, "a key of sixteen+")
    assert not await registry.authenticate(replaced, key)
    await registry.remove("", "traffic-158324")
    with pytest.raises(ResourceNotFound):
        await registry.get("", "traffic-158324")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "a/b"}, "id must be"),
        ({"entityId": "not a uri"}, "entityId"),
        ({"entityType": "bad type"}, "bad type"),
        ({"devEui": "1234"}, "devEui"),
        ({"location": {"type": "Point", "coordinates": [200, 0]}}, "longitude"),
        ({"location": {"type": "LineString", "coordinates": [[0, 0], [1, 1]]}}, "GeoJSON Point"),
        ({"profile": "missing"}, "No payload profile"),
        (
            {
                "decoder": {
                    "kind": "bytes",
                    "length": 1,
                    "fields": [{"attribute": "x", "offset": 0, "type": "u16"}],
                }
            },
            "outside",
        ),
        ({"key": "short"}, "key must be"),
        ({"colour": "red"}, "Unknown device members"),
    ],
)
async def test_registrations_that_cannot_work(store: Store, change: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequestData, match=message):
        await DeviceRegistry(store).register("", {**SENSOR, **change})


async def test_profiles_decode_for_their_devices(store: Store) -> None:
    registry = DeviceRegistry(store)
    await registry.put_profile(
        "", "ers", {"decoder": {"kind": "plugin", "name": "elsys"}, "description": "Elsys ERS"}
    )
    device, _ = await registry.register("", {**SENSOR, "profile": "ers"})
    decoder = await registry.decoder_for(device)
    assert decoder(bytes.fromhex("0100e2"), {})[0].value == 22.6
    with pytest.raises(BadRequestData, match="decoder"):
        await registry.put_profile("", "bad", {"decoder": {"kind": "nope"}})
    await registry.remove_profile("", "ers")
    with pytest.raises(ProfileError, match="does not exist"):
        await registry.decoder_for(device)
    plain, _ = await registry.register("", {**SENSOR, "id": "plain", "devEui": None})
    assert (await registry.decoder_for(plain))(b'{"intensity": 4}', {})[0].value == 4
