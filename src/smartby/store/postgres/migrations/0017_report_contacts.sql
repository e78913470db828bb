-- Citizen reporters' contact details (docs/open311.md): personal data, kept apart from the report's
-- IssueReporting entity so that no read, query or notification of it carries them. A row is deleted
-- when its report closes, or SMARTBY_OPEN311_CONTACT_RETENTION days after `given_at` (ISO 8601 UTC).
CREATE TABLE report_contact (
    tenant text NOT NULL,
    report_id text NOT NULL,
    given_at text NOT NULL,
    email text,
    first_name text,
    last_name text,
    phone text,
    device_id text,
    account_id text,
    PRIMARY KEY (tenant, report_id)
);
CREATE INDEX report_contact_given ON report_contact (given_at);
