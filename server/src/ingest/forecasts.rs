//! When a volume's fill forecast is worked out again.
//!
//! A forecast reads six hours of the volume's samples — 360 at a 60 s interval, ≈ 0.3 ms of
//! PostgreSQL's time per volume, as much as the rest of a steady report — and five minutes more
//! of them move a six-hour trend by little. So each volume's forecast is worked out at most every
//! [`FORECAST_EVERY_MS`] of its samples' time, per server process; the reports between leave the
//! forecast's alert as it stands. (The short fleet benchmarks never showed this cost: their
//! volumes had a few minutes of samples, a fleet that has run for six hours has the full window.)

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

/// A volume's forecast is worked out at most this often, in the time of its samples.
pub const FORECAST_EVERY_MS: i64 = 5 * 60_000;

/// Volumes remembered at most; past that the schedule starts over (each volume due once more).
const MAX_VOLUMES: usize = 1_000_000;

/// The sample time of each volume's last forecast.
#[derive(Debug, Default)]
pub struct ForecastSchedule {
    last: Mutex<HashMap<i64, i64>>,
}

impl ForecastSchedule {
    /// Whether [`ForecastSchedule::due`] would say so, without counting it as worked out.
    pub fn is_due(&self, volume_id: i64, at: i64) -> bool {
        let last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        due_in(&last, volume_id, at)
    }

    /// Whether the forecast of `volume_id` is due for its sample taken at `at` (UTC ms); when it
    /// is, it counts as worked out at `at`. A clock that went back counts like one that went on.
    pub fn due(&self, volume_id: i64, at: i64) -> bool {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if !due_in(&last, volume_id, at) {
            return false;
        }
        if last.len() >= MAX_VOLUMES {
            last.clear();
        }
        last.insert(volume_id, at);
        true
    }
}

fn due_in(last: &HashMap<i64, i64>, volume_id: i64, at: i64) -> bool {
    last.get(&volume_id)
        .is_none_or(|prev| (at - prev).abs() >= FORECAST_EVERY_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forecast_is_due_once_per_period_of_sample_time() {
        let schedule = ForecastSchedule::default();
        assert!(schedule.due(7, 1_000_000));
        assert!(!schedule.due(7, 1_000_000 + 60_000));
        assert!(
            schedule.due(8, 1_000_000 + 60_000),
            "each volume on its own"
        );
        assert!(schedule.due(7, 1_000_000 + FORECAST_EVERY_MS));
        assert!(!schedule.due(7, 1_000_000 + FORECAST_EVERY_MS + 1));
        // An agent's clock set back by an hour: due at once, not an hour later.
        assert!(schedule.due(7, 1_000_000 + FORECAST_EVERY_MS - 3_600_000));
    }
}
