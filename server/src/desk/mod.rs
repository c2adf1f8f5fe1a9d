//! The service desk: incidents and service requests, their life cycle and their priority.
//!
//! This is the only code that opens, changes, assigns, escalates, comments on, edits, links
//! CIs to, resolves, reopens and closes tickets — for people ([`tickets`]), rules and site
//! outages ([`incidents`]), the SLA sweep and auto-close ([`jobs`]) alike. Each operation is a
//! command taking a transaction, an [`Actor`] and `now`, and yields [`Change`]s; what follows a
//! change (timeline, notification, SLA refresh, holding notifications while flapping) is
//! declared once, in [`reactions`]. The store below only reads and writes rows.

pub mod actor;
pub mod change;
pub mod clocks;
pub mod commands;
pub mod incidents;
pub mod jobs;
pub mod kpis;
pub mod plans;
pub mod rating;
pub mod reactions;
pub mod satisfaction;
pub mod state;
pub mod ticket;
pub mod tickets;

pub use actor::Actor;
pub use change::{Change, ChangeKind};
pub use commands::{Assignee, Comment, NewTicket, TicketEdit};
pub use jobs::{auto_close, sla_sweep};
pub use ticket::Ticket;
