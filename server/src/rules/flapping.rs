//! Flap detection after Nagios (base/flapping.c): keep the last 21 results, weight the 20
//! transitions between them linearly from 0.75 (oldest) to 1.25 (newest), and call the state
//! flapping from the moment the weighted change reaches the start threshold until it falls to
//! the stop threshold (in between, it stays as it was).

pub const HISTORY: usize = 21;
pub const START_PERCENT: f64 = 50.0;
pub const STOP_PERCENT: f64 = 25.0;

/// Append a result (`true` = breaching) to the history string of '0'/'1', keeping the last 21.
pub fn record(history: &str, breaching: bool) -> String {
    let mut h: String = history.chars().filter(|c| *c == '0' || *c == '1').collect();
    h.push(if breaching { '1' } else { '0' });
    let excess = h.len().saturating_sub(HISTORY);
    h[excess..].to_string()
}

/// The weighted percentage of state change over the history.
pub fn percent_change(history: &str) -> f64 {
    let states: Vec<char> = history.chars().collect();
    if states.len() < 2 {
        return 0.0;
    }
    let transitions = (HISTORY - 1) as f64;
    let mut total = 0.0;
    // Weights run over the full window; a short history uses its newest weights.
    let offset = HISTORY - states.len();
    for i in 1..states.len() {
        if states[i] != states[i - 1] {
            let position = (offset + i - 1) as f64;
            total += 0.75 + 0.5 * position / (transitions - 1.0);
        }
    }
    total * 100.0 / transitions
}

/// Whether the alert is flapping after this history, given whether it was before.
pub fn is_flapping(history: &str, was_flapping: bool) -> bool {
    let p = percent_change(history);
    if p >= START_PERCENT {
        true
    } else if p <= STOP_PERCENT {
        false
    } else {
        was_flapping
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_is_not_flapping_and_alternating_is() {
        let steady = "1".repeat(21);
        assert_eq!(percent_change(&steady), 0.0);
        let alternating: String = (0..21)
            .map(|i| if i % 2 == 0 { '1' } else { '0' })
            .collect();
        assert!(
            (percent_change(&alternating) - 100.0).abs() < 1e-9,
            "{}",
            percent_change(&alternating)
        );
        assert!(is_flapping(&alternating, false));
        assert!(!is_flapping(&steady, true));
    }

    #[test]
    fn hysteresis_between_thresholds_and_newer_changes_weigh_more() {
        // Seven changes early versus seven changes late.
        let early = "101010101000000000000";
        let late = "000000000000010101010";
        assert!(percent_change(late) > percent_change(early));
        let middle = percent_change(early);
        assert!(middle > STOP_PERCENT && middle < START_PERCENT, "{middle}");
        assert!(
            is_flapping(early, true),
            "stays flapping between the thresholds"
        );
        assert!(
            !is_flapping(early, false),
            "does not start between the thresholds"
        );
    }

    #[test]
    fn history_keeps_the_last_21() {
        let mut h = String::new();
        for i in 0..30 {
            h = record(&h, i % 3 == 0);
        }
        assert_eq!(h.len(), HISTORY);
        assert!(h.ends_with('0'));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        proptest! {
            #[test]
            fn change_is_a_percentage_and_steady_runs_stop_flapping(
                results in proptest::collection::vec(any::<bool>(), 0..60),
            ) {
                let mut history = String::new();
                let mut flapping = false;
                for &r in &results {
                    history = record(&history, r);
                    prop_assert!(history.len() <= HISTORY);
                    let p = percent_change(&history);
                    prop_assert!((0.0..=100.0 + 1e-9).contains(&p), "{}", p);
                    let next = is_flapping(&history, flapping);
                    // Separate thresholds: the verdict only changes beyond them.
                    if next && !flapping {
                        prop_assert!(p >= START_PERCENT);
                    }
                    if !next && flapping {
                        prop_assert!(p <= STOP_PERCENT);
                    }
                    flapping = next;
                }
                // A window's worth of steady results flushes every change out.
                for _ in 0..HISTORY {
                    history = record(&history, true);
                }
                prop_assert_eq!(percent_change(&history), 0.0);
                prop_assert!(!is_flapping(&history, flapping));
            }
        }
    }
}
