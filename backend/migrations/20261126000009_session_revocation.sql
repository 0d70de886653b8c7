-- Sessions that end. Every token carries its account's token version; raising it (password
-- change, "sign out everywhere") ends every session of the account at once.
ALTER TABLE users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 0;

-- Sessions signed out one by one, by the `sid` of their tokens. A row is needed only until
-- the session would have ended anyway (`until`, its absolute end); later ones are deleted.
CREATE TABLE revoked_sessions (
    session_id UUID PRIMARY KEY,
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    until      TIMESTAMPTZ NOT NULL
);
CREATE INDEX revoked_sessions_user_idx ON revoked_sessions (user_id, until);
