-- Issue 12: a fenced outbox and calls that wait instead of failing (R16).
--
-- lease_token: a fresh random token per claim; every write of a step names it, so a
--   worker whose lease was taken over writes nothing (store/outbox.rs).
-- queued_at: when the call's current work first became due, for "oldest waiting".
-- wait_reason: why a work item (and its call) is waiting, e.g. salesforce_unavailable.
-- create_in_flight: 1 while a create may still be on its way to Salesforce; an attempt
--   that finds it set lets the earlier request settle before it looks for the Task.
-- event_count: events stored for the call, bounded (MAX_EVENTS_PER_CALL) so one call
--   cannot grow without end.
-- quarantined: why a stored event no longer parses; it is kept, shown, and left out.
ALTER TABLE sync_work ADD COLUMN lease_token BIGINT;
ALTER TABLE sync_work ADD COLUMN queued_at BIGINT;
ALTER TABLE sync_work ADD COLUMN wait_reason TEXT;
ALTER TABLE calls ADD COLUMN wait_reason TEXT;
ALTER TABLE calls ADD COLUMN create_in_flight BIGINT NOT NULL DEFAULT 0;
ALTER TABLE calls ADD COLUMN event_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE events ADD COLUMN quarantined TEXT;
CREATE INDEX sync_work_by_org ON sync_work (org_id, parked, not_before);

-- One row per organisation whose Salesforce the worker found unavailable (R16): the
-- circuit breaker's state, shown in GET /v1/org.
CREATE TABLE org_health (
    org_id      TEXT PRIMARY KEY,
    state       TEXT NOT NULL,
    reason      TEXT NOT NULL,
    detail      TEXT,
    since       BIGINT NOT NULL,
    next_probe  BIGINT,
    failures    BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
