-- Context source registrations (clause 5.2.9) and the subscriptions to them (clause 5.11).

-- One row per registration: its checked document (entity types and attribute names expanded), and
-- the counters of the distributed operations it took part in. Times are ISO 8601 text.
CREATE TABLE registration (
    tenant text NOT NULL,
    id text NOT NULL,
    doc jsonb NOT NULL,
    created_at text NOT NULL,
    modified_at text NOT NULL,
    times_sent bigint NOT NULL DEFAULT 0,
    times_failed bigint NOT NULL DEFAULT 0,
    last_success text,
    last_failure text,
    PRIMARY KEY (tenant, id)
);

-- One row per csource subscription, as the subscription table keeps entity subscriptions.
CREATE TABLE csource_subscription (
    tenant text NOT NULL,
    id text NOT NULL,
    doc jsonb NOT NULL,
    created_at text NOT NULL,
    modified_at text NOT NULL,
    times_sent bigint NOT NULL DEFAULT 0,
    times_failed bigint NOT NULL DEFAULT 0,
    last_notification text,
    last_success text,
    last_failure text,
    PRIMARY KEY (tenant, id)
);
