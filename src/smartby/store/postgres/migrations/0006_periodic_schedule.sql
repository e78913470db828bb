-- When each periodic (timeInterval) subscription is next due, kept in the database so that the
-- processes sharing it send each period once, and a restart keeps the schedule. `period` holds the
-- timeInterval of an active periodic subscription (NULL otherwise); `due_at` is seconds since the
-- epoch (0: at once). A process claims a due subscription by moving its due_at a period on, in one
-- conditional UPDATE: a second process's UPDATE waits for the row and then finds it no longer due.
ALTER TABLE subscription ADD COLUMN period double precision,
    ADD COLUMN due_at double precision NOT NULL DEFAULT 0;
UPDATE subscription SET period = (doc->>'timeInterval')::double precision
    WHERE doc ? 'timeInterval' AND coalesce((doc->>'isActive')::boolean, true);
CREATE INDEX subscription_due ON subscription (due_at) WHERE period IS NOT NULL;
