//! Alerting: the shell around the rules. The [`Engine`] shows the rules (pure, [`crate::rules`]:
//! evaluation, flapping, suppression, site-outage policy) what a report says and turns what they
//! decide into alert history and commands to the lifecycle core ([`crate::desk`]) — open, update,
//! resolve an incident; it never writes a ticket itself. The offline sweep, a job, does the same
//! for silence: agents that stopped reporting, and whole sites that went dark at once.

pub mod engine;
pub mod offline;
pub mod rule_admin;
pub mod suppression;

pub use engine::{Engine, Subject};
pub use offline::{offline_sweep, offline_sweep_job, offline_sweep_with};
