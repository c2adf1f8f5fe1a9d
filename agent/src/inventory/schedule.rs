//! When to collect and send the inventory: collected every `check_every` to notice changes,
//! sent when its hash differs from the last one spooled, and sent again in full on a cron
//! schedule (spread over an hour per agent so a fleet does not send at the same second).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};
use chrono::{DateTime, Local, Utc};
use cron::Schedule;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsio;

pub use atalaya_shared::agent_config::DEFAULT_INVENTORY_SCHEDULE as DEFAULT_FULL_SEND;
const SPREAD: Duration = Duration::from_secs(3600);

/// What to do with a fresh inventory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryDecision {
    /// Its hash differs from the last one spooled: send it, as a change.
    Changed,
    /// Same content, but the scheduled full send is due: send it, lowest priority.
    RepeatedDue,
    /// Same content, nothing due.
    Skip,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Persisted {
    last_hash: Option<String>,
    last_full_send: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct InventoryPlan {
    path: PathBuf,
    schedule: Schedule,
    check_every: Duration,
    spread: chrono::Duration,
    last_check: Option<DateTime<Utc>>,
    state: Persisted,
}

impl InventoryPlan {
    /// Loads the last sent hash from `path` (missing or corrupt: nothing sent yet).
    pub fn load(
        path: PathBuf,
        schedule: Schedule,
        check_every: Duration,
        agent_id: &str,
    ) -> InventoryPlan {
        let state = std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let digest = Sha256::digest(agent_id.as_bytes());
        let seed = u64::from_be_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ]);
        let spread = chrono::Duration::seconds((seed % SPREAD.as_secs()) as i64);
        InventoryPlan {
            path,
            schedule,
            check_every,
            spread,
            last_check: None,
            state,
        }
    }

    /// A new full-send schedule (from the server's agent config), effective at once.
    pub fn set_schedule(&mut self, schedule: Schedule) {
        self.schedule = schedule;
    }

    /// Makes the next collection check the inventory (the watched services changed, so the
    /// inventory's content did too).
    pub fn check_soon(&mut self) {
        self.last_check = None;
    }

    /// Whether a collection at `now` should include an inventory check.
    pub fn check_due(&self, now: DateTime<Utc>) -> bool {
        let by_interval = match self.last_check {
            None => true,
            Some(t) => (now - t).to_std().unwrap_or_default() >= self.check_every,
        };
        by_interval || self.full_send_due(now)
    }

    fn full_send_due(&self, now: DateTime<Utc>) -> bool {
        let Some(last) = self.state.last_full_send else {
            return true;
        };
        let last_local = last.with_timezone(&Local);
        match self.schedule.after(&last_local).next() {
            Some(next) => next.with_timezone(&Utc) + self.spread <= now,
            None => false,
        }
    }

    pub fn decide(&mut self, now: DateTime<Utc>, hash: &str) -> InventoryDecision {
        self.last_check = Some(now);
        if self.state.last_hash.as_deref() != Some(hash) {
            InventoryDecision::Changed
        } else if self.full_send_due(now) {
            InventoryDecision::RepeatedDue
        } else {
            InventoryDecision::Skip
        }
    }

    /// Records that an inventory with `hash` is in the spool (durably, so a restart does not
    /// resend an unchanged inventory).
    pub fn record_sent(&mut self, now: DateTime<Utc>, hash: &str) -> Result<()> {
        self.state.last_hash = Some(hash.to_owned());
        self.state.last_full_send = Some(now);
        let json = serde_json::to_vec(&self.state).context("serialising inventory state")?;
        fsio::write_atomic(&self.path, &json, 0o600)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn plan(dir: &std::path::Path, expr: &str) -> InventoryPlan {
        InventoryPlan::load(
            dir.join("inventory.json"),
            atalaya_shared::agent_config::check_schedule(expr).expect("valid cron"),
            Duration::from_secs(900),
            "agent-1",
        )
    }

    #[test]
    fn changed_hash_is_sent_then_skipped_until_the_schedule() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = plan(dir.path(), "0 0 3 * * *");
        let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap();
        assert!(p.check_due(t0));
        assert_eq!(p.decide(t0, "h1"), InventoryDecision::Changed);
        p.record_sent(t0, "h1").unwrap();

        let t1 = t0 + chrono::Duration::minutes(5);
        assert!(!p.check_due(t1), "checked 5 minutes ago");
        let t2 = t0 + chrono::Duration::minutes(16);
        assert!(p.check_due(t2));
        assert_eq!(p.decide(t2, "h1"), InventoryDecision::Skip);
        assert_eq!(p.decide(t2, "h2"), InventoryDecision::Changed);

        // A restart remembers what was sent.
        let mut p = plan(dir.path(), "0 0 3 * * *");
        assert_eq!(p.decide(t2, "h1"), InventoryDecision::Skip);
        // Two days later the daily full send is due (whatever the spread and time zone).
        let t3 = t0 + chrono::Duration::days(2);
        assert!(p.check_due(t3));
        assert_eq!(p.decide(t3, "h1"), InventoryDecision::RepeatedDue);
    }
}
