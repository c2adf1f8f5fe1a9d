//! When a maintenance window or silence is in force: a one-off interval, or a recurring window
//! that starts on a cron schedule and lasts a fixed time.

use std::str::FromStr;

use chrono::{DateTime, TimeZone, Utc};

use crate::store::alerts::{NewSuppression, Suppression};
use crate::store::{StoreError, StoreResult};

/// The time rules of one suppression.
#[derive(Debug, Clone, PartialEq)]
pub enum Window {
    /// From `starts_at` until `ends_at` (open-ended when `None`), in UTC ms.
    Interval {
        starts_at: i64,
        ends_at: Option<i64>,
    },
    /// Starts at each occurrence of a cron expression (UTC) and lasts `duration_secs`.
    Recurring { cron: String, duration_secs: i64 },
}

/// Check a cron expression; the error says what is wrong.
pub fn parse_cron(expression: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expression).map_err(|e| {
        format!("invalid cron expression {expression:?} ({e}); use sec min hour day month weekday, e.g. \"0 0 22 * * Sat\"")
    })
}

impl Window {
    /// Whether the window covers the instant `at` (UTC ms).
    pub fn is_active(&self, at: i64) -> bool {
        match self {
            Window::Interval { starts_at, ends_at } => {
                *starts_at <= at && ends_at.is_none_or(|end| at < end)
            }
            Window::Recurring {
                cron,
                duration_secs,
            } => {
                let Ok(schedule) = parse_cron(cron) else {
                    return false;
                };
                let Some(now) = Utc.timestamp_millis_opt(at).single() else {
                    return false;
                };
                // Active when some start lies in (at - duration, at]: the window is half-open.
                let from: DateTime<Utc> = now - chrono::Duration::seconds(*duration_secs);
                schedule
                    .after(&from)
                    .next()
                    .is_some_and(|start| start <= now)
            }
        }
    }
}

impl Suppression {
    /// The time rules of this suppression.
    pub fn window(&self) -> Window {
        match (&self.cron, self.duration_secs) {
            (Some(cron), Some(duration_secs)) => Window::Recurring {
                cron: cron.clone(),
                duration_secs,
            },
            _ => Window::Interval {
                starts_at: self
                    .starts_at
                    .map(|t| t.timestamp_millis())
                    .unwrap_or(i64::MIN),
                ends_at: self.ends_at.map(|t| t.timestamp_millis()),
            },
        }
    }
}

impl NewSuppression {
    /// Whether a person's maintenance window or silence can be saved at `now`: a kind, a
    /// reason, a scope that parses, and either a one-off interval ending in the future or a
    /// recurring one with a valid cron expression.
    pub fn validate(&self, now: i64) -> StoreResult<()> {
        let fail = |m: &str| Err(StoreError::Invalid(m.to_string()));
        if !matches!(self.kind.as_str(), "maintenance" | "silence") {
            return fail("kind must be \"maintenance\" or \"silence\"");
        }
        if self.reason.trim().is_empty() {
            return fail("a reason is required: say why alerts are held");
        }
        if let Some(q) = &self.scope_query {
            crate::ci::query::parse(q)
                .map_err(|e| StoreError::Invalid(format!("scope_query: {e}")))?;
        }
        match (&self.cron, self.duration_secs, self.starts_at, self.ends_at) {
            (Some(cron), Some(d), None, None) => {
                parse_cron(cron).map_err(StoreError::Invalid)?;
                if !(60..=7 * 86_400).contains(&d) {
                    return fail("duration_secs must be between 60 and 604800");
                }
            }
            (None, None, _, Some(end)) => {
                if self.starts_at.is_some_and(|s| s >= end) {
                    return fail("ends_at must be after starts_at");
                }
                if end.timestamp_millis() <= now {
                    return fail("ends_at must be in the future");
                }
            }
            (None, None, _, None) if self.kind == "silence" => {
                return fail("a silence needs ends_at: silences always expire");
            }
            (None, None, _, None) => {
                return fail("give ends_at (one-off) or cron and duration_secs (recurring)")
            }
            _ => {
                return fail("give either cron with duration_secs, or starts_at/ends_at, not both")
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(s: &str) -> i64 {
        DateTime::parse_from_rfc3339(s)
            .expect("time")
            .timestamp_millis()
    }

    #[test]
    fn one_off_intervals() {
        let w = Window::Interval {
            starts_at: 100,
            ends_at: Some(200),
        };
        assert!(!w.is_active(99));
        assert!(w.is_active(100));
        assert!(!w.is_active(200));
        assert!(Window::Interval {
            starts_at: 100,
            ends_at: None
        }
        .is_active(1_000_000));
    }

    #[test]
    fn saturday_night_patching_window() {
        // Saturdays 22:00 UTC for 4 hours.
        let w = Window::Recurring {
            cron: "0 0 22 * * Sat".into(),
            duration_secs: 4 * 3600,
        };
        assert!(
            w.is_active(ms("2026-11-21T22:00:00Z")),
            "starts on the dot (a Saturday)"
        );
        assert!(
            w.is_active(ms("2026-11-22T01:59:59Z")),
            "runs past midnight"
        );
        assert!(!w.is_active(ms("2026-11-22T02:00:00Z")), "over after 4 h");
        assert!(!w.is_active(ms("2026-11-21T21:59:59Z")));
        assert!(
            !w.is_active(ms("2026-11-25T23:00:00Z")),
            "not on a Wednesday"
        );
        assert!(parse_cron("every saturday").is_err());
    }
}
