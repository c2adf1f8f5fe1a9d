//! Atalaya's wire protocol and the pure logic both the agent and the server use.
//!
//! No I/O lives here: no sockets, no files, no database. Everything is plain serde types
//! so both sides agree on one definition of every message.

pub mod agent_config;
pub mod envelope;
pub mod error;
#[cfg(test)]
mod fixture;
mod inventory_hash;
pub mod protocol;
pub mod ticket_state;

pub use envelope::ReportEnvelope;
pub use error::{ErrorBody, ErrorDetail};
pub use protocol::*;
