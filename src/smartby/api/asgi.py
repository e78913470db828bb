"""The application factory uvicorn imports (settings come from the environment)."""

from smartby.api.app import Dispatcher, create_app
from smartby.assembly import assemble


def application() -> Dispatcher:
    return create_app(assemble())
