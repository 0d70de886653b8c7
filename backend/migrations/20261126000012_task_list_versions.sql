-- A number per user that grows with every committed change to that user's tasks, so that a
-- replica can tell with one indexed read whether a task-list page it answered before is still
-- the page (backend/src/page_cache.rs). Triggers keep it, so every write path counts: the API,
-- the chat's and MCP's tools, undo, and any SQL an operator runs.
--
-- A user without a row is at version 0: the first change writes 1.
CREATE TABLE task_list_versions (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    version BIGINT NOT NULL
);

-- Every account has its row from the start, so that a change's bump updates a row and has no
-- foreign key to check against `users` at commit (a check that could wait on an account's
-- deletion, which waits on this transaction's task rows).
INSERT INTO task_list_versions (user_id, version) SELECT id, 0 FROM users;

CREATE FUNCTION start_task_list_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO task_list_versions (user_id, version) VALUES (NEW.id, 0);
    RETURN NULL;
END
$$;

CREATE TRIGGER users_inserted_start_list_version AFTER INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION start_task_list_version();

-- Run at commit (a deferred constraint trigger), after the transaction has taken every task
-- row lock it needs: the version row is the last lock a writer takes, so two writers of one
-- user's tasks wait for each other's commit but never deadlock. Waiting on it also orders
-- the versions as the commits: a version seen means every change before it is visible too.
-- An update may move a task between users, so it counts both owners. `EXISTS`: when an
-- account's deletion cascades to its tasks, the account and its version row are gone.
CREATE FUNCTION bump_task_list_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        INSERT INTO task_list_versions AS v (user_id, version)
        SELECT id, 1 FROM users
        ON CONFLICT (user_id) DO UPDATE SET version = v.version + 1;
        RETURN NULL;
    END IF;
    INSERT INTO task_list_versions AS v (user_id, version)
    SELECT owner, 1 FROM (
        SELECT CASE WHEN TG_OP = 'INSERT' THEN NULL ELSE OLD.user_id END
        UNION
        SELECT CASE WHEN TG_OP = 'DELETE' THEN NULL ELSE NEW.user_id END
    ) AS changed (owner)
    WHERE EXISTS (SELECT FROM users WHERE users.id = owner)
    ON CONFLICT (user_id) DO UPDATE SET version = v.version + 1;
    RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER tasks_changed_bump_list_version
    AFTER INSERT OR UPDATE OR DELETE ON tasks DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION bump_task_list_version();
CREATE TRIGGER tasks_truncated_bump_list_version AFTER TRUNCATE ON tasks
    FOR EACH STATEMENT EXECUTE FUNCTION bump_task_list_version();
