-- The extraInfo /jsonldContexts?details=true reports, and listing by kind (clause 5.13.3).
ALTER TABLE jsonld_context ADD COLUMN extra_info TEXT;
CREATE INDEX jsonld_context_kind ON jsonld_context (kind, created_at);
