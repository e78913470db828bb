"""History rows: how an attribute instance is laid out as a row and read back, as pure functions."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smartby.ngsild.entity import ATTRIBUTE_TYPES, NULL_URI, UNITLESS, VALUE_MEMBER, Instance
from smartby.ngsild.timestamps import from_micros, to_micros
from smartby.store import history_rows
from smartby.store.history_rows import (
    DELETED,
    HAS_OBSERVED,
    INSTANCE_PREFIX,
    KIND_MASK,
    Clock,
    HistoryRow,
    deletion_row,
    instance_from_row,
    instance_number,
    instance_row,
)
from smartby.store.kinds import KIND_CODE

NS = "https://example.org/ns/"
TENTITY, NAME_ID, DATASET_ID = 7, 3, 5
RECORDED = to_micros("2024-05-01T10:00:00.250Z")
COLUMN_MEMBERS = frozenset(
    {"type", "observedAt", "unitCode", "datasetId", "createdAt", "modifiedAt", "deletedAt", "instanceId"}
)
"""Members of an instance that have a column of their own, or are the row's own (not in `extra`)."""
ROUND_TRIP = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


class Terms:
    """Term ids as a store hands them out: one per distinct text, and back."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        return self.ids.setdefault(text, len(self.ids) + 1)

    def text(self, term_id: int | None) -> str | None:
        return None if term_id is None else {v: k for k, v in self.ids.items()}[term_id]


def read_back(row: HistoryRow, terms: Terms, dataset: str | None) -> Instance:
    """What a store does with a row it reads: the term and dataset ids resolved to their texts."""
    _tentity, _name, _dataset, at, number, created, modified, code, num, value, unit, extra = row
    return instance_from_row(
        at, number, created, modified, code, num, value, terms.text(unit), extra, dataset
    )


def round_trip(instance: Instance, number: int = 42, recorded_at: int = RECORDED) -> Instance:
    terms = Terms()
    row = instance_row(TENTITY, NAME_ID, DATASET_ID, number, instance, recorded_at, Clock(), terms)
    return read_back(row, terms, instance.get("datasetId"))


def as_recorded(instance: Instance, number: int = 42, recorded_at: int = RECORDED) -> Instance:
    """The instance as history gives it back: its own system members replaced by the row's."""
    kept = {k: v for k, v in instance.items() if k not in ("instanceId", "createdAt", "modifiedAt")}
    return {
        **kept,
        "instanceId": f"{INSTANCE_PREFIX}{number}",
        "createdAt": from_micros(recorded_at),
        "modifiedAt": from_micros(recorded_at),
    }


# ----------------------------------------------------------------------------------------------------
# Strategies

texts = st.text(max_size=10).filter(lambda text: text != NULL_URI)
uris = st.builds("urn:ngsi-ld:{}:{}".format, st.sampled_from(["Vehicle", "Lamp"]), st.integers(0, 999))
json_ints = st.integers(-(2**53), 2**53)
floats = st.floats(allow_nan=False, allow_infinity=False)
json_values = st.recursive(
    st.none() | st.booleans() | json_ints | floats | texts,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(texts, children, max_size=3),
    max_leaves=6,
)
json_objects = st.dictionaries(texts, json_values, min_size=1, max_size=3)
moments = st.integers(to_micros("1900-01-01T00:00:00Z"), to_micros("2100-01-01T00:00:00Z"))
"""Times in microseconds, before 1970 too."""
positions = st.tuples(st.floats(-180, 180), st.floats(-90, 90)).map(list)
geometries = positions.map(lambda p: {"type": "Point", "coordinates": p}) | st.lists(
    positions, min_size=2, max_size=3
).map(lambda line: {"type": "LineString", "coordinates": line})
language_maps = st.dictionaries(st.sampled_from(["en", "da", "de", "@none"]), texts, min_size=1, max_size=3)

VALUES: dict[str, st.SearchStrategy[Any]] = {
    "Property": st.one_of(
        st.integers(-(2**63), 2**63 - 1), floats, texts, st.booleans(), json_objects, st.lists(json_values)
    ),
    "Relationship": uris | st.lists(uris, min_size=1, max_size=3),
    "GeoProperty": geometries,
    "LanguageProperty": language_maps,
    "VocabProperty": uris | st.lists(uris, min_size=1, max_size=3),
    "ListProperty": st.lists(json_values, max_size=4),
    "ListRelationship": st.lists(uris.map(lambda uri: {"object": uri}), max_size=3),
    "JsonProperty": json_values.filter(lambda value: value is not None),
}


def test_every_attribute_kind_has_a_value_strategy() -> None:
    assert set(VALUES) == set(ATTRIBUTE_TYPES) == set(VALUE_MEMBER)


KINDS = st.sampled_from(ATTRIBUTE_TYPES)
sub_attributes = st.fixed_dictionaries(
    {"type": st.just("Property"), "value": json_ints | texts},
    optional={"observedAt": moments.map(from_micros), "unitCode": st.sampled_from(["MTR", "CEL"])},
)


@st.composite
def instances(draw: st.DrawFn, kinds: st.SearchStrategy[str] = KINDS) -> Instance:
    kind = draw(kinds)
    instance: Instance = {"type": kind, VALUE_MEMBER[kind]: draw(VALUES[kind])}
    if draw(st.booleans()):
        instance["observedAt"] = from_micros(draw(moments))
    if kind not in UNITLESS and draw(st.booleans()):
        instance["unitCode"] = draw(st.sampled_from(["MTR", "CEL", "KMH"]))
    if draw(st.booleans()):
        instance["datasetId"] = draw(uris)
    if kind == "Relationship" and draw(st.booleans()):
        instance["objectType"] = NS + "Vehicle"
    if kind == "LanguageProperty" and draw(st.booleans()):
        instance["lang"] = "en"
    for name in draw(st.lists(st.sampled_from(["accuracy", "source", "note"]), unique=True, max_size=2)):
        instance[NS + name] = draw(sub_attributes)
    if draw(st.booleans()):
        # What the broker stamps: the row's own times and number replace them.
        instance["createdAt"] = instance["modifiedAt"] = "2020-01-01T00:00:00Z"
        instance["instanceId"] = f"{INSTANCE_PREFIX}1"
    return instance


# ----------------------------------------------------------------------------------------------------
# An instance and its row


@ROUND_TRIP
@given(instances(), st.integers(0, 2**62), moments)
def test_an_instance_reads_back_from_its_row(instance: Instance, number: int, recorded_at: int) -> None:
    assert round_trip(instance, number, recorded_at) == as_recorded(instance, number, recorded_at)


@pytest.mark.parametrize("kind", ATTRIBUTE_TYPES)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_each_attribute_kind_reads_back(kind: str, data: st.DataObject) -> None:
    instance = data.draw(instances(st.just(kind)))
    back = round_trip(instance)
    assert back["type"] == kind
    assert back[VALUE_MEMBER[kind]] == instance[VALUE_MEMBER[kind]]
    assert back == as_recorded(instance)


@ROUND_TRIP
@given(instances(), moments)
def test_the_row_lays_out_time_kind_number_value_unit_and_extra(instance: Instance, recorded_at: int) -> None:
    terms = Terms()
    row = instance_row(TENTITY, NAME_ID, DATASET_ID, 9, instance, recorded_at, Clock(), terms)
    tentity, name_id, dataset_id, at, number, created, modified, code, num, value, unit, extra = row
    assert (tentity, name_id, dataset_id, number, created, modified) == (
        TENTITY,
        NAME_ID,
        DATASET_ID,
        9,
        recorded_at,
        None,
    )
    kind = instance["type"]
    observed = instance.get("observedAt")
    assert at == (to_micros(observed) if observed is not None else recorded_at)
    assert code & KIND_MASK == KIND_CODE[kind]
    assert bool(code & HAS_OBSERVED) == (observed is not None)
    assert not code & DELETED
    held = instance[VALUE_MEMBER[kind]]
    if kind == "Property" and type(held) in (int, float):
        assert (num, value) == (held, None)
    else:
        assert num is None and value is not None and orjson.loads(value) == held
    assert terms.text(unit) == instance.get("unitCode")
    left = {k: v for k, v in instance.items() if k not in COLUMN_MEMBERS and k != VALUE_MEMBER[kind]}
    assert (orjson.loads(extra) if extra is not None else {}) == left


def test_numbers_go_to_num_and_everything_else_to_json() -> None:
    terms = Terms()

    def columns(instance: Instance) -> tuple[Any, str | None]:
        row = instance_row(1, 1, 1, 1, instance, RECORDED, Clock(), terms)
        return row[8], row[9]

    assert columns({"type": "Property", "value": 21}) == (21, None)
    assert columns({"type": "Property", "value": 21.5}) == (21.5, None)
    assert columns({"type": "Property", "value": True}) == (None, "true")
    assert columns({"type": "Property", "value": "21"}) == (None, '"21"')
    assert columns({"type": "Property", "value": {"a": 1}}) == (None, '{"a":1}')
    assert columns({"type": "ListProperty", "valueList": [1, 2]}) == (None, "[1,2]")
    assert columns({"type": "JsonProperty", "json": 3}) == (None, "3")
    assert columns({"type": "Relationship", "object": "urn:ngsi-ld:Lamp:1"}) == (None, '"urn:ngsi-ld:Lamp:1"')


def test_a_full_instance_reads_back_with_its_members_and_sub_attributes() -> None:
    instance: Instance = {
        "type": "Property",
        "value": 17.5,
        "observedAt": "1969-07-20T20:17:40.123Z",
        "unitCode": "CEL",
        "datasetId": "urn:ngsi-ld:Dataset:raw",
        NS + "accuracy": {"type": "Property", "value": 0.5, "unitCode": "CEL"},
        NS + "providedBy": {"type": "Relationship", "object": "urn:ngsi-ld:Device:1"},
    }
    terms = Terms()
    row = instance_row(TENTITY, NAME_ID, DATASET_ID, 12, instance, RECORDED, Clock(), terms)
    assert row[3] == to_micros("1969-07-20T20:17:40.123Z") < 0
    assert orjson.loads(row[11] or "{}") == {
        NS + "accuracy": instance[NS + "accuracy"],
        NS + "providedBy": instance[NS + "providedBy"],
    }
    assert read_back(row, terms, "urn:ngsi-ld:Dataset:raw") == {
        **instance,
        "instanceId": "urn:ngsi-ld:instance:12",
        "createdAt": "2024-05-01T10:00:00.250Z",
        "modifiedAt": "2024-05-01T10:00:00.250Z",
    }


def test_an_observed_at_with_an_offset_reads_back_in_utc() -> None:
    back = round_trip({"type": "Property", "value": 1, "observedAt": "2024-01-01T13:00:00+01:00"})
    assert back["observedAt"] == "2024-01-01T12:00:00Z"


def test_a_row_without_observed_at_is_at_its_recording_and_reads_back_without_one() -> None:
    terms = Terms()
    row = instance_row(1, 1, 1, 1, {"type": "Property", "value": 1}, RECORDED, Clock(), terms)
    assert row[3] == RECORDED and not row[7] & HAS_OBSERVED
    assert "observedAt" not in read_back(row, terms, None)


def test_a_modified_row_reads_back_with_its_modified_at() -> None:
    code = KIND_CODE["Property"]
    later = RECORDED + 1_000_000
    instance = instance_from_row(RECORDED, 3, RECORDED, later, code, 4, None, None, None, None)
    assert instance == {
        "type": "Property",
        "value": 4,
        "instanceId": "urn:ngsi-ld:instance:3",
        "createdAt": "2024-05-01T10:00:00.250Z",
        "modifiedAt": "2024-05-01T10:00:01.250Z",
    }


# ----------------------------------------------------------------------------------------------------
# Deletions


@pytest.mark.parametrize("kind", ATTRIBUTE_TYPES)
@pytest.mark.parametrize("dataset", [None, "urn:ngsi-ld:Dataset:a"])
def test_a_deletion_row_reads_back_as_the_ngsild_null_with_deleted_at(kind: str, dataset: str | None) -> None:
    deleted_at = to_micros("2024-06-01T08:30:00Z")
    row = deletion_row(TENTITY, NAME_ID, DATASET_ID, 77, kind, deleted_at)
    assert row[:5] == (TENTITY, NAME_ID, DATASET_ID, deleted_at, 77)
    assert row[7] == KIND_CODE[kind] | DELETED
    assert row[8:] == (None, None, None, None)
    expected: Instance = {"type": kind, VALUE_MEMBER[kind]: NULL_URI, "deletedAt": "2024-06-01T08:30:00Z"}
    if dataset is not None:
        expected["datasetId"] = dataset
    expected |= {
        "instanceId": "urn:ngsi-ld:instance:77",
        "createdAt": "2024-06-01T08:30:00Z",
        "modifiedAt": "2024-06-01T08:30:00Z",
    }
    assert read_back(row, Terms(), dataset) == expected


@given(st.sampled_from(ATTRIBUTE_TYPES), moments)
def test_a_deletion_never_reads_back_as_observed(kind: str, deleted_at: int) -> None:
    row = deletion_row(1, 1, 1, 1, kind, deleted_at)
    back = read_back(row, Terms(), None)
    assert "observedAt" not in back
    assert back["deletedAt"] == from_micros(deleted_at)
    assert back[VALUE_MEMBER[kind]] == NULL_URI


# ----------------------------------------------------------------------------------------------------
# instanceIds


@given(st.integers(0, 2**63 - 1))
def test_an_instance_id_names_its_row_number(number: int) -> None:
    assert instance_number(f"{INSTANCE_PREFIX}{number}") == number
    row_instance = instance_from_row(RECORDED, number, RECORDED, None, 0, 1, None, None, None, None)
    assert instance_number(row_instance["instanceId"]) == number


@pytest.mark.parametrize(
    "instance_id",
    [
        "urn:ngsi-ld:instance:",
        "urn:ngsi-ld:instance:-1",
        "urn:ngsi-ld:instance:1a",
        "urn:ngsi-ld:instance: 1",
        "urn:ngsi-ld:instance:1.5",
        "urn:ngsi-ld:Instance:1",
        "urn:ngsi-ld:instances:1",
        "urn:example:instance:1",
        "1",
        "",
    ],
)
def test_an_instance_id_not_of_ours_names_no_row(instance_id: str) -> None:
    assert instance_number(instance_id) is None


@pytest.mark.parametrize(
    "digits",
    ["\u00b2", "\u2460", "\u0661\u0662", "\uff11\uff12"],
    ids=["superscript two", "circled one", "arabic-indic 12", "fullwidth 12"],
)
def test_only_ascii_digits_name_a_row(digits: str) -> None:
    assert instance_number(INSTANCE_PREFIX + digits) is None


# ----------------------------------------------------------------------------------------------------
# Clock


class CountingConversion:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, text: str) -> int:
        self.calls.append(text)
        return to_micros(text)


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> CountingConversion:
    counting = CountingConversion()
    monkeypatch.setattr(history_rows, "to_micros", counting)
    return counting


def _texts(count: int) -> list[str]:
    return [from_micros(RECORDED + n * 1_000_000) for n in range(count)]


def test_a_clock_converts_each_text_once(conversions: CountingConversion) -> None:
    clock = Clock()
    first, second = _texts(2)
    assert [clock(first), clock(second), clock(first), clock(first)] == [
        RECORDED,
        RECORDED + 1_000_000,
        RECORDED,
        RECORDED,
    ]
    assert conversions.calls == [first, second]


def test_a_clock_forgets_what_it_saw_when_it_has_seen_many(conversions: CountingConversion) -> None:
    clock = Clock()
    seen = _texts(66)
    for text in seen[:65]:
        clock(text)
    clock(seen[0])
    assert len(conversions.calls) == 65, "65 texts are remembered"
    clock(seen[65])
    clock(seen[0])
    assert conversions.calls[65:] == [seen[65], seen[0]], "the 66th forgets the others"
    assert clock(seen[0]) == RECORDED and len(conversions.calls) == 67


def test_one_clock_serves_a_batch_of_rows_sharing_their_time(conversions: CountingConversion) -> None:
    clock, terms = Clock(), Terms()
    observed = "2024-05-01T09:00:00Z"
    rows = [
        instance_row(
            1, name, 1, name, {"type": "Property", "value": name, "observedAt": observed}, 0, clock, terms
        )
        for name in range(5)
    ]
    assert {row[3] for row in rows} == {to_micros(observed)}
    assert conversions.calls == [observed]
