//! The todo-chatbot backend as a library, so that tests start exactly the application that
//! production runs (`startup::Application`) on a random port.

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod metrics;
pub mod routes;
pub mod startup;
pub mod state;
pub mod store;
