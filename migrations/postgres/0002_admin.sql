-- PostgreSQL twin of ../0002_admin.sql.
CREATE TABLE reset_tokens (
    token_hash   BYTEA  PRIMARY KEY CHECK (length(token_hash) = 32),
    organizer_id BIGINT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    used_at      BIGINT NULL
);

CREATE INDEX reset_tokens_organizer ON reset_tokens (organizer_id);

CREATE INDEX organizers_email ON organizers (lower(email));
CREATE INDEX organizers_email_override ON organizers (lower(email_override));
