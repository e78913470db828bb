-- @contexts kept per tenant (issue 13): Hosted, Cached and ImplicitlyCreated contexts belong to the
-- tenant that added, fetched or needed them; a tenant lists, reads and deletes only its own. The
-- contexts stored before belong to the default tenant ('').
CREATE TABLE jsonld_context_of_tenant (
    tenant TEXT NOT NULL DEFAULT '',
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    kind TEXT NOT NULL,
    document TEXT NOT NULL,
    created_at TEXT NOT NULL,
    last_used TEXT,
    hits INTEGER NOT NULL DEFAULT 0,
    extra_info TEXT,
    PRIMARY KEY (tenant, id),
    UNIQUE (tenant, url)
);
INSERT INTO jsonld_context_of_tenant (tenant, id, url, kind, document, created_at, last_used, hits, extra_info)
    SELECT '', id, url, kind, document, created_at, last_used, hits, extra_info FROM jsonld_context;
DROP TABLE jsonld_context;
ALTER TABLE jsonld_context_of_tenant RENAME TO jsonld_context;
CREATE INDEX jsonld_context_kind ON jsonld_context (tenant, kind, created_at);
