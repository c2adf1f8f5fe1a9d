//! Whether this server is behind on reports — and so whether a silent computer may be silent
//! only because its reports are queued here.
//!
//! A report that waited long for what it needs (an inventory slot, a database connection or,
//! on SQLite, the write lock) marks the server behind at that moment. The offline sweep gives
//! no offline verdict while the last such moment is within a rule's window: the computer's
//! silence may be ours. Without this, an overloaded server declared its whole queued fleet
//! offline, and the thousands of incidents it opened starved the reports that would have proved
//! them wrong (BENCHMARKS.md, "an overloaded server declares its fleet offline"). Zabbix holds
//! back `nodata()` triggers behind a lagging proxy for the same reason.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use crate::store::{Store, StoreResult};

/// A wait this long means reports queue faster than they are stored: eight times the 250 ms
/// p99 acknowledgement the server is sized for, and far above any wait of a server keeping up
/// (the fleet benchmark's waits stay under 50 ms until it saturates).
pub const BEHIND_AFTER: Duration = Duration::from_secs(2);

/// A server behind on reports says so in its log at most this often.
const LOG_EVERY_MS: i64 = 10_000;

/// When this server process last made a report wait [`BEHIND_AFTER`] or longer.
#[derive(Debug, Default)]
pub struct Lag {
    /// UTC milliseconds; 0 = never.
    behind_at: AtomicI64,
    /// The last `behind_at` written to the database for the other replicas.
    published: AtomicI64,
}

impl Lag {
    /// A report waited `waited` for `what` (an inventory slot, a database connection), ending
    /// at `at` (UTC ms). Logged at most once per [`LOG_EVERY_MS`].
    pub fn waited(&self, what: &'static str, waited: Duration, at: i64) {
        if waited < BEHIND_AFTER {
            return;
        }
        let before = self.behind_at.fetch_max(at, Ordering::Relaxed);
        if at - before >= LOG_EVERY_MS {
            tracing::warn!(
                waited_ms = waited.as_millis() as u64,
                waited_for = what,
                "behind on reports: a report waited for {what}"
            );
        }
    }

    /// The last time the server was behind, if that was at `since` or later.
    pub fn behind_since(&self, since: i64) -> Option<i64> {
        let at = self.behind_at.load(Ordering::Relaxed);
        (at > 0 && at >= since).then_some(at)
    }
}

/// How often a replica tells the others (through the database) that it was behind, if it was.
pub const PUBLISH_EVERY: Duration = Duration::from_secs(5);

/// Tell the other replicas when this one was last behind on reports, if that changed since it
/// last told them (the offline sweep runs on one replica and must not judge by its own queue
/// alone).
pub async fn publish(store: &Store, lag: &Lag, holder: &str) -> StoreResult<()> {
    let at = lag.behind_at.load(Ordering::Relaxed);
    if at > lag.published.load(Ordering::Relaxed) {
        store.publish_ingest_lag(holder, at).await?;
        lag.published.fetch_max(at, Ordering::Relaxed);
    }
    Ok(())
}

/// The last time this replica or any other was behind on reports, if that was at `since` or
/// later.
pub async fn fleet_behind_since(store: &Store, lag: &Lag, since: i64) -> StoreResult<Option<i64>> {
    let others = store.replicas_behind_at().await?.unwrap_or(0);
    let own = lag.behind_since(0).unwrap_or(0);
    let at = own.max(others);
    Ok((at > 0 && at >= since).then_some(at))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_long_waits_mark_the_server_behind() {
        let lag = Lag::default();
        lag.waited("a test", Duration::from_millis(300), 1_000);
        assert_eq!(lag.behind_since(0), None);
        lag.waited("a test", BEHIND_AFTER, 5_000);
        assert_eq!(lag.behind_since(5_000), Some(5_000));
        assert_eq!(lag.behind_since(5_001), None);
        // A late-finishing wait that ended earlier does not move the mark back.
        lag.waited("a test", BEHIND_AFTER * 3, 4_000);
        assert_eq!(lag.behind_since(0), Some(5_000));
    }
}
