-- What every report writes, made cheaper (see the PostgreSQL migration of the same number; its
-- first part, generated columns kept by a trigger, has no SQLite counterpart: SQLite's are
-- VIRTUAL, computed when read).

-- "Is any alert of this computer or its parts unsettled?" is asked by every report: one probe of
-- a partial index of the unsettled states, by computer, instead of a scan of every state.
ALTER TABLE alert_states ADD COLUMN computer_id BIGINT NULL REFERENCES configuration_items (id);
UPDATE alert_states SET computer_id = (
    SELECT COALESCE(c.computer_id, c.id) FROM configuration_items c WHERE c.id = alert_states.ci_id
);
CREATE INDEX alert_states_unsettled ON alert_states (computer_id)
    WHERE state <> 'ok' OR flapping = 1;

-- Measurement samples without foreign keys: append-only, written by ingest with the ids of CIs
-- the same transaction has just refreshed or created; CIs are never deleted. SQLite cannot drop
-- a constraint, so the table is rebuilt.
CREATE TABLE metric_samples_new (
    tenant_id BIGINT NOT NULL,
    ci_id     BIGINT NOT NULL,
    metric    TEXT   NOT NULL,
    at        BIGINT NOT NULL,
    value     DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (ci_id, metric, at)
);
INSERT INTO metric_samples_new (tenant_id, ci_id, metric, at, value)
    SELECT tenant_id, ci_id, metric, at, value FROM metric_samples;
DROP TABLE metric_samples;
ALTER TABLE metric_samples_new RENAME TO metric_samples;
