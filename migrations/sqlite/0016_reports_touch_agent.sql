-- An agent's liveness follows its report ledger: every stored report moves the agent's
-- `last_seen_at` (arrival) and `last_seq` forward, never back, in the statement that stores it.
CREATE TRIGGER reports_touch_agent AFTER INSERT ON reports
BEGIN
    UPDATE agents SET
        last_seen_at = CASE WHEN last_seen_at IS NULL OR last_seen_at < NEW.received_at
                            THEN NEW.received_at ELSE last_seen_at END,
        last_seq = CASE WHEN last_seq IS NULL OR last_seq < NEW.seq THEN NEW.seq ELSE last_seq END
    WHERE id = NEW.agent_id;
END;
