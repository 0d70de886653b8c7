//! SQL, one module per table. Every query that touches tasks is scoped by the owner's id, so
//! another user's task is indistinguishable from a missing one.

pub mod auth_attempts;
pub mod changes;
pub mod chat_rate;
pub mod conversations;
pub mod tasks;
pub mod users;
pub mod zones;
