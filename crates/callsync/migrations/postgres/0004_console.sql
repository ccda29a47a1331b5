-- The admin console (issue 13): one-time sign-in links and browser sessions.
-- Both hold only the SHA-256 of their token, like API keys: a copy of the
-- database signs nobody in. Times are Unix epoch milliseconds.

CREATE TABLE console_login_links (
    token_hash   TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT
);

CREATE TABLE console_sessions (
    token_hash    TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES orgs (id),
    -- The token every form of this session carries (CSRF).
    csrf_token    TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    -- However active, a session ends here; idle ones end sooner.
    expires_at    BIGINT NOT NULL
);
CREATE INDEX console_sessions_by_org ON console_sessions (org_id);
