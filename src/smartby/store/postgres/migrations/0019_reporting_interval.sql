-- How often a device reports, in seconds (docs/devices.md): declared on a payload profile for its
-- devices, or on a device itself; ingestion writes it as the entity's `reportingInterval` where the
-- entity has none, and services (the climate service's rain windows) read it there.
ALTER TABLE device ADD COLUMN reporting_interval double precision;
ALTER TABLE payload_profile ADD COLUMN reporting_interval double precision;
