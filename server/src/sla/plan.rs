//! A tenant's support plan: what the MSP promised — coverage hours, time zone, holidays, targets
//! per priority — plus the desk terms that go with the contract (priority matrix, reopen period).
//!
//! Stored as a JSON document, one version per change, so the SLA clocks of a ticket can replay
//! the plans that were in force during its life.

use chrono::{NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

use super::calendar::{Calendar, DAY_MINUTES};
use super::priority::PriorityMatrix;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Coverage {
    /// Around the clock, every day.
    #[serde(rename = "7x24")]
    AllHours,
    /// Office hours Monday to Saturday.
    #[serde(rename = "6x8")]
    MondayToSaturday,
    /// Office hours Monday to Friday.
    #[serde(rename = "5x8")]
    MondayToFriday,
    /// Work when asked, no SLA.
    #[serde(rename = "on_demand")]
    OnDemand,
}

/// Office hours as local wall times, `"09:00"` to `"17:00"`; `"24:00"` means midnight at the end.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfficeHours {
    pub start: String,
    pub end: String,
}

impl Default for OfficeHours {
    fn default() -> Self {
        OfficeHours {
            start: "09:00".into(),
            end: "17:00".into(),
        }
    }
}

/// Business minutes allowed for the first response and for resolution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub response_minutes: i64,
    pub resolution_minutes: i64,
}

/// Targets for P1 … P5.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Targets {
    pub p1: Target,
    pub p2: Target,
    pub p3: Target,
    pub p4: Target,
    pub p5: Target,
}

impl Default for Targets {
    fn default() -> Self {
        let t = |response_minutes, hours: i64| Target {
            response_minutes,
            resolution_minutes: hours * 60,
        };
        Targets {
            p1: t(30, 4),
            p2: t(60, 8),
            p3: t(4 * 60, 24),
            p4: t(8 * 60, 40),
            p5: t(16 * 60, 80),
        }
    }
}

impl Targets {
    pub fn for_priority(&self, priority: i64) -> Target {
        match priority {
            ..=1 => self.p1,
            2 => self.p2,
            3 => self.p3,
            4 => self.p4,
            _ => self.p5,
        }
    }

    fn all(&self) -> [Target; 5] {
        [self.p1, self.p2, self.p3, self.p4, self.p5]
    }
}

fn default_time_zone() -> String {
    "UTC".into()
}

fn default_reopen_days() -> i64 {
    7
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SupportPlan {
    pub coverage: Coverage,
    /// An IANA zone name such as `Europe/Madrid`.
    #[serde(default = "default_time_zone")]
    pub time_zone: String,
    #[serde(default)]
    pub office_hours: OfficeHours,
    /// Local dates on which office-hours plans do not run.
    #[serde(default)]
    pub holidays: Vec<NaiveDate>,
    #[serde(default)]
    pub targets: Targets,
    #[serde(default)]
    pub priority_matrix: PriorityMatrix,
    /// A resolved ticket reopens when its requester replies within this many days.
    #[serde(default = "default_reopen_days")]
    pub reopen_days: i64,
    /// Hand a ticket to the next tier when one of its SLA targets is breached.
    #[serde(default)]
    pub escalate_on_breach: bool,
    /// Close a resolved ticket this many days after its resolution; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_close_days: Option<i64>,
}

impl Default for SupportPlan {
    /// No contract, no SLA: what a tenant has until someone sets its plan.
    fn default() -> Self {
        SupportPlan {
            coverage: Coverage::OnDemand,
            time_zone: default_time_zone(),
            office_hours: OfficeHours::default(),
            holidays: Vec::new(),
            targets: Targets::default(),
            priority_matrix: PriorityMatrix::default(),
            reopen_days: default_reopen_days(),
            escalate_on_breach: false,
            auto_close_days: None,
        }
    }
}

/// `"HH:MM"` as minutes after midnight; `"24:00"` allowed.
fn parse_wall_time(text: &str) -> Option<u32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    let minutes = h.checked_mul(60)?.checked_add(m)?;
    (m < 60 && minutes <= DAY_MINUTES).then_some(minutes)
}

impl SupportPlan {
    /// Check everything a clock will rely on; the message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        self.calendar()?;
        if self
            .targets
            .all()
            .iter()
            .any(|t| t.response_minutes <= 0 || t.resolution_minutes <= 0)
        {
            return Err("targets must be positive numbers of minutes".into());
        }
        if self
            .targets
            .all()
            .iter()
            .any(|t| t.response_minutes > t.resolution_minutes)
        {
            return Err("a response target cannot be longer than its resolution target".into());
        }
        self.priority_matrix.validate()?;
        if !(0..=365).contains(&self.reopen_days) {
            return Err("reopen_days must be between 0 and 365".into());
        }
        if self
            .auto_close_days
            .is_some_and(|d| !(1..=365).contains(&d))
        {
            return Err("auto_close_days must be between 1 and 365".into());
        }
        Ok(())
    }

    /// Whether tickets under this plan have SLA clocks at all.
    pub fn has_sla(&self) -> bool {
        self.coverage != Coverage::OnDemand
    }

    /// The business calendar of the plan.
    pub fn calendar(&self) -> Result<Calendar, String> {
        let tz: chrono_tz::Tz = self
            .time_zone
            .parse()
            .map_err(|_| format!("time_zone {:?} is not an IANA zone name", self.time_zone))?;
        let bad_hours = || {
            format!(
                "office_hours must be \"HH:MM\" with start before end, got {:?}–{:?}",
                self.office_hours.start, self.office_hours.end
            )
        };
        let start = parse_wall_time(&self.office_hours.start).ok_or_else(bad_hours)?;
        let end = parse_wall_time(&self.office_hours.end).ok_or_else(bad_hours)?;
        if start >= end {
            return Err(bad_hours());
        }
        use Weekday::*;
        let days: &[Weekday] = match self.coverage {
            Coverage::AllHours | Coverage::OnDemand => return Ok(Calendar::always(tz)),
            Coverage::MondayToSaturday => &[Mon, Tue, Wed, Thu, Fri, Sat],
            Coverage::MondayToFriday => &[Mon, Tue, Wed, Thu, Fri],
        };
        Calendar::office_hours(tz, days, start, end, self.holidays.iter().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_parse_with_defaults_and_validate() {
        let plan: SupportPlan = serde_json::from_str(
            r#"{"coverage": "5x8", "time_zone": "Europe/Madrid", "holidays": ["2026-12-25"]}"#,
        )
        .expect("valid in this test");
        assert_eq!(plan.office_hours, OfficeHours::default());
        assert_eq!(plan.targets.for_priority(1).resolution_minutes, 240);
        assert!(plan.validate().is_ok());
        assert!(plan.has_sla());
        assert!(!SupportPlan::default().has_sla());
    }

    #[test]
    fn bad_plans_are_refused_with_the_field_named() {
        let bad = |json: &str| {
            let plan: SupportPlan = serde_json::from_str(json).expect("valid in this test");
            plan.validate().expect_err("should be refused")
        };
        assert!(bad(r#"{"coverage": "5x8", "time_zone": "Mars/Olympus"}"#).contains("time_zone"));
        assert!(
            bad(r#"{"coverage": "6x8", "office_hours": {"start": "18:00", "end": "09:00"}}"#)
                .contains("office_hours")
        );
        assert!(
            bad(r#"{"coverage": "6x8", "office_hours": {"start": "9am", "end": "17:00"}}"#)
                .contains("office_hours")
        );
        assert!(bad(r#"{"coverage": "7x24", "reopen_days": -1}"#).contains("reopen_days"));
        assert!(bad(r#"{"coverage": "7x24", "auto_close_days": 0}"#).contains("auto_close_days"));
        assert!(serde_json::from_str::<SupportPlan>(r#"{"coverage": "9x5"}"#).is_err());
        assert_eq!(parse_wall_time("24:00"), Some(DAY_MINUTES));
        assert_eq!(parse_wall_time("24:01"), None);
    }
}
