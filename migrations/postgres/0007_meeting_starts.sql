-- Meeting starts asked through one node's API for a meeting another node hosts. The hosting
-- node takes its rows when NOTIFY wakes it and after its listening connection comes back, so
-- a start asked while that connection was away is not lost. `asked_at` is unix milliseconds
-- from the database's clock. The PostgreSQL form of migrations/0007_meeting_starts.sql.
CREATE TABLE meeting_starts (
    id            BIGSERIAL PRIMARY KEY,
    node          TEXT NOT NULL,
    conference_id TEXT NOT NULL,
    asked_at      BIGINT NOT NULL
);
CREATE INDEX meeting_starts_by_node ON meeting_starts (node);
