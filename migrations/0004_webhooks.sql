-- Webhook deliveries waiting to be sent: one row per (event, URL), written before the first
-- attempt and deleted once the receiver answered 2xx or the event grew too old. Times are unix
-- milliseconds (the retries start at seconds apart).
CREATE TABLE webhook_deliveries (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id        TEXT NOT NULL,
    url             TEXT NOT NULL,
    body            TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    UNIQUE (event_id, url)
);
CREATE INDEX webhook_deliveries_by_url ON webhook_deliveries (url, id);
