-- Mail to a person (issue 17: password resets, invitations) goes through the one outbox: such a
-- message has no tenant channel (and an MSP person no tenant), only its recipient.
ALTER TABLE notification_outbox ALTER COLUMN tenant_id DROP NOT NULL;
ALTER TABLE notification_outbox ALTER COLUMN channel_id DROP NOT NULL;
-- A message with a channel is sent the channel's way; one without goes to `recipient` by email.
ALTER TABLE notification_outbox ADD CONSTRAINT notification_outbox_channel_or_recipient
    CHECK (channel_id IS NOT NULL OR recipient IS NOT NULL);
