-- When each periodic (timeInterval) subscription is next due, kept in the database so that the
-- processes sharing it send each period once, and a restart keeps the schedule. `period` holds the
-- timeInterval of an active periodic subscription (NULL otherwise); `due_at` is seconds since the
-- epoch (0: at once). A process claims a due subscription by moving its due_at a period on.
ALTER TABLE subscription ADD COLUMN period REAL;
ALTER TABLE subscription ADD COLUMN due_at REAL NOT NULL DEFAULT 0;
UPDATE subscription SET period = json_extract(doc, '$.timeInterval')
    WHERE json_extract(doc, '$.timeInterval') IS NOT NULL AND coalesce(json_extract(doc, '$.isActive'), 1) <> 0;
CREATE INDEX subscription_due ON subscription (due_at) WHERE period IS NOT NULL;
