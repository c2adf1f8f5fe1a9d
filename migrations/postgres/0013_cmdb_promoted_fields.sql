-- More asset-query fields in generated columns (see 0010), so the example queries read no JSON:
-- a computer's `memory_total_bytes` (a number, indexed by class) and `os_name` (text), with
-- exactly the query compiler's meaning — the attribute, else the measurement. Real columns also
-- give the planner statistics, where JSON expressions get fixed guesses.
ALTER TABLE configuration_items
    ADD COLUMN memory_total_bytes double precision GENERATED ALWAYS AS (
        COALESCE(
            CASE WHEN jsonb_typeof(attributes::jsonb -> 'memory_total_bytes') = 'number'
                 THEN (attributes::jsonb ->> 'memory_total_bytes')::double precision END,
            CASE WHEN jsonb_typeof(metrics::jsonb -> 'memory_total_bytes') = 'number'
                 THEN (metrics::jsonb ->> 'memory_total_bytes')::double precision END
        )
    ) STORED,
    ADD COLUMN os_name text GENERATED ALWAYS AS (
        COALESCE(attributes::jsonb ->> 'os_name', metrics::jsonb ->> 'os_name')
    ) STORED;
CREATE INDEX configuration_items_by_memory ON configuration_items (class, memory_total_bytes);
-- `volume(used_percent > 90)` from the index alone: which volumes, whether retired, and whose.
DROP INDEX configuration_items_by_used_percent;
CREATE INDEX configuration_items_by_used_percent ON configuration_items (class, used_percent)
    INCLUDE (id, status, computer_id);
-- A computer's own CIs of one class (every report reconciles its volumes this way): with both
-- columns in one index no planner prefers a class-only index, which reads every CI of the class.
DROP INDEX configuration_items_by_computer;
CREATE INDEX configuration_items_by_computer ON configuration_items (computer_id, class);
