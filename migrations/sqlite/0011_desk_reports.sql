-- Desk notifications and KPIs: per-tenant notification templates, satisfaction ratings, the
-- server-wide key satisfaction links are signed with, and indexes for the reports.

-- A tenant's own wording for one event's email (minijinja); no row means the built-in default.
CREATE TABLE notification_templates (
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    event      TEXT   NOT NULL,
    subject    TEXT   NOT NULL,
    body       TEXT   NOT NULL,
    updated_by TEXT   NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, event)
);

-- One rating (1-5) per ticket, given by its requester through the signed link in the
-- "resolved" email; the unique constraint refuses a second one, whichever replica receives it.
CREATE TABLE satisfaction_ratings (
    id          INTEGER PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    ticket_kind TEXT   NOT NULL,
    ticket_id   BIGINT NOT NULL,
    priority    BIGINT NOT NULL,
    score       BIGINT NOT NULL,
    comment     TEXT   NULL,
    rated_at    BIGINT NOT NULL,
    UNIQUE (ticket_kind, ticket_id)
);
CREATE INDEX satisfaction_ratings_by_tenant ON satisfaction_ratings (tenant_id, rated_at);

-- Secrets every replica must share (the satisfaction link key), created once by whichever
-- replica needs one first.
CREATE TABLE server_secrets (
    name       TEXT   PRIMARY KEY,
    value      TEXT   NOT NULL,
    created_at BIGINT NOT NULL
);

-- A channel whose target is "requester" sends each ticket's message to the ticket's requester:
-- the address is fixed on the message when it is queued.
ALTER TABLE notification_outbox ADD COLUMN recipient TEXT NULL;

-- Reports select by opening time; auto-close looks for resolved tickets by resolution time.
CREATE INDEX incidents_by_tenant_opened ON incidents (tenant_id, opened_at);
CREATE INDEX incidents_by_state_resolved ON incidents (state, resolved_at);
CREATE INDEX service_requests_by_tenant_opened ON service_requests (tenant_id, opened_at);
CREATE INDEX service_requests_by_state_resolved ON service_requests (state, resolved_at);
