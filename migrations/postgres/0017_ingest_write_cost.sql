-- What every report writes, made cheaper (BENCHMARKS.md, "CMDB queries and inventory ingest",
-- session 5; figures measured on a 10,000-computer database).
--
-- 1. The asset-query columns of 0010 and 0013 become plain columns kept by a trigger.
--    PostgreSQL recomputes every STORED generated column on every UPDATE of a row, whatever it
--    changed: each report's refresh of a CI's measurements parsed the CI's attributes into jsonb
--    six times over and wrote the copies anew (297 µs per computer row; 152 µs with this
--    trigger, which derives only from what the statement changed). SQLite's columns are
--    VIRTUAL, computed when read, and stay as they are.
ALTER TABLE configuration_items
    ALTER COLUMN attributes_jsonb DROP EXPRESSION,
    ALTER COLUMN metrics_jsonb DROP EXPRESSION,
    ALTER COLUMN used_percent DROP EXPRESSION,
    ALTER COLUMN memory_total_bytes DROP EXPRESSION,
    ALTER COLUMN os_name DROP EXPRESSION;

-- Same meaning as the generated columns were: a field is the attribute, else the measurement;
-- a numeric field only when the JSON value is a number. The jsonb copies follow their text.
CREATE FUNCTION configuration_items_derive() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR NEW.attributes IS DISTINCT FROM OLD.attributes
       OR NEW.attributes_jsonb IS DISTINCT FROM OLD.attributes_jsonb THEN
        NEW.attributes_jsonb := NEW.attributes::jsonb;
    END IF;
    IF TG_OP = 'INSERT' OR NEW.metrics IS DISTINCT FROM OLD.metrics
       OR NEW.metrics_jsonb IS DISTINCT FROM OLD.metrics_jsonb THEN
        NEW.metrics_jsonb := NEW.metrics::jsonb;
    END IF;
    NEW.used_percent := COALESCE(
        CASE WHEN jsonb_typeof(NEW.attributes_jsonb -> 'used_percent') = 'number'
             THEN (NEW.attributes_jsonb ->> 'used_percent')::double precision END,
        CASE WHEN jsonb_typeof(NEW.metrics_jsonb -> 'used_percent') = 'number'
             THEN (NEW.metrics_jsonb ->> 'used_percent')::double precision END);
    NEW.memory_total_bytes := COALESCE(
        CASE WHEN jsonb_typeof(NEW.attributes_jsonb -> 'memory_total_bytes') = 'number'
             THEN (NEW.attributes_jsonb ->> 'memory_total_bytes')::double precision END,
        CASE WHEN jsonb_typeof(NEW.metrics_jsonb -> 'memory_total_bytes') = 'number'
             THEN (NEW.metrics_jsonb ->> 'memory_total_bytes')::double precision END);
    NEW.os_name := COALESCE(NEW.attributes_jsonb ->> 'os_name', NEW.metrics_jsonb ->> 'os_name');
    RETURN NEW;
END $$;

-- Fires only for statements that set one of these columns: a refresh of `last_seen_at` alone
-- costs nothing more.
CREATE TRIGGER configuration_items_derive
    BEFORE INSERT OR UPDATE OF attributes, metrics, attributes_jsonb, metrics_jsonb, used_percent,
        memory_total_bytes, os_name
    ON configuration_items FOR EACH ROW EXECUTE FUNCTION configuration_items_derive();
-- Also under `session_replication_role = replica` (bulk loads, restores, logical replication):
-- the columns are part of the row's meaning, not a check that may be skipped.
ALTER TABLE configuration_items ENABLE ALWAYS TRIGGER configuration_items_derive;

-- 2. "Is any alert of this computer or its parts unsettled?" is asked by every report. It read
--    every unsettled-or-not alert state of the fleet (a sequential scan: 26 ms per report with
--    114,000 alert states); with the computer on the state and a partial index of the unsettled
--    ones it is one probe of a small index.
ALTER TABLE alert_states ADD COLUMN computer_id BIGINT NULL REFERENCES configuration_items (id);
UPDATE alert_states s SET computer_id = COALESCE(c.computer_id, c.id)
    FROM configuration_items c WHERE c.id = s.ci_id;
CREATE INDEX alert_states_unsettled ON alert_states (computer_id)
    WHERE state <> 'ok' OR flapping = 1;

-- 3. Measurement samples without foreign keys. The table is append-only, written by ingest with
--    the ids of CIs the same transaction has just refreshed or created, and CIs are never
--    deleted (retired instead); the two checks per sample cost 300 µs per report of 12 samples
--    (against 72 µs for the insert itself).
ALTER TABLE metric_samples
    DROP CONSTRAINT metric_samples_ci_id_fkey,
    DROP CONSTRAINT metric_samples_tenant_id_fkey;
