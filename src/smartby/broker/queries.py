"""Building an EntityQuery from the NGSI-LD query parameters, names expanded with the @context."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from smartby.ngsild.context import Context
from smartby.ngsild.entity import check_entity_id
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.geo import GeoQuery, geo_query_from_json, parse_geo_query
from smartby.ngsild.query import parse_q
from smartby.ngsild.scope import parse_scope_query
from smartby.ngsild.typequery import parse_type_query
from smartby.store.base import EntityQuery, EntitySelector

ENTITY_MEMBER_NAMES = frozenset({"id", "type", "scope", "createdAt", "modifiedAt"})


@dataclass(frozen=True)
class Selection:
    """What to return of each entity: names expanded, `None` for everything."""

    pick: set[str] | None
    omit: set[str]


def check_pattern(pattern: str) -> str:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        raise BadRequestData(f"idPattern is not a valid regular expression: {pattern!r}") from None
    return pattern


def selector(
    ctx: Context, *, ids: Sequence[str] = (), id_pattern: str | None = None, types: str | None = None
) -> EntitySelector:
    return EntitySelector(
        ids=tuple(check_entity_id(i) for i in ids),
        id_pattern=check_pattern(id_pattern) if id_pattern is not None else None,
        types=parse_type_query(types).map_names(ctx.expand) if types is not None else None,
    )


def entity_query(
    ctx: Context,
    *,
    selectors: Sequence[EntitySelector] = (),
    q: str | None = None,
    geo: GeoQuery | None = None,
    scope_q: str | None = None,
    attrs: Sequence[str] | None = None,
    limit: int,
    offset: int = 0,
    count: bool = False,
) -> EntityQuery:
    expr = parse_q(q).map_names(ctx.expand) if q is not None else None
    if expr is not None:
        for regex in _patterns(expr):
            check_pattern(regex)
    if geo is not None:
        geo = dataclasses.replace(geo, geoproperty=ctx.expand(geo.geoproperty))
    return EntityQuery(
        selectors=tuple(selectors),
        q=expr,
        geo=geo,
        scope=parse_scope_query(scope_q) if scope_q is not None else None,
        attrs=tuple(ctx.expand(a) for a in attrs or ()),
        limit=limit,
        offset=offset,
        count=count,
    )


def _patterns(expr: Any) -> list[str]:
    found: list[str] = []
    for term in getattr(expr, "terms", ()):
        found.extend(_patterns(term))
    regex = getattr(expr, "regex", None)
    if isinstance(regex, str):
        found.append(regex)
    return found


def geo_from_params(
    georel: str | None, geometry: str | None, coordinates: str | None, geoproperty: str | None
) -> GeoQuery | None:
    return parse_geo_query(georel, geometry, coordinates, geoproperty)


def geo_from_json(value: Any) -> GeoQuery:
    if not isinstance(value, dict):
        raise BadRequestData("geoQ must be a JSON object")
    return geo_query_from_json(value)


def selection(
    ctx: Context, *, attrs: Sequence[str] | None, pick: Sequence[str] | None, omit: Sequence[str] | None
) -> Selection:
    """Projection from attrs/pick/omit. `attrs` keeps id and type; `pick` names them explicitly."""

    def expand(name: str) -> str:
        return name if name in ENTITY_MEMBER_NAMES else ctx.expand(name)

    picked: set[str] | None = None
    if attrs is not None:
        picked = {"id", "type", "scope"} | {expand(a) for a in attrs}
    if pick is not None:
        chosen = {expand(p) for p in pick}
        picked = chosen if picked is None else picked & (chosen | {"id", "type"})
    omitted = {expand(o) for o in omit or ()}
    if pick is not None and omit is not None:
        raise BadRequestData("pick and omit cannot be used together")
    return Selection(picked, omitted)
