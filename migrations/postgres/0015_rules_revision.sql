-- A counter that moves whenever any rule changes (however it is changed), read by every report
-- in the statement that records it: the server keeps the rules it evaluated last and reads them
-- again only when the counter moved.
CREATE TABLE rules_revision (
    id BIGINT PRIMARY KEY CHECK (id = 1),
    revision BIGINT NOT NULL
);
INSERT INTO rules_revision (id, revision) VALUES (1, 0);
CREATE FUNCTION rules_revision_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rules_revision SET revision = revision + 1 WHERE id = 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER rules_revision_on_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON rules
    FOR EACH STATEMENT EXECUTE FUNCTION rules_revision_bump();
