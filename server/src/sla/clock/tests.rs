//! Scenario tests: ticket histories replayed into clocks.

use std::sync::Arc;

use chrono::{NaiveDate, TimeZone};
use chrono_tz::Tz;

use super::*;
use crate::sla::plan::{Coverage, SupportPlan};

const HOUR: i64 = 3_600_000;
const MADRID: Tz = chrono_tz::Europe::Madrid;

fn at(d: u32, h: u32, m: u32) -> i64 {
    at_in(2026, 11, d, h, m)
}

fn at_in(y: i32, mo: u32, d: u32, h: u32, m: u32) -> i64 {
    MADRID
        .with_ymd_and_hms(y, mo, d, h, m, 0)
        .earliest()
        .expect("valid in this test")
        .timestamp_millis()
}

fn terms(coverage: Coverage, holidays: &[NaiveDate]) -> Change {
    let plan = SupportPlan {
        coverage,
        time_zone: "Europe/Madrid".into(),
        holidays: holidays.to_vec(),
        ..SupportPlan::default()
    };
    Change::Plan(Some(Arc::new(Terms {
        calendar: plan.calendar().expect("valid in this test"),
        targets: plan.targets,
    })))
}

/// A 5x8 Madrid ticket of priority `p` opened at `opened`, followed by `rest`.
fn history(opened: i64, p: i64, rest: Vec<Event>) -> Vec<Event> {
    let mut events = vec![
        Event::new(opened, terms(Coverage::MondayToFriday, &[])),
        Event::new(opened, Change::Priority(p)),
        Event::new(opened, Change::State(TicketState::New)),
    ];
    events.extend(rest);
    events
}

#[test]
fn business_hours_count_and_targets_project() {
    // Monday 2026-11-23 10:00, P3: 4 h to respond, 24 business hours to resolve.
    let events = history(
        at(23, 10, 0),
        3,
        vec![Event::new(at(23, 11, 0), Change::Responded)],
    );
    let clocks = replay(&events, at(25, 10, 0));
    let r = &clocks.response;
    assert_eq!(
        (r.status, r.state, r.elapsed_ms),
        (Status::Met, ClockState::Stopped, HOUR)
    );
    assert_eq!(r.stopped_at, Some(at(23, 11, 0)));
    let c = &clocks.resolution;
    assert_eq!((c.status, c.state), (Status::Ok, ClockState::Running));
    assert_eq!(c.elapsed_ms, 16 * HOUR, "Mon 7 h + Tue 8 h + Wed 1 h");
    assert_eq!(c.percent, Some(66.7));
    assert_eq!(c.warning_at, Some(at(25, 12, 0)), "18 h of 24");
    assert_eq!(c.due_at, Some(at(26, 10, 0)));
    assert_eq!(c.target_minutes, Some(24 * 60));
}

#[test]
fn on_hold_pauses_both_clocks() {
    let events = history(
        at(23, 10, 0),
        3,
        vec![
            Event::new(at(23, 12, 0), Change::State(TicketState::OnHold)),
            Event::new(at(24, 12, 0), Change::State(TicketState::InProgress)),
        ],
    );
    let clocks = replay(&events, at(24, 17, 0));
    let c = &clocks.resolution;
    assert_eq!(c.elapsed_ms, 7 * HOUR, "Mon 10–12 and Tue 12–17");
    assert_eq!(c.paused_ms, 8 * HOUR, "Mon 12–17 and Tue 9–12");
    assert_eq!(
        c.due_at,
        Some(at(27, 10, 0)),
        "Thursday 10:00 without the pause, 8 business hours later with it"
    );
    // The response clock ran out after the pause: 2 h before, 2 more on Tuesday from 12:00.
    let r = &clocks.response;
    assert_eq!(r.status, Status::Breached);
    assert_eq!(r.warning_at, Some(at(24, 13, 0)));
    assert_eq!(r.due_at, Some(at(24, 14, 0)));

    // While paused there is nothing to project.
    let paused = replay(&events[..4], at(24, 10, 0));
    assert_eq!(paused.resolution.state, ClockState::Paused);
    assert_eq!(paused.resolution.due_at, None);
    assert_eq!(paused.resolution.elapsed_ms, 2 * HOUR);
}

#[test]
fn a_plan_swap_keeps_elapsed_time_and_changes_the_calendar() {
    // 15 business hours under 5x8 by Tuesday 17:00, then 7x24: the last 9 h run overnight.
    let events = history(
        at(23, 10, 0),
        3,
        vec![Event::new(at(24, 17, 0), terms(Coverage::AllHours, &[]))],
    );
    let clocks = replay(&events, at(25, 0, 0));
    let c = &clocks.resolution;
    assert_eq!(c.elapsed_ms, 22 * HOUR);
    assert_eq!(c.status, Status::Warning);
    assert_eq!(c.warning_at, Some(at(24, 20, 0)));
    assert_eq!(c.due_at, Some(at(25, 2, 0)));
}

#[test]
fn a_calendar_edit_moves_the_target_from_then_on() {
    // Wednesday is declared a holiday on Tuesday: the due time skips it.
    let wednesday = NaiveDate::from_ymd_opt(2026, 11, 25).expect("valid in this test");
    let events = history(
        at(23, 10, 0),
        3,
        vec![Event::new(
            at(24, 10, 0),
            terms(Coverage::MondayToFriday, &[wednesday]),
        )],
    );
    let clocks = replay(&events, at(24, 12, 0));
    assert_eq!(clocks.resolution.due_at, Some(at(27, 10, 0)));
}

#[test]
fn a_priority_change_recomputes_the_targets() {
    // P3 → P2 at Monday 15:00 with 5 h elapsed: P2 allows 8 h.
    let events = history(
        at(23, 10, 0),
        3,
        vec![
            Event::new(at(23, 10, 30), Change::Responded),
            Event::new(at(23, 15, 0), Change::Priority(2)),
        ],
    );
    let clocks = replay(&events, at(23, 15, 30));
    let c = &clocks.resolution;
    assert_eq!(c.target_minutes, Some(8 * 60));
    assert_eq!(c.warning_at, Some(at(23, 16, 0)));
    assert_eq!(c.due_at, Some(at(24, 10, 0)));
    assert_eq!(
        clocks.response.status,
        Status::Met,
        "a stopped clock keeps its target"
    );
    assert_eq!(clocks.response.target_minutes, Some(4 * 60));

    // Raised to P1 (4 h) with 5 h elapsed: breached at the moment of the change.
    let mut raised = events.clone();
    raised[4] = Event::new(at(23, 15, 0), Change::Priority(1));
    let clocks = replay(&raised, at(23, 15, 30));
    assert_eq!(clocks.resolution.status, Status::Breached);
    assert_eq!(clocks.resolution.due_at, Some(at(23, 15, 0)));

    // Lowered back to P3: the breach was a mistake of priority, not of service.
    raised.push(Event::new(at(23, 16, 0), Change::Priority(3)));
    let clocks = replay(&raised, at(23, 16, 30));
    assert_eq!(clocks.resolution.status, Status::Ok);
    assert_eq!(clocks.resolution.due_at, Some(at(26, 10, 0)));
}

#[test]
fn dst_weekend_moves_the_due_time_in_utc() {
    // Friday 2026-03-27 16:00 CET, P1 (4 h): 1 h on Friday, 3 h on Monday after the clocks
    // changed — Monday 12:00 CEST, which is 10:00 UTC (not 11:00).
    let events = history(at_in(2026, 3, 27, 16, 0), 1, vec![]);
    let clocks = replay(&events, at_in(2026, 3, 27, 16, 0));
    let due = clocks.resolution.due_at.expect("valid in this test");
    assert_eq!(due, at_in(2026, 3, 30, 12, 0));
    assert_eq!(
        chrono::DateTime::from_timestamp_millis(due)
            .expect("valid in this test")
            .to_rfc3339(),
        "2026-03-30T10:00:00+00:00"
    );
}

#[test]
fn a_finished_ticket_gives_the_same_answer_whenever_computed() {
    let events = history(
        at(23, 10, 0),
        3,
        vec![
            Event::new(at(23, 10, 30), Change::Responded),
            Event::new(at(23, 11, 0), Change::State(TicketState::OnHold)),
            Event::new(at(23, 14, 0), Change::State(TicketState::InProgress)),
            Event::new(at(24, 12, 0), Change::State(TicketState::Resolved)),
            Event::new(at(24, 13, 0), Change::State(TicketState::Closed)),
        ],
    );
    let soon = replay(&events, at(24, 13, 0));
    let later = replay(&events, at_in(2027, 6, 1, 0, 0));
    assert_eq!(soon, later);
    assert_eq!(soon.resolution.status, Status::Met);
    assert_eq!(soon.resolution.elapsed_ms, 7 * HOUR, "1 + 3 + 3");
    assert_eq!(soon.resolution.paused_ms, 3 * HOUR);
    assert_eq!(soon.resolution.stopped_at, Some(at(24, 12, 0)));
}

#[test]
fn a_reopened_ticket_counts_on_from_where_it_stopped() {
    let events = history(
        at(23, 10, 0),
        3,
        vec![
            Event::new(at(23, 12, 0), Change::State(TicketState::Resolved)),
            Event::new(at(24, 9, 0), Change::State(TicketState::InProgress)),
        ],
    );
    let clocks = replay(&events, at(24, 11, 0));
    assert_eq!(clocks.resolution.elapsed_ms, 4 * HOUR);
    assert_eq!(clocks.resolution.state, ClockState::Running);
    assert_eq!(clocks.response.status, Status::Met, "resolving answered");
}

#[test]
fn on_demand_has_no_sla() {
    let events = vec![
        Event::new(at(23, 10, 0), Change::Plan(None)),
        Event::new(at(23, 10, 0), Change::Priority(1)),
    ];
    let clocks = replay(&events, at(30, 10, 0));
    assert_eq!(clocks.worst(), Status::NoSla);
    assert_eq!(clocks.next_instants(), (None, None));
}

#[test]
fn the_risk_instants_are_the_earliest_live_ones() {
    let events = history(at(23, 10, 0), 3, vec![]);
    let clocks = replay(&events, at(23, 10, 0));
    assert_eq!(
        clocks.next_instants(),
        (Some(at(23, 13, 0)), Some(at(23, 14, 0))),
        "the response clock comes first"
    );
}
