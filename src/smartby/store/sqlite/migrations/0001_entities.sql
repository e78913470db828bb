-- Current context: entities, their types, an index of attribute values, and geometry.
CREATE TABLE tenant (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE
);

-- Expanded IRIs (entity types, attribute names) interned to small integers.
CREATE TABLE term (
    id INTEGER PRIMARY KEY,
    iri TEXT NOT NULL UNIQUE
);

CREATE TABLE entity (
    pk INTEGER PRIMARY KEY,
    tenant_id INTEGER NOT NULL,
    id TEXT NOT NULL,
    doc TEXT NOT NULL,
    UNIQUE (tenant_id, id)
);

CREATE TABLE entity_type (
    tenant_id INTEGER NOT NULL,
    type_id INTEGER NOT NULL,
    pk INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, type_id, pk)
) WITHOUT ROWID;

-- One row per attribute instance (and per scalar element of an array value): the attribute type
-- and its scalar value, numbers in `num` and strings in `txt`, so q filters run in SQL.
CREATE TABLE attr (
    pk INTEGER NOT NULL,
    name_id INTEGER NOT NULL,
    seq INTEGER NOT NULL,
    kind INTEGER NOT NULL,
    num REAL,
    txt TEXT,
    PRIMARY KEY (pk, name_id, seq)
) WITHOUT ROWID;

CREATE INDEX attr_num ON attr (name_id, num) WHERE num IS NOT NULL;
CREATE INDEX attr_txt ON attr (name_id, txt) WHERE txt IS NOT NULL;

-- Bounding boxes of GeoProperty values; id = entity pk * 256 + ordinal of the geometry.
CREATE VIRTUAL TABLE geo USING rtree (id, minx, maxx, miny, maxy, +name_id INTEGER);

CREATE TABLE jsonld_context (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used TEXT,
    hits INTEGER NOT NULL DEFAULT 0
);
