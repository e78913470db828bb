-- History: every attribute instance ever recorded, and the entities it belongs to.

-- An entity as history knows it (its key is the entity's key); it outlives the current state.
CREATE TABLE temporal_entity (
    key bigint PRIMARY KEY,
    tenant_id integer NOT NULL,
    entity_id text NOT NULL,
    types text NOT NULL,
    scope text,
    created_at bigint NOT NULL,
    modified_at bigint NOT NULL,
    deleted_at bigint
);

CREATE INDEX temporal_entity_tenant ON temporal_entity (tenant_id, key);

CREATE TABLE temporal_type (
    tenant_id integer NOT NULL,
    type_id integer NOT NULL,
    key bigint NOT NULL,
    PRIMARY KEY (tenant_id, type_id, key)
);

CREATE INDEX temporal_type_entity ON temporal_type (key);

-- The attribute instance series an entity's history holds, with the attribute type last recorded.
CREATE TABLE temporal_attr (
    key bigint NOT NULL,
    name_id integer NOT NULL,
    dataset_id integer NOT NULL,
    tenant_id integer NOT NULL,
    kind smallint NOT NULL,
    PRIMARY KEY (key, name_id, dataset_id)
);

CREATE SEQUENCE history_instance_seq CACHE 64;

-- One row per attribute instance, partitioned by month of `at` (partitions are made as rows for a
-- month arrive; the default partition only catches rows that came while one could not be made).
-- Times are microseconds since the epoch; `at` is the instance's observedAt, or the time it was
-- recorded when it has none. `kind` is the attribute type code plus flags (16: has observedAt,
-- 32: deletion). Numbers are exact decimals in `num` (an integer keeps scale 0, a float at least
-- scale 1, so each reads back as what it was); other values are JSON in `value`; `extra` holds
-- sub-attributes and other members as JSON. Columns are in alignment order: 8-byte, 4, 2, varlena.
CREATE TABLE history (
    key bigint NOT NULL,
    at bigint NOT NULL,
    instance bigint NOT NULL DEFAULT nextval('history_instance_seq'),
    created_at bigint NOT NULL,
    modified_at bigint,
    tenant_id integer NOT NULL,
    name_id integer NOT NULL,
    dataset_id integer NOT NULL,
    unit_id integer,
    kind smallint NOT NULL,
    num numeric,
    value text COLLATE "C",
    extra text
) PARTITION BY RANGE (at);

CREATE INDEX history_series ON history (key, name_id, dataset_id, at);

CREATE TABLE history_default PARTITION OF history DEFAULT;
