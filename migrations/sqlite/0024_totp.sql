-- A second factor (issue 17): a person's TOTP secret (base32; pending until a first code
-- confirms it), the last time step a code was used in (a code works once), and whether the
-- policy requires them to have one — kept on the user, so checking it costs a request nothing.
-- The policy itself: per tenant for its people, and MSP-wide for the MSP's own.
ALTER TABLE users ADD COLUMN totp_secret TEXT NULL;
ALTER TABLE users ADD COLUMN totp_confirmed_at BIGINT NULL;
ALTER TABLE users ADD COLUMN totp_last_step BIGINT NULL;
ALTER TABLE users ADD COLUMN totp_required BIGINT NOT NULL DEFAULT 0;
ALTER TABLE tenants ADD COLUMN require_totp BIGINT NOT NULL DEFAULT 0;

CREATE TABLE settings (
    name  TEXT NOT NULL PRIMARY KEY,
    value TEXT NOT NULL
);
