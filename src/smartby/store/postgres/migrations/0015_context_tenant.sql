-- @contexts kept per tenant (issue 13): Hosted, Cached and ImplicitlyCreated contexts belong to the
-- tenant that added, fetched or needed them; a tenant lists, reads and deletes only its own. The
-- contexts stored before belong to the default tenant ('').
ALTER TABLE jsonld_context ADD COLUMN tenant text NOT NULL DEFAULT '';
ALTER TABLE jsonld_context DROP CONSTRAINT jsonld_context_pkey;
ALTER TABLE jsonld_context DROP CONSTRAINT jsonld_context_url_key;
ALTER TABLE jsonld_context ADD PRIMARY KEY (tenant, id);
ALTER TABLE jsonld_context ADD CONSTRAINT jsonld_context_tenant_url UNIQUE (tenant, url);
DROP INDEX jsonld_context_kind;
CREATE INDEX jsonld_context_kind ON jsonld_context (tenant, kind, created_at);
