//! Plumbing that the backend and the web server share, so that both behave the same way in
//! front of an operator: the same configuration errors, the same log lines, the same shutdown.

pub mod cli;
pub mod config;
pub mod failure;
pub mod net;
pub mod probe;
pub mod request;
pub mod shutdown;
pub mod telemetry;
