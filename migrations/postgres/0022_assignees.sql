-- Ticket assignees are people (issue 17): `assignee_id` is the user; `assignee` stays as the
-- name shown. Every free-text assignee of before becomes an inactive placeholder user (it keeps
-- the name on old tickets and never signs in), so nothing is lost.
ALTER TABLE incidents ADD COLUMN assignee_id BIGINT NULL REFERENCES users (id);
ALTER TABLE service_requests ADD COLUMN assignee_id BIGINT NULL REFERENCES users (id);

INSERT INTO users (email, display_name, role, active, placeholder, created_at)
SELECT 'placeholder-' || CAST(ROW_NUMBER() OVER (ORDER BY name) AS TEXT) || '@placeholder.invalid',
       name, 'technician', 0, 1, CAST(EXTRACT(EPOCH FROM now()) * 1000 AS BIGINT)
  FROM (SELECT assignee AS name FROM incidents WHERE assignee IS NOT NULL
        UNION
        SELECT assignee FROM service_requests WHERE assignee IS NOT NULL) AS free_text;

UPDATE incidents SET assignee_id =
    (SELECT u.id FROM users u WHERE u.placeholder = 1 AND u.display_name = incidents.assignee)
 WHERE assignee IS NOT NULL;
UPDATE service_requests SET assignee_id =
    (SELECT u.id FROM users u WHERE u.placeholder = 1 AND u.display_name = service_requests.assignee)
 WHERE assignee IS NOT NULL;

-- The queue's "assigned to me" reads by tenant and user, as the old index did by name.
DROP INDEX incidents_by_assignee;
DROP INDEX service_requests_by_assignee;
CREATE INDEX incidents_by_assignee ON incidents (tenant_id, assignee_id);
CREATE INDEX service_requests_by_assignee ON service_requests (tenant_id, assignee_id);
