-- PIN failures per organizer, across calls (see src/auth/lockout.rs). No row: no failures.
CREATE TABLE pin_lockouts (
    organizer_id    INTEGER PRIMARY KEY,
    consecutive     INTEGER NOT NULL DEFAULT 0,
    since_success   INTEGER NOT NULL DEFAULT 0,
    locks           INTEGER NOT NULL DEFAULT 0,
    locked_until    INTEGER NOT NULL DEFAULT 0,
    hard_locked     INTEGER NOT NULL DEFAULT 0,
    window_start    INTEGER NOT NULL DEFAULT 0,
    window_failures INTEGER NOT NULL DEFAULT 0
);
