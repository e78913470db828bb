-- Why a subscription's last delivery failed (HTTP 503, could not be reached, an SMTP answer, a
-- channel template's error): what an alert channel shows as lastFailureReason (docs/alert-channels.md).
ALTER TABLE subscription ADD COLUMN last_failure_reason TEXT;
