"""`pick` and `omit` as the Attribute projection language (clause 4.21): the names a request's own
entities keep, and with Linked Entity Retrieval (`join`, clause 4.5.23) how the entities they link
to are shown."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from smartby.ngsild.entity import Renderer
from smartby.ngsild.errors import BadRequestData
from smartby.ngsild.linked import LinkedView, projected_view
from smartby.ngsild.projection import Projection, parse_projection


@dataclass(frozen=True)
class Projections:
    """A request's pick and omit (None when absent)."""

    pick: Projection | None = None
    omit: Projection | None = None

    @property
    def pick_names(self) -> list[str] | None:
        return self.pick.names if self.pick is not None else None

    @property
    def omit_names(self) -> list[str] | None:
        """The members the request's own entities lose: an omitted name with braces stays, as only
        members of the entities it links to are omitted."""
        if self.omit is None:
            return None
        return [name for name, inner in self.omit.members if inner is None]

    def view(self, renderer: Renderer, join: str | None, hops: int) -> LinkedView | None:
        """How linked entities are shown (None: as `renderer` shows the request's own). Braces
        need a join, and no more levels of them than `joinLevel`."""
        depth = max(p.depth if p is not None else 0 for p in (self.pick, self.omit))
        if depth and join is None:
            raise BadRequestData("pick and omit name members of linked entities ({...}) only with join")
        if depth > hops:
            raise BadRequestData(f"pick and omit reach {depth} linked entities deep, joinLevel is {hops}")
        if join is None or (self.pick is None and self.omit is None):
            return None
        return projected_view(renderer, self.pick, self.omit)


def projections(pick: list[str] | None, omit: list[str] | None) -> Projections:
    """The projections of pick and omit values (each possibly given more than once)."""
    return Projections(_joined(pick), _joined(omit))


def request_projections(request: Request) -> Projections:
    params = request.query_params
    return projections(params.getlist("pick") or None, params.getlist("omit") or None)


def _joined(values: list[str] | None) -> Projection | None:
    if not values:
        return None
    projection = parse_projection(values[0])
    for value in values[1:]:
        projection = projection.joined(parse_projection(value))
    return projection
