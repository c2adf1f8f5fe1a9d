//! Evaluation of one sample against one rule's levels.

/// How bad a breach is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Ok,
    Pending,
    Firing,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Ok => "ok",
            Phase::Pending => "pending",
            Phase::Firing => "firing",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "pending" => Phase::Pending,
            "firing" => Phase::Firing,
            _ => Phase::Ok,
        }
    }
}

/// The stored state of one (rule, CI) pair.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertState {
    pub phase: Phase,
    pub severity: Option<Severity>,
    /// When the current phase began (sample time, ms).
    pub since_at: i64,
    pub last_value: Option<f64>,
    pub last_sample_at: i64,
    pub incident_id: Option<i64>,
}

/// Whether a high or a low value is the problem (`used > 90 %` versus `free < 10 GB`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Above,
    Below,
}

impl Direction {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "above" => Some(Direction::Above),
            "below" => Some(Direction::Below),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Above => "above",
            Direction::Below => "below",
        }
    }

    /// Whether `value` is worse than `level`.
    fn beyond(self, value: f64, level: f64) -> bool {
        match self {
            Direction::Above => value > level,
            Direction::Below => value < level,
        }
    }
}

/// A rule's thresholds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    pub direction: Direction,
    pub warning: Option<f64>,
    pub critical: f64,
    /// The value must fall to this level or below to recover; defaults to the lowest alert level.
    pub recovery: Option<f64>,
    pub for_ms: i64,
}

impl Levels {
    /// The severity a value breaches, if any.
    pub fn severity_of(&self, value: f64) -> Option<Severity> {
        if self.direction.beyond(value, self.critical) {
            Some(Severity::Critical)
        } else if self
            .warning
            .is_some_and(|w| self.direction.beyond(value, w))
        {
            Some(Severity::Warning)
        } else {
            None
        }
    }

    fn recovered(&self, value: f64) -> bool {
        let level = self
            .recovery
            .unwrap_or_else(|| self.warning.unwrap_or(self.critical));
        !self.direction.beyond(value, level)
    }
}

/// What the caller must do after a transition.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Action {
    /// Open (or find the already open) incident for this pair. `started_at` is when the problem
    /// really began: the first breaching sample, not the end of the `for` period.
    Open { severity: Severity, started_at: i64 },
    /// The open incident's severity changed.
    ChangeSeverity { from: Severity, to: Severity },
    /// The recovery level was reached.
    Recover,
}

/// Apply one sample. Returns the new state and the actions it calls for. A sample older than
/// the last one evaluated is ignored (the caller feeds samples in time order).
pub fn evaluate(
    levels: &Levels,
    previous: Option<&AlertState>,
    value: f64,
    at: i64,
) -> (AlertState, Vec<Action>) {
    let ok = AlertState {
        phase: Phase::Ok,
        severity: None,
        since_at: at,
        last_value: Some(value),
        last_sample_at: at,
        incident_id: None,
    };
    let previous = match previous {
        Some(p) if at <= p.last_sample_at => return (p.clone(), Vec::new()),
        Some(p) => p.clone(),
        None => ok.clone(),
    };
    let breach = levels.severity_of(value);
    let mut next = AlertState {
        last_value: Some(value),
        last_sample_at: at,
        ..previous.clone()
    };
    let mut actions = Vec::new();
    match (previous.phase, breach) {
        (Phase::Ok, None) => next = ok,
        (Phase::Ok, Some(severity)) => {
            next.since_at = at;
            next.severity = Some(severity);
            if levels.for_ms <= 0 {
                next.phase = Phase::Firing;
                actions.push(Action::Open {
                    severity,
                    started_at: at,
                });
            } else {
                next.phase = Phase::Pending;
            }
        }
        (Phase::Pending, None) => next = ok,
        (Phase::Pending, Some(severity)) => {
            next.severity = Some(severity.max(previous.severity.unwrap_or(severity)));
            if at - previous.since_at >= levels.for_ms {
                next.phase = Phase::Firing;
                next.severity = Some(severity);
                actions.push(Action::Open {
                    severity,
                    started_at: previous.since_at,
                });
                next.since_at = previous.since_at;
            }
        }
        (Phase::Firing, _) if levels.recovered(value) => {
            actions.push(Action::Recover);
            next = ok;
        }
        (Phase::Firing, Some(severity)) => {
            let from = previous.severity.unwrap_or(severity);
            if from != severity {
                actions.push(Action::ChangeSeverity { from, to: severity });
                next.severity = Some(severity);
            }
        }
        // Between the recovery level and the alert level: hysteresis keeps it firing.
        (Phase::Firing, None) => {}
    }
    (next, actions)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEVELS: Levels = Levels {
        direction: Direction::Above,
        warning: Some(80.0),
        critical: 90.0,
        recovery: Some(75.0),
        for_ms: 0,
    };

    fn run(levels: &Levels, samples: &[(i64, f64)]) -> (AlertState, Vec<Action>) {
        let mut state: Option<AlertState> = None;
        let mut all = Vec::new();
        for &(at, value) in samples {
            let (next, actions) = evaluate(levels, state.as_ref(), value, at);
            all.extend(actions);
            state = Some(next);
        }
        (state.expect("at least one sample"), all)
    }

    #[test]
    fn breach_opens_once_while_it_stays_high() {
        let (state, actions) = run(&LEVELS, &[(1, 50.0), (2, 95.0), (3, 96.0), (4, 97.0)]);
        assert_eq!(state.phase, Phase::Firing);
        assert_eq!(
            actions,
            vec![Action::Open {
                severity: Severity::Critical,
                started_at: 2
            }]
        );
    }

    #[test]
    fn hysteresis_needs_the_recovery_level() {
        let (state, actions) = run(&LEVELS, &[(1, 95.0), (2, 78.0), (3, 79.0)]);
        assert_eq!(
            state.phase,
            Phase::Firing,
            "78 is under the alert levels but above recovery"
        );
        assert_eq!(actions.len(), 1);
        let (state, actions) = run(&LEVELS, &[(1, 95.0), (2, 78.0), (3, 70.0)]);
        assert_eq!(state.phase, Phase::Ok);
        assert_eq!(actions.last(), Some(&Action::Recover));
    }

    #[test]
    fn severity_changes_update_instead_of_opening() {
        let (_, actions) = run(&LEVELS, &[(1, 85.0), (2, 95.0), (3, 85.0)]);
        assert_eq!(
            actions,
            vec![
                Action::Open {
                    severity: Severity::Warning,
                    started_at: 1
                },
                Action::ChangeSeverity {
                    from: Severity::Warning,
                    to: Severity::Critical
                },
                Action::ChangeSeverity {
                    from: Severity::Critical,
                    to: Severity::Warning
                },
            ]
        );
    }

    #[test]
    fn for_duration_delays_firing_and_keeps_the_real_start() {
        let levels = Levels {
            for_ms: 100,
            ..LEVELS
        };
        let (state, actions) = run(&levels, &[(0, 95.0), (50, 95.0)]);
        assert_eq!(state.phase, Phase::Pending);
        assert!(actions.is_empty());
        let (state, actions) = run(&levels, &[(0, 95.0), (50, 95.0), (100, 95.0)]);
        assert_eq!(state.phase, Phase::Firing);
        assert_eq!(
            actions,
            vec![Action::Open {
                severity: Severity::Critical,
                started_at: 0
            }]
        );
        let (state, _) = run(&levels, &[(0, 95.0), (50, 10.0), (100, 95.0)]);
        assert_eq!(
            state.phase,
            Phase::Pending,
            "a dip resets the pending period"
        );
    }

    #[test]
    fn below_levels_for_free_space() {
        let gib = 1_073_741_824.0;
        let levels = Levels {
            direction: Direction::Below,
            warning: Some(20.0 * gib),
            critical: 10.0 * gib,
            recovery: Some(25.0 * gib),
            for_ms: 0,
        };
        let (state, actions) = run(
            &levels,
            &[
                (1, 50.0 * gib),
                (2, 15.0 * gib),
                (3, 5.0 * gib),
                (4, 22.0 * gib),
            ],
        );
        assert_eq!(
            state.phase,
            Phase::Firing,
            "22 GiB is above warning but below recovery"
        );
        assert_eq!(
            actions,
            vec![
                Action::Open {
                    severity: Severity::Warning,
                    started_at: 2
                },
                Action::ChangeSeverity {
                    from: Severity::Warning,
                    to: Severity::Critical
                },
            ]
        );
        let (state, _) = run(&levels, &[(1, 5.0 * gib), (2, 30.0 * gib)]);
        assert_eq!(state.phase, Phase::Ok);
    }

    #[test]
    fn older_samples_are_ignored() {
        let (first, _) = evaluate(&LEVELS, None, 95.0, 10);
        let (after, actions) = evaluate(&LEVELS, Some(&first), 10.0, 5);
        assert_eq!(after, first);
        assert!(actions.is_empty());
    }

    /// Properties of the state machine over arbitrary sample streams: random levels in both
    /// directions, with and without a `for` period, values drawn around the levels so every
    /// transition happens often, and some samples arriving late (older than the last one).
    mod properties {
        use proptest::prelude::*;

        use super::*;

        fn levels() -> impl Strategy<Value = Levels> {
            (any::<bool>(), any::<bool>(), 0i64..4, 0u8..3).prop_map(
                |(above, has_warning, for_steps, recovery_gap)| {
                    let (warning, critical, recovery) = if above {
                        (80.0, 90.0, 80.0 - 5.0 * f64::from(recovery_gap))
                    } else {
                        (20.0, 10.0, 20.0 + 5.0 * f64::from(recovery_gap))
                    };
                    Levels {
                        direction: if above {
                            Direction::Above
                        } else {
                            Direction::Below
                        },
                        warning: has_warning.then_some(warning),
                        critical,
                        recovery: (recovery_gap > 0).then_some(recovery),
                        for_ms: for_steps * 10,
                    }
                },
            )
        }

        /// (time step, value): a step of 0 repeats the previous time, negative ones go back.
        fn samples() -> impl Strategy<Value = Vec<(i64, f64)>> {
            let value = prop_oneof![
                Just(5.0),
                Just(12.0),
                Just(17.0),
                Just(50.0),
                Just(77.0),
                Just(85.0),
                Just(95.0),
                0.0f64..100.0
            ];
            let step = prop_oneof![8 => 1i64..15, 1 => -20i64..=0];
            proptest::collection::vec((step, value), 1..80).prop_map(|steps| {
                let mut at = 1_000;
                steps
                    .into_iter()
                    .map(|(step, value)| {
                        at += step;
                        (at, value)
                    })
                    .collect()
            })
        }

        fn recovery_level(levels: &Levels) -> f64 {
            levels
                .recovery
                .unwrap_or_else(|| levels.warning.unwrap_or(levels.critical))
        }

        proptest! {
            #[test]
            fn incidents_open_once_and_recover_only_at_the_recovery_level(
                levels in levels(),
                samples in samples(),
            ) {
                let mut state: Option<AlertState> = None;
                let mut open = false;
                // Time-ordered samples evaluated so far (late ones are dropped).
                let mut seen: Vec<(i64, f64)> = Vec::new();
                for &(at, value) in &samples {
                    let late = state.as_ref().is_some_and(|s| at <= s.last_sample_at);
                    let (next, actions) = evaluate(&levels, state.as_ref(), value, at);
                    if late {
                        prop_assert_eq!(Some(&next), state.as_ref(), "a late sample changes nothing");
                        prop_assert!(actions.is_empty());
                        continue;
                    }
                    seen.push((at, value));
                    for action in &actions {
                        match *action {
                            Action::Open { severity, started_at } => {
                                prop_assert!(!open, "a second open without a recovery");
                                open = true;
                                prop_assert_eq!(Some(severity), levels.severity_of(value));
                                prop_assert!(at - started_at >= levels.for_ms);
                                // Every sample from the real start on breached.
                                let streak: Vec<_> =
                                    seen.iter().filter(|(t, _)| *t >= started_at).collect();
                                prop_assert!(streak.first().is_some_and(|(t, _)| *t == started_at));
                                prop_assert!(streak.iter().all(|(_, v)| levels.severity_of(*v).is_some()));
                            }
                            Action::ChangeSeverity { from, to } => {
                                prop_assert!(open);
                                prop_assert_ne!(from, to);
                                prop_assert_eq!(Some(to), levels.severity_of(value));
                            }
                            Action::Recover => {
                                prop_assert!(open, "a recovery without an open incident");
                                open = false;
                                let level = recovery_level(&levels);
                                let reached = match levels.direction {
                                    Direction::Above => value <= level,
                                    Direction::Below => value >= level,
                                };
                                prop_assert!(reached, "recovered at {} with recovery level {}", value, level);
                            }
                        }
                    }
                    if open && actions.is_empty() {
                        prop_assert_eq!(next.phase, Phase::Firing, "open incidents stay firing");
                    }
                    prop_assert_eq!(next.phase == Phase::Firing, open);
                    state = Some(next);
                }
            }

            #[test]
            fn a_steady_breach_fires_exactly_when_its_for_period_has_passed(
                levels in levels(),
                steps in 1usize..12,
            ) {
                let bad = match levels.direction {
                    Direction::Above => 95.0,
                    Direction::Below => 5.0,
                };
                let mut state = None;
                let mut opened_at = None;
                for i in 0..steps {
                    let at = 1_000 + 10 * i as i64;
                    let (next, actions) = evaluate(&levels, state.as_ref(), bad, at);
                    if !actions.is_empty() {
                        prop_assert!(opened_at.is_none());
                        opened_at = Some(at);
                        prop_assert_eq!(
                            actions,
                            vec![Action::Open { severity: Severity::Critical, started_at: 1_000 }]
                        );
                    }
                    state = Some(next);
                }
                let last = 1_000 + 10 * (steps as i64 - 1);
                let expected = (last - 1_000 >= levels.for_ms).then_some(1_000 + levels.for_ms);
                prop_assert_eq!(opened_at, expected);
            }
        }
    }
}
