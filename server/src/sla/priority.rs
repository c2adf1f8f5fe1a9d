//! Priority from impact × urgency (ITIL's matrix): 1 is high, 3 is low on both axes, and the
//! priority runs from P1 to P5. Each tenant may set its own matrix in its support plan (so it
//! lives beside the plan); the default is the classic one, where priority = impact + urgency − 1.

use serde::{Deserialize, Serialize};

/// `rows[impact - 1][urgency - 1]` is the priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriorityMatrix(pub [[i64; 3]; 3]);

impl Default for PriorityMatrix {
    fn default() -> Self {
        PriorityMatrix([[1, 2, 3], [2, 3, 4], [3, 4, 5]])
    }
}

impl PriorityMatrix {
    /// Out-of-range impact or urgency is clamped to 1–3.
    pub fn priority(&self, impact: i64, urgency: i64) -> i64 {
        let row = (impact.clamp(1, 3) - 1) as usize;
        let column = (urgency.clamp(1, 3) - 1) as usize;
        self.0[row][column]
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.0.iter().flatten().all(|p| (1..=5).contains(p)) {
            Ok(())
        } else {
            Err("priority_matrix entries must be priorities 1 to 5".into())
        }
    }
}

/// The default matrix, for callers without a tenant plan at hand.
pub fn priority(impact: i64, urgency: i64) -> i64 {
    PriorityMatrix::default().priority(impact, urgency)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_corners_and_middle() {
        assert_eq!(priority(1, 1), 1);
        assert_eq!(priority(1, 2), 2);
        assert_eq!(priority(2, 1), 2);
        assert_eq!(priority(2, 2), 3);
        assert_eq!(priority(3, 3), 5);
        assert_eq!(priority(9, -4), 3);
    }

    #[test]
    fn a_tenant_matrix_overrides_the_default() {
        let strict = PriorityMatrix([[1, 1, 2], [1, 2, 3], [2, 3, 4]]);
        assert_eq!(strict.priority(2, 1), 1);
        assert!(strict.validate().is_ok());
        assert!(PriorityMatrix([[0, 1, 2], [1, 2, 3], [2, 3, 9]])
            .validate()
            .is_err());
        let parsed: PriorityMatrix =
            serde_json::from_str("[[1,2,3],[2,3,4],[3,4,5]]").expect("valid in this test");
        assert_eq!(parsed, PriorityMatrix::default());
    }
}
