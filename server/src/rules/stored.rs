//! The rules' rows (`store::rules`) as the rule engine reads them: a rule's levels, what makes a
//! rule a person gives valid, and an alert state's columns as the state machine's
//! [`AlertState`]. The store only holds the rows; what they mean is decided here.

use super::{metrics, AlertState, Direction, Levels, Phase, Severity};
use crate::store::rules::{AlertStateRow, AlertStateSave, Rule, RuleSpec};
use crate::store::{StoreError, StoreResult};

impl Rule {
    /// The rule's levels for the state machine (a direction the store holds but no longer
    /// knows reads as `above`).
    pub fn levels(&self) -> Levels {
        Levels {
            direction: Direction::parse(&self.direction).unwrap_or(Direction::Above),
            warning: self.warning_level,
            critical: self.critical_level,
            recovery: self.recovery_level,
            for_ms: self.for_secs.saturating_mul(1000),
        }
    }
}

impl RuleSpec {
    /// A spec with the defaults for everything but what identifies the rule.
    pub fn new(name: &str, metric: &str, direction: Direction, critical_level: f64) -> Self {
        RuleSpec::with_defaults(name, metric, direction.as_str(), critical_level)
    }

    /// Whether the rule can be evaluated as given: a known metric, levels that go one way, a
    /// scope that parses.
    pub fn validate(&self) -> StoreResult<()> {
        let fail = |m: String| Err(StoreError::Invalid(m));
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return fail("name must be 1-200 characters".into());
        }
        if metrics::lookup(&self.metric).is_none() {
            let known: Vec<&str> = metrics::METRICS.iter().map(|m| m.name).collect();
            return fail(format!(
                "unknown metric {:?}; known: {}",
                self.metric,
                known.join(", ")
            ));
        }
        let Some(direction) = Direction::parse(&self.direction) else {
            return fail("direction must be \"above\" or \"below\"".into());
        };
        let levels = [
            Some(self.critical_level),
            self.warning_level,
            self.recovery_level,
        ];
        if levels.iter().flatten().any(|l| !l.is_finite()) {
            return fail("levels must be finite numbers".into());
        }
        // "Worse" is higher for `above` and lower for `below`; flip `below` to check one way.
        let sign = if direction == Direction::Above {
            1.0
        } else {
            -1.0
        };
        if let Some(w) = self.warning_level {
            if sign * w > sign * self.critical_level {
                return fail(format!(
                    "warning_level must not be worse than critical_level for direction {}",
                    self.direction
                ));
            }
        }
        let mildest = self.warning_level.unwrap_or(self.critical_level);
        if let Some(r) = self.recovery_level {
            if sign * r > sign * mildest {
                return fail("recovery_level must be at or beyond the mildest alert level, on the healthy side".into());
            }
        }
        if self.for_secs < 0 || self.for_secs > 7 * 86_400 {
            return fail("for_secs must be between 0 and 604800".into());
        }
        if self.reopen_window_secs < 0 {
            return fail("reopen_window_secs must not be negative".into());
        }
        if !(1..=3).contains(&self.impact) || !(1..=3).contains(&self.urgency) {
            return fail("impact and urgency must be 1 (high), 2 (medium) or 3 (low)".into());
        }
        if let Some(q) = &self.scope_query {
            crate::ci::query::parse(q)
                .map_err(|e| StoreError::Invalid(format!("scope_query: {e}")))?;
        }
        Ok(())
    }
}

/// The stored state of one (rule, CI) pair: the state machine's part plus flap history and
/// suppression.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub state: AlertState,
    /// Last results for flap detection ('1' = breaching), newest last.
    pub recent: String,
    pub flapping: bool,
    pub suppressed_by: Option<String>,
}

impl StoredAlert {
    /// The alert state a row holds, with its (rule, CI).
    pub fn from_row(r: AlertStateRow) -> ((i64, i64), StoredAlert) {
        let state = AlertState {
            phase: Phase::parse(&r.state),
            severity: r.severity.as_deref().and_then(Severity::parse),
            since_at: r.since_at,
            last_value: r.last_value,
            last_sample_at: r.last_sample_at,
            incident_id: r.incident_id,
        };
        let alert = StoredAlert {
            state,
            recent: r.recent,
            flapping: r.flapping != 0,
            suppressed_by: r.suppressed_by,
        };
        ((r.rule_id, r.ci_id), alert)
    }

    /// The row to save for `rule_id` on `ci_id`, a CI of computer `computer_id`.
    pub fn to_save(&self, rule_id: i64, (ci_id, computer_id): (i64, i64)) -> AlertStateSave<'_> {
        let state = &self.state;
        AlertStateSave {
            rule_id,
            ci_id,
            computer_id,
            state: state.phase.as_str(),
            severity: state.severity.map(Severity::as_str),
            since_at: state.since_at,
            last_value: state.last_value,
            last_sample_at: state.last_sample_at,
            incident_id: state.incident_id,
            recent: &self.recent,
            flapping: self.flapping,
            suppressed_by: self.suppressed_by.as_deref(),
        }
    }
}
