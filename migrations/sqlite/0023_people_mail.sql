-- Mail to a person (issue 17: password resets, invitations) goes through the one outbox: such a
-- message has no tenant channel (and an MSP person no tenant), only its recipient. SQLite cannot
-- drop NOT NULL in place, so the table is rebuilt; the attempts' foreign key is checked at
-- commit, when the rebuilt table holds every id again.
PRAGMA defer_foreign_keys = ON;

CREATE TABLE notification_outbox_rebuilt (
    id              INTEGER PRIMARY KEY,
    tenant_id       BIGINT NULL REFERENCES tenants (id),
    channel_id      BIGINT NULL REFERENCES notification_channels (id),
    idempotency_key TEXT   NOT NULL UNIQUE,
    event           TEXT   NOT NULL,
    payload         TEXT   NOT NULL,
    state           TEXT   NOT NULL DEFAULT 'pending',
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,
    lease_until     BIGINT NULL,
    created_at      BIGINT NOT NULL,
    sent_at         BIGINT NULL,
    last_error      TEXT   NULL,
    recipient       TEXT   NULL,
    -- A message with a channel is sent the channel's way; one without goes to `recipient` by email.
    CHECK (channel_id IS NOT NULL OR recipient IS NOT NULL)
);
INSERT INTO notification_outbox_rebuilt
    (id, tenant_id, channel_id, idempotency_key, event, payload, state, attempts,
     next_attempt_at, lease_until, created_at, sent_at, last_error, recipient)
SELECT id, tenant_id, channel_id, idempotency_key, event, payload, state, attempts,
       next_attempt_at, lease_until, created_at, sent_at, last_error, recipient
  FROM notification_outbox;
DROP TABLE notification_outbox;
ALTER TABLE notification_outbox_rebuilt RENAME TO notification_outbox;
CREATE INDEX notification_outbox_due ON notification_outbox (state, next_attempt_at);
