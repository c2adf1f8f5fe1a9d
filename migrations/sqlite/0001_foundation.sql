-- Foundation: tenancy, credentials, agents, reports, CMDB, rules, alert states, incidents.

CREATE TABLE tenants (
    id           INTEGER PRIMARY KEY,
    name         TEXT    NOT NULL UNIQUE,
    display_name TEXT    NOT NULL,
    created_at   BIGINT  NOT NULL
);

CREATE TABLE sites (
    id         INTEGER PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    name       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);

-- Admin API tokens. tenant_id NULL: the MSP-wide administrator, who sees every tenant.
CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY,
    tenant_id    BIGINT NULL REFERENCES tenants (id),
    name         TEXT   NOT NULL,
    token_hash   TEXT   NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NULL,
    revoked_at   BIGINT NULL
);

CREATE TABLE enrollment_tokens (
    id         INTEGER PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    site_id    BIGINT NULL REFERENCES sites (id),
    name       TEXT   NOT NULL,
    token_hash TEXT   NOT NULL UNIQUE,
    expires_at BIGINT NULL,
    max_uses   BIGINT NULL,
    uses       BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT NULL
);

CREATE TABLE configuration_items (
    id            INTEGER PRIMARY KEY,
    tenant_id     BIGINT NOT NULL REFERENCES tenants (id),
    class         TEXT   NOT NULL,
    name          TEXT   NOT NULL,
    -- The computer a dependent CI (volume, disk, service) belongs to.
    computer_id   BIGINT NULL REFERENCES configuration_items (id),
    status        TEXT   NOT NULL DEFAULT 'active',
    attributes    TEXT   NOT NULL DEFAULT '{}',
    first_seen_at BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    retired_at    BIGINT NULL
);
CREATE INDEX configuration_items_by_class ON configuration_items (tenant_id, class, id);
CREATE INDEX configuration_items_by_computer ON configuration_items (computer_id);

-- Identifiers that recognise a CI again (hardware UUID, serial, machine id, host name; a mount
-- point within its computer). One value points at one CI per tenant and class.
CREATE TABLE ci_identifiers (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    class     TEXT   NOT NULL,
    kind      TEXT   NOT NULL,
    value     TEXT   NOT NULL,
    ci_id     BIGINT NOT NULL REFERENCES configuration_items (id),
    PRIMARY KEY (tenant_id, class, kind, value)
);
CREATE INDEX ci_identifiers_by_ci ON ci_identifiers (ci_id);

CREATE TABLE ci_relations (
    id         INTEGER PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    source_id  BIGINT NOT NULL REFERENCES configuration_items (id),
    kind       TEXT   NOT NULL,
    target_id  BIGINT NOT NULL REFERENCES configuration_items (id),
    created_at BIGINT NOT NULL,
    UNIQUE (source_id, kind, target_id)
);
CREATE INDEX ci_relations_by_target ON ci_relations (target_id);

CREATE TABLE agents (
    id                  TEXT   PRIMARY KEY,
    tenant_id           BIGINT NOT NULL REFERENCES tenants (id),
    site_id             BIGINT NULL REFERENCES sites (id),
    enrollment_token_id BIGINT NULL REFERENCES enrollment_tokens (id),
    credential_hash     TEXT   NOT NULL UNIQUE,
    computer_id         BIGINT NULL REFERENCES configuration_items (id),
    hostname            TEXT   NOT NULL,
    agent_version       TEXT   NOT NULL,
    enrolled_at         BIGINT NOT NULL,
    last_seen_at        BIGINT NULL,
    last_seq            BIGINT NULL,
    revoked_at          BIGINT NULL
);
CREATE INDEX agents_by_tenant ON agents (tenant_id);

-- One row per stored report: the primary key makes a replayed sequence number a no-op.
CREATE TABLE reports (
    tenant_id    BIGINT NOT NULL REFERENCES tenants (id),
    agent_id     TEXT   NOT NULL REFERENCES agents (id),
    seq          BIGINT NOT NULL,
    collected_at BIGINT NOT NULL,
    received_at  BIGINT NOT NULL,
    dropped      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, seq)
);

CREATE TABLE metric_samples (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    ci_id     BIGINT NOT NULL REFERENCES configuration_items (id),
    metric    TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (ci_id, metric, at)
);

-- Threshold rules. tenant_id NULL: MSP-wide, applies to every tenant without its own rule of
-- the same name.
CREATE TABLE rules (
    id             INTEGER PRIMARY KEY,
    tenant_id      BIGINT NULL REFERENCES tenants (id),
    name           TEXT   NOT NULL,
    metric         TEXT   NOT NULL,
    warning_level  DOUBLE PRECISION NULL,
    critical_level DOUBLE PRECISION NOT NULL,
    recovery_level DOUBLE PRECISION NULL,
    for_secs       BIGINT NOT NULL DEFAULT 0,
    impact         BIGINT NOT NULL DEFAULT 2,
    urgency        BIGINT NOT NULL DEFAULT 2,
    auto_resolve   BIGINT NOT NULL DEFAULT 1,
    enabled        BIGINT NOT NULL DEFAULT 1,
    runbook        TEXT   NULL,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE UNIQUE INDEX rules_name_per_tenant ON rules (COALESCE(tenant_id, 0), name);

CREATE TABLE alert_states (
    tenant_id      BIGINT NOT NULL REFERENCES tenants (id),
    rule_id        BIGINT NOT NULL REFERENCES rules (id),
    ci_id          BIGINT NOT NULL REFERENCES configuration_items (id),
    state          TEXT   NOT NULL,
    severity       TEXT   NULL,
    since_at       BIGINT NOT NULL,
    last_value     DOUBLE PRECISION NULL,
    last_sample_at BIGINT NOT NULL,
    incident_id    BIGINT NULL,
    PRIMARY KEY (rule_id, ci_id)
);

CREATE TABLE ticket_counters (
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    kind      TEXT   NOT NULL,
    last      BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, kind)
);

CREATE TABLE incidents (
    id                 INTEGER PRIMARY KEY,
    tenant_id          BIGINT NOT NULL REFERENCES tenants (id),
    number             BIGINT NOT NULL,
    title              TEXT   NOT NULL,
    description        TEXT   NOT NULL DEFAULT '',
    state              TEXT   NOT NULL,
    impact             BIGINT NOT NULL,
    urgency            BIGINT NOT NULL,
    priority           BIGINT NOT NULL,
    severity           TEXT   NULL,
    source             TEXT   NOT NULL,
    rule_id            BIGINT NULL REFERENCES rules (id),
    ci_id              BIGINT NULL REFERENCES configuration_items (id),
    problem_started_at BIGINT NULL,
    opened_at          BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    resolved_at        BIGINT NULL,
    closed_at          BIGINT NULL,
    UNIQUE (tenant_id, number)
);
CREATE INDEX incidents_by_tenant_state ON incidents (tenant_id, state, id);
-- At most one open incident per (rule, CI), whichever replica tries to open it.
CREATE UNIQUE INDEX incidents_one_open_per_rule_ci ON incidents (rule_id, ci_id)
    WHERE rule_id IS NOT NULL AND state IN ('new', 'assigned', 'in_progress', 'on_hold');

CREATE TABLE incident_cis (
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    ci_id       BIGINT NOT NULL REFERENCES configuration_items (id),
    role        TEXT   NOT NULL,
    PRIMARY KEY (incident_id, ci_id)
);
CREATE INDEX incident_cis_by_ci ON incident_cis (ci_id);

CREATE TABLE incident_events (
    id          INTEGER PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    incident_id BIGINT NOT NULL REFERENCES incidents (id),
    at          BIGINT NOT NULL,
    kind        TEXT   NOT NULL,
    actor       TEXT   NOT NULL,
    detail      TEXT   NOT NULL DEFAULT '{}'
);
CREATE INDEX incident_events_by_incident ON incident_events (incident_id, id);
