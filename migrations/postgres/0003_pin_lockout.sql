-- PostgreSQL twin of ../0003_pin_lockout.sql.
CREATE TABLE pin_lockouts (
    organizer_id    BIGINT PRIMARY KEY,
    consecutive     BIGINT NOT NULL DEFAULT 0,
    since_success   BIGINT NOT NULL DEFAULT 0,
    locks           BIGINT NOT NULL DEFAULT 0,
    locked_until    BIGINT NOT NULL DEFAULT 0,
    hard_locked     BIGINT NOT NULL DEFAULT 0,
    window_start    BIGINT NOT NULL DEFAULT 0,
    window_failures BIGINT NOT NULL DEFAULT 0
);
