-- City services (docs/services.md). `service_change` is each service's feed: one row per entity
-- change a service watches, written in the transaction that made the change, claimed in batches
-- (claimed_until: seconds since the epoch the claim's lease lasts) and deleted once handled.
-- `service_job` holds each periodic job's schedule and lease: `due_at` in the services' clock,
-- `lease_until` in wall-clock seconds, so that of several processes one runs each period, and
-- another takes over when the holder dies with the job.
CREATE TABLE service_change (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    service TEXT NOT NULL,
    tenant TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    before TEXT,
    after TEXT,
    created_at REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX service_change_queue ON service_change (service, id);

CREATE TABLE service_job (
    service TEXT NOT NULL,
    job TEXT NOT NULL,
    due_at REAL NOT NULL,
    holder TEXT,
    lease_until REAL NOT NULL DEFAULT 0,
    runs INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (service, job)
);
