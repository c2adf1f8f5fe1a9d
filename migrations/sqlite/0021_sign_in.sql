-- Signing in (issue 17): failed attempts, counted per account and per client address to throttle
-- guessing (shared by replicas, so the limit holds for the installation); one-time links that
-- set a password (a reset, or an invitation), stored as hashes; and
-- API tokens found by their owner.
CREATE TABLE sign_in_failures (
    id      INTEGER PRIMARY KEY,
    at      BIGINT NOT NULL,
    -- The email as typed, lower-cased (an unknown account is throttled like a known one).
    account TEXT   NOT NULL,
    address TEXT   NULL
);
CREATE INDEX sign_in_failures_by_account ON sign_in_failures (account, at);
CREATE INDEX sign_in_failures_by_address ON sign_in_failures (address, at);

CREATE TABLE password_links (
    id         INTEGER PRIMARY KEY,
    token_hash TEXT   NOT NULL UNIQUE,
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT   NOT NULL CHECK (purpose IN ('reset', 'invitation')),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT NULL
);
CREATE INDEX password_links_by_user ON password_links (user_id);

CREATE INDEX api_tokens_by_user ON api_tokens (user_id);
