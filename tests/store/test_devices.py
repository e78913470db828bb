"""Devices, payload profiles and dead letters on every backend."""

from __future__ import annotations

from smartby.records.devices import DeadLetter, DeadLetterQuery, Device, PayloadProfile
from smartby.store import Store

LAMP = Device(
    id="lamp-1",
    tenant="aarhus",
    entity_id="urn:ngsi-ld:Streetlight:1",
    entity_type="Streetlight",
    key_hash="scrypt$00$00",
    created_at="2024-01-01T00:00:00Z",
    modified_at="2024-01-01T00:00:00Z",
    profile="lamp-frame",
    dev_eui="70b3d57ed0001234",
    location={"type": "Point", "coordinates": [10.2, 56.15]},
    organisation="Aarhus Kommune",
)


async def test_devices_are_kept_per_tenant_and_found_by_dev_eui(store: Store) -> None:
    await store.put_device(LAMP)
    await store.put_device(
        Device(**{**LAMP.__dict__, "id": "lamp-2", "dev_eui": None, "decoder": {"kind": "json"}})
    )
    await store.put_device(Device(**{**LAMP.__dict__, "tenant": "odense"}))
    assert await store.get_device("aarhus", "lamp-1") == LAMP
    assert await store.device_by_eui("aarhus", "70b3d57ed0001234") == LAMP
    assert await store.device_by_eui("aarhus", "0000000000000000") is None
    many = await store.get_devices("aarhus", ["lamp-2", "nobody", "lamp-1", "lamp-1"])
    assert sorted(many) == ["lamp-1", "lamp-2"] and many["lamp-1"] == LAMP
    assert await store.get_devices("aarhus", []) == {}
    assert [d.id for d in await store.list_devices("aarhus", 10, 0)] == ["lamp-1", "lamp-2"]
    assert [d.id for d in await store.list_devices("aarhus", 1, 1)] == ["lamp-2"]
    second = await store.get_device("aarhus", "lamp-2")
    assert second is not None and second.decoder == {"kind": "json"} and second.dev_eui is None
    changed = Device(
        **{**LAMP.__dict__, "entity_id": "urn:ngsi-ld:Streetlight:9", "modified_at": "2024-02-01T00:00:00Z"}
    )
    await store.put_device(changed)
    assert await store.get_device("aarhus", "lamp-1") == changed
    assert await store.delete_device("aarhus", "lamp-1")
    assert not await store.delete_device("aarhus", "lamp-1")
    assert await store.get_device("aarhus", "lamp-1") is None
    assert await store.get_device("odense", "lamp-1") is not None


async def test_payload_profiles(store: Store) -> None:
    profile = PayloadProfile(
        "",
        "ers",
        {"kind": "plugin", "name": "elsys"},
        "Elsys ERS",
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z",
    )
    await store.put_profile(profile)
    assert await store.get_profile("", "ers") == profile
    assert await store.get_profile("other", "ers") is None
    assert await store.list_profiles("") == [profile]
    assert await store.delete_profile("", "ers")
    assert await store.list_profiles("") == []


async def test_dead_letters_keep_the_raw_bytes_and_filter(store: Store) -> None:
    raw = bytes(range(256))
    await store.add_dead_letters(
        [
            DeadLetter("", "2024-01-01T00:00:01Z", "http", "unknown device", raw, None, None),
            DeadLetter(
                "", "2024-01-01T00:00:02Z", "mqtt", "wrong key", b"\x00", "lamp-1", "smartby/-/lamp-1/up"
            ),
            DeadLetter("", "2024-01-01T00:00:03Z", "http", "undecodable", b"{", "lamp-1", None),
            DeadLetter("odense", "2024-01-01T00:00:03Z", "http", "undecodable", b"{", "lamp-1", None),
        ]
    )
    everything = await store.list_dead_letters("", DeadLetterQuery())
    assert [x.reason for x in everything] == ["undecodable", "wrong key", "unknown device"]
    assert everything[2].payload == raw and everything[1].topic == "smartby/-/lamp-1/up"
    assert await store.count_dead_letters("", DeadLetterQuery()) == 3
    assert await store.count_dead_letters("", DeadLetterQuery(device_id="lamp-1")) == 2
    assert [x.reason for x in await store.list_dead_letters("", DeadLetterQuery(transport="http"))] == [
        "undecodable",
        "unknown device",
    ]
    window = DeadLetterQuery(since="2024-01-01T00:00:02Z", until="2024-01-01T00:00:03Z")
    assert [x.reason for x in await store.list_dead_letters("", window)] == ["wrong key"]
    assert [x.reason for x in await store.list_dead_letters("", DeadLetterQuery(limit=1, offset=1))] == [
        "wrong key"
    ]
    first = everything[0]
    assert first.id is not None and await store.get_dead_letter("", first.id) == first
    assert await store.get_dead_letter("odense", first.id) is None
    assert await store.delete_dead_letter("", first.id)
    assert not await store.delete_dead_letter("", first.id)
    assert await store.purge_dead_letters("", DeadLetterQuery(transport="mqtt")) == 1
    assert await store.purge_dead_letters("", DeadLetterQuery()) == 1
    assert await store.count_dead_letters("", DeadLetterQuery()) == 0
    assert await store.count_dead_letters("odense", DeadLetterQuery()) == 1
