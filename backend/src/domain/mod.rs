//! Parse, don't validate: each type here can only hold a valid value, so code past the HTTP
//! edge (handlers, the chat tools, the store) never re-checks. Every parser reports all of
//! a request's problems at once, as field errors. Every piece of free text has its type here,
//! and all of them follow the one character rule of `text`; dates follow `DueAt`'s range.

mod account;
mod chat;
mod cursor;
mod due;
mod task;
pub mod text;
pub mod when;
mod zone;

pub use account::{Email, Password, UserName};
pub use chat::{ConversationTitle, MessageText};
pub use cursor::{Cursor, CursorKey};
pub use due::DueAt;
pub use task::{Description, Search, Tag, TagList, TaskChanges, TaskDraft, TaskFilter, Title};
pub use zone::ZoneName;

use api_types::FieldError;

/// Collects field errors while parsing a request, so the client sees every problem at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    /// Keeps the value, or records the error under `field`.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(message) => {
                self.0.push(FieldError { field: field.to_owned(), message });
                None
            }
        }
    }

    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError { field: field.to_owned(), message: message.into() });
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn into_vec(self) -> Vec<FieldError> {
        self.0
    }
}
