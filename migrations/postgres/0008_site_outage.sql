-- Site outages: when many computers of one site stop reporting at once, one site incident
-- stands for all of them, and their own offline alerts are suppressed with the reason
-- "site outage" (a suppression row of kind `site_outage` that links to the site incident).

-- The site a site-level incident is about. At most one open site incident per site, whichever
-- replica's offline sweep tries to open it.
ALTER TABLE incidents ADD COLUMN site_id BIGINT NULL REFERENCES sites (id);
CREATE UNIQUE INDEX incidents_one_open_per_site ON incidents (site_id)
    WHERE site_id IS NOT NULL AND state IN ('new', 'assigned', 'in_progress', 'on_hold');

-- A site-outage suppression names its site and the incident that explains it. At most one is
-- in force per site: the row is the outage; cancelling it (the site is back) ends the outage.
ALTER TABLE suppressions ADD COLUMN site_id BIGINT NULL REFERENCES sites (id);
ALTER TABLE suppressions ADD COLUMN incident_id BIGINT NULL REFERENCES incidents (id);
CREATE UNIQUE INDEX suppressions_one_site_outage_per_site ON suppressions (site_id)
    WHERE kind = 'site_outage' AND cancelled_at IS NULL;

-- Finding the computers of a site: agents carry the site of their enrollment token.
CREATE INDEX agents_by_computer ON agents (computer_id);
