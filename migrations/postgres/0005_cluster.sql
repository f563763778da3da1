-- The cluster's shared state: the bridge nodes that run on this directory, and which node
-- hosts each active meeting (its lobby and mix). Times are unix milliseconds from the
-- database's clock, so the nodes' clocks need not agree. The PostgreSQL form of
-- migrations/0005_cluster.sql.
CREATE TABLE cluster_nodes (
    name        TEXT PRIMARY KEY,
    instance    TEXT NOT NULL,
    advertise   TEXT NOT NULL,
    started_at  BIGINT NOT NULL,
    last_seen   BIGINT NOT NULL,
    calls       BIGINT NOT NULL DEFAULT 0,
    draining    BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE meeting_owners (
    conference_id TEXT PRIMARY KEY,
    node          TEXT NOT NULL,
    claimed_at    BIGINT NOT NULL,
    lease_until   BIGINT NOT NULL
);
CREATE INDEX meeting_owners_by_node ON meeting_owners (node);
