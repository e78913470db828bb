"""Device topics: what a topic says about tenant and device, as pure functions."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from smartby.ingest.topics import (
    DeviceTopic,
    chirpstack_topic,
    decode_level,
    device_topic,
    downlink_topic,
    encode_level,
    parse_ack_topic,
    parse_topic,
    subscriptions,
)

# Topics are UTF-8 text: no lone surrogates.
ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1)
tenants = st.one_of(st.just(""), st.just("-"), ids)
levels = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1).filter(lambda t: "/" not in t)


@given(tenants, ids)
def test_a_device_topic_reads_back_as_its_tenant_and_device(tenant: str, device: str) -> None:
    topic = device_topic(tenant, device)
    assert parse_topic(topic) == DeviceTopic("smartby", tenant, device)
    assert topic.count("/") == 3
    assert "+" not in topic and "#" not in topic


@given(st.text())
def test_any_text_is_a_topic_or_none(topic: str) -> None:
    found = parse_topic(topic, {"app": "aarhus"})
    assert found is None or isinstance(found, DeviceTopic)


@given(
    st.lists(st.one_of(st.sampled_from(["smartby", "up", "-", "%", "%2F", "%zz", ""]), st.text()), max_size=7)
)
def test_topics_made_of_likely_levels_never_crash(parts: list[str]) -> None:
    found = parse_topic("/".join(parts))
    if found is not None:
        assert found.device_id


@given(levels, levels)
def test_a_chirpstack_topic_names_the_devEUI_and_the_mapped_tenant(application: str, dev_eui: str) -> None:
    topic = chirpstack_topic(application, dev_eui)
    assert parse_topic(topic, {application: "aarhus"}) == DeviceTopic(
        "chirpstack", "aarhus", dev_eui, application
    )
    assert parse_topic(topic) == DeviceTopic("chirpstack", "", dev_eui, application)


@given(st.text(st.characters(blacklist_categories=("Cs",))))
def test_levels_round_trip(text: str) -> None:
    assert decode_level(encode_level(text)) == text


def test_reserved_characters_are_percent_encoded() -> None:
    assert device_topic("aarhus/north", "rain+gauge#1%") == "smartby/aarhus%2Fnorth/rain%2Bgauge%231%25/up"
    assert device_topic("", "x") == "smartby/-/x/up"
    assert device_topic("-", "x") == "smartby/%2D/x/up"
    assert parse_topic("smartby/-/%C3%A6bler/up") == DeviceTopic("smartby", "", "æbler")
    assert parse_topic("smartby/k%C3%B8benhavn/lamp-1/up") == DeviceTopic("smartby", "københavn", "lamp-1")


def test_topics_that_name_no_device() -> None:
    for topic in (
        "smartby/-//up",
        "smartby//x/up",
        "smartby/-/bad%zzescape/up",
        "smartby/-/%FF/up",
        "smartby/-/x/down",
        "smartby/-/x/y/up",
        "application//device/0011/event/up",
        "application/1/device/0011/event/join",
        "",
    ):
        assert parse_topic(topic) is None, topic


def test_subscriptions_are_shared_unless_the_group_is_empty() -> None:
    assert subscriptions(["smartby", "chirpstack"], "smartby") == [
        "$share/smartby/smartby/+/+/up",
        "$share/smartby/application/+/device/+/event/up",
    ]
    assert subscriptions(["chirpstack"], "") == ["application/+/device/+/event/up"]


@given(tenants, ids)
def test_an_ack_topic_names_the_device_its_downlink_topic_names(tenant: str, device: str) -> None:
    assert downlink_topic("smartby/{tenant}/{device}/down", tenant, device).endswith("/down")
    found = parse_ack_topic(downlink_topic("smartby/{tenant}/{device}/ack", tenant, device))
    assert found is not None and (found.tenant, found.device_id) == (tenant, device)
    chirpstack = parse_ack_topic("application/app-1/device/0011223344556677/event/ack", {"app-1": "aarhus"})
    assert chirpstack is not None and chirpstack.family == "chirpstack" and chirpstack.tenant == "aarhus"
