"""The city map: every device of the testbed with its domain, position and state, the district
outlines, and what changed since a client last looked.

One snapshot of the current context is kept per process and read again through the broker when it
is older than `max_age` seconds (or five times as long as reading it took, whichever is longer) and
someone asks; readers share it, so a thousand open dashboards cost one read every few seconds, and
none costs nothing.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from smartby.broker import DEFAULT_TENANT, Broker
from smartby.ngsild.entity import Entity, Instance, instance_value
from smartby.ngsild.reads import EntityQuery, EntitySelector
from smartby.ngsild.timestamps import now as wall_clock
from smartby.ngsild.typequery import TypeName
from smartby.web.readmodel.domains import (
    DEFAULT_VOCAB,
    DISTRICT_IRI,
    TYPE_IRIS,
    domain_of,
    short_name,
    state_of,
)

LOCATION = "https://uri.etsi.org/ngsi-ld/location"
PAGE = 5000
"""Entities read per query while taking a snapshot."""
KEPT_VERSIONS = 64
"""Snapshots whose changes are remembered; a client further behind gets the whole list again."""


@dataclass(frozen=True, slots=True)
class Device:
    """One device entity as the dashboard sees it: values and units by short attribute name."""

    id: str
    type: str
    domain: str
    state: str
    lon: float | None
    lat: float | None
    values: Mapping[str, Any]
    units: Mapping[str, str]

    @property
    def marker(self) -> tuple[str, str, float | None, float | None]:
        return (self.domain, self.state, self.lon, self.lat)


@dataclass(frozen=True)
class CitySnapshot:
    """The devices at one moment. `now` is the later of the wall clock and the newest observedAt
    among them (a simulator in accelerated time runs ahead of the clock)."""

    version: str
    now: datetime
    devices: dict[str, Device]
    names: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)
    """(type, short attribute name) -> the attribute IRIs seen with that name, for history queries."""

    def of_domain(self, domain: str, type_name: str | None = None) -> list[Device]:
        return [
            device
            for device in self.devices.values()
            if device.domain == domain and (type_name is None or device.type == type_name)
        ]

    def iris(self, type_name: str, name: str) -> tuple[str, ...]:
        return self.names.get((type_name, name), ())


@dataclass(frozen=True)
class MarkerChanges:
    """Markers changed since a version, up to `snapshot`: `reset` means the client's version is
    unknown here (another process, or too old) and `markers` holds every marker."""

    snapshot: CitySnapshot
    reset: bool
    markers: list[Device]
    removed: list[str]


@dataclass(frozen=True)
class District:
    id: str
    name: str
    population: float | None
    rings: list[list[tuple[float, float]]]
    """Outer rings of its polygons, (lon, lat) pairs."""


_SHORT: dict[str, str] = {}
"""Short names of the attribute IRIs seen (a city has few)."""
UNIT_TEXT = DEFAULT_VOCAB + "unitText"


def read_device(entity: Entity, type_name: str) -> tuple[Device | None, str | None, dict[str, str]]:
    """A device from an entity in the internal form, the newest observedAt among its attributes (to
    the second), and its attributes' IRIs by short name."""
    values: dict[str, Any] = {}
    units: dict[str, str] = {}
    iris: dict[str, str] = {}
    newest = ""
    lon = lat = None
    for iri, instances in entity.items():
        if ":" not in iri or not isinstance(instances, list) or not instances:
            continue
        instance = instances[0] if len(instances) == 1 else default_instance(instances)
        name = _SHORT.get(iri)
        if name is None:
            name = _SHORT[iri] = short_name(iri)
        iris[name] = iri
        observed = instance.get("observedAt")
        if observed is not None and observed[:19] > newest:
            newest = observed[:19]
        if iri == LOCATION:
            lon, lat = point_of(instance.get("value"))
            continue
        value = instance.get("value", instance.get("object"))
        if isinstance(value, str | int | float):
            values[name] = value
        unit = instance.get("unitCode")
        if unit is None and UNIT_TEXT in instance:
            unit = unit_of(instance)
        if unit:
            units[name] = unit
    domain = domain_of(type_name, values)
    if domain is None:
        return None, newest or None, iris
    state = state_of(type_name, domain, values)
    return Device(entity["id"], type_name, domain, state, lon, lat, values, units), newest or None, iris


def default_instance(instances: list[Instance]) -> Instance:
    """The instance without a datasetId, else the first."""
    for instance in instances:
        if "datasetId" not in instance:
            return instance
    return instances[0]


def unit_of(instance: Instance) -> str | None:
    """An instance's unitCode, or the value of a `unitText` sub-property."""
    code = instance.get("unitCode")
    if isinstance(code, str):
        return code
    sub = instance.get(UNIT_TEXT)
    if isinstance(sub, dict) and isinstance(sub.get("value"), str):
        text: str = sub["value"]
        return text
    return None


def point_of(geometry: Any) -> tuple[float | None, float | None]:
    if isinstance(geometry, dict) and geometry.get("type") == "Point":
        coordinates = geometry.get("coordinates")
        if isinstance(coordinates, list) and len(coordinates) >= 2:
            lon, lat = coordinates[0], coordinates[1]
            if isinstance(lon, int | float) and isinstance(lat, int | float):
                return float(lon), float(lat)
    return None, None


def outer_rings(geometry: Any) -> list[list[tuple[float, float]]]:
    """The outer rings of a Polygon or MultiPolygon."""
    if not isinstance(geometry, dict):
        return []
    polygons: Iterable[Any]
    if geometry.get("type") == "Polygon":
        polygons = [geometry.get("coordinates")]
    elif geometry.get("type") == "MultiPolygon":
        polygons = geometry.get("coordinates") or []
    else:
        return []
    rings = []
    for polygon in polygons:
        if isinstance(polygon, list) and polygon and isinstance(polygon[0], list):
            rings.append([(float(p[0]), float(p[1])) for p in polygon[0]])
    return rings


class CityMap:
    """Snapshots of the city's devices, read through the broker and shared by every reader."""

    def __init__(
        self,
        broker: Broker,
        *,
        tenant: str = DEFAULT_TENANT,
        max_age: float = 2.0,
        patience: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """A snapshot is read again once older than `max_age` seconds and than `patience` times
        the time its reading took (so reading a large city never takes most of a core)."""
        self._broker = broker
        self._tenant = tenant
        self._max_age = max_age
        self._patience = patience
        self._clock = clock
        self._epoch = secrets.token_hex(4)
        self._serial = 0
        self._snapshot: CitySnapshot | None = None
        self._taken = 0.0
        self._took = 0.0
        self._lock = asyncio.Lock()
        self._changes: deque[tuple[int, frozenset[str], frozenset[str]]] = deque(maxlen=KEPT_VERSIONS)
        self._districts: tuple[float, list[District]] | None = None

    def _fresh(self) -> bool:
        return self._snapshot is not None and self._clock() - self._taken < max(
            self._max_age, self._patience * self._took
        )

    async def snapshot(self) -> CitySnapshot:
        """The current snapshot, read again if it is old (see __init__)."""
        if self._fresh():
            assert self._snapshot is not None
            return self._snapshot
        async with self._lock:
            if self._fresh():
                assert self._snapshot is not None
                return self._snapshot
            started = self._clock()
            fresh = await self._read()
            self._remember(fresh)
            self._taken = started
            self._took = self._clock() - started
            return fresh

    async def changes(self, since: str | None) -> MarkerChanges:
        """The markers that changed after version `since` (every marker if it is None or unknown)."""
        snapshot = await self.snapshot()
        serial = self._serial_of(since)
        oldest = self._changes[0][0] if self._changes else self._serial + 1
        if serial is None or serial < oldest - 1 or serial > self._serial:
            return MarkerChanges(snapshot, True, list(snapshot.devices.values()), [])
        changed: set[str] = set()
        removed: set[str] = set()
        for number, updated, gone in self._changes:
            if number > serial:
                changed |= updated
                changed -= gone
                removed |= gone
                removed -= updated
        markers = [snapshot.devices[i] for i in sorted(changed) if i in snapshot.devices]
        return MarkerChanges(snapshot, False, markers, sorted(removed))

    async def districts(self) -> list[District]:
        """The District entities' outlines (read again at most every 30 s: they rarely change)."""
        if self._districts is not None and self._clock() - self._districts[0] < 30:
            return self._districts[1]
        found: list[District] = []
        for entity in await self._all_of(DISTRICT_IRI):
            values = {
                short_name(k): instance_value(default_instance(v))
                for k, v in entity.items()
                if isinstance(v, list) and v and ":" in k
            }
            rings = outer_rings(values.get("location"))
            if not rings:
                continue
            name = values.get("name")
            population = values.get("population")
            found.append(
                District(
                    entity["id"],
                    name if isinstance(name, str) else entity["id"].rsplit(":", 1)[-1],
                    float(population) if isinstance(population, int | float) else None,
                    rings,
                )
            )
        self._districts = (self._clock(), found)
        return found

    # -- reading -------------------------------------------------------------------------------

    async def _all_of(self, type_iri: str) -> list[Entity]:
        entities: list[Entity] = []
        selector = EntitySelector(types=TypeName(type_iri))
        while True:
            query = EntityQuery(selectors=(selector,), limit=PAGE, offset=len(entities))
            page = (await self._broker.query_entities(self._tenant, query)).entities
            entities.extend(page)
            if len(page) < PAGE:
                return entities

    async def _read(self) -> CitySnapshot:
        devices: dict[str, Device] = {}
        names: dict[tuple[str, str], set[str]] = {}
        newest = ""
        for type_name, iri in TYPE_IRIS.items():
            for entity in await self._all_of(iri):
                device, observed, iris = read_device(entity, type_name)
                if observed is not None and observed > newest:
                    newest = observed
                for name, attribute in iris.items():
                    names.setdefault((type_name, name), set()).add(attribute)
                if device is not None:
                    devices[device.id] = device
        moment = wall_clock()
        if newest:
            observed_moment = datetime.fromisoformat(newest).replace(tzinfo=UTC)
            moment = max(moment, observed_moment)
        self._serial += 1
        return CitySnapshot(
            f"{self._epoch}.{self._serial}",
            moment,
            devices,
            {key: tuple(sorted(found)) for key, found in names.items()},
        )

    def _remember(self, fresh: CitySnapshot) -> None:
        previous = self._snapshot.devices if self._snapshot is not None else {}
        updated = frozenset(
            device_id
            for device_id, device in fresh.devices.items()
            if device_id not in previous or previous[device_id].marker != device.marker
        )
        gone = frozenset(previous.keys() - fresh.devices.keys())
        self._changes.append((self._serial, updated, gone))
        self._snapshot = fresh

    def _serial_of(self, version: str | None) -> int | None:
        if not version:
            return None
        epoch, _, serial = version.partition(".")
        if epoch != self._epoch or not serial.isdigit():
            return None
        return int(serial)
