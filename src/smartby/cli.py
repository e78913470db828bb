"""The `smartby` command."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import os
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import orjson
import typer
import uvicorn

from smartby.ingest.report import ImportReport
from smartby.ngsild.errors import NgsiLdError
from smartby.records.audit import CLI, Action, AuditFilter, acting, record, timestamp
from smartby.records.devices import DeadLetterQuery
from smartby.settings import Settings

# The commands import the rest of smartby when they run, not here: the broker and what stands on it
# (shapely and numpy, PyLD, aiomqtt; httpx; FastAPI for `serve`; the testbed) take over a second to
# import, which `smartby --help` and shell completion should not wait for.
if TYPE_CHECKING:
    from smartby.api.keyring import Keyring
    from smartby.assembly import Assembly
    from smartby.broker import Broker
    from smartby.ingest.pipeline import Ingestion
    from smartby.ingest.registry import DeviceRegistry
    from smartby.services.clock import ScaledClock
    from smartby.sim.runner import Plan
    from smartby.sim.targets import Target

T = TypeVar("T")
app = typer.Typer(help="smartby: an open smart-city platform speaking NGSI-LD.", no_args_is_help=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option("--database", "-d", help="sqlite:///path/city.db or postgresql://... (SMARTBY_DATABASE)"),
]
HostOption = Annotated[str | None, typer.Option(help="Address to listen on (SMARTBY_HOST).")]
PortOption = Annotated[int | None, typer.Option(help="Port to listen on (SMARTBY_PORT, default 1026).")]
WorkersOption = Annotated[int | None, typer.Option(help="Server processes (SMARTBY_WORKERS).")]


def _settings(
    database: str | None = None, host: str | None = None, port: int | None = None, workers: int | None = None
) -> Settings:
    """The settings from the environment (and .env), with what the command line gave over them."""
    given: dict[str, Any] = {"database": database, "host": host, "port": port, "workers": workers}
    return Settings(**{name: value for name, value in given.items() if value is not None})


def _assemble(settings: Settings) -> Assembly:
    """Every command that works on a database gets its parts here."""
    from smartby.assembly import assemble

    return assemble(settings)


@asynccontextmanager
async def _open_broker(settings: Settings) -> AsyncIterator[Broker]:
    broker = _assemble(settings).broker
    await broker.open()
    try:
        yield broker
    finally:
        await broker.close()


def _serve(settings: Settings) -> None:
    from smartby.api.app import create_app
    from smartby.api.http_protocol import server_options

    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "log_level": settings.log_level,
        "access_log": False,
        "server_header": False,
        **server_options(),
    }
    if settings.workers == 1:
        from smartby.assembly import tune_collector

        parts = _assemble(settings)
        tune_collector(settings)  # as smartby.api.asgi does in each worker of several
        uvicorn.run(create_app(parts), **options)
        return
    # uvicorn starts each worker as a process of its own that imports the application by name
    # (smartby.api.asgi, which reads its settings from the environment): the environment is the one
    # way a --database given here reaches them.
    os.environ["SMARTBY_DATABASE"] = settings.database
    with ExitStack() as cleanup:
        if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            # Each worker counts its metrics in files here, so that a scrape of any of them shows
            # the sum of all (prometheus-client's multiprocess mode, docs/operations.md).
            metrics = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="smartby-metrics-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics
            cleanup.callback(os.environ.pop, "PROMETHEUS_MULTIPROC_DIR", None)
        uvicorn.run("smartby.api.asgi:application", factory=True, workers=settings.workers, **options)


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _open_only_on_loopback(settings: Settings, insecure: bool) -> None:
    """Secure by default (docs/security.md): without authentication smartby listens on loopback
    only, unless told --insecure, and then says so at every start."""
    if settings.auth != "off" or _loopback(settings.host):
        return
    if not insecure:
        typer.echo(
            f"Refusing to listen on {settings.host} without authentication: anyone who reaches it could "
            "read and change every tenant. Set SMARTBY_AUTH=required (and create keys: smartby keys "
            "create), listen on 127.0.0.1, or pass --insecure.",
            err=True,
        )
        raise typer.Exit(2)
    typer.echo(
        f"WARNING: listening on {settings.host} without authentication (--insecure): anyone who reaches "
        "this port can read and change every tenant's context.",
        err=True,
    )


@app.command()
def serve(
    database: DatabaseOption = None,
    host: HostOption = None,
    port: PortOption = None,
    workers: WorkersOption = None,
    insecure: Annotated[
        bool, typer.Option("--insecure", help="Listen off loopback with SMARTBY_AUTH=off (not for a city).")
    ] = False,
) -> None:
    """Run the NGSI-LD API, the device ingestion and the dashboard (at /) on the configured database."""
    settings = _settings(database, host, port, workers)
    _open_only_on_loopback(settings, insecure)
    _serve(settings)


async def _load_examples(settings: Settings) -> int:
    from smartby.broker import DEFAULT_TENANT

    async with _open_broker(settings) as broker:
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


@app.command("load-examples")
def load_examples(database: DatabaseOption = None) -> None:
    """Load the FIWARE Smart Data Models examples shipped with smartby (idempotent)."""
    settings = _settings(database)
    count = asyncio.run(_load_examples(settings))
    typer.echo(f"Loaded {count} Smart Data Models example entities into {settings.database}")


DEMO_DATABASE = "sqlite:///./smartby-demo.db"


class Scenario(StrEnum):
    """The days `smartby demo --scenario` replays (smartby.sim.scenarios)."""

    cloudburst_2011 = "cloudburst-2011"


DevicesOption = Annotated[int, typer.Option(min=10, max=100_000, help="Devices in the synthetic city.")]
SeedOption = Annotated[int, typer.Option(help="Seed: the same seed gives the same city and readings.")]
SpeedOption = Annotated[
    float,
    typer.Option(min=0.1, help="Sim seconds per wall second while streaming live (60: an hour a minute)."),
]
ResolutionOption = Annotated[
    int, typer.Option(min=5, help="Minutes between two readings of a periodic device in back-fill.")
]
DurationOption = Annotated[
    float | None,
    typer.Option(min=0, help="Wall seconds to stream live after back-fill (default: until Ctrl-C; 0: none)."),
]


class _Progress:
    """The testbed's phases as progress bars on the terminal."""

    def __init__(self) -> None:
        self._bar: Any = None

    def phase(self, label: str, total: int) -> None:
        self._bar = typer.progressbar(length=total, label=f"{label:24}", show_eta=False, width=30)
        self._bar.__enter__()

    def step(self, count: int) -> None:
        if self._bar is not None:
            self._bar.update(count)

    def done(self) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)
            self._bar = None


async def _simulate(
    target: Target,
    devices: int,
    seed: int,
    plan: Plan,
    announce: Callable[[], None] | None = None,
    services: Settings | None = None,
    scenario: str | None = None,
) -> None:
    """Provision, back-fill and stream the synthetic city; with `services`, run the city services
    those settings name in this process while streaming, on the clock the city streams by; with a
    `scenario` (sim/scenarios.py), replay that day: live streaming starts at its moment. With
    `services` on a smartby target, a few citizens' reports are sent after the back-fill
    (sim/reports.py)."""
    from smartby.sim.city import build_city
    from smartby.sim.models import Simulation
    from smartby.sim.reports import citizen_reports
    from smartby.sim.runner import backfill, provision, start_heartbeats, start_of_backfill, stream
    from smartby.sim.scenarios import SCENARIOS
    from smartby.sim.targets import SmartbyTarget

    replay = SCENARIOS[scenario] if scenario is not None else None
    progress = _Progress()
    try:
        city = build_city(devices, seed)
        typer.echo(
            f"A synthetic Copenhagen: {len(city.devices):,} devices and {len(city.buildings):,} buildings "
            f"in {len(city.districts)} districts, seed {seed}; target: {target.description}"
        )
        await provision(target, city, progress)
        now = replay.live_from if replay is not None else datetime.now(UTC)
        if replay is not None:
            typer.echo(f"Scenario {replay.name}: {replay.description}, live from {now.isoformat()}")
        simulation = Simulation(city, start_of_backfill(now, plan), replay)
        await target.obey(simulation)
        if plan.backfill:
            tally = await backfill(target, simulation, now, plan, progress)
            typer.echo(f"Back-filled {tally.rates()}")
        if services is not None and isinstance(target, SmartbyTarget):
            for fields in citizen_reports(city, seed):
                await target.report(fields)
        if announce is not None:
            announce()
        if plan.duration != 0:
            typer.echo(f"Streaming live at {plan.speed:g}x (sim time runs ahead of the clock); Ctrl-C stops.")
            await start_heartbeats(target, simulation)
            async with _services_on_the_city_clock(services, simulation.clock, plan.speed) as clock:
                tally = await stream(target, simulation, plan, clock)
            typer.echo(f"Streamed {tally.rates()}")
    finally:
        progress.done()
        await target.close()


@asynccontextmanager
async def _services_on_the_city_clock(
    settings: Settings | None, start: datetime, speed: float
) -> AsyncIterator[ScaledClock]:
    """One clock for the testbed and the city services: `speed` times the wall clock from `start`
    (the sim time live streaming starts at). With settings, their services run on it meanwhile."""
    from smartby.services.clock import ScaledClock
    from smartby.services.runtime import Runtime

    clock = ScaledClock(start, speed)
    if settings is None:
        yield clock
        return
    parts = _assemble(settings)
    commands = parts.ingestion.commands
    runtime = Runtime(
        parts.broker, parts.services.services, settings, clock, commands, parts.services.contacts
    )
    await parts.broker.open()
    if commands is not None:
        await commands.start()
    runtime.start()
    try:
        yield clock
    finally:
        await runtime.stop()
        if commands is not None:
            await commands.close()
        await parts.broker.close()


def _plan(backfill_days: float, resolution: int, speed: float, duration: float | None) -> Plan:
    from smartby.sim.runner import Plan

    return Plan(
        backfill=timedelta(days=backfill_days),
        resolution=timedelta(minutes=resolution),
        speed=speed,
        duration=duration,
    )


def _start_server(settings: Settings) -> subprocess.Popen[bytes]:
    """`smartby serve` as a process of its own (it gets a core; the simulator has the other)."""
    environment = {
        **os.environ,
        "SMARTBY_DATABASE": settings.database,
        "SMARTBY_HOST": settings.host,
        "SMARTBY_PORT": str(settings.port),
        "SMARTBY_WORKERS": "1",
        "SMARTBY_AUTH": "off",  # the demo is open, on loopback
        "SMARTBY_MQTT_URL": "",
        "SMARTBY_REMOTE_CONTEXTS": "false",
        "SMARTBY_SQLITE_SYNCHRONOUS": "NORMAL",
        "SMARTBY_LOG_LEVEL": "warning",
        # The demo process runs the services, on the testbed's clock (the server serves their endpoints).
        "SMARTBY_SERVICES_IN_SERVER": "false",
    }
    return subprocess.Popen([sys.executable, "-m", "smartby", "serve"], env=environment)


def _wait_for(server: subprocess.Popen[bytes], url: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"{url}/ngsi-ld/v1/types", timeout=1)
            answered = True
        except httpx.HTTPError:
            answered = False
        if server.poll() is not None or time.monotonic() > deadline:
            typer.echo(f"smartby did not start at {url}", err=True)
            raise typer.Exit(1)
        if answered:  # and the process is alive: the answer is ours, not another server's
            return
        time.sleep(0.1)


def _port_is_free(host: str, port: int) -> None:
    """Refuse to start when something listens on the demo's port already (a demo started before,
    say): its server would not start, and the demo would feed the other one instead."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as error:
            typer.echo(
                f"Port {port} on {host} is taken ({error.strerror}): is smartby running already? "
                "Stop it, or give the demo another --port.",
                err=True,
            )
            raise typer.Exit(2) from None


def _fresh(database: str) -> None:
    """The demo starts on an empty database: its own file is replaced, any other must not exist."""
    if not database.startswith("sqlite:///"):
        typer.echo(
            "smartby demo runs on a fresh SQLite file: give --database sqlite:///path/demo.db", err=True
        )
        raise typer.Exit(2)
    path = Path(database.removeprefix("sqlite:///"))
    if database != DEMO_DATABASE and path.exists():
        typer.echo(f"{path} exists: the demo needs a new file (or the default {DEMO_DATABASE})", err=True)
        raise typer.Exit(2)
    for candidate in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        candidate.unlink(missing_ok=True)


@app.command()
def demo(
    database: DatabaseOption = None,
    host: HostOption = None,
    port: PortOption = None,
    devices: DevicesOption = 2000,
    seed: SeedOption = 1,
    speed: SpeedOption = 60.0,
    backfill: Annotated[float, typer.Option(min=0, max=60, help="Days of history to back-fill.")] = 7.0,
    resolution: ResolutionOption = 60,
    duration: DurationOption = None,
    scenario: Annotated[
        Scenario | None,
        typer.Option(help="Replay a day: cloudburst-2011 (2 July 2011 over Copenhagen, docs/climate.md)."),
    ] = None,
) -> None:
    """Serve a synthetic Copenhagen: a fresh database, a week of history, then live readings."""
    from smartby.sim.targets import SmartbyTarget, TargetError

    began = time.monotonic()
    settings = _settings(database or DEMO_DATABASE, host, port)
    _port_is_free(settings.host, settings.port)
    _fresh(settings.database)
    url = f"http://{settings.host}:{settings.port}"
    typer.echo(f"smartby demo: a fresh database {settings.database}, serving {url}")
    server = _start_server(settings)

    def announce() -> None:
        typer.echo(f"Ready in {time.monotonic() - began:.0f} s. Dashboard: {url}/")
        typer.echo(f"  NGSI-LD API: {url}/ngsi-ld/v1/entities?type=District  API documentation: {url}/docs")
        typer.echo(f"  Devices: {url}/ingest/v1/devices")
        typer.echo(
            f"  Alerts to people: smartby channels add duty --template slack --target <webhook URL> "
            f"--q 'severity==\"high\"' -d {settings.database}; then smartby channels test duty "
            f"-d {settings.database} (docs/alert-channels.md)"
        )

    try:
        _wait_for(server, url)
        plan = _plan(backfill, resolution, speed, duration)
        services = settings.model_copy(update={"notifications": False})
        chosen = scenario.value if scenario is not None else None
        asyncio.run(_simulate(SmartbyTarget(url), devices, seed, plan, announce, services, chosen))
    except TargetError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("Stopped.")
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()


@app.command()
def simulate(
    target: Annotated[str, typer.Option(help="The broker's base URL, e.g. http://127.0.0.1:1026.")],
    tenant: Annotated[str, typer.Option(help="NGSILD-Tenant to write to (default: none).")] = "",
    mqtt: Annotated[
        str | None, typer.Option(help="Send smartby the readings over this MQTT broker (mqtt://host:1883).")
    ] = None,
    devices: DevicesOption = 2000,
    seed: SeedOption = 1,
    speed: SpeedOption = 60.0,
    backfill: Annotated[float, typer.Option(min=0, max=60, help="Days of history to back-fill first.")] = 1.0,
    resolution: ResolutionOption = 60,
    duration: DurationOption = None,
) -> None:
    """Drive an NGSI-LD broker with the synthetic city: smartby through its device API, others
    through batch upserts."""
    from smartby.sim.targets import TargetError, target_for

    async def run() -> None:
        chosen = await target_for(target, tenant, mqtt)
        await _simulate(chosen, devices, seed, _plan(backfill, resolution, speed, duration))

    try:
        asyncio.run(run())
    except TargetError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        typer.echo("Stopped.")


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
    async with _open_broker(settings) as broker:
        return await load(broker)


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
    settings = _settings(database)
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

    settings = _settings(database)
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


history_app = typer.Typer(help="Stored history: packing old days on PostgreSQL.", no_args_is_help=True)
app.add_typer(history_app, name="history")


@history_app.command("pack")
def history_pack(
    database: DatabaseOption = None,
    after: Annotated[
        float | None,
        typer.Option(min=0, help="Pack whole days older than this (seconds; SMARTBY_HISTORY_PACK_AFTER)."),
    ] = None,
) -> None:
    """Pack old history now (PostgreSQL: a day of a series in one compressed row; safe to run again)."""
    settings = _settings(database).model_copy(update={"history_pack_interval": 0})
    parts = _assemble(settings)
    packed = asyncio.run(parts.pack_history(settings.history_pack_after if after is None else after))
    if packed is None:
        typer.echo("Only PostgreSQL packs history; SQLite keeps it as it is.")
        return
    typer.echo(f"Packed {packed} history instances.")


devices_app = typer.Typer(
    help="The device registry: devices, payload profiles and dead letters (see docs/devices.md).",
    no_args_is_help=True,
)
app.add_typer(devices_app, name="devices")

DeviceTenantOption = Annotated[str, typer.Option("--tenant", "-t", help="NGSILD-Tenant (default: none).")]


def _on_devices(database: str | None, work: Callable[[Ingestion], Awaitable[T]]) -> T:
    async def run() -> T:
        with acting(Action(actor=CLI)):
            async with _assemble(_settings(database)).registry_only() as ingestion:
                return await work(ingestion)

    try:
        return asyncio.run(run())
    except NgsiLdError as error:
        typer.echo(error.detail, err=True)
        raise typer.Exit(1) from None


def _echo_json(data: object) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2).decode())


def _registry_call(database: str | None, work: Callable[[DeviceRegistry], Awaitable[T]]) -> T:
    return _on_devices(database, lambda ingestion: work(ingestion.registry))


def _read_declaration(path: Path) -> object:
    """A decoder or profile declared in a JSON or TOML file."""
    text = path.read_text(encoding="utf-8")
    try:
        return tomllib.loads(text) if path.suffix == ".toml" else orjson.loads(text)
    except (tomllib.TOMLDecodeError, orjson.JSONDecodeError) as error:
        typer.echo(f"{path}: {error}", err=True)
        raise typer.Exit(2) from None


@devices_app.command("add")
def devices_add(
    device_id: Annotated[str, typer.Argument(help="The device id (A-Z a-z 0-9 _ . : -).")],
    entity_id: Annotated[str, typer.Option(help="The entity it feeds (a URI).")],
    entity_type: Annotated[str, typer.Option(help="That entity's type.")],
    profile: Annotated[str | None, typer.Option(help="Payload profile its uplinks are decoded with.")] = None,
    decoder: Annotated[
        Path | None,
        typer.Option(help="Or a decoder of its own (JSON or TOML file).", exists=True, dir_okay=False),
    ] = None,
    dev_eui: Annotated[str | None, typer.Option(help="LoRaWAN DevEUI (16 hex digits).")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude of the device.")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude of the device.")] = None,
    organisation: Annotated[str | None, typer.Option(help="Who owns or runs it.")] = None,
    context: Annotated[str | None, typer.Option(help="@context URL its attribute names use.")] = None,
    key: Annotated[str | None, typer.Option(help="Its key (default: generated and printed once).")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a device of that id (keeping its key).")] = False,
    tenant: DeviceTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """Register a device; prints it, and the generated key (shown this once)."""
    from smartby.ingest.registry import device_view

    body: dict[str, object] = {"id": device_id, "entityId": entity_id, "entityType": entity_type}
    for name, value in (
        ("profile", profile),
        ("devEui", dev_eui),
        ("organisation", organisation),
        ("context", context),
        ("key", key),
    ):
        if value is not None:
            body[name] = value
    if decoder is not None:
        body["decoder"] = _read_declaration(decoder)
    if (lon is None) != (lat is None):
        typer.echo("Give both --lon and --lat", err=True)
        raise typer.Exit(2)
    if lon is not None:
        body["location"] = {"type": "Point", "coordinates": [lon, lat]}
    device, generated = _registry_call(
        database, lambda registry: registry.register(tenant, body, replace_existing=replace)
    )
    view = device_view(device)
    if generated is not None:
        view["key"] = generated
    _echo_json(view)


@devices_app.command("list")
def devices_list(
    tenant: DeviceTenantOption = "",
    limit: Annotated[int, typer.Option(min=1)] = 1000,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    database: DatabaseOption = None,
) -> None:
    """List devices: id, entity, profile, DevEUI."""
    devices = _registry_call(database, lambda registry: registry.list_devices(tenant, limit, offset))
    for device in devices:
        decoding = device.profile or ("(own decoder)" if device.decoder else "(flat JSON)")
        typer.echo(f"{device.id:28} {device.entity_id:48} {decoding:20} {device.dev_eui or ''}")


@devices_app.command("show")
def devices_show(
    device_id: Annotated[str, typer.Argument(help="The device id.")],
    tenant: DeviceTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """Show one device (never its key)."""
    from smartby.ingest.registry import device_view

    _echo_json(device_view(_registry_call(database, lambda registry: registry.get(tenant, device_id))))


@devices_app.command("remove")
def devices_remove(
    device_id: Annotated[str, typer.Argument(help="The device id.")],
    tenant: DeviceTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """Remove a device (its entity and history stay)."""
    _registry_call(database, lambda registry: registry.remove(tenant, device_id))
    typer.echo(f"Removed device {device_id}")


@devices_app.command("profiles")
def devices_profiles(
    name: Annotated[str | None, typer.Argument(help="A profile to show, set or remove.")] = None,
    set_from: Annotated[
        Path | None,
        typer.Option(
            "--set",
            help='Create or replace NAME from a JSON or TOML file: {"decoder": {...}, "description": "..."}.',
            exists=True,
            dir_okay=False,
        ),
    ] = None,
    remove: Annotated[bool, typer.Option("--remove", help="Remove NAME.")] = False,
    tenant: DeviceTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """List payload profiles; show, set (--set FILE) or remove (--remove) one."""
    from smartby.ingest.registry import profile_view

    if name is None:
        if set_from is not None or remove:
            typer.echo("Name the profile to set or remove", err=True)
            raise typer.Exit(2)
        for profile in _registry_call(database, lambda registry: registry.list_profiles(tenant)):
            typer.echo(f"{profile.name:28} {profile.decoder.get('kind', ''):8} {profile.description or ''}")
        return
    if set_from is not None:
        declared = _read_declaration(set_from)
        profile = _registry_call(database, lambda registry: registry.put_profile(tenant, name, declared))
        _echo_json(profile_view(profile))
    elif remove:
        _registry_call(database, lambda registry: registry.remove_profile(tenant, name))
        typer.echo(f"Removed payload profile {name}")
    else:
        _echo_json(
            profile_view(_registry_call(database, lambda registry: registry.get_profile(tenant, name)))
        )


@devices_app.command("deadletters")
def devices_deadletters(
    device: Annotated[str | None, typer.Option("--device", help="Only this device's.")] = None,
    transport: Annotated[str | None, typer.Option(help="Only those that came in this way.")] = None,
    limit: Annotated[int, typer.Option(min=1)] = 100,
    purge: Annotated[bool, typer.Option("--purge", help="Delete them (those the filters select).")] = False,
    tenant: DeviceTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """List dead letters, newest first (reason, and the raw payload in base64), or --purge them."""
    query = DeadLetterQuery(device_id=device, transport=transport, limit=limit)
    if purge:
        removed = _on_devices(database, lambda ingestion: ingestion.devices.purge_dead_letters(tenant, query))
        typer.echo(f"Purged {removed} dead letters")
        return
    for letter in _on_devices(database, lambda ingestion: ingestion.devices.list_dead_letters(tenant, query)):
        payload = base64.b64encode(letter.payload).decode()
        typer.echo(
            f"{letter.id} {letter.received_at} {letter.transport} {letter.device_id or '-'} "
            f"{letter.reason} payload={payload}"
        )


services_app = typer.Typer(
    help="City services: list the installed ones, run them in a process of their own.", no_args_is_help=True
)
app.add_typer(services_app, name="services")


async def _run_services(settings: Settings, stop: asyncio.Event | None = None) -> None:
    """Run the services SMARTBY_SERVICES names until SIGINT or SIGTERM (or `stop`), then stop cleanly:
    batches being handled are finished and settled, so a restart handles nothing twice."""
    import signal

    parts = _assemble(settings)
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await parts.broker.open()
    commands = parts.ingestion.commands
    try:
        if commands is not None:
            await commands.start()
        parts.services.start()
        names = ", ".join(service.name for service in parts.services.services) or "none"
        typer.echo(f"Running services: {names} on {settings.database}", err=True)
        await stop.wait()
        await parts.services.stop()
    finally:
        if commands is not None:
            await commands.close()
        await parts.broker.close()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)


@services_app.command("run")
def services_run(database: DatabaseOption = None) -> None:
    """Run the city services (SMARTBY_SERVICES) on the database, beside or instead of `smartby serve`'s;
    several processes share the work: each change handled once, each periodic run made once."""
    from smartby.services.registry import ServiceError

    try:
        asyncio.run(_run_services(_settings(database)))
    except ServiceError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(2) from None


@services_app.command("list")
def services_list() -> None:
    """The installed services (built-in or not), and which SMARTBY_SERVICES runs."""
    from smartby.services.registry import built_in, installed, load

    settings = _settings()
    points = installed()
    chosen = set(built_in(points) if settings.services is None else settings.services)
    for name, point in sorted(points.items()):
        origin = "built-in" if name in built_in(points) else point.value
        try:
            service = load(name, point, settings)
        except Exception as error:
            typer.echo(f"{name:16} {origin}: cannot be loaded: {error}")
            continue
        jobs = ", ".join(f"{job.name} every {job.period:g} s" for job in service.jobs) or "no jobs"
        state = "runs" if name in chosen else "off"
        typer.echo(f"{name:16} {state:4} {service.mount:18} {jobs}; {origin}. {service.description}")


keys_app = typer.Typer(
    help="API keys: create, list, rotate and revoke them (see docs/security.md).", no_args_is_help=True
)
app.add_typer(keys_app, name="keys")
tenants_app = typer.Typer(
    help="Tenants: with authentication on, an admin creates them.", no_args_is_help=True
)
app.add_typer(tenants_app, name="tenants")


def _on_keys(database: str | None, work: Callable[[Keyring], Awaitable[T]]) -> T:
    from smartby.api.keyring import Keyring

    async def run() -> T:
        with acting(Action(actor=CLI)):
            async with _assemble(_settings(database)).keys_only() as store:
                return await work(Keyring(store))

    try:
        return asyncio.run(run())
    except NgsiLdError as error:
        typer.echo(error.detail, err=True)
        raise typer.Exit(1) from None


def _key_line(view: dict[str, Any]) -> str:
    tenants = ",".join(tenant or "(default)" for tenant in view["tenants"])
    state = (
        "revoked" if view["revokedAt"] else f"expires {view['expiresAt']}" if view["expiresAt"] else "valid"
    )
    return (
        f"{view['name']:24} {view['role']:7} {tenants:24} {state:34} last used {view['lastUsed'] or 'never'}"
    )


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="The key's name (A-Z a-z 0-9 _ . : -).")],
    role: Annotated[str, typer.Option("--role", help="reader, writer or admin.")],
    tenant: Annotated[
        list[str] | None,
        typer.Option(
            "--tenant",
            "-t",
            help="A tenant it holds its role on (repeat for more; '*' every tenant; "
            "none: the default tenant).",
        ),
    ] = None,
    owner: Annotated[str, typer.Option(help="Who holds it (default: its name).")] = "",
    days: Annotated[float | None, typer.Option(min=0, help="Days until it expires (default: never).")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create an API key; the key itself is printed alone on the last line, this once."""
    from smartby.api.keyring import key_view

    key, secret = _on_keys(
        database, lambda keyring: keyring.create(name, tenant or [""], role, owner, days=days)
    )
    typer.echo(_key_line(key_view(key)))
    typer.echo(secret)


@keys_app.command("list")
def keys_list(database: DatabaseOption = None) -> None:
    """List API keys: name, role, tenants, expiry or revocation, last use (never the keys)."""
    from smartby.api.keyring import key_view

    for key in _on_keys(database, lambda keyring: keyring.list()):
        typer.echo(_key_line(key_view(key)))


@keys_app.command("rotate")
def keys_rotate(
    name: Annotated[str, typer.Argument(help="The key's name.")], database: DatabaseOption = None
) -> None:
    """Give a key a new secret, printed alone on the last line; the old one stops working."""
    from smartby.api.keyring import key_view

    key, secret = _on_keys(database, lambda keyring: keyring.rotate(name))
    typer.echo(_key_line(key_view(key)))
    typer.echo(secret)


@keys_app.command("revoke")
def keys_revoke(
    name: Annotated[str, typer.Argument(help="The key's name.")], database: DatabaseOption = None
) -> None:
    """Revoke a key: it stops working (within seconds in running servers)."""
    _on_keys(database, lambda keyring: keyring.revoke(name))
    typer.echo(f"Revoked key {name}")


@tenants_app.command("create")
def tenants_create(
    name: Annotated[str, typer.Argument(help="The tenant (as NGSILD-Tenant names it).")],
    database: DatabaseOption = None,
) -> None:
    """Create a tenant (with authentication on, writes to a tenant nobody created are refused)."""
    from smartby.api.keyring import TENANT_NAME

    if not TENANT_NAME.match(name):
        typer.echo(f"Invalid tenant name {name!r}: 1 to 64 of A-Z a-z 0-9 _ . : / -", err=True)
        raise typer.Exit(2)
    created = _on_keys(database, lambda keyring: keyring.records.create_tenant(name))
    typer.echo(f"Created tenant {name}" if created else f"Tenant {name} exists")


@tenants_app.command("list")
def tenants_list(database: DatabaseOption = None) -> None:
    """List the tenants."""
    for name in _on_keys(database, lambda keyring: keyring.records.tenants()):
        typer.echo(name or "(default)")


audit_app = typer.Typer(help="The audit log (docs/audit.md): read it, newest first.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")


def _moment(text: str | None, name: str) -> str | None:
    from smartby.ngsild.timestamps import parse_datetime

    return None if text is None else timestamp(parse_datetime(text, name))


@audit_app.command("list")
def audit_list(
    since: Annotated[str | None, typer.Option(help="Records made at or after (ISO 8601).")] = None,
    until: Annotated[str | None, typer.Option(help="Records made before (ISO 8601).")] = None,
    actor: Annotated[str | None, typer.Option(help="Records of this actor.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Records of this tenant.")] = None,
    operation: Annotated[str | None, typer.Option(help="Records of this operation.")] = None,
    target: Annotated[str | None, typer.Option(help="Records whose target names this.")] = None,
    outcome: Annotated[str | None, typer.Option(help="Records of this outcome (ok, refused 401...).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="Most records shown.")] = 100,
    offset: Annotated[int, typer.Option(min=0, help="Records skipped, newest first.")] = 0,
    database: DatabaseOption = None,
) -> None:
    """List audit records, newest first, one a line (tab-separated: at, actor, tenant, operation,
    target, outcome, detail); this read is itself recorded."""

    async def run() -> list[Any]:
        wanted = AuditFilter(
            since=_moment(since, "since"),
            until=_moment(until, "until"),
            actor=actor,
            tenant=tenant,
            operation=operation,
            target=target,
            outcome=outcome,
            limit=limit,
            offset=offset,
        )
        with acting(Action(actor=CLI)):
            async with _assemble(_settings(database)).keys_only() as store:
                await store.record_audit([record("", "audit.read", "")])
                found, _ = await store.audit_records(wanted)
                return found

    try:
        found = asyncio.run(run())
    except NgsiLdError as error:
        typer.echo(error.detail, err=True)
        raise typer.Exit(2) from None
    for entry in found:
        fields = (entry.at, entry.actor, entry.tenant or "(default)", entry.operation, entry.target)
        typer.echo("\t".join((*fields, entry.outcome, entry.detail or "")))


channels_app = typer.Typer(
    help="Alert channels: templated webhooks (Teams, Slack, an SMS gateway) and e-mail "
    "(see docs/alert-channels.md).",
    no_args_is_help=True,
)
app.add_typer(channels_app, name="channels")
ChannelTenantOption = Annotated[str, typer.Option("--tenant", "-t", help="NGSILD-Tenant (default: none).")]


def _on_channels(database: str | None, work: Callable[[Broker], Awaitable[T]]) -> T:
    async def run() -> T:
        settings = _settings(database).model_copy(update={"notifications": False})
        with acting(Action(actor=CLI)):
            async with _open_broker(settings) as broker:
                return await work(broker)

    try:
        return asyncio.run(run())
    except NgsiLdError as error:
        typer.echo(error.detail, err=True)
        raise typer.Exit(1) from None


def _template_of(choice: str) -> tuple[str | None, str, str | None]:
    """The kind, template and subject `--template` names: a built-in sample or a file."""
    from smartby.broker.channel_samples import SAMPLES

    sample = SAMPLES.get(choice)
    if sample is not None:
        return sample.kind, sample.template, sample.subject or None
    path = Path(choice)
    if not path.is_file():
        typer.echo(f"--template: {choice} is neither {', '.join(SAMPLES)} nor a file", err=True)
        raise typer.Exit(2)
    return None, path.read_text(encoding="utf-8"), None


@channels_app.command("add")
def channels_add(
    name: Annotated[str, typer.Argument(help="The channel's name (A-Z a-z 0-9 _ . -).")],
    template: Annotated[str, typer.Option(help="teams, slack, sms, email, or a Jinja2 template file.")],
    target: Annotated[
        list[str], typer.Option(help="The webhook's URL, or an e-mail address (repeat for several).")
    ],
    kind: Annotated[
        str | None, typer.Option(help="webhook or email (default: the built-in template's, else webhook).")
    ] = None,
    subject: Annotated[str | None, typer.Option(help="E-mail: the subject template.")] = None,
    entity_type: Annotated[
        list[str] | None, typer.Option("--type", help="Entity types it sends (default: Alert).")
    ] = None,
    q: Annotated[str | None, typer.Option("--q", help='Which entities, e.g. severity=="high".')] = None,
    geo_q: Annotated[
        str | None, typer.Option("--geo-q", help='A geoQ as JSON: {"geometry": ..., "georel": ...}.')
    ] = None,
    header: Annotated[
        list[str] | None, typer.Option(help="Webhook: a header, Name: value (repeat for several).")
    ] = None,
    content_type: Annotated[str | None, typer.Option(help="Webhook: the body's media type.")] = None,
    throttling: Annotated[float | None, typer.Option(help="Seconds between two deliveries at least.")] = None,
    replace: Annotated[bool, typer.Option(help="Replace a channel of that name.")] = False,
    tenant: ChannelTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """Add an alert channel; prints it."""
    sample_kind, text, sample_subject = _template_of(template)
    chosen = kind or sample_kind or "webhook"
    body: dict[str, Any] = {"name": name, "kind": chosen, "template": text}
    body["target"] = target[0] if chosen == "webhook" and len(target) == 1 else target
    given: dict[str, Any] = {
        "subject": subject or (sample_subject if chosen == "email" else None),
        "entityTypes": entity_type or None,
        "q": q,
        "contentType": content_type,
        "throttling": throttling,
    }
    body.update({member: value for member, value in given.items() if value is not None})
    if geo_q is not None:
        try:
            body["geoQ"] = orjson.loads(geo_q)
        except orjson.JSONDecodeError as error:
            typer.echo(f"--geo-q: {error}", err=True)
            raise typer.Exit(2) from None
    if header:
        pairs = [item.split(":", 1) for item in header]
        if any(len(pair) != 2 for pair in pairs):
            typer.echo("--header: Name: value", err=True)
            raise typer.Exit(2)
        body["headers"] = {pair[0].strip(): pair[1].strip() for pair in pairs}
    if replace:
        _echo_json(_on_channels(database, lambda broker: broker.channels.replace(tenant, name, body)))
    else:
        _echo_json(_on_channels(database, lambda broker: broker.channels.create(tenant, body)))


@channels_app.command("list")
def channels_list(tenant: ChannelTenantOption = "", database: DatabaseOption = None) -> None:
    """List alert channels: name, kind, target, deliveries."""
    for view in _on_channels(database, lambda broker: broker.channels.list(tenant)):
        target = view["target"] if isinstance(view["target"], str) else ", ".join(view["target"])
        delivery = view["delivery"]
        sent = f"sent {delivery.get('timesSent', 0)}, failed {delivery.get('timesFailed', 0)}"
        typer.echo(f"{view['name']:24} {view['kind']:8} {target:56} {sent}")


@channels_app.command("show")
def channels_show(
    name: Annotated[str, typer.Argument(help="The channel's name.")],
    tenant: ChannelTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """Show one alert channel, its template and how its deliveries went."""
    _echo_json(_on_channels(database, lambda broker: broker.channels.get(tenant, name)))


@channels_app.command("remove")
def channels_remove(
    name: Annotated[str, typer.Argument(help="The channel's name.")],
    tenant: ChannelTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """Remove an alert channel (and its subscription)."""
    _on_channels(database, lambda broker: broker.channels.delete(tenant, name))
    typer.echo(f"Removed channel {name}")


@channels_app.command("test")
def channels_test(
    name: Annotated[str, typer.Argument(help="The channel's name.")],
    tenant: ChannelTenantOption = "",
    database: DatabaseOption = None,
) -> None:
    """Send a sample Alert through a channel; prints what was sent and whether it went (exit 1 if not)."""
    result = _on_channels(database, lambda broker: broker.channels.test(tenant, name))
    _echo_json(result)
    if not result["delivered"]:
        raise typer.Exit(1)
