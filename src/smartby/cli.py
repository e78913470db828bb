"""The `smartby` command."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import orjson
import typer
import uvicorn

from smartby.settings import Settings

if TYPE_CHECKING:
    from smartby.broker import Broker
    from smartby.ingest.report import ImportReport

app = typer.Typer(help="smartby: an open smart-city platform speaking NGSI-LD.", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", "-d", help="sqlite:///path/city.db or postgresql://... (SMARTBY_DATABASE)"),
]
HostOption = Annotated[str | None, typer.Option(help="Address to listen on (SMARTBY_HOST).")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on (SMARTBY_PORT, default 1026).")]
WorkersOption = Annotated[int | None, typer.Option(help="Server processes (SMARTBY_WORKERS).")]


def _settings(database: str | None, host: str | None, port: int | None, workers: int | None) -> Settings:
    for name, value in (("DATABASE", database), ("HOST", host), ("PORT", port), ("WORKERS", workers)):
        if value is not None:
            os.environ[f"SMARTBY_{name}"] = str(value)
    return Settings()


def _serve(settings: Settings) -> None:
    uvicorn.run(
        "smartby.api.asgi:application",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        access_log=False,
        server_header=False,
    )


@app.command()
def serve(
    database: DatabaseOption = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
) -> None:
    """Run the NGSI-LD API (and, later, the dashboard) on the configured database."""
    _serve(_settings(database, host, port, workers))


async def _load_examples(settings: Settings) -> int:
    from smartby.broker import DEFAULT_TENANT, Broker
    from smartby.store import open_store

    broker = Broker(open_store(settings.database, settings), settings)
    await broker.open()
    try:
        folder = resources.files("smartby.data") / "examples"
        loaded = 0
        for item in sorted(folder.iterdir(), key=lambda i: i.name):
            if not item.name.endswith(".jsonld"):
                continue
            document = orjson.loads(item.read_bytes())
            context = await broker.context(document.pop("@context", None))
            result = await broker.batch_upsert(DEFAULT_TENANT, context, [document])
            for _, error in result.errors:
                typer.echo(
                    f"  not loaded, the upstream example is not valid NGSI-LD: {item.name}: {error.detail}"
                )
            loaded += len(result.success)
        return loaded
    finally:
        await broker.close()


@app.command("load-examples")
def load_examples(database: DatabaseOption = None) -> None:
    """Load the FIWARE Smart Data Models examples shipped with smartby (idempotent)."""
    settings = _settings(database, None, None, None)
    count = asyncio.run(_load_examples(settings))
    typer.echo(f"Loaded {count} Smart Data Models example entities into {settings.database}")


@app.command()
def demo(
    database: DatabaseOption = None,
    host: HostOption = None,
    port: PortOption = None,
) -> None:
    """Load the Smart Data Models examples and serve them, so there is something to query."""
    settings = _settings(database, host, port, None)
    count = asyncio.run(_load_examples(settings))
    base = f"http://{settings.host}:{settings.port}/ngsi-ld/v1"
    typer.echo(f"Loaded {count} example entities into {settings.database}.")
    link = (
        "<https://smart-data-models.github.io/dataModel.Streetlighting/context.jsonld>; "
        'rel="http://www.w3.org/ns/json-ld#context"; type="application/ld+json"'
    )
    typer.echo(f"Try:  curl '{base}/types?details=true'")
    typer.echo(f"      curl '{base}/entities?type=Streetlight&options=keyValues' -H '{link}'")
    typer.echo(f"API documentation: http://{settings.host}:{settings.port}/docs")
    _serve(settings)


import_app = typer.Typer(
    help="Load history from files: CSV through a column mapping, or NGSI-LD JSON.", no_args_is_help=True
)
app.add_typer(import_app, name="import")

TenantOption = Annotated[
    str, typer.Option("--tenant", "-t", help="NGSILD-Tenant to load into (default: none).")
]
BatchOption = Annotated[int, typer.Option(min=1, help="Instances written per transaction.")]
ShowOption = Annotated[int, typer.Option("--show-bad", min=0, help="Bad rows listed in the summary.")]


async def _run_import(settings: Settings, load: Callable[[Broker], Awaitable[ImportReport]]) -> ImportReport:
    from smartby.broker import Broker
    from smartby.store import open_store

    broker = Broker(open_store(settings.database, settings), settings)
    await broker.open()
    try:
        return await load(broker)
    finally:
        await broker.close()


def _finish(report: ImportReport, show: int) -> None:
    for line in report.summary(show):
        typer.echo(line)
    if not report.ok:
        raise typer.Exit(1)


@import_app.command("csv")
def import_csv_command(
    file: Annotated[Path, typer.Argument(help="The CSV file.", exists=True, dir_okay=False)],
    mapping: Annotated[
        str,
        typer.Option("--mapping", "-m", help="A mapping file (TOML or JSON) or a shipped mapping's name."),
    ],
    tenant: TenantOption = "",
    database: DatabaseOption = None,
    batch: BatchOption = 5000,
    show_bad: ShowOption = 10,
) -> None:
    """Append a CSV file's rows to entity history, as its mapping says (safe to run again)."""
    from smartby.ingest.csv_import import import_csv
    from smartby.ingest.mapping import MappingError, load_mapping

    try:
        chosen = load_mapping(mapping)
    except MappingError as error:
        typer.echo(f"mapping: {error}", err=True)
        raise typer.Exit(2) from None
    settings = _settings(database, None, None, None)
    try:
        report = asyncio.run(
            _run_import(settings, lambda broker: import_csv(broker, tenant, file, chosen, batch=batch))
        )
    except MappingError as error:
        typer.echo(f"mapping: {error}", err=True)
        raise typer.Exit(2) from None
    _finish(report, show_bad)


@import_app.command("ngsi-ld")
def import_ngsild_command(
    file: Annotated[
        Path, typer.Argument(help="A JSON array of NGSI-LD entities.", exists=True, dir_okay=False)
    ],
    context: Annotated[
        str | None,
        typer.Option(help="@context URL for entities that carry none (default: the core context)."),
    ] = None,
    tenant: TenantOption = "",
    database: DatabaseOption = None,
    batch: BatchOption = 5000,
    show_bad: ShowOption = 10,
) -> None:
    """Append the history in NGSI-LD entities, temporal or normalized (safe to run again)."""
    from smartby.ingest.ngsild_import import import_ngsild

    settings = _settings(database, None, None, None)
    report = asyncio.run(
        _run_import(
            settings, lambda broker: import_ngsild(broker, tenant, file, context=context, batch=batch)
        )
    )
    _finish(report, show_bad)


@import_app.command("mappings")
def import_mappings_command() -> None:
    """List the CSV mappings shipped with smartby (use the name with --mapping)."""
    from smartby.ingest.mapping import shipped_mappings

    for name, description in shipped_mappings().items():
        typer.echo(f"{name:24} {description}")
