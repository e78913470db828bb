-- One layout with PostgreSQL, so the SQL both backends run is written once (store/sql):
-- every entity id of a tenant has a key in `entity_key`, taken the first time a write names the id
-- and kept for good; the entity's current state and its history hang off it (the temporal entity's
-- number is the key). `ordinal` is the order of creation (a re-created entity comes last), the
-- order queries page in. attr rows carry the tenant, as the value indexes do; kind + 64 marks a
-- value the index cannot hold exactly (an integer beyond 2^53: terms on it are decided in Python).
-- `counter` keeps the next key, ordinal and instance number.

CREATE TABLE entity_key (
    tenant_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;

INSERT INTO entity_key (tenant_id, id, key) SELECT tenant_id, entity_id, id FROM temporal_entity;

INSERT INTO entity_key (tenant_id, id, key)
SELECT e.tenant_id, e.id, (SELECT coalesce(max(id), 0) FROM temporal_entity) + e.pk FROM entity e
WHERE NOT EXISTS (SELECT 1 FROM temporal_entity t WHERE t.tenant_id = e.tenant_id AND t.entity_id = e.id);

CREATE TABLE entity_new (
    key INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL
);

INSERT INTO entity_new (key, tenant_id, ordinal, id, doc)
SELECT k.key, e.tenant_id, e.pk, e.id, e.doc FROM entity e JOIN entity_key k ON k.tenant_id = e.tenant_id AND k.id = e.id;

CREATE TABLE entity_type_new (
    tenant_id INTEGER NOT NULL,
    type_id INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    key INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, type_id, ordinal, key)
) WITHOUT ROWID;

INSERT INTO entity_type_new (tenant_id, type_id, ordinal, key)
SELECT t.tenant_id, t.type_id, t.pk, e.key FROM entity_type t JOIN entity_new e ON e.ordinal = t.pk;

CREATE TABLE attr_new (
    key INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    tenant_id INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    num REAL,
    txt TEXT,
    PRIMARY KEY (key, name_id, seq)
) WITHOUT ROWID;

INSERT INTO attr_new (key, name_id, seq, tenant_id, kind, num, txt)
SELECT e.key, a.name_id, a.seq, e.tenant_id,
       CASE WHEN abs(a.num) > 9007199254740992.0 THEN a.kind | 64 ELSE a.kind END, a.num, a.txt
FROM attr a JOIN entity_new e ON e.ordinal = a.pk;

CREATE VIRTUAL TABLE geo_new USING rtree (id, minx, maxx, miny, maxy, +name_id INTEGER);

INSERT INTO geo_new (id, minx, maxx, miny, maxy, name_id)
SELECT e.key * 256 + g.id % 256, g.minx, g.maxx, g.miny, g.maxy, g.name_id
FROM geo g JOIN entity_new e ON e.ordinal = g.id / 256;

CREATE TABLE temporal_entity_new (
    key INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    entity_id TEXT NOT NULL,
    types TEXT NOT NULL,
    scope TEXT,
    created_at INTEGER NOT NULL,
    modified_at INTEGER NOT NULL,
    deleted_at INTEGER
);

INSERT INTO temporal_entity_new SELECT id, tenant_id, entity_id, types, scope, created_at, modified_at, deleted_at
FROM temporal_entity;

DROP TABLE entity;
DROP TABLE entity_type;
DROP TABLE attr;
DROP TABLE geo;
DROP TABLE temporal_entity;

ALTER TABLE entity_new RENAME TO entity;
ALTER TABLE entity_type_new RENAME TO entity_type;
ALTER TABLE attr_new RENAME TO attr;
ALTER TABLE geo_new RENAME TO geo;
ALTER TABLE temporal_entity_new RENAME TO temporal_entity;

CREATE INDEX entity_order ON entity (tenant_id, ordinal);
CREATE INDEX attr_num ON attr (tenant_id, name_id, num) WHERE num IS NOT NULL;
CREATE INDEX attr_txt ON attr (tenant_id, name_id, txt) WHERE txt IS NOT NULL;
CREATE INDEX attr_unindexed ON attr (tenant_id, name_id) WHERE kind >= 64;
CREATE INDEX temporal_entity_tenant ON temporal_entity (tenant_id, key);

ALTER TABLE temporal_type RENAME COLUMN tentity TO key;
CREATE INDEX temporal_type_entity ON temporal_type (key);

ALTER TABLE temporal_attr RENAME COLUMN tentity TO key;
ALTER TABLE temporal_attr ADD COLUMN tenant_id INTEGER NOT NULL DEFAULT 0;
UPDATE temporal_attr SET tenant_id = coalesce((SELECT t.tenant_id FROM temporal_entity t WHERE t.key = temporal_attr.key), 0);

ALTER TABLE history RENAME COLUMN tentity TO key;
ALTER TABLE history_hour RENAME COLUMN tentity TO key;

INSERT INTO counter (name, value) SELECT 'key', coalesce(max(key), 0) FROM entity_key;
INSERT INTO counter (name, value) SELECT 'ordinal', coalesce(max(ordinal), 0) FROM entity
