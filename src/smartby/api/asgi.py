"""The application factory uvicorn imports (settings come from the environment)."""

from fastapi import FastAPI

from smartby.api.app import create_app


def application() -> FastAPI:
    return create_app()
