-- CMDB query indexes (BENCHMARKS.md, "CMDB queries and inventory ingest").
-- A relation filter such as `volume(used_percent > 90)` or `business_service(name = "payroll")`
-- selects the related CIs by class alone, across tenants (the tenant is checked on the outer
-- CI): without an index leading with `class` that is a scan of every CI.
CREATE INDEX configuration_items_by_class_only ON configuration_items (class, id);
