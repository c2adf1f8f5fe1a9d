-- Rule engine: direction and scope of rules, reopen windows, flapping and suppression state,
-- the alert history, and maintenance windows / silences.

ALTER TABLE rules ADD COLUMN direction TEXT NOT NULL DEFAULT 'above';
-- An asset-query filter; the rule applies only to CIs matching it (NULL: every CI of the class).
ALTER TABLE rules ADD COLUMN scope_query TEXT NULL;
ALTER TABLE rules ADD COLUMN reopen_window_secs BIGINT NOT NULL DEFAULT 3600;

-- Last results (1 = breaching) for flap detection, newest last, at most 21.
ALTER TABLE alert_states ADD COLUMN recent TEXT NOT NULL DEFAULT '';
ALTER TABLE alert_states ADD COLUMN flapping BIGINT NOT NULL DEFAULT 0;
-- Why a firing alert has no incident: `maintenance:<id>`, `silence:<id>`, `parent_down`.
ALTER TABLE alert_states ADD COLUMN suppressed_by TEXT NULL;
CREATE INDEX alert_states_by_ci ON alert_states (ci_id, state);

ALTER TABLE incidents ADD COLUMN flapping BIGINT NOT NULL DEFAULT 0;
-- A new incident for a problem that came back after the reopen window points at the old one.
ALTER TABLE incidents ADD COLUMN previous_incident_id BIGINT NULL REFERENCES incidents (id);
CREATE INDEX incidents_by_rule_ci ON incidents (rule_id, ci_id, id);

-- Every alert transition, with the value that caused it.
CREATE TABLE alert_events (
    id          INTEGER PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    rule_id     BIGINT NOT NULL REFERENCES rules (id),
    ci_id       BIGINT NOT NULL REFERENCES configuration_items (id),
    at          BIGINT NOT NULL,
    from_state  TEXT   NOT NULL,
    to_state    TEXT   NOT NULL,
    severity    TEXT   NULL,
    value       DOUBLE PRECISION NULL,
    incident_id BIGINT NULL,
    note        TEXT   NULL
);
CREATE INDEX alert_events_by_ci ON alert_events (ci_id, at);

-- One suppression concept: maintenance windows (one-off, or a cron start with a duration) and
-- silences, scoped by an asset query and optionally one rule; each has a reason and an author.
CREATE TABLE suppressions (
    id            INTEGER PRIMARY KEY,
    tenant_id     BIGINT NOT NULL REFERENCES tenants (id),
    kind          TEXT   NOT NULL,
    reason        TEXT   NOT NULL,
    author        TEXT   NOT NULL,
    scope_query   TEXT   NULL,
    rule_id       BIGINT NULL REFERENCES rules (id),
    starts_at     BIGINT NULL,
    ends_at       BIGINT NULL,
    cron          TEXT   NULL,
    duration_secs BIGINT NULL,
    created_at    BIGINT NOT NULL,
    cancelled_at  BIGINT NULL
);
CREATE INDEX suppressions_by_tenant ON suppressions (tenant_id, cancelled_at);
