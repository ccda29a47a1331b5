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

-- The Salesforce users an organisation lets sign in to the console with
-- Salesforce (OAuth web-server flow); usernames lower-cased, as Salesforce
-- compares them.
CREATE TABLE console_admins (
    org_id       TEXT NOT NULL REFERENCES orgs (id),
    sf_username  TEXT NOT NULL,
    PRIMARY KEY (org_id, sf_username)
);

-- A sign-in with Salesforce under way: the state's SHA-256, and the PKCE
-- verifier to redeem the code with. Taken (deleted) by the callback.
CREATE TABLE console_oauth_states (
    state_hash     TEXT PRIMARY KEY,
    org_id         TEXT NOT NULL REFERENCES orgs (id),
    code_verifier  TEXT NOT NULL,
    redirect_uri   TEXT NOT NULL,
    expires_at     BIGINT NOT NULL
);
