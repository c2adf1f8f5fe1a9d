-- Service desk: service requests beside incidents, assignment groups, support plans, and what
-- the SLA clocks replay (each timeline row carries the ticket's state and priority after it).

-- MSP-wide queues (the MSP's own staff work every tenant's tickets). Tier 1 is the help desk,
-- tier 2 the specialists that escalations go to.
CREATE TABLE assignment_groups (
    id         INTEGER PRIMARY KEY,
    name       TEXT   NOT NULL UNIQUE,
    tier       BIGINT NOT NULL,
    created_at BIGINT NOT NULL
);
INSERT INTO assignment_groups (name, tier, created_at) VALUES ('service-desk', 1, 0), ('specialists', 2, 0);

ALTER TABLE incidents ADD COLUMN requester TEXT NULL;
ALTER TABLE incidents ADD COLUMN assignment_group_id BIGINT NULL REFERENCES assignment_groups (id);
ALTER TABLE incidents ADD COLUMN assignee TEXT NULL;
ALTER TABLE incidents ADD COLUMN hold_reason TEXT NULL;
ALTER TABLE incidents ADD COLUMN first_response_at BIGINT NULL;
ALTER TABLE incidents ADD COLUMN reopen_count BIGINT NOT NULL DEFAULT 0;
-- Derived from the event log after every change, only so lists can filter by SLA risk: the
-- earliest live warning and breach instants (past or projected).
ALTER TABLE incidents ADD COLUMN sla_warning_at BIGINT NULL;
ALTER TABLE incidents ADD COLUMN sla_breach_at BIGINT NULL;
CREATE INDEX incidents_by_assignee ON incidents (tenant_id, assignee);

ALTER TABLE incident_events ADD COLUMN state TEXT NULL;
ALTER TABLE incident_events ADD COLUMN priority BIGINT NULL;

-- Service requests have the same shape as incidents (so one copy of the SQL serves both); the
-- rule columns stay empty.
CREATE TABLE service_requests (
    id                  INTEGER PRIMARY KEY,
    tenant_id           BIGINT NOT NULL REFERENCES tenants (id),
    number              BIGINT NOT NULL,
    title               TEXT   NOT NULL,
    description         TEXT   NOT NULL DEFAULT '',
    state               TEXT   NOT NULL,
    impact              BIGINT NOT NULL,
    urgency             BIGINT NOT NULL,
    priority            BIGINT NOT NULL,
    severity            TEXT   NULL,
    source              TEXT   NOT NULL,
    rule_id             BIGINT NULL,
    ci_id               BIGINT NULL REFERENCES configuration_items (id),
    problem_started_at  BIGINT NULL,
    opened_at           BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    resolved_at         BIGINT NULL,
    closed_at           BIGINT NULL,
    requester           TEXT   NULL,
    assignment_group_id BIGINT NULL REFERENCES assignment_groups (id),
    assignee            TEXT   NULL,
    hold_reason         TEXT   NULL,
    first_response_at   BIGINT NULL,
    reopen_count        BIGINT NOT NULL DEFAULT 0,
    sla_warning_at      BIGINT NULL,
    sla_breach_at       BIGINT NULL,
    UNIQUE (tenant_id, number)
);
CREATE INDEX service_requests_by_tenant_state ON service_requests (tenant_id, state, id);
CREATE INDEX service_requests_by_assignee ON service_requests (tenant_id, assignee);

CREATE TABLE request_cis (
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    request_id BIGINT NOT NULL REFERENCES service_requests (id),
    ci_id      BIGINT NOT NULL REFERENCES configuration_items (id),
    role       TEXT   NOT NULL,
    PRIMARY KEY (request_id, ci_id)
);
CREATE INDEX request_cis_by_ci ON request_cis (ci_id);

CREATE TABLE request_events (
    id         INTEGER PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    request_id BIGINT NOT NULL REFERENCES service_requests (id),
    at         BIGINT NOT NULL,
    kind       TEXT   NOT NULL,
    actor      TEXT   NOT NULL,
    detail     TEXT   NOT NULL DEFAULT '{}',
    state      TEXT   NULL,
    priority   BIGINT NULL
);
CREATE INDEX request_events_by_request ON request_events (request_id, id);

-- Support plans, one row per version: a change takes effect at effective_at and earlier
-- versions stay, so SLA clocks replay the plans that were in force during a ticket's life.
CREATE TABLE support_plans (
    id           INTEGER PRIMARY KEY,
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id),
    effective_at BIGINT NOT NULL,
    document     TEXT   NOT NULL,
    created_by   TEXT   NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX support_plans_by_tenant ON support_plans (tenant_id, effective_at, id);

-- Notifications. Channels are a tenant's recipients (an email address or a webhook URL, with
-- the secret webhooks are signed with, and the events it wants: ["*"] for all).
CREATE TABLE notification_channels (
    id         INTEGER PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    kind       TEXT   NOT NULL,
    target     TEXT   NOT NULL,
    secret     TEXT   NULL,
    events     TEXT   NOT NULL DEFAULT '["*"]',
    created_at BIGINT NOT NULL
);
CREATE INDEX notification_channels_by_tenant ON notification_channels (tenant_id);

-- The outbox: a row is written in the same transaction as the change that calls for it, so a
-- crash can neither lose it nor (thanks to the unique key) write it twice. A worker delivers
-- due rows under a lease and logs every attempt.
CREATE TABLE notification_outbox (
    id              INTEGER PRIMARY KEY,
    tenant_id       BIGINT NOT NULL REFERENCES tenants (id),
    channel_id      BIGINT NOT NULL REFERENCES notification_channels (id),
    idempotency_key TEXT   NOT NULL UNIQUE,
    event           TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    state           TEXT   NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NULL,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT NULL,
    last_error      TEXT   NULL
);
CREATE INDEX notification_outbox_due ON notification_outbox (state, next_attempt_at);

CREATE TABLE notification_attempts (
    id        INTEGER PRIMARY KEY,
    outbox_id BIGINT NOT NULL REFERENCES notification_outbox (id),
    at        BIGINT NOT NULL,
    ok        BIGINT NOT NULL,
    detail    TEXT   NOT NULL
);
CREATE INDEX notification_attempts_by_outbox ON notification_attempts (outbox_id, id);
