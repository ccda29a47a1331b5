-- Issue 16 (production): API keys that can be listed, revoked and seen in use; signing
-- secrets replaced with a grace period; indexes for pruning old rows by age. Secrets in
-- orgs.signing_secret and orgs.salesforce are sealed by the application (secrets.rs), so
-- their columns stay TEXT.

ALTER TABLE api_keys ADD COLUMN last_used_at INTEGER;
ALTER TABLE api_keys ADD COLUMN revoked_at INTEGER;

-- A signing secret replaced by `callsync org rotate-secret`: still accepted until
-- valid_until, so the phone system can switch over without dropping events.
CREATE TABLE previous_signing_secrets (
    org_id          TEXT NOT NULL REFERENCES orgs (id),
    signing_secret  TEXT NOT NULL,
    retired_at      INTEGER NOT NULL,
    valid_until     INTEGER NOT NULL
);
CREATE INDEX previous_signing_secrets_by_org ON previous_signing_secrets (org_id, valid_until);

-- Retention prunes by age in small batches.
CREATE INDEX events_by_received_at ON events (received_at);
CREATE INDEX sync_history_by_at ON sync_history (at);
CREATE INDEX error_log_by_occurred_at ON error_log (occurred_at);
