-- Asset queries on measurements without reading every CI's JSON: `used_percent` (the attribute,
-- else the measurement, when it is a number — what the query compiler means by a numeric field)
-- as a generated column, indexed by class, so `volume(used_percent > 90)` is a range scan.
ALTER TABLE configuration_items ADD COLUMN used_percent REAL GENERATED ALWAYS AS (
    COALESCE(
        CASE WHEN json_type(attributes, '$."used_percent"') IN ('integer', 'real')
             THEN json_extract(attributes, '$."used_percent"') END,
        CASE WHEN json_type(metrics, '$."used_percent"') IN ('integer', 'real')
             THEN json_extract(metrics, '$."used_percent"') END
    )
) VIRTUAL;
CREATE INDEX configuration_items_by_used_percent ON configuration_items (class, used_percent);
