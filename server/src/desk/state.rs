//! The ticket life cycle's states and allowed moves. The table itself is pure and sits in
//! [`atalaya_shared::ticket_state`], below the desk, the SLA clocks and the store alike, so the
//! store can filter open tickets without importing the desk (see that module).

pub use atalaya_shared::ticket_state::*;
