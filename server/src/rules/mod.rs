//! The rule engine's pure parts: the alert state machine of one (rule, CI) pair — ok → pending
//! (the `for` duration) → firing → back to ok at the recovery level (hysteresis) — flap
//! detection, suppression windows, the metric catalogue and volume forecasts.
//!
//! None of this touches the database; the ingest path stores states and carries out actions.
//! What the store's rows of rules and alert states mean is read here ([`stored`]), so the store
//! only holds rows.

pub mod evaluate;
pub mod flapping;
pub mod forecast;
pub mod metrics;
pub mod site_outage;
pub mod stored;
pub mod suppression;

pub use evaluate::{evaluate, Action, AlertState, Direction, Levels, Phase, Severity};
pub use stored::StoredAlert;
