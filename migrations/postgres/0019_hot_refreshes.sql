-- Every report rewrites its computer's and volumes' rows in `configuration_items` and its
-- agent's row in `agents` (BENCHMARKS.md, "Fleet ingest", session 8). Let those rewrites be HOT
-- updates — the new row version on the same page, no index touched, the old one pruned by the
-- next reader of the page rather than left for VACUUM — which needs two things:
--
-- 1. No indexed column changes. A volume's `used_percent` moves with nearly every report and
--    was indexed, so every refresh of a volume inserted into all seven indexes of the table.
--    The index now holds the whole-number band, `floor(used_percent)`, which a drifting volume
--    keeps for many reports; a query reads the band's range and checks the exact value
--    (`cmdb::query::sql`).
ALTER TABLE configuration_items ADD COLUMN used_percent_band double precision NULL;

CREATE OR REPLACE FUNCTION configuration_items_derive() RETURNS trigger LANGUAGE plpgsql AS $$
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
    NEW.used_percent_band := floor(NEW.used_percent);
    NEW.memory_total_bytes := COALESCE(
        CASE WHEN jsonb_typeof(NEW.attributes_jsonb -> 'memory_total_bytes') = 'number'
             THEN (NEW.attributes_jsonb ->> 'memory_total_bytes')::double precision END,
        CASE WHEN jsonb_typeof(NEW.metrics_jsonb -> 'memory_total_bytes') = 'number'
             THEN (NEW.metrics_jsonb ->> 'memory_total_bytes')::double precision END);
    NEW.os_name := COALESCE(NEW.attributes_jsonb ->> 'os_name', NEW.metrics_jsonb ->> 'os_name');
    RETURN NEW;
END $$;

DROP TRIGGER configuration_items_derive ON configuration_items;
CREATE TRIGGER configuration_items_derive
    BEFORE INSERT OR UPDATE OF attributes, metrics, attributes_jsonb, metrics_jsonb, used_percent,
        used_percent_band, memory_total_bytes, os_name
    ON configuration_items FOR EACH ROW EXECUTE FUNCTION configuration_items_derive();
ALTER TABLE configuration_items ENABLE ALWAYS TRIGGER configuration_items_derive;

UPDATE configuration_items SET used_percent_band = floor(used_percent)
    WHERE used_percent IS NOT NULL;

DROP INDEX configuration_items_by_used_percent;
CREATE INDEX configuration_items_by_used_percent_band
    ON configuration_items (class, used_percent_band) INCLUDE (id, status, computer_id);

-- 2. Room on the page for the new version. Rows are written once at fillfactor 100, so the
--    first refresh of a full page had to move the row to another page (and so touch every
--    index). Pages filled from now on keep 30 % free; rows already stored get the room as
--    VACUUM frees their old versions.
ALTER TABLE configuration_items SET (fillfactor = 70);
ALTER TABLE agents SET (fillfactor = 70);
