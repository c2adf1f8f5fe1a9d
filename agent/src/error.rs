//! The failures that map to a distinct process exit code, so scripts and tests can tell
//! "not enrolled" from "server said no" from "server unreachable, data kept".

use std::path::PathBuf;

/// Any other failure (bad state directory, I/O error…).
pub const EXIT_FAILURE: u8 = 1;
// 2 is what clap uses for a command-line usage error.
/// No credential in the state directory: run `enroll` first.
pub const EXIT_NOT_ENROLLED: u8 = 3;
/// The server refused: enrollment token rejected, credential revoked, report rejected.
pub const EXIT_REJECTED: u8 = 4;
/// The server could not be reached or kept failing (5xx, 429, timeouts); spooled data is kept.
pub const EXIT_UNAVAILABLE: u8 = 5;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("this agent is not enrolled (no credential at {0}); run `atalaya-agent enroll --server URL --token TOKEN` first")]
    NotEnrolled(PathBuf),
    #[error("{0}")]
    Rejected(String),
    #[error("{0}")]
    Unavailable(String),
}

impl AgentError {
    pub fn exit_code(&self) -> u8 {
        match self {
            AgentError::NotEnrolled(_) => EXIT_NOT_ENROLLED,
            AgentError::Rejected(_) => EXIT_REJECTED,
            AgentError::Unavailable(_) => EXIT_UNAVAILABLE,
        }
    }
}
