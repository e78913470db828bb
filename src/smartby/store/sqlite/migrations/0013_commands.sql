-- Commands to devices (docs/commands.md): how a device's or a profile's commands are encoded, how
-- they reach the device, and each command with its state. `next_attempt` (wall-clock seconds since
-- the epoch) is when a pending command may be tried again; a process claims a try by moving it on.
ALTER TABLE device ADD COLUMN commands TEXT;
ALTER TABLE device ADD COLUMN downlink TEXT;
ALTER TABLE payload_profile ADD COLUMN commands TEXT;
ALTER TABLE payload_profile ADD COLUMN downlink TEXT;

CREATE TABLE device_command (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    device_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    payload BLOB NOT NULL,
    f_port INTEGER,
    sent_at TEXT,
    confirmed_at TEXT,
    info TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    confirm_by TEXT,
    confirmed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX device_command_device ON device_command (tenant, device_id, created_at);
CREATE INDEX device_command_open ON device_command (state, next_attempt);
