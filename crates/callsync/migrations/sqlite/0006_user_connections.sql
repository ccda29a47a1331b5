-- Connections made by each Salesforce user with the OAuth 2.0 web-server flow
-- (issue 13, R14 "as each user", R16): the user's refresh token, sealed like
-- every stored secret (`sealed:v1:…`), and what callsync last learnt of it.
-- Usernames lower-cased, as Salesforce compares them. Times are Unix epoch
-- milliseconds.
CREATE TABLE salesforce_user_connections (
    org_id           TEXT NOT NULL REFERENCES orgs (id),
    sf_username      TEXT NOT NULL,
    -- The Salesforce user's Id (18 characters), from the identity URL.
    sf_user_id       TEXT NOT NULL,
    refresh_token    TEXT NOT NULL,
    connected_at     INTEGER NOT NULL,
    -- Set when Salesforce refused the token (revoked, or the user deactivated):
    -- the user's calls wait (R16) until they connect again, which clears it.
    refused_at       INTEGER,
    -- What Salesforce said then (code: message), for the admin.
    refused_because  TEXT,
    PRIMARY KEY (org_id, sf_username)
);
