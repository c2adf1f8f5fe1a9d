-- What an agent last said about a CI (its name, attributes and identifiers), hashed: a report
-- that says the same again refreshes the CI's measurements and last-seen time in one statement
-- instead of identifying, loading and diffing it. NULL (never observed, or changed by a person)
-- always takes the full reconciliation.
ALTER TABLE configuration_items ADD COLUMN observed_hash TEXT;
