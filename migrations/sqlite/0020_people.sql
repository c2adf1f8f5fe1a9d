-- People (issue 17): users with one role, the tenants a technician serves, the assignment groups
-- they work in, browser sessions, and the append-only audit log. API tokens gain an owner, a role
-- no higher than the owner's, and an expiry; today's ownerless tokens keep working as admin tokens.
CREATE TABLE users (
    id                  INTEGER PRIMARY KEY,
    email               TEXT   NOT NULL,
    display_name        TEXT   NOT NULL,
    role                TEXT   NOT NULL
        CHECK (role IN ('msp_admin', 'technician', 'auditor', 'customer_admin', 'requester')),
    -- The customer's own tenant, for customer admins and requesters (and only for them).
    tenant_id           BIGINT NULL REFERENCES tenants (id),
    -- Argon2id, PHC string; NULL: cannot sign in with a password (invited, or a placeholder).
    password_hash       TEXT   NULL,
    password_changed_at BIGINT NULL,
    active              BIGINT NOT NULL DEFAULT 1,
    -- Made from a free-text name by a migration: shown on old tickets, never signs in.
    placeholder         BIGINT NOT NULL DEFAULT 0,
    created_at          BIGINT NOT NULL,
    CHECK ((role IN ('customer_admin', 'requester')) = (tenant_id IS NOT NULL))
);
CREATE UNIQUE INDEX users_by_email ON users (lower(email));

CREATE TABLE tenant_memberships (
    user_id   BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, tenant_id)
);
CREATE INDEX tenant_memberships_by_tenant ON tenant_memberships (tenant_id);

CREATE TABLE group_memberships (
    user_id             BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    assignment_group_id BIGINT NOT NULL REFERENCES assignment_groups (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, assignment_group_id)
);

CREATE TABLE sessions (
    id                  INTEGER PRIMARY KEY,
    -- SHA-256 of the cookie's secret; the secret itself is never stored.
    token_hash          TEXT   NOT NULL UNIQUE,
    user_id             BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          BIGINT NOT NULL,
    last_seen_at        BIGINT NOT NULL,
    idle_expires_at     BIGINT NOT NULL,
    absolute_expires_at BIGINT NOT NULL,
    revoked_at          BIGINT NULL,
    client_address      TEXT   NULL,
    user_agent          TEXT   NULL
);
CREATE INDEX sessions_by_user ON sessions (user_id);

ALTER TABLE api_tokens ADD COLUMN user_id BIGINT NULL REFERENCES users (id);
ALTER TABLE api_tokens ADD COLUMN role TEXT NULL;
ALTER TABLE api_tokens ADD COLUMN expires_at BIGINT NULL;

CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY,
    at             BIGINT NOT NULL,
    tenant_id      BIGINT NULL REFERENCES tenants (id),
    actor_kind     TEXT   NOT NULL CHECK (actor_kind IN ('user', 'token', 'agent', 'system')),
    actor_id       BIGINT NULL,
    actor_name     TEXT   NOT NULL,
    action         TEXT   NOT NULL,
    object_kind    TEXT   NOT NULL,
    object_id      TEXT   NOT NULL,
    before         TEXT   NULL,
    after          TEXT   NULL,
    request_id     TEXT   NULL,
    client_address TEXT   NULL
);
CREATE INDEX audit_log_by_at ON audit_log (at);
CREATE INDEX audit_log_by_tenant_at ON audit_log (tenant_id, at);
CREATE INDEX audit_log_by_object ON audit_log (object_kind, object_id);
