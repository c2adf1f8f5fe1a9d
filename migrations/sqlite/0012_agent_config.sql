-- Agent config set on the server (report interval, inventory schedule, spool cap, watched
-- services): one row per tenant default (agent_id '') and one per agent that overrides it.
-- `settings` is a JSON object of the fields that layer sets; absent fields inherit from the layer
-- below (agent -> tenant -> built-in defaults). `version` counts the row's changes. An agent's
-- config version is its tenant row's version plus its own row's, so a change to either always
-- moves it; removing an override keeps the row with NULL settings so the sum never goes back.
CREATE TABLE agent_configs (
    tenant_id  BIGINT NOT NULL REFERENCES tenants (id),
    agent_id   TEXT   NOT NULL DEFAULT '',
    settings   TEXT   NULL,
    version    BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, agent_id)
);

-- Agents now report the state of every service each interval and mark the services their config
-- watches: the default rule covers watched services as well as enabled ones (an installation
-- whose admin changed the scope keeps theirs).
UPDATE rules SET scope_query = 'enabled_state = enabled or watched = true'
 WHERE tenant_id IS NULL AND name = 'Enabled service stopped'
   AND scope_query = 'enabled_state = enabled';

-- Agents report inode use: an existing installation gets the default rule for it (a new one
-- gets it with the rest of the default pack on first start).
INSERT INTO rules (tenant_id, name, metric, warning_level, critical_level, recovery_level,
                   for_secs, impact, urgency, auto_resolve, enabled, runbook, created_at,
                   updated_at, direction, scope_query, reopen_window_secs)
SELECT NULL, 'Volume out of inodes', 'volume.inodes_used_percent', 90, 95, 85, 0, 2, 2, 1, 1,
       'Many small files: find the directory with `du --inodes -x / | sort -n | tail`, then clear caches, mail queues or session files.',
       CAST(strftime('%s', 'now') AS BIGINT) * 1000, CAST(strftime('%s', 'now') AS BIGINT) * 1000, 'above', NULL, 3600
 WHERE EXISTS (SELECT 1 FROM rules WHERE tenant_id IS NULL)
   AND NOT EXISTS (SELECT 1 FROM rules WHERE tenant_id IS NULL AND name = 'Volume out of inodes');
