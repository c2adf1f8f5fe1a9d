//! From what the store keeps — a ticket's timeline rows and its tenant's plan versions — to the
//! clock events [`super::clock::replay`] understands.
//!
//! Every timeline row carries the ticket's state and priority right after the change it records,
//! so the clocks need no knowledge of the many kinds of entries (comments, rule evidence,
//! assignments); only a public reply by staff is read from the kind, as the first response.

use std::sync::Arc;

use super::clock::{Change, Event, Terms};
use super::plan::SupportPlan;
use atalaya_shared::ticket_state::TicketState;

/// One timeline row, as far as the clocks care.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub at: i64,
    pub kind: String,
    pub state: Option<String>,
    pub priority: Option<i64>,
    /// A public comment by staff (not the requester): the first one is the response.
    pub staff_reply: bool,
}

/// A support plan and when it took effect.
#[derive(Debug, Clone)]
pub struct PlanVersion {
    pub effective_at: i64,
    pub plan: SupportPlan,
}

fn terms(plan: &SupportPlan) -> Option<Arc<Terms>> {
    if !plan.has_sla() {
        return None;
    }
    // Plans are validated when saved; one that no longer parses counts as no SLA rather than
    // failing every read of the ticket.
    let calendar = plan.calendar().ok()?;
    Some(Arc::new(Terms {
        calendar,
        targets: plan.targets,
    }))
}

/// The clock events of a ticket opened at `opened_at`, whose current priority is `priority`
/// (used when no row records one). `events` are in timeline order; `plans` in effect order.
pub fn clock_events(
    opened_at: i64,
    priority: i64,
    events: &[StoredEvent],
    plans: &[PlanVersion],
) -> Vec<Event> {
    let initial_plan = plans
        .iter()
        .rev()
        .find(|v| v.effective_at <= opened_at)
        .map(|v| terms(&v.plan))
        .unwrap_or(None);
    let mut priority_now = events.iter().find_map(|e| e.priority).unwrap_or(priority);
    let mut state_now = TicketState::New;
    let mut out = vec![
        Event::new(opened_at, Change::Plan(initial_plan)),
        Event::new(opened_at, Change::Priority(priority_now)),
    ];
    let mut later_plans = plans
        .iter()
        .filter(|v| v.effective_at > opened_at)
        .peekable();
    for event in events {
        while let Some(version) = later_plans.next_if(|v| v.effective_at <= event.at) {
            out.push(Event::new(
                version.effective_at,
                Change::Plan(terms(&version.plan)),
            ));
        }
        let at = event.at.max(opened_at);
        if let Some(p) = event.priority.filter(|p| *p != priority_now) {
            priority_now = p;
            out.push(Event::new(at, Change::Priority(p)));
        }
        // Rows written before states were recorded: only the rule's resolution matters.
        let state = match event.state.as_deref() {
            Some(s) => TicketState::parse(s),
            None if event.kind == "resolved" => Some(TicketState::Resolved),
            None => None,
        };
        if let Some(s) = state.filter(|s| *s != state_now) {
            state_now = s;
            out.push(Event::new(at, Change::State(s)));
            if s == TicketState::InProgress {
                // Starting work is answering too.
                out.push(Event::new(at, Change::Responded));
            }
        }
        if event.staff_reply {
            out.push(Event::new(at, Change::Responded));
        }
    }
    for version in later_plans {
        out.push(Event::new(
            version.effective_at,
            Change::Plan(terms(&version.plan)),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sla::clock::{replay, Status};
    use crate::sla::plan::Coverage;

    const HOUR: i64 = 3_600_000;

    fn row(at: i64, kind: &str, state: &str, priority: i64) -> StoredEvent {
        StoredEvent {
            at,
            kind: kind.into(),
            state: Some(state.into()),
            priority: Some(priority),
            staff_reply: false,
        }
    }

    fn plan(coverage: Coverage) -> SupportPlan {
        SupportPlan {
            coverage,
            ..SupportPlan::default()
        }
    }

    #[test]
    fn rows_and_plan_versions_become_clock_events() {
        // 7x24 UTC from before the opening; P3 → P1 after one hour; on hold for two; a plan
        // without SLA from hour 10.
        let plans = [
            PlanVersion {
                effective_at: -HOUR,
                plan: plan(Coverage::AllHours),
            },
            PlanVersion {
                effective_at: 10 * HOUR,
                plan: plan(Coverage::OnDemand),
            },
        ];
        let rows = [
            row(0, "opened", "new", 3),
            row(HOUR, "priority_changed", "new", 1),
            row(2 * HOUR, "state_changed", "on_hold", 1),
            row(4 * HOUR, "state_changed", "in_progress", 1),
        ];
        let events = clock_events(0, 1, &rows, &plans);
        let clocks = replay(&events, 5 * HOUR);
        assert_eq!(clocks.resolution.elapsed_ms, 3 * HOUR);
        assert_eq!(clocks.resolution.paused_ms, 2 * HOUR);
        assert_eq!(clocks.resolution.target_minutes, Some(4 * 60));
        assert_eq!(clocks.response.status, Status::Breached, "P1 allows 30 min");
        assert_eq!(clocks.response.stopped_at, Some(4 * HOUR));
        let later = replay(&events, 11 * HOUR);
        assert_eq!(
            later.resolution.status,
            Status::NoSla,
            "no SLA from hour 10"
        );
        assert_eq!(
            later.response.status,
            Status::Breached,
            "a breach under the old plan stays"
        );
    }

    #[test]
    fn legacy_rows_without_state_still_resolve() {
        let plans = [PlanVersion {
            effective_at: 0,
            plan: plan(Coverage::AllHours),
        }];
        let rows = [StoredEvent {
            at: HOUR,
            kind: "resolved".into(),
            state: None,
            priority: None,
            staff_reply: false,
        }];
        let clocks = replay(&clock_events(0, 3, &rows, &plans), 9 * HOUR);
        assert_eq!(clocks.resolution.status, Status::Met);
        assert_eq!(clocks.resolution.elapsed_ms, HOUR);
    }
}
