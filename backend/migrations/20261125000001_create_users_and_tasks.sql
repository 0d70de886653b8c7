-- Accounts and their tasks. Append-only: later schema changes come as new migrations.

CREATE TABLE users (
    id            UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Normalised (trimmed, lower-case) by the application before it gets here.
    email         TEXT NOT NULL UNIQUE CHECK (email = lower(email) AND email <> ''),
    name          TEXT NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    password_hash TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at    TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Declared in the order "sort by priority" should follow.
CREATE TYPE task_priority AS ENUM ('low', 'medium', 'high');

CREATE TABLE tasks (
    -- Small numbers on purpose: people say "complete task 12" to the chat.
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title        TEXT NOT NULL CHECK (char_length(title) BETWEEN 1 AND 200),
    description  TEXT CHECK (char_length(description) <= 1000),
    completed    BOOLEAN NOT NULL DEFAULT false,
    completed_at TIMESTAMPTZ,
    priority     task_priority NOT NULL DEFAULT 'medium',
    tags         TEXT[] NOT NULL DEFAULT '{}' CHECK (cardinality(tags) <= 10),
    due_at       TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT tasks_completed_at_matches CHECK (completed = (completed_at IS NOT NULL))
);

-- Every listing is one user's tasks; these serve the default order and the due-date views.
CREATE INDEX tasks_user_created_idx ON tasks (user_id, created_at DESC, id DESC);
CREATE INDEX tasks_user_due_idx ON tasks (user_id, due_at);
CREATE INDEX tasks_tags_idx ON tasks USING GIN (tags);
