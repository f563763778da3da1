-- Self-service PIN reset links. Only a SHA-256 of the token is stored, so a copy of the
-- database cannot be used to reset anyone's PIN; each link works once, until expires_at.
CREATE TABLE reset_tokens (
    token_hash   BLOB    PRIMARY KEY CHECK (length(token_hash) = 32),
    organizer_id INTEGER NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    used_at      INTEGER NULL
);

CREATE INDEX reset_tokens_organizer ON reset_tokens (organizer_id);

-- Self-service lookups go by e-mail address, case-insensitively.
CREATE INDEX organizers_email ON organizers (lower(email));
CREATE INDEX organizers_email_override ON organizers (lower(email_override));
