-- City services (docs/services.md). `service_change` is each service's feed: one row per entity
-- change a service watches, written in the transaction that made the change, claimed in batches
-- (claimed_until: seconds since the epoch the claim's lease lasts; FOR UPDATE SKIP LOCKED) and
-- deleted once handled. `service_job` holds each periodic job's schedule and lease: `due_at` in the
-- services' clock, `lease_until` in wall-clock seconds, so that of several processes one runs each
-- period, and another takes over when the holder dies with the job.
CREATE TABLE service_change (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    service text NOT NULL,
    tenant text NOT NULL,
    entity_id text NOT NULL,
    before text,
    after text,
    created_at double precision NOT NULL,
    claimed_until double precision NOT NULL DEFAULT 0,
    attempts integer NOT NULL DEFAULT 0
);
CREATE INDEX service_change_queue ON service_change (service, id);

CREATE TABLE service_job (
    service text NOT NULL,
    job text NOT NULL,
    due_at double precision NOT NULL,
    holder text,
    lease_until double precision NOT NULL DEFAULT 0,
    runs integer NOT NULL DEFAULT 0,
    PRIMARY KEY (service, job)
);
