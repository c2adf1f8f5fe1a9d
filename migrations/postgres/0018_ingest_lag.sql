-- When each server replica last made a report wait long (UTC ms): the offline sweep, which runs
-- on one replica, holds its verdicts back while any replica is behind on reports (see
-- `server/src/ingest/lag.rs`). One row per replica's holder name; a replica that is gone leaves
-- an old time behind, which holds nothing back.
CREATE TABLE ingest_lag (
    holder    TEXT   NOT NULL PRIMARY KEY,
    behind_at BIGINT NOT NULL
);
