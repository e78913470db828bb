-- History: every attribute instance ever recorded, and the entities it belongs to.

-- An entity as history knows it; it outlives the entity's current state (entity.temporal points here).
CREATE TABLE temporal_entity (
    id INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    entity_id TEXT NOT NULL,
    types TEXT NOT NULL,
    scope TEXT,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    deleted_at INTEGER,
    UNIQUE (tenant_id, entity_id)
);

CREATE TABLE temporal_type (
    tenant_id INTEGER NOT NULL,
    type_id INTEGER NOT NULL,
    tentity INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, type_id, tentity)
) WITHOUT ROWID;

-- One row per attribute instance. Times are microseconds since the epoch; `at` is the instance's
-- observedAt, or the time it was recorded when it has none. `num` has no declared type so integers
-- stay integers. `kind` is the attribute type code plus flags (16: has observedAt, 32: deletion).
-- `value` holds non-numeric values as JSON; `extra` holds sub-attributes and other members as JSON.
CREATE TABLE history (
    tentity INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL,
    at INTEGER NOT NULL,
    instance INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    modified_at INTEGER,
    kind INTEGER NOT NULL,
    num,
    value TEXT,
    unit_id INTEGER,
    extra TEXT,
    PRIMARY KEY (tentity, name_id, dataset_id, at, instance)
) WITHOUT ROWID;

CREATE TABLE counter (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);

INSERT INTO counter (name, value) VALUES ('instance', 0);

ALTER TABLE entity ADD COLUMN temporal INTEGER;

-- The attribute instance series an entity's history holds, with the attribute type last recorded.
CREATE TABLE temporal_attr (
    tentity INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    PRIMARY KEY (tentity, name_id, dataset_id)
) WITHOUT ROWID;
