-- Citizen reporters' contact details (docs/open311.md): personal data, kept apart from the report's
-- IssueReporting entity so that no read, query or notification of it carries them. A row is deleted
-- when its report closes, or SMARTBY_OPEN311_CONTACT_RETENTION days after `given_at` (ISO 8601 UTC).
CREATE TABLE report_contact (
    tenant TEXT NOT NULL,
    report_id TEXT NOT NULL,
    given_at TEXT NOT NULL,
    email TEXT,
    first_name TEXT,
    last_name TEXT,
    phone TEXT,
    device_id TEXT,
    account_id TEXT,
    PRIMARY KEY (tenant, report_id)
);
CREATE INDEX report_contact_given ON report_contact (given_at);
