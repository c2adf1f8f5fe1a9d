-- More asset-query fields in generated columns (see 0010), so the example queries read no JSON:
-- a computer's `memory_total_bytes` (a number, indexed by class) and `os_name` (text), with
-- exactly the query compiler's meaning — the attribute, else the measurement.
ALTER TABLE configuration_items ADD COLUMN memory_total_bytes REAL GENERATED ALWAYS AS (
    COALESCE(
        CASE WHEN json_type(attributes, '$."memory_total_bytes"') IN ('integer', 'real')
             THEN json_extract(attributes, '$."memory_total_bytes"') END,
        CASE WHEN json_type(metrics, '$."memory_total_bytes"') IN ('integer', 'real')
             THEN json_extract(metrics, '$."memory_total_bytes"') END
    )
) VIRTUAL;
ALTER TABLE configuration_items ADD COLUMN os_name TEXT GENERATED ALWAYS AS (
    COALESCE(json_extract(attributes, '$."os_name"'), json_extract(metrics, '$."os_name"'))
) VIRTUAL;
CREATE INDEX configuration_items_by_memory ON configuration_items (class, memory_total_bytes);
-- A computer's own CIs of one class (every report reconciles its volumes this way): with both
-- columns in one index no planner prefers a class-only index, which reads every CI of the class.
DROP INDEX configuration_items_by_computer;
CREATE INDEX configuration_items_by_computer ON configuration_items (computer_id, class);
