-- Background jobs (offline sweep, stale sweep, SLA clocks, digests…) run once across replicas:
-- a replica runs a job only while it holds the job's lease, renewed each time it runs and taken
-- over by another replica once it has expired.
CREATE TABLE job_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
