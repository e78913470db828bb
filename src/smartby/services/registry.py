"""Services found through the `smartby.services` entry-point group, and the ones to run.

Each entry point names a factory `(Settings) -> Service`. smartby's own services register there
the same way a third party's do; built-in are those whose factory lives in the `smartby` package.
`SMARTBY_SERVICES` names the services to run (unset: every built-in one).
"""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

from smartby.services.service import Service
from smartby.settings import Settings

GROUP = "smartby.services"


class ServiceError(Exception):
    """A service named that is not installed, that fails to load, or is not a Service."""


def installed() -> dict[str, EntryPoint]:
    return {point.name: point for point in entry_points(group=GROUP)}


def built_in(points: dict[str, EntryPoint]) -> list[str]:
    return sorted(name for name, point in points.items() if point.module.split(".")[0] == "smartby")


def load(name: str, point: EntryPoint, settings: Settings) -> Service:
    try:
        factory = point.load()
        service = factory(settings)
    except Exception as error:
        raise ServiceError(f"service {name!r} cannot be loaded: {type(error).__name__}: {error}") from None
    if not isinstance(service, Service):
        raise ServiceError(f"service {name!r}: its factory returned {type(service).__name__}, not a Service")
    if service.name != name:
        raise ServiceError(f"service {name!r} calls itself {service.name!r}")
    return service


def selected(settings: Settings) -> list[Service]:
    """The services the settings name, loaded (in the order named; built-in ones by name)."""
    points = installed()
    names = built_in(points) if settings.services is None else list(dict.fromkeys(settings.services))
    missing = [name for name in names if name not in points]
    if missing:
        known = ", ".join(sorted(points)) or "none"
        raise ServiceError(f"no service {', '.join(missing)} is installed (installed: {known})")
    return [load(name, points[name], settings) for name in names]
