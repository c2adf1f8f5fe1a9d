//! `atalaya-fleet-sim`: a fleet of simulated agents that enroll and report through the real
//! HTTP API, for load tests and the ingest benchmarks in `BENCHMARKS.md`.
//!
//! The library is what the binary runs; the end-to-end smoke test reads its JSON output.

pub mod api;
pub mod catalog;
pub mod host;
pub mod probe;
pub mod run;
pub mod stats;

pub use run::{run, AgentLedger, Options, Outcome};
pub use stats::Summary;
