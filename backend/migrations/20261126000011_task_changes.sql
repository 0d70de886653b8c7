-- Every change a tool makes to a task (from the chat or from MCP), with the row before and
-- after it, so that it can be undone. Written in the same transaction as the change itself.
-- A deleted task lives on here (`before`, every column, its id included) until the undo window
-- ends; then the backend deletes the record (see store::changes::purge_expired).
CREATE TABLE task_changes (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- NULL for MCP; a deleted conversation keeps its changes undoable by id.
    conversation_id UUID REFERENCES conversations (id) ON DELETE SET NULL,
    -- The tool call as the model (or the offline assistant) named it; NULL for MCP.
    tool_call_id    TEXT,
    -- The changes undone together: one chat turn, or one MCP call.
    batch_id        UUID NOT NULL,
    -- No foreign key: the task of a deletion is gone, and comes back with this id on undo.
    task_id         BIGINT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('add', 'update', 'complete', 'delete')),
    before          JSONB,
    after           JSONB,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    undone_at       TIMESTAMPTZ,
    CONSTRAINT task_changes_rows_match_kind CHECK (
        (kind = 'add' AND before IS NULL AND after IS NOT NULL)
        OR (kind = 'delete' AND before IS NOT NULL AND after IS NULL)
        OR (kind IN ('update', 'complete') AND before IS NOT NULL AND after IS NOT NULL))
);

-- "Undo the last turn" of a conversation: its newest batch.
CREATE INDEX task_changes_conversation_idx ON task_changes (conversation_id, id);
-- The newest MCP batch of a user, and the purge of expired records.
CREATE INDEX task_changes_user_idx ON task_changes (user_id, id);
CREATE INDEX task_changes_created_idx ON task_changes (created_at);
