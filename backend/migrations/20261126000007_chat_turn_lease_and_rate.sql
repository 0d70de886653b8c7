-- One chat turn at a time per conversation, on every replica: a turn takes a lease on its
-- conversation's row (which turn, until when) and gives it back when it ends. A lease rather
-- than a row lock held for the turn: a turn lasts as long as the model takes, and a lock
-- would pin a pooled connection for all of it. A replica that dies mid-turn leaves a lease
-- that simply expires.
ALTER TABLE conversations
    ADD COLUMN turn_id    UUID,
    ADD COLUMN turn_until TIMESTAMPTZ;

-- The per-user chat rate limit, a token bucket per user, here so that every replica counts
-- against the same bucket.
CREATE TABLE chat_rate_buckets (
    user_id    UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    tokens     DOUBLE PRECISION NOT NULL,
    -- Whether the last turn asked for was let through.
    allowed    BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
