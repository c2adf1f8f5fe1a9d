//! The arithmetic of the desk's KPIs, apart from the SQL that feeds it: averages, shares,
//! backlog age buckets and reporting periods. Definitions:
//!
//! - **MTTA** (mean time to acknowledge): opening → first response, over responded tickets.
//! - **MTTR** (mean time to resolve): opening → resolution, over resolved tickets. Both in wall
//!   time and in business time of the support plan (the SLA clocks, pauses excluded).
//! - **SLA compliance**: of the tickets whose SLA outcome is known (resolved, or breached
//!   already), the share that breached neither target.
//! - **First-contact resolution**: of the resolved tickets, the share resolved without an
//!   escalation and never reopened.
//! - **Reopen rate**: of the tickets ever resolved, the share reopened at least once.

use chrono::{Datelike, NaiveDate};
use serde::Deserialize;

mod reports;
pub use reports::{
    backlog, satisfaction, service_levels, volume, BacklogRow, SatisfactionRow, ServiceLevelRow,
    VolumeRow,
};

const MINUTE_MS: f64 = 60_000.0;
const DAY_MS: i64 = 86_400_000;

/// A running mean of durations in milliseconds, reported in minutes with one decimal.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mean {
    sum_ms: i64,
    count: i64,
}

impl Mean {
    pub fn add(&mut self, ms: i64) {
        self.sum_ms = self.sum_ms.saturating_add(ms.max(0));
        self.count += 1;
    }

    pub fn count(&self) -> i64 {
        self.count
    }

    pub fn minutes(&self) -> Option<f64> {
        (self.count > 0).then(|| round1(self.sum_ms as f64 / self.count as f64 / MINUTE_MS))
    }
}

/// `part` of `whole` in percent with one decimal; `None` when there is nothing to measure.
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| round1(part as f64 * 100.0 / whole as f64))
}

pub fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Backlog age buckets, youngest first.
pub const AGE_BUCKETS: &[&str] = &["0-1d", "1-3d", "3-7d", "7-30d", "30d+"];

/// The bucket of a ticket open for `age_ms`.
pub fn age_bucket(age_ms: i64) -> &'static str {
    match age_ms {
        a if a < DAY_MS => AGE_BUCKETS[0],
        a if a < 3 * DAY_MS => AGE_BUCKETS[1],
        a if a < 7 * DAY_MS => AGE_BUCKETS[2],
        a if a < 30 * DAY_MS => AGE_BUCKETS[3],
        _ => AGE_BUCKETS[4],
    }
}

/// How volume is grouped in time (UTC).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Period {
    #[default]
    Day,
    /// ISO weeks, named by their Monday.
    Week,
    Month,
}

impl Period {
    /// The first day of the period holding `at` (UTC ms).
    pub fn start(self, at: i64) -> NaiveDate {
        let date = chrono::DateTime::from_timestamp_millis(at)
            .unwrap_or_default()
            .date_naive();
        match self {
            Period::Day => date,
            Period::Week => {
                date - chrono::Days::new(u64::from(date.weekday().num_days_from_monday()))
            }
            Period::Month => date.with_day(1).unwrap_or(date),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn means_shares_and_buckets() {
        let mut mean = Mean::default();
        assert_eq!(mean.minutes(), None);
        mean.add(60_000);
        mean.add(120_000);
        mean.add(150_000);
        assert_eq!(mean.minutes(), Some(1.8));
        assert_eq!(percent(2, 3), Some(66.7));
        assert_eq!(percent(0, 0), None);
        assert_eq!(age_bucket(0), "0-1d");
        assert_eq!(age_bucket(DAY_MS), "1-3d");
        assert_eq!(age_bucket(6 * DAY_MS), "3-7d");
        assert_eq!(age_bucket(29 * DAY_MS), "7-30d");
        assert_eq!(age_bucket(400 * DAY_MS), "30d+");
    }

    #[test]
    fn periods_start_on_their_first_day() {
        // 2026-11-27 is a Friday.
        let at = chrono::NaiveDate::from_ymd_opt(2026, 11, 27)
            .and_then(|d| d.and_hms_opt(13, 0, 0))
            .expect("date")
            .and_utc()
            .timestamp_millis();
        assert_eq!(Period::Day.start(at).to_string(), "2026-11-27");
        assert_eq!(Period::Week.start(at).to_string(), "2026-11-23");
        assert_eq!(Period::Month.start(at).to_string(), "2026-11-01");
    }
}
