-- Subscriptions and the notification outbox.

-- One row per subscription: the document its subscriber wrote (with its @context) and the delivery
-- counters the broker reports as its status members. Times are ISO 8601 text, as NGSI-LD shows them.
CREATE TABLE subscription (
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

-- Bumped by every change to a subscription, so other processes know to reload theirs.
CREATE TABLE subscription_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO subscription_version VALUES (1, 0);

-- Notifications waiting to be delivered: written in the transaction of the change that caused them.
-- Times are seconds since the epoch. A row is claimed by setting claimed_until (a lease); it goes
-- when delivered, or comes due again (due_at) after a failed attempt.
CREATE TABLE notification (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at REAL NOT NULL,
    due_at REAL NOT NULL,
    claimed_until REAL NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX notification_due ON notification (due_at);
CREATE INDEX notification_subscription ON notification (tenant, subscription_id);
