"""Storage backends, chosen by URL."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from smartby.settings import Settings

if TYPE_CHECKING:
    from smartby.store.postgres.backend import PostgresStore
    from smartby.store.sqlite.backend import SQLiteStore

Store: TypeAlias = "SQLiteStore | PostgresStore"
"""A store: one of the backends. Each part above the store declares the share of it that it uses."""


def open_store(url: str, settings: Settings | None = None) -> Store:
    """The backend for a database URL: sqlite:///path.db or postgresql://... (imported only when
    chosen: each pulls in its own driver)."""
    settings = settings or Settings()
    if url.startswith("sqlite:"):
        from smartby.store.sqlite.backend import SQLiteStore

        store: Store = SQLiteStore(url, synchronous=settings.sqlite_synchronous)
    elif url.startswith(("postgresql:", "postgres:")):
        from smartby.store.postgres.backend import PostgresStore

        store = PostgresStore(
            url,
            pool_min=settings.pg_pool_min,
            pool_max=settings.pg_pool_max,
            wake_others=not settings.notifications,
            pack_after=settings.history_pack_after,
            pack_interval=settings.history_pack_interval,
        )
    else:
        scheme = url.split(":", 1)[0]
        raise ValueError(
            f"No store for {scheme!r} URLs (supported: sqlite:///path/to/city.db, postgresql://user@host/db)"
        )
    store.query_timeout = settings.query_timeout
    return store
