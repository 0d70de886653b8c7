//! API tests: the real application on a random port, one fresh PostgreSQL database each.
//! They need `TEST_DATABASE_URL` (`just test` provides a throwaway PostgreSQL container).

mod auth;
mod chat;
mod dates;
mod health;
mod helpers;
mod hostile_input;
mod mcp;
mod migrations;
mod operability;
mod page_cache;
mod properties;
mod rate_limits;
mod sessions;
mod statements;
mod streaming;
mod task_pages;
mod tasks;
mod undo;
mod warm_connections;
