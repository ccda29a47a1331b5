-- callsync's store, PostgreSQL flavour. Times are Unix epoch milliseconds
-- (BIGINT) and structured values are JSON text, in both back ends, so the
-- same queries serve both; only the column types and identities differ.

CREATE TABLE orgs (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    signing_secret  TEXT NOT NULL,
    settings        TEXT NOT NULL,
    salesforce      TEXT,
    created_at      BIGINT NOT NULL
);

CREATE TABLE api_keys (
    key_hash    TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES orgs (id),
    scopes      TEXT NOT NULL,
    label       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    user_id      TEXT NOT NULL,
    name         TEXT NOT NULL,
    sf_username  TEXT,
    PRIMARY KEY (org_id, user_id)
);

CREATE TABLE events (
    org_id       TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    body         TEXT NOT NULL,
    PRIMARY KEY (org_id, event_id)
);
CREATE INDEX events_by_call ON events (org_id, call_id, occurred_at);

CREATE TABLE calls (
    org_id               TEXT NOT NULL,
    call_id              TEXT NOT NULL,
    user_id              TEXT,
    kind                 TEXT,
    customer_number      TEXT,
    first_event_at       BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    sync_state           TEXT NOT NULL,
    task_id              TEXT,
    written              TEXT,
    linked               TEXT,
    create_attempted_at  BIGINT,
    PRIMARY KEY (org_id, call_id)
);
CREATE INDEX calls_by_time ON calls (org_id, first_event_at);

CREATE TABLE contacts (
    org_id       TEXT NOT NULL,
    number       TEXT NOT NULL,
    object       TEXT,
    record_id    TEXT,
    company      TEXT,
    person       TEXT,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (org_id, number)
);

CREATE TABLE sync_work (
    org_id       TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    generation   BIGINT NOT NULL,
    not_before   BIGINT NOT NULL,
    attempts     BIGINT NOT NULL DEFAULT 0,
    lease_owner  TEXT,
    lease_until  BIGINT,
    parked       BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, call_id)
);
CREATE INDEX sync_work_due ON sync_work (parked, not_before);

CREATE TABLE sync_history (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id      TEXT NOT NULL,
    call_id     TEXT NOT NULL,
    at          BIGINT NOT NULL,
    action      TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    task_id     TEXT,
    detail      TEXT
);
CREATE INDEX sync_history_by_call ON sync_history (org_id, call_id, id);

CREATE TABLE error_log (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    org_id       TEXT NOT NULL,
    call_id      TEXT NOT NULL,
    step         TEXT NOT NULL,
    code         TEXT NOT NULL,
    message      TEXT NOT NULL,
    remedy       TEXT NOT NULL,
    occurred_at  BIGINT NOT NULL,
    resolved_at  BIGINT
);
CREATE INDEX error_log_by_org ON error_log (org_id, id);
