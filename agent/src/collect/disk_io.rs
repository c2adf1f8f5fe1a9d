//! Per-disk health of every collection: I/O rates from two readings of the kernel's counters,
//! and the last verdict of a SMART check that runs on its own, slower period.
//!
//! smartctl wakes sleeping disks and can take seconds, so it is not run every interval: the
//! [`SmartMonitor`] runs a check at start and then every [`SMART_CHECK_PERIOD`] (in a blocking
//! helper thread, time-limited like every external command, never delaying a collection), keeps
//! the verdicts, and every collection repeats the latest ones. A full inventory reads SMART too;
//! its verdicts are recorded here as well and push the next own check back.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use atalaya_shared::protocol::{DiskIo, SmartHealth};
use chrono::{DateTime, Utc};
use tokio::task::JoinHandle;

/// How often the agent reads SMART itself when no inventory did it in between.
pub const SMART_CHECK_PERIOD: Duration = Duration::from_secs(15 * 60);

/// How long the first collection waits for the start-up SMART check, so the first report
/// usually carries the verdicts (a check of healthy disks takes well under a second).
pub const SMART_FIRST_WAIT: Duration = Duration::from_secs(5);

/// Cumulative counters of one whole disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCounters {
    /// Kernel name as `/sys/block` spells it (`sda`, `nvme0n1`).
    pub device: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Completed requests.
    pub reads: u64,
    pub writes: u64,
}

/// Rates of every disk of `now` against its reading in `before`, `secs` apart. A disk without an
/// earlier reading, or whose counter went backwards (re-attached device), gets no rate for that
/// counter; it still gets an entry, for its SMART verdict.
pub fn disk_rates(before: &[DiskCounters], now: &[DiskCounters], secs: f64) -> Vec<DiskIo> {
    now.iter()
        .map(|disk| {
            let prev = before.iter().find(|p| p.device == disk.device);
            let rate = |pick: fn(&DiskCounters) -> u64| -> Option<f64> {
                let delta = pick(disk).checked_sub(pick(prev?))?;
                (secs > 0.0).then(|| delta as f64 / secs)
            };
            DiskIo {
                device: disk.device.clone(),
                read_bytes_per_sec: rate(|c| c.read_bytes),
                write_bytes_per_sec: rate(|c| c.write_bytes),
                reads_per_sec: rate(|c| c.reads),
                writes_per_sec: rate(|c| c.writes),
                ..DiskIo::default()
            }
        })
        .collect()
}

/// One disk's SMART health as last read, and when.
#[derive(Debug, Clone)]
struct Verdict {
    health: SmartHealth,
    checked_at: DateTime<Utc>,
}

/// What a SMART check returns: every whole disk by kernel name, with its health (unavailable,
/// with the reason, when smartctl is missing or the device does not answer).
pub type SmartCheck = fn() -> Vec<(String, SmartHealth)>;

/// Runs the SMART check on its period and keeps the latest verdict of every disk.
pub struct SmartMonitor {
    period: Duration,
    check: SmartCheck,
    /// When the latest verdicts were asked for (own check started, or inventory read).
    last: Option<Instant>,
    running: Option<JoinHandle<Vec<(String, SmartHealth)>>>,
    verdicts: BTreeMap<String, Verdict>,
}

impl SmartMonitor {
    pub fn new(period: Duration, check: SmartCheck) -> Self {
        Self {
            period,
            check,
            last: None,
            running: None,
            verdicts: BTreeMap::new(),
        }
    }

    /// Takes the verdicts of a finished check, and starts a check when one is due (never, at
    /// `now`, or a period ago) and none is running. Never waits for smartctl.
    pub async fn poll(&mut self, now: Instant) {
        if self.running.as_ref().is_some_and(JoinHandle::is_finished) {
            self.finish().await;
        }
        let due = self
            .last
            .is_none_or(|last| now.saturating_duration_since(last) >= self.period);
        if due && self.running.is_none() {
            self.last = Some(now);
            self.running = Some(tokio::task::spawn_blocking(self.check));
        }
    }

    /// Waits up to `limit` for a running check when no verdict has been read yet (the start-up
    /// check); later checks are never waited for.
    pub async fn wait_for_first(&mut self, limit: Duration) {
        if !self.verdicts.is_empty() {
            return;
        }
        if let Some(handle) = self.running.as_mut() {
            if let Ok(result) = tokio::time::timeout(limit, handle).await {
                self.running = None;
                self.take(result);
            }
        }
    }

    async fn finish(&mut self) {
        if let Some(handle) = self.running.take() {
            let result = handle.await;
            self.take(result);
        }
    }

    fn take(&mut self, result: Result<Vec<(String, SmartHealth)>, tokio::task::JoinError>) {
        match result {
            Ok(verdicts) => self.record(verdicts, Utc::now()),
            Err(e) => tracing::warn!(error = %e, "SMART check failed; the last verdicts are kept"),
        }
    }

    /// Keeps a complete set of verdicts (a disk left out is gone), from the own check or from
    /// an inventory, which also pushes the next own check a period back.
    pub fn record(&mut self, verdicts: Vec<(String, SmartHealth)>, at: DateTime<Utc>) {
        self.verdicts = verdicts
            .into_iter()
            .map(|(name, health)| {
                let verdict = Verdict {
                    health,
                    checked_at: at,
                };
                (name, verdict)
            })
            .collect();
    }

    /// [`record`](Self::record) from a freshly read inventory: its SMART read counts as a check.
    pub fn record_inventory(&mut self, verdicts: Vec<(String, SmartHealth)>, now: Instant) {
        self.record(verdicts, Utc::now());
        self.last = Some(now);
    }

    /// Puts the latest verdict on every disk's entry, adding entries for disks known only to
    /// SMART. An unavailable verdict leaves `smart_healthy` absent: unknown, never healthy.
    pub fn annotate(&self, disks: &mut Vec<DiskIo>) {
        for (name, verdict) in &self.verdicts {
            let index = match disks.iter().position(|d| &d.device == name) {
                Some(i) => i,
                None => {
                    disks.push(DiskIo {
                        device: name.clone(),
                        ..DiskIo::default()
                    });
                    disks.len() - 1
                }
            };
            let h = &verdict.health;
            if !h.available {
                continue;
            }
            let entry = &mut disks[index];
            entry.smart_healthy = h.passed;
            entry.smart_checked_at = Some(verdict.checked_at);
            entry.temperature_celsius = h.temperature_celsius;
            entry.reallocated_sectors = h.reallocated_sectors;
            entry.pending_sectors = h.pending_sectors;
            entry.wear_percent = h.wear_percent;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counters(device: &str, read: u64, write: u64, reads: u64, writes: u64) -> DiskCounters {
        DiskCounters {
            device: device.into(),
            read_bytes: read,
            write_bytes: write,
            reads,
            writes,
        }
    }

    #[test]
    fn rates_are_deltas_over_the_elapsed_time() {
        let before = [
            counters("sda", 1_000, 2_000, 10, 20),
            counters("sdb", 5_000, 5_000, 50, 50),
        ];
        let now = [
            counters("sda", 3_000, 2_000, 30, 24),
            // Re-attached: its counters restarted from zero.
            counters("sdb", 100, 6_000, 1, 60),
            // Hot-plugged since the last collection.
            counters("sdc", 9, 9, 9, 9),
        ];
        let rates = disk_rates(&before, &now, 2.0);
        assert_eq!(rates.len(), 3);
        let sda = &rates[0];
        assert_eq!(sda.device, "sda");
        assert_eq!(sda.read_bytes_per_sec, Some(1_000.0));
        assert_eq!(sda.write_bytes_per_sec, Some(0.0));
        assert_eq!(sda.reads_per_sec, Some(10.0));
        assert_eq!(sda.writes_per_sec, Some(2.0));
        let sdb = &rates[1];
        assert_eq!(
            sdb.read_bytes_per_sec, None,
            "a counter going back is no rate"
        );
        assert_eq!(sdb.write_bytes_per_sec, Some(500.0));
        assert_eq!(sdb.reads_per_sec, None);
        let sdc = &rates[2];
        assert_eq!(sdc.device, "sdc");
        assert_eq!(
            (sdc.read_bytes_per_sec, sdc.writes_per_sec),
            (None, None),
            "nothing to compare with yet"
        );
        assert!(disk_rates(&before, &before, 0.0)
            .iter()
            .all(|d| d.read_bytes_per_sec.is_none()));
    }

    fn passed(ok: bool) -> SmartHealth {
        SmartHealth {
            available: true,
            passed: Some(ok),
            reallocated_sectors: Some(if ok { 0 } else { 12 }),
            temperature_celsius: Some(40),
            ..SmartHealth::default()
        }
    }

    fn fixed_check() -> Vec<(String, SmartHealth)> {
        vec![
            ("sda".into(), passed(false)),
            ("sdb".into(), passed(true)),
            (
                "vda".into(),
                SmartHealth {
                    available: false,
                    reason: Some("smartctl is not installed".into()),
                    ..SmartHealth::default()
                },
            ),
        ]
    }

    #[tokio::test]
    async fn verdicts_reach_every_collection_and_unknown_is_never_healthy() {
        let mut monitor = SmartMonitor::new(SMART_CHECK_PERIOD, fixed_check);
        let mut disks = vec![DiskIo {
            device: "sda".into(),
            reads_per_sec: Some(1.0),
            ..DiskIo::default()
        }];
        monitor.annotate(&mut disks);
        assert_eq!(disks[0].smart_healthy, None, "not checked yet");

        monitor.poll(Instant::now()).await;
        monitor.wait_for_first(Duration::from_secs(10)).await;
        monitor.annotate(&mut disks);
        assert_eq!(disks.len(), 3, "disks known only to SMART get an entry");
        assert_eq!(disks[0].reads_per_sec, Some(1.0), "rates are kept");
        assert_eq!(disks[0].smart_healthy, Some(false));
        assert_eq!(disks[0].reallocated_sectors, Some(12));
        assert!(disks[0].smart_checked_at.is_some());
        assert_eq!(disks[1].smart_healthy, Some(true));
        let vda = &disks[2];
        assert_eq!((vda.smart_healthy, vda.smart_checked_at), (None, None));
    }

    static CHECKS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

    fn counting_check() -> Vec<(String, SmartHealth)> {
        CHECKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        vec![("sda".into(), passed(true))]
    }

    #[tokio::test]
    async fn the_check_runs_at_start_then_once_a_period() {
        let checks = || CHECKS.load(std::sync::atomic::Ordering::SeqCst);
        let period = Duration::from_secs(900);
        let mut monitor = SmartMonitor::new(period, counting_check);
        let start = Instant::now();
        monitor.poll(start).await;
        monitor.wait_for_first(Duration::from_secs(10)).await;
        assert_eq!(checks(), 1);
        // Collections within the period repeat the verdict without a new check.
        for minute in 1..15 {
            monitor.poll(start + Duration::from_secs(60 * minute)).await;
        }
        assert_eq!(checks(), 1);
        // An inventory read SMART at minute 14: the next own check waits a period from then.
        let inventory_at = start + Duration::from_secs(14 * 60);
        monitor.record_inventory(vec![("sda".into(), passed(false))], inventory_at);
        monitor.poll(start + period).await;
        assert_eq!(checks(), 1);
        let mut disks = Vec::new();
        monitor.annotate(&mut disks);
        assert_eq!(
            disks[0].smart_healthy,
            Some(false),
            "the inventory's verdict"
        );
        monitor.poll(inventory_at + period).await;
        let handle = monitor.running.take().expect("a check is due");
        handle.await.expect("the check ran");
        assert_eq!(checks(), 2);
    }
}
