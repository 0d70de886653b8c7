-- Every order the task list offers reads its first page, and each following keyset page, from an
-- index: the cost of a page stays flat however many tasks a user has. Each index ends in `id`,
-- the tie-breaker, so a page boundary inside a run of equal keys is an index position too.
-- `created_at` keeps tasks_user_created_idx: read backwards it gives the ascending order.

-- `due_at` sorts "no due date" last in both directions, so one index per direction: a btree read
-- backwards would put the NULLs first.
DROP INDEX tasks_user_due_idx;
CREATE INDEX tasks_user_due_asc_idx ON tasks (user_id, due_at ASC NULLS LAST, id ASC);
CREATE INDEX tasks_user_due_desc_idx ON tasks (user_id, due_at DESC NULLS LAST, id DESC);
CREATE INDEX tasks_user_priority_idx ON tasks (user_id, priority, id);
CREATE INDEX tasks_user_title_idx ON tasks (user_id, lower(title), id);

-- Free-text search (`q`, an ILIKE over title and description) through trigrams. pg_trgm is a
-- trusted extension: the database's owner may create it without being a superuser.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX tasks_title_trgm_idx ON tasks USING GIN (title gin_trgm_ops);
CREATE INDEX tasks_description_trgm_idx ON tasks USING GIN (description gin_trgm_ops);
