//! The ticket life cycle: new → assigned → in progress → on hold → resolved → closed, plus
//! cancelled. One table of allowed moves, so the API and the clocks agree on what a state means.
//!
//! It lives here, below the server's desk, SLA clocks and store, because all three need the
//! same names and the same idea of "open": the store filters open tickets in SQL (building its
//! `IN (...)` list from [`TicketState::is_open`], not from a second copy of it), the clocks
//! replay states, and the desk decides the moves. Pure data and logic, no I/O.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    New,
    Assigned,
    InProgress,
    OnHold,
    Resolved,
    Closed,
    Cancelled,
}

pub const ALL_STATES: [TicketState; 7] = [
    TicketState::New,
    TicketState::Assigned,
    TicketState::InProgress,
    TicketState::OnHold,
    TicketState::Resolved,
    TicketState::Closed,
    TicketState::Cancelled,
];

impl TicketState {
    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::New => "new",
            TicketState::Assigned => "assigned",
            TicketState::InProgress => "in_progress",
            TicketState::OnHold => "on_hold",
            TicketState::Resolved => "resolved",
            TicketState::Closed => "closed",
            TicketState::Cancelled => "cancelled",
        }
    }

    pub fn parse(text: &str) -> Option<TicketState> {
        ALL_STATES.into_iter().find(|s| s.as_str() == text)
    }

    /// Still needs work (the SLA resolution clock can run).
    pub fn is_open(self) -> bool {
        !matches!(
            self,
            TicketState::Resolved | TicketState::Closed | TicketState::Cancelled
        )
    }

    /// Nothing more can happen to the ticket.
    pub fn is_final(self) -> bool {
        matches!(self, TicketState::Closed | TicketState::Cancelled)
    }

    /// The states a ticket may move to from this one. Moving back from in progress to assigned
    /// is how a ticket returns to a queue (for example on escalation); resolved → in progress
    /// is a reopen.
    pub fn next_states(self) -> &'static [TicketState] {
        use TicketState::*;
        match self {
            New => &[Assigned, InProgress, OnHold, Resolved, Cancelled],
            Assigned => &[InProgress, OnHold, Resolved, Cancelled],
            InProgress => &[Assigned, OnHold, Resolved, Cancelled],
            OnHold => &[Assigned, InProgress, Resolved, Cancelled],
            Resolved => &[InProgress, Closed],
            Closed | Cancelled => &[],
        }
    }

    /// `Ok` when `self → to` is allowed, or the message a 409 should carry.
    pub fn check_transition(self, to: TicketState) -> Result<(), String> {
        if self.next_states().contains(&to) {
            return Ok(());
        }
        let allowed: Vec<&str> = self.next_states().iter().map(|s| s.as_str()).collect();
        Err(if allowed.is_empty() {
            format!(
                "the ticket is {} and can no longer change state",
                self.as_str()
            )
        } else {
            format!(
                "cannot move a ticket from {} to {}; from {} it can move to {}",
                self.as_str(),
                to.as_str(),
                self.as_str(),
                allowed.join(", ")
            )
        })
    }
}

impl std::fmt::Display for TicketState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state compares equal to its stored (and serialised) name, so `ticket.state == "resolved"`
/// reads as it did when the state was a string.
impl PartialEq<str> for TicketState {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for TicketState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// The states in which a ticket still needs work.
pub fn open_states() -> impl Iterator<Item = TicketState> {
    ALL_STATES.into_iter().filter(|s| s.is_open())
}

/// Why a ticket waits; the SLA clocks pause meanwhile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    AwaitingCustomer,
    AwaitingVendor,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::AwaitingCustomer => "awaiting_customer",
            HoldReason::AwaitingVendor => "awaiting_vendor",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for state in ALL_STATES {
            assert_eq!(TicketState::parse(state.as_str()), Some(state));
        }
        assert_eq!(TicketState::parse("open"), None);
    }

    #[test]
    fn the_life_cycle_allows_only_its_moves() {
        use TicketState::*;
        assert!(New.check_transition(Assigned).is_ok());
        assert!(OnHold.check_transition(InProgress).is_ok());
        assert!(Resolved.check_transition(InProgress).is_ok());
        let refused = Closed
            .check_transition(InProgress)
            .expect_err("should be refused");
        assert!(refused.contains("no longer"), "{refused}");
        let refused = New.check_transition(Closed).expect_err("should be refused");
        assert!(refused.contains("from new to closed"), "{refused}");
        assert!(Cancelled.next_states().is_empty());
        assert!(!Resolved.is_open() && OnHold.is_open());
    }
}
