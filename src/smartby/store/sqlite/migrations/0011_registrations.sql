-- Context source registrations (clause 5.2.9) and the subscriptions to them (clause 5.11).

-- One row per registration: its checked document (entity types and attribute names expanded), and
-- the counters of the distributed operations it took part in. Times are ISO 8601 text.
CREATE TABLE registration (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    times_sent INTEGER NOT NULL DEFAULT 0,
    times_failed INTEGER NOT NULL DEFAULT 0,
    last_success TEXT,
    last_failure TEXT,
    PRIMARY KEY (tenant, id)
);

-- One row per csource subscription, as the subscription table keeps entity subscriptions.
CREATE TABLE csource_subscription (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    times_sent INTEGER NOT NULL DEFAULT 0,
    times_failed INTEGER NOT NULL DEFAULT 0,
    last_notification TEXT,
    last_success TEXT,
    last_failure TEXT,
    PRIMARY KEY (tenant, id)
);

-- Csource notifications waiting to be delivered (seconds since the epoch), claimed with a lease as
-- the notification outbox's rows are.
CREATE TABLE csource_notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    due_at REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX csource_notification_due ON csource_notification (due_at);
