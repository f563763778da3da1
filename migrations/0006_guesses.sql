-- Unknown conference IDs per calling number and per source address, shared by the nodes of a
-- cluster so a dialler spreading its calls over them gets no more tries than on one node.
-- `window_end` is unix milliseconds from the database's clock. A single node on SQLite never
-- fills this table (it counts in memory); it exists so that both databases have one schema.
CREATE TABLE guess_counts (
    key        TEXT PRIMARY KEY,
    count      INTEGER NOT NULL,
    window_end INTEGER NOT NULL
);
