-- CMDB: measurements apart from tracked attributes, change history, field locks, the software
-- catalogue, identification clashes for review, saved queries.

-- Latest measurements (used bytes, CPU…): change every report, so kept out of `attributes`
-- (whose every change is history).
ALTER TABLE configuration_items ADD COLUMN metrics TEXT NOT NULL DEFAULT '{}';
-- Hash of the last inventory applied to a computer: an unchanged inventory is skipped.
ALTER TABLE configuration_items ADD COLUMN inventory_hash TEXT NULL;
CREATE INDEX configuration_items_by_name ON configuration_items (tenant_id, class, name);

-- Every attribute, relation and lifecycle change. `field` is `name`, `status`,
-- `attributes.<key>` or `relation.<kind>` (values: the other CI's id).
CREATE TABLE ci_history (
    id        INTEGER PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants (id),
    ci_id     BIGINT NOT NULL REFERENCES configuration_items (id),
    at        BIGINT NOT NULL,
    field     TEXT   NOT NULL,
    old_value TEXT   NULL,
    new_value TEXT   NULL,
    source    TEXT   NOT NULL
);
CREATE INDEX ci_history_by_ci ON ci_history (ci_id, at, id);

-- A field a person set: agents may not overwrite it; their latest value is kept beside it.
CREATE TABLE ci_locks (
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    ci_id       BIGINT NOT NULL REFERENCES configuration_items (id),
    field       TEXT   NOT NULL,
    value       TEXT   NOT NULL,
    agent_value TEXT   NULL,
    locked_by   TEXT   NOT NULL,
    locked_at   BIGINT NOT NULL,
    PRIMARY KEY (ci_id, field)
);

-- The software catalogue is public package data shared by every tenant; installations are
-- tenant-owned. `version_key` orders versions numerically (3.0.10 after 3.0.9).
CREATE TABLE software_packages (
    id           INTEGER PRIMARY KEY,
    name         TEXT NOT NULL,
    version      TEXT NOT NULL,
    architecture TEXT NOT NULL DEFAULT '',
    source       TEXT NOT NULL,
    version_key  TEXT NOT NULL,
    UNIQUE (name, version, architecture, source)
);
CREATE INDEX software_packages_by_name ON software_packages (name, version_key);

CREATE TABLE software_installations (
    tenant_id     BIGINT NOT NULL REFERENCES tenants (id),
    computer_id   BIGINT NOT NULL REFERENCES configuration_items (id),
    package_id    BIGINT NOT NULL REFERENCES software_packages (id),
    first_seen_at BIGINT NOT NULL,
    retired_at    BIGINT NULL,
    PRIMARY KEY (computer_id, package_id)
);
CREATE INDEX software_installations_by_package ON software_installations (package_id, computer_id);

-- Identification conflicts a person should look at (cloned VMs sharing a machine id…).
CREATE TABLE ci_reviews (
    id          INTEGER PRIMARY KEY,
    tenant_id   BIGINT NOT NULL REFERENCES tenants (id),
    ci_id       BIGINT NOT NULL REFERENCES configuration_items (id),
    other_ci_id BIGINT NULL REFERENCES configuration_items (id),
    kind        TEXT   NOT NULL,
    detail      TEXT   NOT NULL,
    created_at  BIGINT NOT NULL,
    resolved_at BIGINT NULL,
    UNIQUE (ci_id, kind, detail)
);

CREATE TABLE saved_queries (
    id         INTEGER PRIMARY KEY,
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    name       TEXT   NOT NULL,
    query      TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (tenant_id, name)
);
