-- The audit log (docs/audit.md): append-only, one row per change, refusal or audited read. `at` is
-- ISO 8601 UTC with microseconds (sorts as it reads); `target` names entity ids separated by spaces.
-- UPDATE and TRUNCATE are refused by triggers; rows leave only by retention
-- (SMARTBY_AUDIT_RETENTION_DAYS). Database roles do the rest (docs/audit.md).
CREATE TABLE audit_log (
    id bigserial PRIMARY KEY,
    at text NOT NULL,
    actor text NOT NULL,
    tenant text NOT NULL,
    operation text NOT NULL,
    target text NOT NULL,
    outcome text NOT NULL,
    detail text
);

CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit records are append-only';
END
$$;

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

CREATE TRIGGER audit_log_not_truncated BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
