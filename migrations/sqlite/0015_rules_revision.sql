-- A counter that moves whenever any rule changes (however it is changed), read by every report
-- in the statement that records it: the server keeps the rules it evaluated last and reads them
-- again only when the counter moved.
CREATE TABLE rules_revision (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO rules_revision (id, revision) VALUES (1, 0);
CREATE TRIGGER rules_revision_on_insert AFTER INSERT ON rules
BEGIN
    UPDATE rules_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER rules_revision_on_update AFTER UPDATE ON rules
BEGIN
    UPDATE rules_revision SET revision = revision + 1 WHERE id = 1;
END;
CREATE TRIGGER rules_revision_on_delete AFTER DELETE ON rules
BEGIN
    UPDATE rules_revision SET revision = revision + 1 WHERE id = 1;
END;
