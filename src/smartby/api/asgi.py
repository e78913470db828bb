"""The application factory uvicorn imports (settings come from the environment)."""

from smartby.api.app import create_app
from smartby.api.middleware import Application
from smartby.assembly import assemble, tune_collector


def application() -> Application:
    parts = assemble()
    tune_collector(parts.settings)
    return create_app(parts)
