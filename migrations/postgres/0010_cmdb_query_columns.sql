-- Asset queries without re-parsing JSON text on every access: `attributes` and `metrics` stay
-- TEXT (what the store reads and writes on both backends), with jsonb copies generated from
-- them for the query compiler; and `used_percent` (the attribute, else the measurement, when it
-- is a number — what the compiler means by a numeric field) as an indexed generated column, so
-- `volume(used_percent > 90)` is a range scan.
ALTER TABLE configuration_items
    ADD COLUMN attributes_jsonb jsonb GENERATED ALWAYS AS (attributes::jsonb) STORED,
    ADD COLUMN metrics_jsonb jsonb GENERATED ALWAYS AS (metrics::jsonb) STORED,
    ADD COLUMN used_percent double precision GENERATED ALWAYS AS (
        COALESCE(
            CASE WHEN jsonb_typeof(attributes::jsonb -> 'used_percent') = 'number'
                 THEN (attributes::jsonb ->> 'used_percent')::double precision END,
            CASE WHEN jsonb_typeof(metrics::jsonb -> 'used_percent') = 'number'
                 THEN (metrics::jsonb ->> 'used_percent')::double precision END
        )
    ) STORED;
CREATE INDEX configuration_items_by_used_percent ON configuration_items (class, used_percent);
