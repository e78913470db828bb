"""The NGSI-LD temporal API as pure code (ETSI GS CIM 009 v1.8, clauses 4.5.7-4.5.9, 4.5.19, 4.11,
5.7.3, 5.7.4, 6.18-6.22): temporal query parameters, aggregation periods and methods, the temporal
representations of an entity (normalized, concise, simplified `temporalValues`, aggregated
`aggregatedValues`) and the temporal entity input of POST /temporal/entities.

A history instance is an instance of `smartby.ngsild.entity` (normalized, expanded sub-attribute
names) with an `instanceId` and its `createdAt` and `modifiedAt` (UTC strings ending in Z); the
instance that records an attribute's deletion holds the NGSI-LD Null and a `deletedAt`.

Semantics chosen where the specification leaves room, with the reference they follow:

- Time ranges are half-open: `before` selects moments < timeAt, `after` moments >= timeAt and
  `between` timeAt <= moment < endTimeAt. Clause 4.11 names the relations without settling the
  boundaries; these are Stellio's, and the ETSI suite's cases (021_14, 020_13) agree with them.
- The moment of an instance is the value of the timeproperty. An instance without observedAt is taken
  as observed when it was recorded (its createdAt, else its deletedAt), so history written
  without observedAt stays visible to `observedAt` queries. For createdAt, modifiedAt and deletedAt
  there is no fallback: `timeproperty=deletedAt` selects the deletions (suite 020_17, 020_18).
- timeAt or endTimeAt without timerel is an error (Stellio: "'timerel' and 'time' must be used in
  conjunction"); endTimeAt is required for, and only kept with, `between`.
- aggrPeriodDuration defaults to PT0S, one period spanning the whole range (4.5.19; suite 5244_01_01).
  Periods are aligned on an origin: timeAt for `after` and `between`, otherwise the oldest moment
  among the entity's selected instances (suite 020_11: buckets start at the first observation).
  Periods without any value are left out, as SQL's GROUP BY does.
- stddev is the population standard deviation (the values of a period are all its values, not a
  sample of them); Stellio uses the sample standard deviation instead. Numbers and booleans (true 1,
  false 0) feed sum, avg, min, max, stddev and sumsq, as floats; a period without them has min and
  max of its strings (code point order) or else of its DateTime, Date or Time values (chronological),
  and null for the others. Only Property values are aggregated beyond totalCount and distinctCount.
- The simplified representation pairs each value with the moment that selected it (suite 020_18),
  one object per datasetId (suite 021_18); JSON, vocab and language maps keep their wrapping
  object (`{"json": ...}`, `{"vocab": ...}`, `{"languageMap": ...}`) as in the keyValues form.
  Values keep their JSON type: the suite writes integers as floats in 021_14 and part of 021_18,
  but as integers in 020_10 and every normalized case, and 4.5.9 converts nothing.
- A query's q and geo-query are checked against the instances in the time window (5.7.4.4 S2, S3;
  suite 5744_*): a term holds when one instance satisfies it, as for the instances of several
  datasetIds of a current entity.
- Pages of instances (6.3.10) hold at most a given number of instances per attribute and datasetId,
  forwards from the least recent without lastN, backwards from the most recent with it; every
  attribute of every entity is cut at the same moment, so a page never skips instances of one
  attribute that another page would not hold (suite 020_13, 020_14, 021_15). The Content-Range
  start is the query's own bound where it has one (timeAt; endTimeAt backwards), else the first
  instance the page holds in its direction.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal, NamedTuple

import isodate  # type: ignore[import-untyped]
import orjson

from smartby.ngsild.context import Context
from smartby.ngsild.entity import (
    GEO_NAMES,
    INSTANCE_MEMBERS,
    NULL_URI,
    PROHIBITED_MEMBERS,
    VALUE_MEMBER,
    Instance,
    LanguagePreference,
    Renderer,
    check_entity_id,
    check_name,
    instance_value,
    is_entity_member,
    parse_instance,
    parse_scopes,
    parse_types,
)
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.geo import GeoQuery
from smartby.ngsild.query import Expr
from smartby.ngsild.scope import ScopeExpr
from smartby.ngsild.timestamps import format_datetime, from_micros, micros_of, parse_datetime

TIMERELS = ("before", "after", "between")
TIME_PROPERTIES = ("observedAt", "createdAt", "modifiedAt", "deletedAt")
AGGREGATION_METHODS = ("totalCount", "distinctCount", "sum", "avg", "min", "max", "stddev", "sumsq")
WHOLE_RANGE = "PT0S"
"""The default aggrPeriodDuration: one period spanning the whole time range of the query."""

TemporalForm = Literal["normalized", "concise", "temporalValues"]

SIMPLIFIED_MEMBER = {
    "Property": "values",
    "GeoProperty": "values",
    "Relationship": "objects",
    "LanguageProperty": "languageMaps",
    "VocabProperty": "vocabs",
    "ListProperty": "valueLists",
    "ListRelationship": "objectLists",
    "JsonProperty": "jsons",
}
"""The member of the simplified temporal representation that lists an attribute's values (4.5.9)."""

AggregateValue = int | float | str | dict[str, Any] | None
"""The result of one aggregation method for one period (a DateTime min/max keeps its JSON object)."""

_NUMBER = r"\d+(?:[.,]\d+)?"
_DURATION = re.compile(
    rf"P(?:{_NUMBER}W|(?:\d+Y)?(?:\d+M)?(?:{_NUMBER}D)?"
    rf"(?:T(?=\d)(?:{_NUMBER}H)?(?:{_NUMBER}M)?(?:{_NUMBER}S)?)?)"
)
"""P[n]Y[n]M[n]DT[n]H[n]M[n]S or P[n]W (4.5.19); years and months whole, other parts may have fractions."""
_MAX_MONTHS = 12 * 10_000
_LAST_N_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_AVERAGE_MONTH = timedelta(days=30.436875)
_MAX_MOMENT = datetime.max.replace(tzinfo=UTC)
_MIN_MOMENT = datetime.min.replace(tzinfo=UTC)
_TEMPORAL_TYPES = ("DateTime", "Date", "Time")


# ----------------------------------------------------------------------------------------------------
# Aggregation periods


@dataclass(frozen=True)
class AggregationPeriod:
    """An aggrPeriodDuration: whole years and months (calendar arithmetic) plus a fixed part."""

    duration: Any
    """What isodate parsed: a `timedelta`, or an `isodate.Duration` when years or months are given."""

    @classmethod
    def parse(cls, text: str) -> AggregationPeriod:
        """Read an ISO 8601 duration in the designator format; PT0S (or P0D) is the whole range."""
        if not isinstance(text, str) or _DURATION.fullmatch(text) is None or text in ("P", "PT"):
            raise BadRequestData(
                f"aggrPeriodDuration must be an ISO 8601 duration like PT1H, P1D or P1M, not {text!r}"
            )
        try:
            duration = isodate.parse_duration(text)
        except (ValueError, OverflowError, ArithmeticError):
            raise BadRequestData(f"aggrPeriodDuration {text!r} is out of range") from None
        period = cls(duration)
        if period.months() > _MAX_MONTHS or period.fixed() > timedelta(days=366 * 10_000):
            raise BadRequestData(f"aggrPeriodDuration {text!r} is out of range")
        return period

    def months(self) -> int:
        """The calendar part in months (years count twelve)."""
        if isinstance(self.duration, timedelta):
            return 0
        return int(self.duration.years) * 12 + int(self.duration.months)

    def fixed(self) -> timedelta:
        """The part of fixed length (weeks, days, hours, minutes, seconds)."""
        fixed: timedelta = self.duration if isinstance(self.duration, timedelta) else self.duration.tdelta
        return fixed

    def fixed_seconds(self) -> float | None:
        """The length in seconds, or None for a calendar period (with years or months)."""
        if self.months():
            return None
        return self.fixed().total_seconds()

    @property
    def whole_range(self) -> bool:
        """Whether this is a zero duration: one period spanning the whole time range."""
        return not self.months() and not self.fixed()

    def to_text(self) -> str:
        """The ISO 8601 text; `AggregationPeriod.parse(p.to_text())` is `p` again (P1W reads back as P7D)."""
        if self.whole_range:
            return WHOLE_RANGE
        return str(isodate.duration_isoformat(self.duration))

    def shift(self, origin: datetime, count: int) -> datetime:
        """`origin` moved by `count` periods. Calendar months are added to the origin's date (the day is
        clamped to the month's length), never accumulated, so periods do not drift: from 31 January
        by P1M gives 29 February, 31 March, 30 April. Moments beyond year 1 or 9999 are clamped."""
        try:
            moment = _add_months(origin, count * self.months()) if self.months() else origin
            return moment + count * self.fixed()
        except OverflowError:
            return _MAX_MOMENT if count > 0 else _MIN_MOMENT

    def buckets(self, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """The half-open periods [s, e) from `start` that cover [start, end); the last may reach past
        `end`. The whole-range period gives [(start, end)]; an empty range gives none."""
        if end <= start:
            return []
        if self.whole_range:
            return [(start, end)]
        periods: list[tuple[datetime, datetime]] = []
        low, count = start, 0
        while low < end:
            count += 1
            high = self.shift(start, count)
            if high <= low:
                break
            periods.append((low, high))
            low = high
        return periods

    def bucket_of(self, moment: datetime, origin: datetime) -> tuple[datetime, datetime]:
        """The period [s, e) aligned on `origin` that holds `moment` (which may precede `origin`)."""
        if self.whole_range:
            raise ValueError("The whole-range period has no buckets")
        months = self.months()
        if not months:
            count = (moment - origin) // self.fixed()
        else:
            approximate = months * _AVERAGE_MONTH + self.fixed()
            count = math.floor((moment - origin) / approximate)
            for _ in range(64):
                if self.shift(origin, count) > moment:
                    count -= 1
                elif self.shift(origin, count + 1) <= moment:
                    count += 1
                else:
                    break
        return self.shift(origin, count), self.shift(origin, count + 1)


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    if not 1 <= year <= 9999:
        raise OverflowError("year out of range")
    month += 1
    following = date(year + (month == 12), month % 12 + 1, 1)
    return moment.replace(year=year, month=month, day=min(moment.day, (following - timedelta(days=1)).day))


# ----------------------------------------------------------------------------------------------------
# Query parameters


@dataclass(frozen=True)
class TemporalQuery:
    """The temporal part of a temporal retrieval or query (6.18-6.22; TemporalQuery, 5.2.21).

    Times are aware UTC datetimes. `aggr_methods` is empty unless the aggregated representation
    was asked for, and `aggr_period` is then set (PT0S when absent).
    """

    timerel: str | None = None
    time_at: datetime | None = None
    end_time_at: datetime | None = None
    timeproperty: str = "observedAt"
    last_n: int | None = None
    aggr_methods: tuple[str, ...] = ()
    aggr_period: AggregationPeriod | None = None

    @property
    def aggregated(self) -> bool:
        """Whether the aggregated temporal representation is asked for."""
        return bool(self.aggr_methods)

    def range(self) -> tuple[datetime | None, datetime | None]:
        """(start, end) of the selected moments, start inclusive and end exclusive; None is unbounded."""
        if self.timerel == "before":
            return None, self.time_at
        if self.timerel == "after":
            return self.time_at, None
        if self.timerel == "between":
            return self.time_at, self.end_time_at
        return None, None

    def matches(self, moment: datetime | None) -> bool:
        """Whether an instance whose moment (see `moment_of`) is `moment` is selected."""
        if moment is None:
            return False
        start, end = self.range()
        return (start is None or moment >= start) and (end is None or moment < end)

    def moment_of(self, instance: Instance) -> datetime | None:
        """When an instance happened for this query's timeproperty (None: never, not selected)."""
        text = instance_time(instance, self.timeproperty)
        return _moment(text) if text is not None else None

    def select(self, instances: Iterable[Instance]) -> list[Instance]:
        """The instances of one attribute that match, oldest first, only the last `last_n` of them."""
        timed: list[tuple[datetime, Instance]] = []
        for instance in instances:
            moment = self.moment_of(instance)
            if moment is not None and self.matches(moment):
                timed.append((moment, instance))
        timed.sort(key=lambda pair: pair[0])
        selected = [instance for _, instance in timed]
        if self.last_n is not None:
            selected = selected[-self.last_n :]
        return selected

    def window(self, first: datetime, last: datetime) -> tuple[datetime, datetime]:
        """The (origin, end) of aggregation for an entity whose selected instances span [first, last]:
        the query's own bounds where it has them (timeAt for after and between, endTimeAt for
        between, timeAt for before), the instances' otherwise."""
        origin = first
        if self.timerel in ("after", "between") and self.time_at is not None:
            origin = self.time_at
        if self.timerel == "between" and self.end_time_at is not None:
            end = self.end_time_at
        elif self.timerel == "before" and self.time_at is not None:
            end = self.time_at
        else:
            end = last
        return origin, end


def instance_time(instance: Instance, timeproperty: str = "observedAt") -> str | None:
    """The date-time string that places an instance in time for `timeproperty`. An instance without
    observedAt counts as observed when it was recorded: its createdAt, else its deletedAt."""
    text = instance.get(timeproperty)
    if text is None and timeproperty == "observedAt":
        text = instance.get("createdAt", instance.get("deletedAt"))
    return text if isinstance(text, str) else None


def _moment(text: str) -> datetime | None:
    try:
        return parse_datetime(text).astimezone(UTC)
    except (BadRequestData, OverflowError):
        return None


def parse_temporal_query(
    *,
    timerel: str | None = None,
    time_at: str | None = None,
    end_time_at: str | None = None,
    timeproperty: str | None = None,
    last_n: str | None = None,
    aggr_methods: str | None = None,
    aggr_period_duration: str | None = None,
    aggregated: bool = False,
    required: bool = False,
) -> TemporalQuery:
    """The temporal query parameters of a request (None when absent), validated.

    `aggregated` says the aggregated representation is asked for (format or options
    `aggregatedValues`); aggrMethods is then required. With `required` (Query Temporal Evolution of
    Entities, 5.7.4) timerel and timeAt must be given. Every problem is a `BadRequestData`.
    """
    if timerel is None:
        if time_at is not None or end_time_at is not None:
            raise BadRequestData("timeAt and endTimeAt need timerel (before, after or between)")
        if required:
            raise BadRequestData("Querying the temporal evolution of entities needs timerel and timeAt")
    elif timerel not in TIMERELS:
        raise BadRequestData(f"timerel must be before, after or between, not {timerel!r}")
    elif time_at is None:
        raise BadRequestData(f"timerel={timerel} needs timeAt")
    start = _query_time(time_at, "timeAt") if time_at is not None else None
    end = _query_time(end_time_at, "endTimeAt") if end_time_at is not None else None
    if timerel == "between":
        if end is None:
            raise BadRequestData("timerel=between needs endTimeAt")
        if start is not None and end <= start:
            raise BadRequestData("endTimeAt must be later than timeAt")
    else:
        end = None
    if timeproperty is None:
        timeproperty = "observedAt"
    elif timeproperty not in TIME_PROPERTIES:
        raise BadRequestData(
            f"timeproperty must be observedAt, createdAt, modifiedAt or deletedAt, not {timeproperty!r}"
        )
    methods = _aggregation_methods(aggr_methods) if aggr_methods is not None else ()
    period = AggregationPeriod.parse(aggr_period_duration) if aggr_period_duration is not None else None
    if aggregated and not methods:
        raise BadRequestData("The aggregated representation (aggregatedValues) needs aggrMethods")
    return TemporalQuery(
        timerel=timerel,
        time_at=start,
        end_time_at=end,
        timeproperty=timeproperty,
        last_n=_last_n(last_n) if last_n is not None else None,
        aggr_methods=methods if aggregated else (),
        aggr_period=(period or AggregationPeriod.parse(WHOLE_RANGE)) if aggregated else None,
    )


def _query_time(text: str, what: str) -> datetime:
    if "T" not in text.upper():
        raise BadRequestData(f"{what} must be a date-time (4.6.3), not {text!r}")
    try:
        return parse_datetime(text, what).astimezone(UTC)
    except OverflowError:
        raise BadRequestData(f"{what} is out of range: {text!r}") from None


def _last_n(text: str) -> int:
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise BadRequestData(f"lastN must be a positive integer, not {text!r}")
    value = int(text)
    if value < 1:
        raise BadRequestData(f"lastN must be a positive integer, not {text!r}")
    if value > _LAST_N_MAX:
        raise BadRequestData(f"lastN is too large: {text}")
    return value


def _aggregation_methods(text: str) -> tuple[str, ...]:
    methods: list[str] = []
    for raw in text.split(","):
        method = raw.strip()
        if method not in AGGREGATION_METHODS:
            raise BadRequestData(
                f"{method!r} is not an aggregation method; aggrMethods takes {', '.join(AGGREGATION_METHODS)}"
            )
        if method not in methods:
            methods.append(method)
    return tuple(methods)


def temporal_query_from_json(
    temporal_q: object,
    aggr_params: object = None,
    *,
    aggregated: bool = False,
    required: bool = False,
) -> TemporalQuery:
    """The `temporalQ` member of a Query (POST /temporal/entityOperations/query, 5.2.21), with the
    Query's `aggrParams` (5.2.44) when given.

    Keys: timerel, timeAt, endTimeAt, timeproperty, lastN (a JSON integer), aggrMethods (an array of
    strings or one comma-separated string) and aggrPeriodDuration; aggrParams holds the last two and
    wins over temporalQ. aggrMethods anywhere asks for the aggregated representation (suite 021_27_07).
    """
    if temporal_q is None:
        temporal_q = {}
    if not isinstance(temporal_q, dict):
        raise BadRequestData("temporalQ must be a JSON object")
    if aggr_params is not None and not isinstance(aggr_params, dict):
        raise BadRequestData("aggrParams must be a JSON object")
    aggregation = {key: temporal_q[key] for key in ("aggrMethods", "aggrPeriodDuration") if key in temporal_q}
    aggregation.update(aggr_params or {})
    texts = {
        key: _json_text(temporal_q.get(key), key)
        for key in ("timerel", "timeAt", "endTimeAt", "timeproperty")
    }
    raw_last = temporal_q.get("lastN")
    if raw_last is not None and (type(raw_last) is not int):
        raise BadRequestData(f"lastN must be a positive integer, not {raw_last!r}")
    methods = aggregation.get("aggrMethods")
    if isinstance(methods, list):
        if not methods or not all(isinstance(method, str) for method in methods):
            raise BadRequestData(
                "aggrMethods must be a non-empty array of strings or a comma-separated string"
            )
        methods = ",".join(methods)
    methods_text = _json_text(methods, "aggrMethods")
    return parse_temporal_query(
        timerel=texts["timerel"],
        time_at=texts["timeAt"],
        end_time_at=texts["endTimeAt"],
        timeproperty=texts["timeproperty"],
        last_n=str(raw_last) if raw_last is not None else None,
        aggr_methods=methods_text,
        aggr_period_duration=_json_text(aggregation.get("aggrPeriodDuration"), "aggrPeriodDuration"),
        aggregated=aggregated or methods_text is not None,
        required=required,
    )


def _json_text(value: object, key: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise BadRequestData(f"{key} must be a string")


# ----------------------------------------------------------------------------------------------------
# Aggregation


class Bucket(NamedTuple):
    """One aggregation period [start, end), in microseconds since the epoch, and the value of each
    requested method in it."""

    start: int
    end: int
    values: dict[str, AggregateValue]


class AggregatedAttribute(NamedTuple):
    """The aggregates of one attribute's instances with one datasetId (None: the default instance)."""

    kind: str
    buckets: list[Bucket]
    dataset_id: str | None = None


def aggregate(
    instances: Iterable[Instance],
    methods: Sequence[str],
    period: AggregationPeriod,
    origin: datetime,
    end: datetime,
    *,
    timeproperty: str = "observedAt",
) -> list[Bucket]:
    """Aggregate an attribute's instances per period, oldest period first (4.5.19).

    The instances are those the query selected; deletions are left out. The whole-range period makes
    one bucket [origin, end); other periods are aligned on `origin` (see `TemporalQuery.window`), and
    periods without instances are left out.
    """
    groups: dict[tuple[datetime, datetime], list[Instance]] = {}
    for instance in instances:
        text = instance_time(instance, timeproperty)
        moment = _moment(text) if text is not None else None
        if moment is None or _is_deletion(instance):
            continue
        key = (origin, end) if period.whole_range else period.bucket_of(moment, origin)
        groups.setdefault(key, []).append(instance)
    return [
        Bucket(micros_of(start), micros_of(stop), _aggregates(group, methods))
        for (start, stop), group in sorted(groups.items())
    ]


def _is_deletion(instance: Instance) -> bool:
    return "deletedAt" in instance or instance_value(instance) == NULL_URI


def _aggregates(instances: list[Instance], methods: Sequence[str]) -> dict[str, AggregateValue]:
    values = [instance_value(instance) for instance in instances]
    property_values = [
        value for instance, value in zip(instances, values, strict=True) if instance.get("type") == "Property"
    ]
    numbers = [number for value in property_values if (number := _as_number(value)) is not None]
    results: dict[str, AggregateValue] = {}
    for method in methods:
        if method == "totalCount":
            results[method] = len(values)
        elif method == "distinctCount":
            results[method] = len({_distinct_key(value) for value in values})
        elif method in ("min", "max"):
            results[method] = _extreme(method, numbers, property_values)
        else:
            results[method] = _numeric(method, numbers) if numbers else None
    return results


def _as_number(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float):
        try:
            number = float(value)
        except OverflowError:
            return None
        return number if math.isfinite(number) else None
    return None


def _numeric(method: str, numbers: list[float]) -> float | None:
    """sum, avg, sumsq or stddev (population) of the numbers; None when it does not fit a float."""
    try:
        total = math.fsum(numbers)
        if method == "sum":
            result = total
        elif method == "avg":
            result = total / len(numbers)
        elif method == "sumsq":
            result = math.fsum(number * number for number in numbers)
        else:
            mean = total / len(numbers)
            result = math.sqrt(math.fsum((number - mean) ** 2 for number in numbers) / len(numbers))
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


def _extreme(method: str, numbers: list[float], values: list[Any]) -> AggregateValue:
    if numbers:
        return min(numbers) if method == "min" else max(numbers)
    texts = [value for value in values if isinstance(value, str)]
    if texts:
        return min(texts) if method == "min" else max(texts)
    for kind in _TEMPORAL_TYPES:
        timed = [(moment, value) for value in values if (moment := _temporal_value(value, kind)) is not None]
        if timed:
            timed.sort(key=lambda pair: pair[0])
            chosen: dict[str, Any] = timed[0][1] if method == "min" else timed[-1][1]
            return chosen
    return None


def _temporal_value(value: Any, kind: str) -> Any:
    """The Python value of a typed JSON-LD literal like {"@type": "DateTime", "@value": "...Z"}."""
    if not isinstance(value, dict) or value.get("@type") != kind or not isinstance(value.get("@value"), str):
        return None
    text = value["@value"]
    try:
        if kind == "DateTime":
            return parse_datetime(text).astimezone(UTC)
        if kind == "Date":
            return date.fromisoformat(text)
        parsed = time.fromisoformat(text)
        return parsed if parsed.tzinfo is None else parsed.replace(tzinfo=None)
    except (ValueError, BadRequestData, OverflowError):
        return None


def _distinct_key(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = _as_number(value)
        if number is not None:
            return ("number", number)
    try:
        return ("json", orjson.dumps(value, option=orjson.OPT_SORT_KEYS))
    except TypeError:
        return ("text", repr(value))


# ----------------------------------------------------------------------------------------------------
# Selecting entities by their instances, and pages of instances


def selects(
    attributes: Mapping[str, Sequence[Instance]],
    scopes: Sequence[str] | None,
    *,
    q: Expr | None = None,
    geo: GeoQuery | None = None,
    scope: ScopeExpr | None = None,
) -> bool:
    """Whether an entity whose instances in the time window are `attributes` (expanded names) is
    selected by a temporal query (5.7.4.4): `q` is checked against those instances (a term holds
    when one instance satisfies it), the geo-query against its GeoProperty instances among them,
    and the scope query against the entity's scope."""
    if q is not None and not q.matches(dict(attributes)):
        return False
    if geo is not None and not any(
        instance.get("type") == "GeoProperty" and geo.matches(instance.get("value"))
        for instance in attributes.get(geo.geoproperty, ())
    ):
        return False
    return scope is None or scope.matches(scopes or ())


@dataclass(frozen=True)
class InstancePage:
    """The part of the time range a response holds when an attribute had more instances in it than
    one response carries (6.3.10): 206 Partial Content with `Content-Range: date-time
    <start>-<end>/<size>`. `emptied` holds, per entity, the attributes left without any instance,
    with their attribute type, so they can still be shown (empty).

    `last` is the moment of `end`; `sent` the most instances one series (attribute and datasetId)
    has in the page; `overfull` says one series has more than the page size at a single moment,
    all of which the page holds (so that the next page can start after it). `periods` says the
    page holds aggregation periods, and `end` is the end of the last (which the next one starts
    at) rather than an instance's moment."""

    start: str
    end: str
    size: str
    emptied: list[dict[str, str]]
    backwards: bool = False
    last: datetime = _EPOCH
    sent: int = 0
    overfull: bool = False
    periods: bool = False

    @property
    def content_range(self) -> str:
        return f"date-time {self.start}-{self.end}/{self.size}"


def paginate(
    entities: Sequence[Mapping[str, list[Instance]]], limit: int, temporal: TemporalQuery
) -> tuple[list[dict[str, list[Instance]]], InstancePage | None]:
    """At most `limit` instances of each attribute and datasetId, as one response (6.3.10).

    Without lastN the page goes forwards from the least recent instance, with lastN (more than
    `limit`) backwards from the most recent one. Every attribute of every entity is cut at the
    same moment, between two moments, never between instances that share one: forwards the page
    holds every instance earlier than the first moment at which some series passes `limit`,
    backwards every instance later than the last such moment. (Should one series hold more than
    `limit` instances at that very moment, the page holds all of them: it is `overfull`.) So the
    next page (`next_window`) repeats nothing and leaves nothing out. The range runs from timeAt
    (after, between) or the earliest instance kept to the latest one kept, or backwards from
    timeAt (before), endTimeAt (between) or the latest instance kept to the earliest one kept;
    the size is lastN or "*". None when nothing was left out.

    `entities` may hold, of each series, only its first `limit` + 1 instances forwards (its last
    ones backwards): the page is the same.
    """
    backwards = temporal.last_n is not None
    if temporal.last_n is not None and temporal.last_n <= limit:
        return [dict(attributes) for attributes in entities], None
    cut: datetime | None = None
    for attributes in entities:
        for instances in attributes.values():
            for series in _by_dataset(instances).values():
                if len(series) <= limit:
                    continue
                timeline = sorted(moment for moment, _ in _timed(series, temporal.timeproperty))
                if len(timeline) <= limit:
                    continue
                edge = timeline[-limit - 1] if backwards else timeline[limit]
                if cut is None or (edge > cut if backwards else edge < cut):
                    cut = edge
    if cut is None:
        return [dict(attributes) for attributes in entities], None

    def inside(moment: datetime, *, overfull: bool) -> bool:
        if overfull:
            return moment >= cut if backwards else moment <= cut
        return moment > cut if backwards else moment < cut

    overfull = not any(
        inside(moment, overfull=False)
        for attributes in entities
        for instances in attributes.values()
        for moment, _ in _timed(instances, temporal.timeproperty)
    )
    kept: list[dict[str, list[Instance]]] = []
    emptied: list[dict[str, str]] = []
    moments: list[tuple[datetime, str]] = []
    sent = 0
    for attributes in entities:
        entity: dict[str, list[Instance]] = {}
        empty: dict[str, str] = {}
        for iri, instances in attributes.items():
            chosen = []
            for instance in instances:
                text = instance_time(instance, temporal.timeproperty)
                moment = _moment(text) if text is not None else None
                if moment is None:
                    chosen.append(instance)
                elif inside(moment, overfull=overfull):
                    chosen.append(instance)
                    moments.append((moment, text or ""))
            entity[iri] = chosen
            sent = max([sent, *(len(series) for series in _by_dataset(chosen).values())])
            if instances and not chosen:
                empty[iri] = str(instances[-1].get("type", "Property"))
        kept.append(entity)
        emptied.append(empty)
    last = min(moments) if backwards else max(moments)
    if backwards:
        bound = temporal.time_at if temporal.timerel == "before" else temporal.end_time_at
        start = format_datetime(bound) if bound is not None else max(moments)[1]
    else:
        bound = temporal.time_at if temporal.timerel in ("after", "between") else None
        start = format_datetime(bound) if bound is not None else min(moments)[1]
    size = str(temporal.last_n) if backwards else "*"
    page = InstancePage(start, last[1], size, emptied, backwards, last[0], sent, overfull)
    return kept, page


_MICROSECOND = timedelta(microseconds=1)


def next_window(temporal: TemporalQuery, page: InstancePage) -> TemporalQuery | None:
    """The temporal query of the page after `page` (6.3.10): the same window, from just after the
    page's end forwards (`after` includes its timeAt, and history keeps moments to the
    microsecond, so the next page starts a microsecond after `end`), or before its end backwards
    (`before` and the end of `between` exclude theirs), with lastN less what the fullest series
    sent. None when lastN is used up."""
    start, end = temporal.range()
    if page.backwards:
        assert temporal.last_n is not None
        remaining = temporal.last_n - page.sent
        if remaining < 1:
            return None
        if start is None:
            return dataclasses.replace(temporal, timerel="before", time_at=page.last, last_n=remaining)
        if page.last <= start:
            return None
        return dataclasses.replace(
            temporal, timerel="between", time_at=start, end_time_at=page.last, last_n=remaining
        )
    resume = page.last if page.periods else page.last + _MICROSECOND
    if end is not None and resume >= end:
        return None
    if end is None:
        return dataclasses.replace(temporal, timerel="after", time_at=resume, end_time_at=None)
    return dataclasses.replace(temporal, timerel="between", time_at=resume, end_time_at=end)


def paginate_periods(
    entities: Sequence[Mapping[str, Sequence[AggregatedAttribute]]], limit: int, temporal: TemporalQuery
) -> tuple[list[dict[str, list[AggregatedAttribute]]], InstancePage | None]:
    """At most `limit` aggregation periods of each attribute and datasetId, as one response (6.3.10,
    the aggregated representation 4.5.19), forwards: every period that ends by the start of the
    first period with which some series passes `limit`. The periods of every series must share
    their bounds (one origin: timeAt, or one entity's first instance), so that the cut is a bound
    of each and the next page (`next_window`, from the end of this one) goes on with the same
    periods. The range runs from timeAt (after, between) or the first period's start to the last
    period's end; the size is "*". None when nothing was left out."""
    cut: int | None = None
    for attributes in entities:
        for series in attributes.values():
            for attribute in series:
                if len(attribute.buckets) > limit:
                    edge = sorted(bucket.start for bucket in attribute.buckets)[limit]
                    cut = edge if cut is None else min(cut, edge)
    if cut is None:
        return [{iri: list(series) for iri, series in attributes.items()} for attributes in entities], None
    kept: list[dict[str, list[AggregatedAttribute]]] = []
    starts: list[int] = []
    ends: list[int] = []
    sent = 0
    for attributes in entities:
        entity: dict[str, list[AggregatedAttribute]] = {}
        for iri, series in attributes.items():
            trimmed = []
            for attribute in series:
                buckets = [bucket for bucket in attribute.buckets if bucket.end <= cut]
                if buckets:
                    trimmed.append(attribute._replace(buckets=buckets))
                    starts.append(min(bucket.start for bucket in buckets))
                    ends.append(max(bucket.end for bucket in buckets))
                    sent = max(sent, len(buckets))
            entity[iri] = trimmed
        kept.append(entity)
    if not ends:
        return [{iri: list(series) for iri, series in attributes.items()} for attributes in entities], None
    bound = temporal.time_at if temporal.timerel in ("after", "between") else None
    start = format_datetime(bound) if bound is not None else from_micros(min(starts))
    last = _EPOCH + timedelta(microseconds=max(ends))
    page = InstancePage(
        start, from_micros(max(ends)), "*", [{} for _ in entities], last=last, sent=sent, periods=True
    )
    return kept, page


def _timed(instances: Iterable[Instance], timeproperty: str) -> list[tuple[datetime, str]]:
    timed = []
    for instance in instances:
        text = instance_time(instance, timeproperty)
        moment = _moment(text) if text is not None else None
        if moment is not None and text is not None:
            timed.append((moment, text))
    return timed


# ----------------------------------------------------------------------------------------------------
# Output


def render_temporal_entity(
    entity_id: str,
    types: list[str],
    scope: list[str] | None,
    attributes: Mapping[str, list[Instance]],
    ctx: Context,
    *,
    form: TemporalForm = "normalized",
    sys_attrs: bool = False,
    lang: LanguagePreference | None = None,
    pick: set[str] | None = None,
    omit: set[str] | None = None,
    dataset_ids: set[str | None] | None = None,
    timeproperty: str = "observedAt",
    system: Mapping[str, str] | None = None,
    emptied: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The temporal representation of an entity (4.5.7 normalized, 4.5.8 concise, 4.5.9 simplified).

    `attributes` maps expanded names to history instances in the order to show (see
    `TemporalQuery.select`); an attribute without instances is left out. pick and omit hold "id",
    "type", "scope" and expanded attribute names, as for `entity.Renderer`; `system` holds the
    entity's own createdAt, modifiedAt and deletedAt, shown with `sys_attrs`.

    Normalized and concise: each attribute is an array of its instances (even of one), each with
    its instanceId; createdAt and modifiedAt only with `sys_attrs` (or when they are the
    timeproperty), deletedAt always. temporalValues: `{"type": ..., "values": [[value, time], ...]}`
    with the member named by `SIMPLIFIED_MEMBER`, one such object per datasetId.
    """
    renderer = Renderer(
        ctx,
        form="concise" if form == "concise" else "normalized",
        sys_attrs=sys_attrs,
        pick=pick,
        omit=omit,
        lang=lang,
    )
    out = _head(renderer, entity_id, types, scope, system)
    values = Renderer(ctx, form="keyValues", lang=lang)
    for iri, instances in attributes.items():
        if not renderer.wants(iri):
            continue
        if dataset_ids is not None:
            instances = [instance for instance in instances if instance.get("datasetId") in dataset_ids]
        if not instances:
            if emptied and iri in emptied:
                kind = emptied[iri]
                empty: Any = {"type": kind, SIMPLIFIED_MEMBER.get(kind, "values"): []}
                out[ctx.compact(iri)] = empty if form == "temporalValues" else []
            continue
        instances = [_as_shown(instance) for instance in instances]
        name = ctx.compact(iri)
        if form == "temporalValues":
            out[name] = _one_or_many(
                [
                    _simplified(group, values, timeproperty, dataset)
                    for dataset, group in _by_dataset(instances).items()
                ]
            )
        else:
            out[name] = [_temporal_instance(renderer, instance, timeproperty) for instance in instances]
    return out


def _as_shown(instance: Instance) -> Instance:
    """A recorded instance as the temporal representation shows it: the deletion of a
    LanguageProperty has the languageMap {"@none": "urn:ngsi-ld:null"} (4.5.7)."""
    if instance.get("type") == "LanguageProperty" and instance.get("languageMap") == NULL_URI:
        return {**instance, "languageMap": {"@none": NULL_URI}}
    return instance


def _head(
    renderer: Renderer,
    entity_id: str,
    types: list[str],
    scope: list[str] | None,
    system: Mapping[str, str] | None,
) -> dict[str, Any]:
    """The id, type and scope of a temporal entity, with its system attributes when asked for: in
    the temporal representation these include a deleted entity's deletedAt (6.3.11)."""
    entity: dict[str, Any] = {"id": entity_id, "type": types}
    if scope:
        entity["scope"] = scope
    entity.update(system or {})
    out = renderer.entity(entity)
    if renderer.sys_attrs and system and "deletedAt" in system:
        out["deletedAt"] = system["deletedAt"]
    return out


def _temporal_instance(renderer: Renderer, instance: Instance, timeproperty: str) -> dict[str, Any]:
    out: dict[str, Any] = renderer.instance(instance, alone=False)
    if timeproperty in ("createdAt", "modifiedAt") and timeproperty in instance:
        out[timeproperty] = instance[timeproperty]
    return out


def _by_dataset(instances: list[Instance]) -> dict[str | None, list[Instance]]:
    groups: dict[str | None, list[Instance]] = {}
    for instance in instances:
        groups.setdefault(instance.get("datasetId"), []).append(instance)
    return groups


def _simplified(
    instances: list[Instance], values: Renderer, timeproperty: str, dataset: str | None
) -> dict[str, Any]:
    kind = instances[-1].get("type", "Property")
    out: dict[str, Any] = {"type": kind}
    if dataset is not None:
        out["datasetId"] = dataset
    out[SIMPLIFIED_MEMBER.get(kind, "values")] = [
        [values.instance(instance), instance_time(instance, timeproperty)] for instance in instances
    ]
    return out


def _one_or_many(items: list[dict[str, Any]]) -> Any:
    return items[0] if len(items) == 1 else items


def render_aggregated_entity(
    entity_id: str,
    types: list[str],
    scope: list[str] | None,
    aggregates: Mapping[str, Sequence[AggregatedAttribute]],
    ctx: Context,
    *,
    methods: Sequence[str],
    pick: set[str] | None = None,
    omit: set[str] | None = None,
    sys_attrs: bool = False,
    system: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The aggregated temporal representation of an entity (4.5.19):
    `{"type": "Property", "avg": [[value, startAt, endAt], ...], ...}` per attribute, one such object
    per datasetId (with its datasetId), the methods in the order of `methods`."""
    renderer = Renderer(ctx, sys_attrs=sys_attrs, pick=pick, omit=omit)
    out = _head(renderer, entity_id, types, scope, system)
    for iri, series in aggregates.items():
        if not series or not renderer.wants(iri):
            continue
        out[ctx.compact(iri)] = _one_or_many([_aggregated(attribute, methods) for attribute in series])
    return out


def _aggregated(attribute: AggregatedAttribute, methods: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {"type": attribute.kind}
    if attribute.dataset_id is not None:
        out["datasetId"] = attribute.dataset_id
    # Consecutive periods share a bound: each moment is rendered once.
    moments: dict[int, str] = {}
    for bucket in attribute.buckets:
        for moment in (bucket.start, bucket.end):
            if moment not in moments:
                moments[moment] = from_micros(moment)
    for method in methods:
        out[method] = [
            [bucket.values.get(method), moments[bucket.start], moments[bucket.end]]
            for bucket in attribute.buckets
        ]
    return out


# ----------------------------------------------------------------------------------------------------
# Input


@dataclass
class TemporalEntity:
    """A temporal entity from a request body: attributes by expanded name, each a list of instances."""

    id: str
    types: list[str]
    scope: list[str] | None = None
    attributes: dict[str, list[Instance]] = field(default_factory=dict)


def parse_temporal_entity(body: object, ctx: Context) -> TemporalEntity:
    """The body of POST /temporal/entities (5.6.11): id, type, optional scope, and attributes as
    arrays of instances in normalized or concise form. instanceId, createdAt and modifiedAt given
    on input are ignored; repeated datasetIds are history, not an error."""
    if not isinstance(body, dict):
        raise BadRequestData("A temporal entity must be a JSON object")
    entity_id = check_entity_id(body.get("id", body.get("@id")))
    raw_type = body.get("type", body.get("@type"))
    if raw_type is None:
        raise BadRequestData(f"Entity {entity_id} has no type")
    types = parse_types(raw_type, ctx)
    scope = parse_scopes(body["scope"]) if "scope" in body else None
    return TemporalEntity(entity_id, types, scope, parse_temporal_attributes(body, ctx))


def parse_temporal_attributes(fragment: object, ctx: Context) -> dict[str, list[Instance]]:
    """The attributes of a temporal entity or of the fragment of POST .../attrs (5.6.12), by
    expanded name. An attribute is an array of instances (a single instance is taken as one)."""
    if not isinstance(fragment, dict):
        raise BadRequestData("Temporal attributes must be given as a JSON object")
    attributes: dict[str, list[Instance]] = {}
    for name, raw in fragment.items():
        if is_entity_member(name, raw):
            continue
        if name in INSTANCE_MEMBERS or name in PROHIBITED_MEMBERS:
            raise BadRequestData(f"{name} is an NGSI-LD core member and cannot name an attribute")
        iri = ctx.expand(check_name(name))
        if iri in attributes:
            raise BadRequestData(f"Attribute {name} is given twice")
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            raise BadRequestData(f"Attribute {name} has no instances")
        instances = [parse_instance(name, item, ctx, allow_null=_records_deletion(item)) for item in items]
        if iri in GEO_NAMES:
            for instance in instances:
                if instance["type"] != "GeoProperty":
                    raise BadRequestData(f"{name} is a GeoProperty, not a {instance['type']}")
        attributes[iri] = instances
    return attributes


def _records_deletion(item: object) -> bool:
    """Whether an input instance is the temporal representation of a deletion (4.5.7): an object
    whose value member is the NGSI-LD Null, legal in temporal input (5.5.4) and kept as it is."""
    return isinstance(item, dict) and any(
        item.get(member) in (NULL_URI, {"@none": NULL_URI}) for member in set(VALUE_MEMBER.values())
    )


def parse_instance_fragment(name: str, body: object, ctx: Context) -> Instance:
    """The body of PATCH /temporal/entities/{id}/attrs/{name}/{instanceId} (5.6.14): the instance
    as an object (normalized or concise, or a fragment of metadata and sub-attributes without a
    value), or wrapped as `{name: instance}` or `{name: [instance]}`."""
    if isinstance(body, dict):
        keys = [key for key in body if key != "@context"]
        if len(keys) == 1 and keys[0] not in INSTANCE_MEMBERS and _same_name(keys[0], name, ctx):
            body = body[keys[0]]
            if isinstance(body, list):
                if len(body) != 1:
                    raise BadRequestData(f"Give exactly one instance of {name} to replace")
                body = body[0]
    if not isinstance(body, dict):
        raise BadRequestData(f"An instance of {name} must be given as a JSON object")
    body = {key: value for key, value in body.items() if key != "@context"}
    instance = parse_instance(name, body, ctx, partial=True)
    if not instance:
        raise BadRequestData(f"The instance fragment of {name} holds nothing to change")
    return instance


def _same_name(key: str, name: str, ctx: Context) -> bool:
    if key == name:
        return True
    try:
        return ctx.expand(check_name(key)) == ctx.expand(check_name(name))
    except BadRequestData:
        return False
