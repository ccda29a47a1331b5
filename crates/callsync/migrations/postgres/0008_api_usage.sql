-- Issue 15, R14: the organisation's Salesforce API usage as its last answer reported it
-- (Sforce-Limit-Info: api-usage=used/allowance), written by the worker at most every few
-- seconds per organisation, so GET /v1/org shows it whichever instance did the work.
-- budget: the requests callsync may use of the allowance (worker.api_budget_share).
CREATE TABLE org_api_usage (
    org_id       TEXT PRIMARY KEY,
    used         BIGINT NOT NULL,
    allowance    BIGINT NOT NULL,
    budget       BIGINT NOT NULL,
    observed_at  BIGINT NOT NULL
);
