-- The cluster's shared state: the bridge nodes that run on this directory, and which node
-- hosts each active meeting (its lobby and mix). Times are unix milliseconds from the
-- database's clock, so the nodes' clocks need not agree. A single node on SQLite never
-- fills these tables; they exist so that both databases have one schema.
CREATE TABLE cluster_nodes (
    name        TEXT PRIMARY KEY,
    instance    TEXT NOT NULL,
    advertise   TEXT NOT NULL,
    started_at  INTEGER NOT NULL,
    last_seen   INTEGER NOT NULL,
    calls       INTEGER NOT NULL DEFAULT 0,
    draining    INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE meeting_owners (
    conference_id TEXT PRIMARY KEY,
    node          TEXT NOT NULL,
    claimed_at    INTEGER NOT NULL,
    lease_until   INTEGER NOT NULL
);
CREATE INDEX meeting_owners_by_node ON meeting_owners (node);
