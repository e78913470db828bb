-- Commands to devices (docs/commands.md): how a device's or a profile's commands are encoded, how
-- they reach the device, and each command with its state. `next_attempt` (wall-clock seconds since
-- the epoch) is when a pending command may be tried again; a process claims a try by moving it on.
ALTER TABLE device ADD COLUMN commands text;
ALTER TABLE device ADD COLUMN downlink text;
ALTER TABLE payload_profile ADD COLUMN commands text;
ALTER TABLE payload_profile ADD COLUMN downlink text;

CREATE TABLE device_command (
    id text PRIMARY KEY,
    tenant text NOT NULL,
    device_id text NOT NULL,
    name text NOT NULL,
    value text NOT NULL,
    state text NOT NULL,
    created_at text NOT NULL,
    expires_at text NOT NULL,
    payload bytea NOT NULL,
    f_port integer,
    sent_at text,
    confirmed_at text,
    info text,
    attempts integer NOT NULL DEFAULT 0,
    next_attempt double precision NOT NULL DEFAULT 0,
    confirm_by text,
    confirmed integer NOT NULL DEFAULT 0
);
CREATE INDEX device_command_device ON device_command (tenant, device_id, created_at);
CREATE INDEX device_command_open ON device_command (state, next_attempt);
