-- The directory: organizers with their conference IDs and PIN tags, settings, and an
-- append-only audit log. Plain SQL with integer unix-second timestamps, so the same shape
-- can be written for PostgreSQL later (BLOB -> BYTEA there).

CREATE TABLE organizers (
    id                INTEGER PRIMARY KEY,
    name              TEXT    NOT NULL,
    email             TEXT    NOT NULL,
    -- Where PIN mails go instead of `email` (the Teams "email override" for users without a mailbox).
    email_override    TEXT    NULL,
    -- What callers type; UNIQUE gives the index the call path looks it up by.
    conference_id     TEXT    NOT NULL UNIQUE CHECK (length(conference_id) BETWEEN 1 AND 16),
    -- HMAC-SHA256 of the PIN under the key file outside this database; never the PIN itself.
    pin_tag           BLOB    NULL CHECK (pin_tag IS NULL OR length(pin_tag) = 32),
    -- The PIN's digit count when it was set (a policy change applies to new PINs only).
    pin_length        INTEGER NULL CHECK (pin_length IS NULL OR pin_length BETWEEN 4 AND 12),
    pin_set_at        INTEGER NULL,
    enabled           INTEGER NOT NULL DEFAULT 1 CHECK (enabled IN (0, 1)),
    start_without_pin INTEGER NOT NULL DEFAULT 0 CHECK (start_without_pin IN (0, 1)),
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    -- A PIN is either fully set (tag, length, time) or absent; half-set rows are bugs.
    CHECK ((pin_tag IS NULL AND pin_length IS NULL AND pin_set_at IS NULL)
        OR (pin_tag IS NOT NULL AND pin_length IS NOT NULL AND pin_set_at IS NOT NULL))
);

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- No foreign key to organizers: the history must outlive the rows it talks about.
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY,
    at           INTEGER NOT NULL,
    actor        TEXT    NOT NULL,
    source       TEXT    NOT NULL,
    action       TEXT    NOT NULL,
    organizer_id INTEGER NULL,
    detail       TEXT    NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_organizer ON audit_log (organizer_id, at);
CREATE INDEX audit_log_at ON audit_log (at);
