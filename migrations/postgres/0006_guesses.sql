-- Unknown conference IDs per calling number and per source address, shared by the nodes of a
-- cluster so a dialler spreading its calls over them gets no more tries than on one node.
-- `window_end` is unix milliseconds from the database's clock. The PostgreSQL form of
-- migrations/0006_guesses.sql.
CREATE TABLE guess_counts (
    key        TEXT PRIMARY KEY,
    count      BIGINT NOT NULL,
    window_end BIGINT NOT NULL
);
CREATE INDEX guess_counts_by_window_end ON guess_counts (window_end);
