-- Device ingestion: the devices that feed entities, named payload decoders, and what could not be used.
CREATE TABLE device (
    tenant TEXT NOT NULL,
    id TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    entity_type TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    profile TEXT,
    decoder TEXT,
    dev_eui TEXT,
    location TEXT,
    organisation TEXT,
    context TEXT,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    PRIMARY KEY (tenant, id)
);

CREATE UNIQUE INDEX device_dev_eui ON device (tenant, dev_eui) WHERE dev_eui IS NOT NULL;

CREATE TABLE payload_profile (
    tenant TEXT NOT NULL,
    name TEXT NOT NULL,
    decoder TEXT NOT NULL,
    description TEXT,
    created_at TEXT NOT NULL,
    modified_at TEXT NOT NULL,
    PRIMARY KEY (tenant, name)
);

CREATE TABLE dead_letter (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    received_at TEXT NOT NULL,
    transport TEXT NOT NULL,
    device_id TEXT,
    reason TEXT NOT NULL,
    payload BLOB NOT NULL,
    topic TEXT
);

CREATE INDEX dead_letter_received ON dead_letter (tenant, received_at);
