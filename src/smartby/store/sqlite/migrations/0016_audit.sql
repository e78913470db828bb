-- The audit log (docs/audit.md): append-only, one row per change, refusal or audited read. `at` is
-- ISO 8601 UTC with microseconds (sorts as it reads); `target` names entity ids separated by spaces.
-- UPDATE is refused by a trigger; rows leave only by retention (SMARTBY_AUDIT_RETENTION_DAYS).
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    tenant TEXT NOT NULL,
    operation TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT
);

CREATE INDEX audit_log_at ON audit_log (at);

CREATE TRIGGER audit_log_append_only BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit records are append-only');
END;
