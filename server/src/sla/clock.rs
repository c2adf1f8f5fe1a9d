//! SLA clocks, replayed from a ticket's event log.
//!
//! Nothing here is a counter kept in the database: the clocks are a pure function of the
//! ticket's ordered changes (plan in force, priority, state, first response) and of "now", so a
//! history with pauses, plan swaps, calendar edits or DST changes gives the same answer whenever
//! it is computed (ServiceNow calls recomputing this way "SLA repair"; Zammad turns pauses into
//! breaks of the business calendar — here a paused stretch is measured but not counted).
//!
//! Semantics:
//! - Business time accrues under the calendar of the plan in force at each moment.
//! - `on_hold` pauses both clocks; the paused business time is reported apart.
//! - The response clock stops at the first response (or when the ticket leaves the open
//!   states); the resolution clock stops at resolution and runs on again after a reopen.
//! - A change of plan or priority keeps the business time already elapsed and sets a new
//!   target; the warning (75 %) and breach (100 %) instants are those of the current target, so a
//!   priority raised past an elapsed time crosses them at the moment of the change.
//! - A plan without SLA (on demand) stops the clocks counting and reports `no_sla`.

use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::calendar::Calendar;
use super::plan::Targets;
use atalaya_shared::ticket_state::TicketState;

const MINUTE_MS: i64 = 60_000;

/// What a plan contributes to the clocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Terms {
    pub calendar: Calendar,
    pub targets: Targets,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The plan in force from now on; `None` when it has no SLA.
    Plan(Option<Arc<Terms>>),
    Priority(i64),
    State(TicketState),
    /// Someone answered the requester.
    Responded,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub at: i64,
    pub change: Change,
}

impl Event {
    pub fn new(at: i64, change: Change) -> Event {
        Event { at, change }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockState {
    Running,
    Paused,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    NoSla,
    Ok,
    Met,
    Warning,
    Breached,
}

/// One clock (first response or resolution) as of the computation's "now".
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clock {
    pub status: Status,
    pub state: ClockState,
    pub target_minutes: Option<i64>,
    /// Business time counted so far, in milliseconds.
    pub elapsed_ms: i64,
    /// Business time spent on hold, in milliseconds (not counted).
    pub paused_ms: i64,
    /// Share of the target consumed, in percent with one decimal.
    pub percent: Option<f64>,
    /// When 75 % was (or, running, will be) reached.
    #[serde(serialize_with = "as_time")]
    pub warning_at: Option<i64>,
    /// When 100 % was (or, running, will be) reached.
    #[serde(serialize_with = "as_time")]
    pub due_at: Option<i64>,
    #[serde(serialize_with = "as_time")]
    pub stopped_at: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Clocks {
    pub response: Clock,
    pub resolution: Clock,
}

impl Clocks {
    /// The worse of the two clocks, for lists and filters.
    pub fn worst(&self) -> Status {
        self.response.status.max(self.resolution.status)
    }

    /// The earliest instant, past or future, at which either clock warns or breaches, for the
    /// stored risk columns that list filters use.
    pub fn next_instants(&self) -> (Option<i64>, Option<i64>) {
        let earliest = |a: Option<i64>, b: Option<i64>| match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let live = |c: &Clock, at: Option<i64>| match c.status {
            Status::NoSla | Status::Met => None,
            _ => at,
        };
        (
            earliest(
                live(&self.response, self.response.warning_at),
                live(&self.resolution, self.resolution.warning_at),
            ),
            earliest(
                live(&self.response, self.response.due_at),
                live(&self.resolution, self.resolution.due_at),
            ),
        )
    }
}

fn as_time<S: Serializer>(value: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    value
        .and_then(chrono::DateTime::from_timestamp_millis)
        .serialize(s)
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Metric {
    Response,
    Resolution,
}

#[derive(Debug)]
struct Meter {
    metric: Metric,
    target_ms: Option<i64>,
    elapsed: i64,
    paused: i64,
    warning_at: Option<i64>,
    breached_at: Option<i64>,
    stopped_at: Option<i64>,
}

impl Meter {
    fn new(metric: Metric) -> Meter {
        Meter {
            metric,
            target_ms: None,
            elapsed: 0,
            paused: 0,
            warning_at: None,
            breached_at: None,
            stopped_at: None,
        }
    }

    fn thresholds(&self) -> Option<(i64, i64)> {
        self.target_ms.map(|t| (t * 3 / 4, t))
    }

    /// Count `[from, to)` under `calendar`, noting thresholds crossed on the way.
    fn advance(&mut self, calendar: &Calendar, from: i64, to: i64, on_hold: bool) {
        if self.stopped_at.is_some() {
            return;
        }
        let amount = calendar.between(from, to);
        if on_hold {
            self.paused += amount;
            return;
        }
        if let Some((warn, breach)) = self.thresholds() {
            let elapsed = self.elapsed;
            let crossing = |threshold: i64| {
                (elapsed < threshold && elapsed + amount >= threshold)
                    .then(|| calendar.add(from, threshold - elapsed))
            };
            self.warning_at = self.warning_at.or_else(|| crossing(warn));
            self.breached_at = self.breached_at.or_else(|| crossing(breach));
        }
        self.elapsed += amount;
    }

    /// Bring the target and the crossing instants in line with the current terms at `at`.
    fn settle(&mut self, terms: Option<&Terms>, priority: i64, at: i64) {
        if self.stopped_at.is_some() {
            return;
        }
        self.target_ms = terms.map(|t| {
            let target = t.targets.for_priority(priority);
            let minutes = match self.metric {
                Metric::Response => target.response_minutes,
                Metric::Resolution => target.resolution_minutes,
            };
            minutes.saturating_mul(MINUTE_MS)
        });
        match self.thresholds() {
            None => {
                self.warning_at = None;
                self.breached_at = None;
            }
            Some((warn, breach)) => {
                let elapsed = self.elapsed;
                let settle = |slot: &mut Option<i64>, threshold: i64| {
                    if elapsed < threshold {
                        *slot = None;
                    } else if slot.is_none() {
                        *slot = Some(at);
                    }
                };
                settle(&mut self.warning_at, warn);
                settle(&mut self.breached_at, breach);
            }
        }
    }

    fn report(&self, terms: Option<&Terms>, on_hold: bool, now: i64) -> Clock {
        let state = if self.stopped_at.is_some() {
            ClockState::Stopped
        } else if on_hold {
            ClockState::Paused
        } else {
            ClockState::Running
        };
        let Some((warn, breach)) = self.thresholds() else {
            return Clock {
                status: Status::NoSla,
                state,
                target_minutes: None,
                elapsed_ms: self.elapsed,
                paused_ms: self.paused,
                percent: None,
                warning_at: None,
                due_at: None,
                stopped_at: self.stopped_at,
            };
        };
        let status = if self.breached_at.is_some() {
            Status::Breached
        } else if state == ClockState::Stopped {
            Status::Met
        } else if self.warning_at.is_some() {
            Status::Warning
        } else {
            Status::Ok
        };
        // Running clocks project the instants still ahead; the calendar is that of the plan in
        // force now, which is the one that will count the remaining time.
        let projected = |threshold: i64| match (state, terms) {
            (ClockState::Running, Some(terms)) => {
                Some(terms.calendar.add(now, threshold - self.elapsed))
            }
            _ => None,
        };
        let percent = (self.elapsed as f64 * 1000.0 / breach as f64).round() / 10.0;
        Clock {
            status,
            state,
            target_minutes: Some(breach / MINUTE_MS),
            elapsed_ms: self.elapsed,
            paused_ms: self.paused,
            percent: Some(percent),
            warning_at: self.warning_at.or_else(|| projected(warn)),
            due_at: self.breached_at.or_else(|| projected(breach)),
            stopped_at: self.stopped_at,
        }
    }
}

/// Replay a ticket's changes, ordered by time, up to `now` (later ones are ignored). The first
/// event is the opening: clocks start there. The plan and priority are expected among the
/// events at the opening; without them the ticket has no SLA, and priority 3 is assumed.
pub fn replay(events: &[Event], now: i64) -> Clocks {
    let mut terms: Option<Arc<Terms>> = None;
    let mut priority = 3;
    let mut state = TicketState::New;
    let mut responded = false;
    let mut response = Meter::new(Metric::Response);
    let mut resolution = Meter::new(Metric::Resolution);
    let mut cursor = events.first().map_or(now, |e| e.at);

    // What happens after `now` has not happened yet.
    for event in events.iter().take_while(|e| e.at <= now) {
        let at = event.at.max(cursor);
        if let Some(t) = &terms {
            let on_hold = state == TicketState::OnHold;
            response.advance(&t.calendar, cursor, at, on_hold);
            resolution.advance(&t.calendar, cursor, at, on_hold);
        }
        cursor = at;
        match &event.change {
            Change::Plan(next) => terms = next.clone(),
            Change::Priority(p) => priority = *p,
            Change::State(next) => state = *next,
            Change::Responded => responded = true,
        }
        if !state.is_open() {
            // Resolving or cancelling without a reply still ends the wait for a response.
            responded = true;
        }
        let stop = |meter: &mut Meter, stopped: bool| match (stopped, meter.stopped_at) {
            (true, None) => meter.stopped_at = Some(at),
            (false, Some(_)) => meter.stopped_at = None,
            _ => {}
        };
        stop(&mut response, responded);
        stop(&mut resolution, !state.is_open());
        response.settle(terms.as_deref(), priority, at);
        resolution.settle(terms.as_deref(), priority, at);
    }

    let now = now.max(cursor);
    let on_hold = state == TicketState::OnHold;
    if let Some(t) = &terms {
        response.advance(&t.calendar, cursor, now, on_hold);
        resolution.advance(&t.calendar, cursor, now, on_hold);
    }
    Clocks {
        response: response.report(terms.as_deref(), on_hold, now),
        resolution: resolution.report(terms.as_deref(), on_hold, now),
    }
}

#[cfg(test)]
mod tests;
