-- Chat history. Every turn is stored as it happens, in the shape the model API replays:
-- user and assistant text, assistant tool calls, and each tool's result with its call id.

CREATE TABLE conversations (
    id         UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id    UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title      TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE INDEX conversations_user_recent_idx ON conversations (user_id, updated_at DESC, id);

CREATE TABLE messages (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    role            TEXT NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    content         TEXT,
    -- Assistant messages: [{"id", "name", "arguments"}], arguments as the model sent them.
    tool_calls      JSONB,
    -- Tool messages: which call this answers, and the tool's name.
    tool_call_id    TEXT,
    tool_name       TEXT,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    CONSTRAINT messages_tool_result_has_call CHECK (role <> 'tool' OR tool_call_id IS NOT NULL)
);

CREATE INDEX messages_conversation_idx ON messages (conversation_id, id);
