-- Issue 15, R12 and R13.
--
-- calls.skip_reason: why the logging policy (R12) wrote nothing for a call whose
--   sync_state is 'skipped': 'policy', 'never_log_list' or 'too_short'.
-- unknown_number_records: R13 "one number, one record". One row per organisation and
--   customer number in normal form (R3.6) for which callsync creates a Lead or Contact.
--   A worker claims the row (INSERT, the primary key lets one win) before it sends the
--   create; record_id is set once Salesforce answered. A claim without record_id whose
--   claimed_at is older than the Salesforce request timeout belongs to a worker that died
--   or lost its answer: the next worker takes it over (compare-and-set on claimed_at),
--   first looking in Salesforce for a record created since the claim (adopt), then
--   creating.
ALTER TABLE calls ADD COLUMN skip_reason TEXT;

CREATE TABLE unknown_number_records (
    org_id      TEXT NOT NULL,
    number_key  TEXT NOT NULL,
    object      TEXT NOT NULL,
    record_id   TEXT,
    claimed_by  TEXT NOT NULL,
    claimed_at  INTEGER NOT NULL,
    created_at  INTEGER,
    PRIMARY KEY (org_id, number_key)
);
