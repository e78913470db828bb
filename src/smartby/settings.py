"""Every smartby setting, read once from the environment (prefix `SMARTBY_`) or a `.env` file.

docs/settings.md documents each field; a test keeps the two in step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from limits import parse_many
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SMARTBY_", env_file=".env", extra="ignore")

    database: str = Field(
        "sqlite:///./smartby.db",
        description="Where context is kept: sqlite:///path/to/city.db or postgresql://user@host/db.",
    )
    host: str = Field("127.0.0.1", description="Address `smartby serve` listens on.")
    port: int = Field(1026, ge=1, le=65535, description="Port `smartby serve` listens on (1026, as FIWARE).")
    workers: int = Field(1, ge=1, le=64, description="Server processes `smartby serve` starts.")
    context_dir: Path | None = Field(
        None,
        description="Folder of JSON-LD context files with an index.json mapping each URL to a file name; "
        "those URLs resolve offline.",
    )
    remote_contexts: bool = Field(
        True,
        description="Fetch @context URLs that are not known locally (each is fetched once, then cached).",
    )
    context_timeout: float = Field(
        10.0, gt=0, description="Seconds a remote @context may take in all (connecting, redirects, body)."
    )
    context_max_bytes: int = Field(
        1_048_576, ge=1, description="Largest remote @context fetched, in bytes; a larger one is not kept."
    )
    outbound_allow: list[str] = Field(
        default_factory=list,
        description="Networks and host names outbound requests may reach although private or loopback "
        '(JSON, e.g. ["10.20.0.0/16", "receiver.city.internal"]); matters with authentication required. '
        "Link-local and cloud metadata addresses are refused whatever it says (docs/outbound.md).",
    )
    outbound_proxy: str = Field(
        "",
        pattern=r"^(https?://[^\s/]+/?)?$",
        description="An HTTP(S) egress proxy for smartby's own HTTP requests (notifications, remote "
        "@contexts, context sources, webhooks), e.g. http://proxy.city.internal:3128; empty: direct. "
        "Each destination is still judged before it goes to the proxy; HTTP_PROXY is not read "
        "(docs/outbound.md).",
    )
    context_sync_interval: float = Field(
        60.0,
        gt=0,
        description="Seconds between two syncs of the stored @contexts with the database: the use counts "
        "(numberOfHits, lastUsage) counted in memory are written, copies deleted or reloaded by another "
        "process are dropped.",
    )
    default_limit: int = Field(20, ge=1, description="Entities per page when a query gives no `limit`.")
    max_limit: int = Field(1000, ge=1, description="Largest `limit` a query may ask for.")
    max_query_length: int = Field(
        32_768, ge=1024, description="Longest query string of a request URL, in bytes (longer gets 400)."
    )
    max_batch_entities: int = Field(
        10_000, ge=1, description="Most entities one batch operation (or temporal batch) carries (more: 413)."
    )
    max_attributes: int = Field(
        1_000, ge=1, description="Most members (attributes) one entity of a request body has (more: 413)."
    )
    max_array_elements: int = Field(
        100_000, ge=1, description="Most elements of any one array in a request body (more: 413)."
    )
    query_timeout: float = Field(
        30.0,
        ge=0,
        description="Seconds one query may run in the database before it is stopped (503); 0: no limit.",
    )
    temporal_page_size: int = Field(
        10_000,
        ge=1,
        description="Most instances (or aggregation periods) of one attribute in a temporal response "
        "(more: 206, Content-Range and a Link to the rest).",
    )
    history_retention: dict[str, int] = Field(
        default_factory=dict,
        description='Days of raw history kept per entity type (JSON, e.g. {"TrafficFlowObserved": 365}); '
        "types not named are kept forever.",
    )
    retention_interval: float = Field(
        3600.0,
        gt=0,
        description="Seconds between two passes of history and audit retention (see history_retention, "
        "audit_retention_days).",
    )
    audit_retention_days: float = Field(
        400.0,
        ge=0,
        description="Days audit records are kept (docs/audit.md); older ones are deleted by the retention "
        "pass; 0: kept forever.",
    )
    audit_sensitive_types: list[str] = Field(
        default_factory=list,
        description="Entity types whose reads are recorded in the audit log (JSON, short or expanded names, "
        'e.g. ["Patient", "https://smartdatamodels.org/dataModel.Device/Device"]); empty: reads are not.',
    )
    history_pack_after: float = Field(
        86_400.0,
        ge=0,
        description="PostgreSQL: seconds after which history is packed, a day of a series in one row "
        "(whole UTC days older than this; see docs/temporal.md).",
    )
    history_pack_interval: float = Field(
        3600.0,
        ge=0,
        description="PostgreSQL: seconds between two passes that pack history (0: never; "
        "`smartby history pack` packs on demand).",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description='Origins browser apps may call the API from (JSON, e.g. ["https://map.city.dk"]; '
        '["*"]: any); empty, the default: no CORS headers, browsers keep other origins out.',
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted (bigger gets 413)."
    )
    sqlite_synchronous: Literal["OFF", "NORMAL", "FULL", "EXTRA"] = Field(
        "FULL",
        description="SQLite `synchronous` pragma. FULL: an acknowledged write survives power loss; "
        "NORMAL: survives a crash of smartby, may lose the last commits on power loss.",
    )
    pg_pool_min: int = Field(
        1, ge=0, le=1000, description="PostgreSQL: connections each smartby process keeps open at least."
    )
    pg_pool_max: int = Field(
        10,
        ge=2,
        le=1000,
        description="PostgreSQL: connections each smartby process opens at most (and threads that use them).",
    )
    log_level: Literal["critical", "error", "warning", "info", "debug"] = Field(
        "info", description="Server log level."
    )
    gc_young_threshold: int = Field(
        50_000,
        ge=0,
        description="Allocations between two collections of the garbage collector's youngest "
        "generation in a server process; 0 keeps Python's (700).",
    )
    # -- access control (docs/security.md) ---------------------------------------------------------
    auth: Literal["off", "required"] = Field(
        "off",
        description="required: every request needs an API key or an OpenID Connect bearer token with a "
        "role on its tenant, and only admins create tenants; off: the API is open (allowed only on "
        "loopback unless `smartby serve --insecure`).",
    )
    oidc_issuer: str = Field(
        "",
        description="OpenID Connect issuer whose bearer tokens (JWTs) are accepted (the `iss` they must "
        "carry, e.g. https://keycloak.city.dk/realms/city); empty: API keys only.",
    )
    oidc_audience: str = Field(
        "", description="The `aud` a bearer token must carry (the client id smartby is)."
    )
    oidc_jwks_url: str = Field(
        "",
        description="URL of the issuer's JWKS (its signing keys), fetched and cached; empty: "
        "<oidc_issuer>/protocol/openid-connect/certs unless oidc_jwks_file is set.",
    )
    oidc_jwks_file: Path | None = Field(
        None, description="A JWKS file to read the issuer's signing keys from instead (an air-gapped city)."
    )
    oidc_jwks_cache: float = Field(
        300.0, gt=0, description="Seconds a fetched JWKS is used before it is fetched again."
    )
    oidc_roles_claim: str = Field(
        "roles",
        description="The token claim (a dotted path, e.g. realm_access.roles) holding its roles: the "
        "strongest of reader, writer, admin found is the token's role.",
    )
    oidc_tenants_claim: str = Field(
        "tenants",
        description='The token claim (a dotted path) holding its tenants (a list; "*" every tenant).',
    )
    oidc_client_id: str = Field(
        "",
        description="The dashboard's client id at the issuer: set (with oidc_issuer), the dashboard offers "
        "a sign-in through the issuer (authorization code with PKCE); empty: API keys only.",
    )
    oidc_client_secret: SecretStr | None = Field(
        None,
        description="The dashboard client's secret where the issuer has it confidential; unset: a "
        "public client.",
    )
    oidc_scopes: str = Field(
        "openid profile", description="Scopes the dashboard's sign-in asks for (openid is always asked)."
    )
    oidc_redirect_url: str = Field(
        "",
        description="The sign-in's redirect URI as the issuer knows it; empty: "
        "<the request's base URL>dashboard/oidc/callback (set it behind a proxy).",
    )
    rate_limit: str = Field(
        "6000/minute",
        description="With authentication required: requests one key or token (its owner or subject) may "
        'make, as `limits` writes it ("6000/minute", "100/second"); empty: no limit per key.',
    )
    rate_limit_address: str = Field(
        "12000/minute",
        description="With authentication required: requests one client address may make (every request "
        "but /health, /health/ready and /version); empty: no limit per address.",
    )
    rate_limit_storage: str = Field(
        "memory://",
        description="Where rate limits are counted: memory:// (each process on its own) or "
        "redis://host:6379/0 (shared by every worker and host; rediss:// for TLS).",
    )
    rate_limit_strategy: Literal["fixed-window", "sliding-window-counter", "moving-window"] = Field(
        "fixed-window",
        description="How requests are counted: fixed-window (cheapest), sliding-window-counter or "
        "moving-window (exact, the costliest).",
    )
    rate_limit_prefix: str = Field(
        "smartby",
        min_length=1,
        description="Names this deployment's counters, so several sharing one Redis count apart.",
    )

    # -- device ingestion (smartby.ingest: devices, decoders, dead letters, HTTP uplinks) ----------
    ingest_batch_size: int = Field(
        500, ge=1, le=100_000, description="Device readings committed in one broker transaction at most."
    )
    ingest_flush_ms: float = Field(
        20.0,
        gt=0,
        le=60_000,
        description="Milliseconds device readings wait for others to share their transaction.",
    )
    ingest_admin_token: SecretStr | None = Field(
        None,
        description="Bearer token the /ingest/v1 registry endpoints (devices, profiles, dead letters) "
        "require while auth is off (with auth required, an admin's key); unset, they are as open as "
        "the NGSI-LD API.",
    )
    ingest_integration_secret: SecretStr | None = Field(
        None,
        description="Shared secret a ChirpStack or The Things Stack integration sends (Authorization: "
        "Bearer, X-API-Key or X-Downlink-Apikey) instead of each device's key.",
    )
    ingest_trusted_transports: list[str] = Field(
        default_factory=lambda: ["mqtt", "chirpstack-mqtt"],
        description="Transports whose uplinks the transport itself authenticated (the MQTT broker's "
        "logins and ACLs): an uplink on them without a key is not refused for that.",
    )

    # -- MQTT device transport (docs/mqtt.md) ----------------------------------------------------
    mqtt_url: str = Field(
        "",
        description="MQTT broker devices publish to, mqtt://user:password@host:1883 or mqtts://...; "
        "empty: no MQTT ingestion.",
    )
    mqtt_topics: list[Literal["smartby", "chirpstack"]] = Field(
        ["smartby", "chirpstack"],
        description="Topic families to subscribe to: smartby/{tenant}/{device}/up, ChirpStack v4 events.",
    )
    mqtt_shared_group: str = Field(
        "smartby",
        pattern=r"^[^/+#]*$",
        description="MQTT v5 shared-subscription group, so workers split the stream; empty: no sharing.",
    )
    mqtt_client_id: str = Field(
        "",
        pattern=r"^[^/+#]*$",
        description="MQTT client id (its persistent session's name); empty: smartby-{host name}. "
        "With several workers each adds -w{n}.",
    )
    mqtt_session_expiry: int = Field(
        86_400, ge=0, description="Seconds the MQTT broker keeps smartby's session and queued messages."
    )
    mqtt_receive_maximum: int = Field(
        1000,
        ge=1,
        le=65_535,
        description="Unacknowledged QoS 1 messages the MQTT broker may send at once (the bounded queue).",
    )
    chirpstack_tenants: dict[str, str] = Field(
        default_factory=dict,
        description='NGSI-LD tenant of each ChirpStack application id (JSON, e.g. {"<uuid>": "aarhus"}); '
        "others go to the default tenant.",
    )

    # -- commands to devices (docs/commands.md) -------------------------------------------------
    commands_ttl: float = Field(
        3600.0,
        gt=0,
        description="Seconds a command to a device lives when it names no expiry (expires or ttl); a "
        "command still pending or unconfirmed then is expired.",
    )
    commands_retry_interval: float = Field(
        10.0,
        gt=0,
        description="Seconds between two tries to send a pending command (its transport was not "
        "there), and between two checks for expired commands.",
    )
    commands_topic: str = Field(
        "smartby/{tenant}/{device}/down",
        min_length=1,
        description="MQTT topic commands are published on for a device whose downlink names none; "
        "{tenant} and {device} are filled in as topic levels.",
    )
    tts_url: str = Field(
        "",
        description="The Things Stack's base URL (https://eu1.cloud.thethings.network) its downlink push "
        "API is called at for devices whose downlink transport is tts; empty: such commands wait.",
    )
    tts_api_key: SecretStr | None = Field(
        None, description="The Things Stack API key (Bearer) with the right to push downlinks."
    )

    # -- subscriptions and notifications (docs/subscriptions.md) ----------------------------------
    notifications: bool = Field(
        True,
        description="Deliver subscription notifications from this process (several processes on one "
        "PostgreSQL database share the work, each notification attempt made by one of them).",
    )
    notification_timeout: float = Field(
        10.0, gt=0, description="Seconds one notification delivery (HTTP POST or MQTT publish) may take."
    )
    notification_retry_delay: float = Field(
        1.0,
        gt=0,
        description="Seconds before the first retry of a failed notification; each further retry waits "
        "twice as long, up to notification_retry_max_delay.",
    )
    notification_retry_max_delay: float = Field(
        300.0, gt=0, description="Longest wait, in seconds, between two attempts to deliver a notification."
    )
    notification_max_attempts: int = Field(
        20, ge=0, description="Attempts before a notification is given up (0: no limit but its age)."
    )
    notification_max_age: float = Field(
        86400.0,
        ge=0,
        description="Seconds after which an undelivered notification is given up (0: no limit but attempts).",
    )
    smtp_host: str = Field(
        "", description="The SMTP server alert channels of kind email send through; empty: e-mail is off."
    )
    smtp_port: int = Field(25, ge=1, le=65535, description="The SMTP server's port.")
    smtp_user: str = Field("", description="User to log in to the SMTP server as; empty: no login.")
    smtp_password: SecretStr = Field(SecretStr(""), description="Password of smtp_user.")
    smtp_starttls: bool = Field(
        False, description="Require STARTTLS before sending (true), or never use it (false)."
    )
    smtp_from: str = Field(
        "smartby@localhost", description="The From address of the e-mails alert channels send."
    )
    smtp_timeout: float = Field(10.0, gt=0, description="Seconds one SMTP exchange may take.")
    notification_concurrency: int = Field(
        64, ge=1, description="Notifications being delivered at once by one process (at most 8 per endpoint)."
    )
    notification_poll_interval: float = Field(
        1.0,
        gt=0,
        description="Seconds between looks at the outbox: for retries coming due, periodic subscriptions, "
        "and (on SQLite) notifications other processes queued; this process's writes, and on PostgreSQL "
        "those of processes that do not deliver (LISTEN/NOTIFY), wake the notifier at once.",
    )

    # -- federation: context sources (docs/federation.md) -------------------------------------------
    forward_timeout: float = Field(
        5.0,
        gt=0,
        description="Seconds a context source may take to answer a forwarded request (a registration's "
        "management.timeout may ask for less).",
    )
    forward_concurrency: int = Field(
        8, ge=1, description="Forwarded requests one process has in flight to any one context source."
    )
    federation_alias: str = Field(
        "",
        pattern=r"^[A-Za-z0-9._:\-]{0,64}$",
        description="The name this broker gives itself in the Via header of the requests it forwards (the "
        "contextSourceAlias other brokers register it under); empty: smartby-<digest of host and database>.",
    )

    # -- city services (docs/services.md) ----------------------------------------------------------
    services: list[str] | None = Field(
        None,
        description="City services to run, by their entry-point names (JSON list, e.g. "
        '["freshness"]; [] runs none); unset: every built-in service. Every process that writes to '
        "the database must name the same services, so that its changes reach their feeds.",
    )
    services_in_server: bool = Field(
        True,
        description="`smartby serve` runs the services' handlers and periodic jobs itself; false when "
        "`smartby services run` processes do it (their HTTP endpoints are served either way).",
    )
    services_batch_size: int = Field(
        500, ge=1, le=100_000, description="Changes a service is handed at once, at most."
    )
    services_lease: float = Field(
        60.0,
        gt=0,
        description="Seconds a claimed batch of changes or a running periodic job stays a process's own; "
        "when a process dies holding one, another takes it over after this long.",
    )
    services_poll_interval: float = Field(
        1.0, gt=0, description="Seconds between two looks at a service's feed and jobs when idle."
    )
    freshness_max_silence: float = Field(
        3600.0,
        gt=0,
        description="freshness service: seconds (services' clock) after a device's latest observedAt "
        "from which it counts as not reporting and gets an Alert.",
    )
    freshness_period: float = Field(
        300.0, gt=0, description="freshness service: seconds (services' clock) between two checks."
    )
    lighting_timezone: str = Field(
        "Europe/Copenhagen",
        description="lighting service: the time zone of programs' fixed local times and of their dates.",
    )
    lighting_period: float = Field(
        300.0,
        gt=0,
        description="lighting service: seconds (services' clock) between two runs of the programs (dim "
        "commands at each step), fault checks and energy indicators.",
    )
    lighting_energy_period: float = Field(
        900.0,
        gt=0,
        description="lighting service: seconds (services' clock) between two computations of today's "
        "energy and CO2 indicators.",
    )
    lighting_driver_floor: float = Field(
        0.1,
        ge=0,
        lt=1,
        description="lighting service: the share of its powerRating a lit lamp's driver draws at level 0 "
        "(f in expected W = powerRating x (f + (1 - f) x level)).",
    )
    lighting_tolerance: float = Field(
        0.2,
        gt=0,
        lt=1,
        description="lighting service: allowed deviation from the expected power (0.2: 20 %).",
    )
    lighting_reporting_interval: float = Field(
        900.0,
        gt=0,
        description="lighting service: seconds between two power readings of a light; none for three "
        "intervals is a communicationLoss.",
    )
    lighting_adaptive_share: float = Field(
        0.3,
        gt=0,
        lt=1,
        description="lighting service: traffic below this share of its segment's usual peak lets the "
        "lighting class step down one (adaptive lighting).",
    )
    lighting_adaptive_window: float = Field(
        1800.0,
        gt=0,
        description="lighting service: seconds traffic must stay below the share (or back above it) "
        "before the class steps down (or up again).",
    )
    lighting_grid_signal: str = Field(
        "urn:ngsi-ld:GridSignal:DK2",
        description="lighting service: the entity whose co2Intensity (g/kWh) values the CO2 avoided.",
    )

    climate_reporting_interval: float = Field(
        300.0,
        gt=0,
        description="climate service: seconds between two readings of a rain gauge whose entity has no "
        "reportingInterval; a window with a longer gap than 1.5 intervals is incomplete.",
    )
    climate_period: float = Field(
        300.0,
        gt=0,
        description="climate service: seconds (services' clock) between two judgements of the gauges "
        "and basins with an open Alert as of now (closing those whose readings stopped).",
    )
    climate_fill_window: float = Field(
        1800.0,
        gt=0,
        description="climate service: seconds of a basin's level readings its fill rate is fitted to.",
    )
    climate_flood_horizon: float = Field(
        3600.0,
        gt=0,
        description="climate service: a basin full (at its dangerLevel) within this many seconds at its "
        "fill rate is at floodRisk.",
    )
    climate_flood_share: float = Field(
        0.8,
        gt=0,
        lt=1,
        description="climate service: a basin fuller than this share of its dangerLevel is at floodRisk.",
    )

    open311_tenant: str = Field(
        "",
        description="reports service: the tenant Open311 GeoReport v2 requests read and write (Open311 has "
        "none); empty: the default tenant.",
    )
    open311_bounds: str = Field(
        "12.45,55.61,12.65,55.73",
        description="reports service: the city's bounding box, minLon,minLat,maxLon,maxLat (WGS 84); a "
        "report placed outside it is refused (400).",
    )
    open311_contact_retention: float = Field(
        180.0,
        gt=0,
        description="reports service: days a reporter's contact details are kept when the report never "
        "closes (a closed report's are deleted when it closes).",
    )

    @field_validator("open311_bounds")
    @classmethod
    def _bounds(cls, value: str) -> str:
        parts = value.split(",")
        try:
            west, south, east, north = (float(part) for part in parts)
        except ValueError:
            raise ValueError(f"not minLon,minLat,maxLon,maxLat: {value!r}") from None
        if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
            raise ValueError(f"not a bounding box of WGS 84 degrees, minimum first: {value!r}")
        return value

    @field_validator("rate_limit", "rate_limit_address")
    @classmethod
    def _rate(cls, value: str) -> str:
        if value.strip():
            try:
                one = len(parse_many(value)) == 1
            except ValueError:
                one = False
            if not one:
                raise ValueError(f"not one rate limit such as 6000/minute: {value!r}")
        return value.strip()

    @field_validator("rate_limit_storage")
    @classmethod
    def _rate_storage(cls, value: str) -> str:
        if not value.startswith(("memory://", "redis://", "rediss://")):
            raise ValueError("memory://, redis://host:port/db or rediss://host:port/db")
        return value

    mobility_timezone: str = Field(
        "Europe/Copenhagen",
        description="mobility service: the time zone of local days, nights (22-06) and daytime (06-20).",
    )
    mobility_period: float = Field(
        3600.0,
        gt=0,
        description="mobility service: seconds (services' clock) between two looks whether the day "
        "before's congestion indicators are written.",
    )
    mobility_jam_duration: float = Field(
        900.0,
        gt=0,
        description="mobility service: seconds (of observedAt) a segment's level of service must stay E "
        "or F before a trafficJam alert.",
    )
    mobility_anomaly_weeks: int = Field(
        8,
        ge=3,
        le=52,
        description="mobility service: weeks before whose same weekday-hour counts are a reading's usual.",
    )
    mobility_anomaly_z: float = Field(
        3.0, gt=0, description="mobility service: the robust z beyond which a count is an anomaly."
    )

    energy_timezone: str = Field(
        "Europe/Copenhagen",
        description="energy service: the time zone of local days (degree days, daily use) and years.",
    )
    energy_period: float = Field(
        86400.0,
        gt=0,
        description="energy service: seconds (services' clock) between two recomputations of the year's "
        "indicators.",
    )
    energy_primary_energy_factor: float = Field(
        0.85,
        gt=0,
        description="energy service: the primary-energy factor of district heating (BR18: 0.85).",
    )
    energy_target_label: Literal["A2020", "A2015", "A2010", "B", "C", "D", "E", "F"] = Field(
        "C", description="energy service: the label retrofit savings are counted to."
    )
    energy_co2_factor: float = Field(
        0.065,
        ge=0,
        description="energy service: kg CO2 per kWh of district heating (national average, 200 % method).",
    )
    energy_max_gap_hours: float = Field(
        24.0,
        gt=0,
        description="energy service: the longest gap between two register readings whose use is spread "
        "over it; a longer one leaves its hours unknown.",
    )
    energy_min_days: int = Field(
        5,
        ge=2,
        description="energy service: days with both known use and degree days a building needs for a figure.",
    )

    @field_validator("lighting_timezone", "mobility_timezone", "energy_timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a time zone (an IANA name, e.g. Europe/Copenhagen)") from None
        return value
