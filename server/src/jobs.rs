//! Background jobs: periodic work that must happen once per period across every replica on one
//! database. A replica runs a job only while it holds the job's lease (see
//! [`Store::take_lease`]); the holder renews it each period, and if it dies another replica takes
//! over when the lease expires, after at most [`LEASE_PERIODS`] periods.

use std::future::Future;
use std::time::Duration;

use crate::store::{now_ms, Store};

/// A lease lasts this many periods of its job.
pub const LEASE_PERIODS: u32 = 3;

/// This process's name on the leases it holds: host, process id and a random part (two servers
/// in one container share a pid).
pub fn holder_name() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown-host".into());
    let nonce = crate::secrets::generate("");
    format!("{host}:{}:{}", std::process::id(), &nonce[..8])
}

/// Run `job` every `every`, on whichever replica holds the `name` lease, until the task is
/// dropped.
pub async fn run_leased<F, Fut>(
    store: Store,
    holder: String,
    name: &'static str,
    every: Duration,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    let ttl_ms = i64::try_from((every * LEASE_PERIODS).as_millis()).unwrap_or(i64::MAX);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut holding = false;
    loop {
        tick.tick().await;
        match store.take_lease(name, &holder, now_ms(), ttl_ms).await {
            Ok(true) => {
                if !holding {
                    tracing::info!(job = name, holder = %holder, "took the job's lease");
                    holding = true;
                }
                job().await;
            }
            Ok(false) => {
                if holding {
                    tracing::info!(job = name, "lost the job's lease to another replica");
                    holding = false;
                }
            }
            Err(e) => tracing::warn!(job = name, error = %e, "could not take the job's lease"),
        }
    }
}
