-- The sign-in and sign-up rate limits, here so that every replica counts against the same
-- numbers (they were in each replica's memory, so the real limit grew with the replica
-- count). One row per counted key and fixed window: a client address (per address, every
-- attempt) or an account's email (per account, the attempts that did not succeed).
CREATE TABLE auth_attempts (
    -- SHA-256 of "address:<address or IPv6 /64>" or "account:<normalised email>": a fixed
    -- size whatever the input, and no plain email of a stranger's failed sign-in at rest.
    key            BYTEA PRIMARY KEY,
    attempts       INTEGER NOT NULL,
    window_ends_at TIMESTAMPTZ NOT NULL
);

-- Every replica deletes ended windows once a minute (auth::rate_limit), so the table holds
-- only the keys seen in the last window.
CREATE INDEX auth_attempts_window_ends_at ON auth_attempts (window_ends_at);
