"""The application factory uvicorn imports (settings come from the environment)."""

from smartby.api.app import Dispatcher, create_app
from smartby.assembly import assemble, tune_collector


def application() -> Dispatcher:
    parts = assemble()
    tune_collector(parts.settings)
    return create_app(parts)
