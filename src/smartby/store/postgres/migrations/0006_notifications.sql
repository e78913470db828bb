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

-- A transaction that queues notifications in a process that does not deliver them (one with
-- SMARTBY_NOTIFICATIONS=false, whose connections set smartby.wake_others) tells the listening
-- processes (smartby.store.postgres.outbox) when it commits, so they deliver at once instead of at
-- their next look. A delivering process delivers what it queues itself: it does not NOTIFY, as every
-- NOTIFY makes commits take turns on the server's notification queue.
CREATE FUNCTION notification_queued() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('smartby.wake_others', true) = 'on' THEN
        PERFORM pg_notify('smartby_outbox', '');
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER notification_queued AFTER INSERT ON notification
    FOR EACH STATEMENT EXECUTE FUNCTION notification_queued();
