//! The on-disk spool: every report is written here, durably, before any attempt to send it,
//! and deleted only when the server has acknowledged its sequence number.
//!
//! One file per report, `<seq, 20 digits>[.<class>].json`, so a directory listing sorted by name
//! is the replay order and the drop class is known without opening the file. The spool is
//! byte-capped: past the cap the lowest-priority, oldest report goes first (see [`Priority`]);
//! every drop is counted and the count rides in the next report's `dropped_since_last`.

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use atalaya_shared::ReportEnvelope;
use serde::Deserialize;

use crate::fsio;

/// Default cap on the bytes of spooled reports.
pub const DEFAULT_CAP_BYTES: u64 = atalaya_shared::agent_config::DEFAULT_SPOOL_MAX_BYTES;
/// Rejected reports are kept for a person to look at, but only this many.
const REJECTED_KEEP: usize = 100;
const DROPPED_FILE: &str = "dropped";

/// What a report would lose if dropped; under pressure the lowest goes first, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// A full inventory whose content the server already has (the periodic re-send).
    RepeatedInventory,
    /// Health samples only.
    Metrics,
    /// Something changed: a service stopped, a volume crossed a level, new inventory.
    Change,
}

impl Priority {
    fn tag(self) -> Option<&'static str> {
        match self {
            Priority::RepeatedInventory => Some("inventory"),
            Priority::Metrics => None,
            Priority::Change => Some("change"),
        }
    }

    fn from_tag(tag: Option<&str>) -> Option<Priority> {
        match tag {
            None => Some(Priority::Metrics),
            Some("inventory") => Some(Priority::RepeatedInventory),
            Some("change") => Some(Priority::Change),
            Some(_) => None,
        }
    }
}

fn file_name(seq: u64, priority: Priority) -> String {
    match priority.tag() {
        Some(tag) => format!("{seq:020}.{tag}.json"),
        None => format!("{seq:020}.json"),
    }
}

/// Parses `00000000000000000042.json` / `00000000000000000042.change.json`.
fn parse_file_name(name: &str) -> Option<(u64, Priority)> {
    let stem = name.strip_suffix(".json")?;
    let (digits, tag) = match stem.split_once('.') {
        Some((d, t)) => (d, Some(t)),
        None => (stem, None),
    };
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((digits.parse().ok()?, Priority::from_tag(tag)?))
}

#[derive(Debug, Clone)]
struct Entry {
    priority: Priority,
    bytes: u64,
}

/// What [`Spool::push`] had to drop to stay under the cap.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PushOutcome {
    pub dropped: Vec<u64>,
}

#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    cap_bytes: u64,
    entries: BTreeMap<u64, Entry>,
    total_bytes: u64,
    /// Reports dropped since the last report that was spooled (persisted in `dropped`).
    dropped: u64,
    /// The report the uploader is sending right now: never dropped under its feet.
    in_flight: Option<u64>,
}

impl Spool {
    /// Opens (creating, mode 0700) the spool in `dir`, sweeps temporary files a crash left
    /// behind and indexes what is there.
    pub fn open(dir: &Path, cap_bytes: u64) -> Result<Spool> {
        fsio::create_private_dir(dir)
            .with_context(|| format!("creating spool {}", dir.display()))?;
        fsio::create_private_dir(&dir.join("rejected"))
            .with_context(|| format!("creating {}/rejected", dir.display()))?;
        let mut entries = BTreeMap::new();
        let mut total_bytes = 0;
        for item in fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
            let item = item?;
            let name = item.file_name();
            let Some(name) = name.to_str() else { continue };
            if fsio::is_tmp_name(name) {
                // Written but never renamed: the report it held was never promised to anyone.
                let _ = fs::remove_file(item.path());
                continue;
            }
            let Some((seq, priority)) = parse_file_name(name) else {
                continue;
            };
            let bytes = item.metadata()?.len();
            total_bytes += bytes;
            entries.insert(seq, Entry { priority, bytes });
        }
        let dropped = match fs::read_to_string(dir.join(DROPPED_FILE)) {
            Ok(t) => t.trim().parse().unwrap_or(0),
            Err(_) => 0,
        };
        Ok(Spool {
            dir: dir.to_owned(),
            cap_bytes,
            entries,
            total_bytes,
            dropped,
            in_flight: None,
        })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn total_bytes(&self) -> u64 {
        self.total_bytes
    }

    /// Sequence numbers waiting, oldest first.
    #[cfg(test)]
    pub fn seqs(&self) -> Vec<u64> {
        self.entries.keys().copied().collect()
    }

    /// Reports dropped since the last spooled report: put this in the next report.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The highest sequence number on disk (pending or rejected): the sequence counter must
    /// never hand out a number at or below it.
    pub fn max_seq(&self) -> u64 {
        let rejected = fs::read_dir(self.rejected_dir())
            .into_iter()
            .flatten()
            .filter_map(|e| parse_file_name(e.ok()?.file_name().to_str()?).map(|(s, _)| s));
        self.entries
            .keys()
            .copied()
            .chain(rejected)
            .max()
            .unwrap_or(0)
    }

    /// Writes `report` durably (tmp, fsync, rename, fsync dir), then drops old reports if the
    /// spool is over its cap. The drop count carried by `report` is no longer owed.
    pub fn push(&mut self, wire: &ReportEnvelope, priority: Priority) -> Result<PushOutcome> {
        let bytes = serde_json::to_vec(wire).context("serialising the report")?;
        let report = &wire.report;
        let path = self.dir.join(file_name(report.seq, priority));
        fsio::write_atomic(&path, &bytes, 0o600)
            .with_context(|| format!("spooling {}", path.display()))?;
        if let Some(old) = self.entries.insert(
            report.seq,
            Entry {
                priority,
                bytes: bytes.len() as u64,
            },
        ) {
            self.total_bytes -= old.bytes;
        }
        self.total_bytes += bytes.len() as u64;
        if report.dropped_since_last > 0 {
            self.set_dropped(self.dropped.saturating_sub(report.dropped_since_last))?;
        }
        self.enforce_cap(report.seq)
    }

    /// A new cap (from the server's agent config), applied at once: a smaller cap drops the
    /// lowest-priority, oldest reports now rather than at the next push.
    pub fn set_cap(&mut self, cap_bytes: u64) -> Result<PushOutcome> {
        self.cap_bytes = cap_bytes;
        let newest = self.entries.keys().next_back().copied().unwrap_or(0);
        self.enforce_cap(newest)
    }

    #[cfg(test)]
    pub fn cap_bytes(&self) -> u64 {
        self.cap_bytes
    }

    /// Counts collections that were lost before reaching the spool (e.g. a full disk).
    pub fn count_lost(&mut self, n: u64) -> Result<()> {
        self.set_dropped(self.dropped.saturating_add(n))
    }

    /// Drops lowest-priority, oldest reports until the spool fits its cap. The newest report
    /// (`keep`) and the one being sent are never dropped.
    fn enforce_cap(&mut self, keep: u64) -> Result<PushOutcome> {
        let mut outcome = PushOutcome::default();
        while self.total_bytes > self.cap_bytes {
            let victim = self
                .entries
                .iter()
                .filter(|(seq, _)| **seq != keep && Some(**seq) != self.in_flight)
                .min_by_key(|(seq, e)| (e.priority, **seq))
                .map(|(seq, e)| (*seq, e.priority));
            let Some((seq, priority)) = victim else { break };
            let path = self.path_of(seq, priority);
            // A dropped report may itself have carried a drop count: that count is owed again.
            let carried = read_dropped_count(&path);
            fsio::remove_durable(&path).with_context(|| format!("dropping {}", path.display()))?;
            self.forget(seq);
            self.dropped = self.dropped.saturating_add(1 + carried);
            outcome.dropped.push(seq);
        }
        if !outcome.dropped.is_empty() {
            self.set_dropped(self.dropped)?;
            tracing::warn!(dropped = ?outcome.dropped, cap_bytes = self.cap_bytes, "spool over its cap: dropped the oldest, least important reports");
        }
        Ok(outcome)
    }

    /// Hands the oldest report to the uploader and marks it in flight.
    pub fn take_oldest(&mut self) -> Result<Option<(u64, Vec<u8>)>> {
        while let Some((&seq, entry)) = self.entries.iter().next() {
            let path = self.path_of(seq, entry.priority);
            match fs::read(&path) {
                Ok(bytes) => {
                    self.in_flight = Some(seq);
                    return Ok(Some((seq, bytes)));
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    tracing::warn!(seq, "spooled report vanished from disk");
                    self.forget(seq);
                }
                Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
            }
        }
        Ok(None)
    }

    /// The server committed `seq`: delete it.
    pub fn acknowledge(&mut self, seq: u64) -> Result<()> {
        self.in_flight = None;
        if let Some(entry) = self.entries.get(&seq) {
            let path = self.path_of(seq, entry.priority);
            fsio::remove_durable(&path).with_context(|| format!("removing {}", path.display()))?;
            self.forget(seq);
        }
        Ok(())
    }

    /// The send failed for a reason that may pass: keep `seq` first in line.
    pub fn release(&mut self, _seq: u64) {
        self.in_flight = None;
    }

    /// The server will never accept `seq`: move it to `rejected/` so it stops blocking the queue.
    pub fn reject(&mut self, seq: u64) -> Result<PathBuf> {
        self.in_flight = None;
        let Some(entry) = self.entries.get(&seq) else {
            anyhow::bail!("report {seq} is not in the spool");
        };
        let from = self.path_of(seq, entry.priority);
        let to = self.rejected_dir().join(file_name(seq, entry.priority));
        let moved = fsio::rename_durable(&from, &to);
        // Whatever happens, the report leaves the queue: a report that can be neither sent nor
        // moved must not block every report behind it.
        self.forget(seq);
        if let Err(e) = moved {
            let _ = fsio::remove_durable(&from);
            return Err(e).with_context(|| {
                format!(
                    "moving {} to {}; deleted it instead",
                    from.display(),
                    to.display()
                )
            });
        }
        self.trim_rejected();
        Ok(to)
    }

    fn rejected_dir(&self) -> PathBuf {
        self.dir.join("rejected")
    }

    fn trim_rejected(&self) {
        let Ok(dir) = fs::read_dir(self.rejected_dir()) else {
            return;
        };
        let mut names: Vec<String> = dir
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|n| parse_file_name(n).is_some())
            .collect();
        if names.len() <= REJECTED_KEEP {
            return;
        }
        names.sort();
        for name in &names[..names.len() - REJECTED_KEEP] {
            let _ = fs::remove_file(self.rejected_dir().join(name));
        }
    }

    fn path_of(&self, seq: u64, priority: Priority) -> PathBuf {
        self.dir.join(file_name(seq, priority))
    }

    fn forget(&mut self, seq: u64) {
        if let Some(e) = self.entries.remove(&seq) {
            self.total_bytes -= e.bytes;
        }
        if self.in_flight == Some(seq) {
            self.in_flight = None;
        }
    }

    fn set_dropped(&mut self, n: u64) -> Result<()> {
        self.dropped = n;
        let path = self.dir.join(DROPPED_FILE);
        fsio::write_atomic(&path, format!("{n}\n").as_bytes(), 0o600)
            .with_context(|| format!("writing {}", path.display()))
    }
}

fn read_dropped_count(path: &Path) -> u64 {
    #[derive(Deserialize)]
    struct Carried {
        #[serde(default)]
        dropped_since_last: u64,
    }
    fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice::<Carried>(&b).ok())
        .map_or(0, |c| c.dropped_since_last)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use atalaya_shared::protocol::{HostFacts, Report, Sample, PROTOCOL_VERSION};
    use chrono::Utc;

    pub fn report(seq: u64, padding: usize) -> ReportEnvelope {
        ReportEnvelope::from(Report {
            protocol: PROTOCOL_VERSION,
            agent_id: "agent".into(),
            seq,
            agent_version: "test".into(),
            collected_at: Utc::now(),
            host: HostFacts {
                hostname: "x".repeat(padding),
                ..HostFacts::default()
            },
            metrics: vec![Sample {
                metric: "load.1m".into(),
                value: seq as f64,
                at: Utc::now(),
            }],
            volumes: vec![],
            dropped_since_last: 0,
        })
    }

    #[test]
    fn file_names_round_trip_and_sort_in_seq_order() {
        for p in [
            Priority::Metrics,
            Priority::Change,
            Priority::RepeatedInventory,
        ] {
            assert_eq!(parse_file_name(&file_name(42, p)), Some((42, p)));
        }
        assert!(file_name(9, Priority::Metrics) < file_name(10, Priority::Change));
        assert_eq!(file_name(7, Priority::Metrics), "00000000000000000007.json");
        assert_eq!(parse_file_name(".00000000000000000007.json.tmp"), None);
        assert_eq!(parse_file_name("00000000000000000007.weird.json"), None);
    }

    #[test]
    fn reports_survive_reopen_and_come_back_in_seq_order() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut spool = Spool::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
            for seq in [3, 1, 2, 10] {
                spool.push(&report(seq, 10), Priority::Metrics).unwrap();
            }
        }
        // A crash between write and rename leaves a tmp file: it must not be replayed.
        fs::write(
            dir.path().join(".00000000000000000011.json.tmp"),
            b"{partial",
        )
        .unwrap();

        let mut spool = Spool::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        assert_eq!(spool.seqs(), vec![1, 2, 3, 10]);
        assert!(!dir.path().join(".00000000000000000011.json.tmp").exists());
        let mut replayed = Vec::new();
        while let Some((seq, bytes)) = spool.take_oldest().unwrap() {
            let r: Report = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(r.seq, seq);
            assert_eq!(r.metrics[0].value, seq as f64);
            replayed.push(seq);
            spool.acknowledge(seq).unwrap();
        }
        assert_eq!(replayed, vec![1, 2, 3, 10]);
        assert_eq!(spool.total_bytes(), 0);
        assert!(Spool::open(dir.path(), DEFAULT_CAP_BYTES)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn released_report_stays_first_and_rejected_one_moves_aside() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), DEFAULT_CAP_BYTES).unwrap();
        for seq in 1..=3 {
            spool.push(&report(seq, 10), Priority::Metrics).unwrap();
        }
        let (seq, _) = spool.take_oldest().unwrap().unwrap();
        spool.release(seq);
        assert_eq!(spool.take_oldest().unwrap().unwrap().0, 1);
        let moved = spool.reject(1).unwrap();
        assert!(moved.starts_with(dir.path().join("rejected")));
        assert_eq!(spool.seqs(), vec![2, 3]);
        assert_eq!(spool.max_seq(), 3);
        spool.acknowledge(3).unwrap();
        spool.acknowledge(2).unwrap();
        // The rejected report still counts for the sequence floor.
        assert_eq!(
            Spool::open(dir.path(), DEFAULT_CAP_BYTES)
                .unwrap()
                .max_seq(),
            1
        );
    }

    #[test]
    fn cap_drops_oldest_metrics_and_counts_drops_in_the_next_report() {
        let dir = tempfile::tempdir().unwrap();
        let one = serde_json::to_vec(&report(1, 1000)).unwrap().len() as u64;
        // Room for three reports.
        let mut spool = Spool::open(dir.path(), one * 3 + one / 2).unwrap();
        for seq in 1..=3 {
            assert!(spool
                .push(&report(seq, 1000), Priority::Metrics)
                .unwrap()
                .dropped
                .is_empty());
        }
        let out = spool.push(&report(4, 1000), Priority::Metrics).unwrap();
        assert_eq!(out.dropped, vec![1]);
        assert_eq!(spool.dropped(), 1);
        assert_eq!(spool.seqs(), vec![2, 3, 4]);

        // The next report carries the count; the counter survives a restart until then.
        let mut spool = Spool::open(dir.path(), one * 3 + one / 2).unwrap();
        assert_eq!(spool.dropped(), 1);
        let mut r5 = report(5, 1000);
        r5.report.dropped_since_last = spool.dropped();
        spool.push(&r5, Priority::Metrics).unwrap();
        // Report 2 is dropped now; 5 carried one drop and survives, so one new drop is owed.
        assert_eq!(spool.seqs(), vec![3, 4, 5]);
        assert_eq!(spool.dropped(), 1);
    }

    #[test]
    fn filling_past_the_cap_drops_repeated_inventory_then_metrics_then_changes_oldest_first() {
        use Priority::{Change, Metrics, RepeatedInventory};
        let dir = tempfile::tempdir().unwrap();
        let one = serde_json::to_vec(&report(1, 1000)).unwrap().len() as u64;
        let mut spool = Spool::open(dir.path(), one * 6 + one / 2).unwrap();
        let plan = [
            (1, Change),
            (2, Metrics),
            (3, RepeatedInventory),
            (4, Metrics),
            (5, Change),
            (6, RepeatedInventory),
        ];
        for (seq, p) in plan {
            assert!(spool
                .push(&report(seq, 1000), p)
                .unwrap()
                .dropped
                .is_empty());
        }
        let mut dropped = Vec::new();
        for seq in 7..=12 {
            dropped.extend(spool.push(&report(seq, 1000), Metrics).unwrap().dropped);
        }
        // Repeated inventory first (3, 6), then metrics oldest first (2, 4, 7, 8);
        // the state changes 1 and 5 survive although they are the oldest.
        assert_eq!(dropped, vec![3, 6, 2, 4, 7, 8]);
        assert_eq!(spool.seqs(), vec![1, 5, 9, 10, 11, 12]);
        assert_eq!(spool.dropped(), 6);

        // Only changes left and still too full: the oldest change goes.
        for seq in 13..=18 {
            spool.push(&report(seq, 1000), Change).unwrap();
        }
        assert_eq!(spool.seqs(), vec![13, 14, 15, 16, 17, 18]);
        // Priorities survive a restart (they are in the file names).
        let mut reopened = Spool::open(dir.path(), one * 6 + one / 2).unwrap();
        let out = reopened.push(&report(19, 1000), Metrics).unwrap();
        assert_eq!(out.dropped, vec![13]);
    }

    #[test]
    fn lowering_the_cap_drops_at_once_by_priority() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut spool = Spool::open(dir.path(), 1 << 20).expect("open");
        let one = serde_json::to_vec(&report(1, 1000)).expect("json").len() as u64;
        spool
            .push(&report(1, 1000), Priority::Change)
            .expect("push");
        spool
            .push(&report(2, 1000), Priority::Metrics)
            .expect("push");
        spool
            .push(&report(3, 1000), Priority::RepeatedInventory)
            .expect("push");
        spool
            .push(&report(4, 1000), Priority::Metrics)
            .expect("push");
        let out = spool.set_cap(2 * one + one / 2).expect("set cap");
        assert_eq!(
            out.dropped,
            vec![3, 2],
            "inventory first, then the oldest metrics"
        );
        assert_eq!(spool.seqs(), vec![1, 4]);
        assert_eq!(spool.cap_bytes(), 2 * one + one / 2);
        assert_eq!(spool.dropped(), 2);
    }

    /// A tiny tmpfs, unmounted when dropped; `None` (said loudly) where mounting is not allowed.
    struct TinyFs(tempfile::TempDir);

    impl TinyFs {
        fn mount(bytes: u64) -> Option<TinyFs> {
            let dir = tempfile::tempdir().expect("tempdir");
            let ok = std::process::Command::new("mount")
                .args(["-t", "tmpfs", "-o", &format!("size={bytes}"), "tmpfs"])
                .arg(dir.path())
                .stderr(std::process::Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                eprintln!("SKIPPED full-disk test: cannot mount a tmpfs here (needs root)");
                return None;
            }
            Some(TinyFs(dir))
        }
    }

    impl Drop for TinyFs {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg(self.0.path())
                .status();
        }
    }

    #[test]
    fn full_disk_refuses_the_new_report_and_keeps_the_old_ones() {
        let Some(fs) = TinyFs::mount(64 << 10) else {
            return;
        };
        let mut spool = Spool::open(&fs.0.path().join("spool"), DEFAULT_CAP_BYTES).expect("open");
        let mut stored = Vec::new();
        let err = loop {
            let seq = stored.len() as u64 + 1;
            match spool.push(&report(seq, 2000), Priority::Metrics) {
                Ok(_) => stored.push(seq),
                Err(e) => break e,
            }
            assert!(seq < 1000, "64 KiB never filled");
        };
        let message = format!("{err:#}");
        assert!(message.contains("spooling"), "{message}");
        assert!(message.to_lowercase().contains("space"), "{message}");
        assert!(!stored.is_empty());
        // What was spooled is intact and readable; the lost collection is counted.
        assert_eq!(spool.seqs(), stored);
        let _ = spool.count_lost(1);
        assert_eq!(
            spool.dropped(),
            1,
            "counted even if the counter file cannot be written"
        );
        let (seq, bytes) = spool.take_oldest().expect("readable").expect("oldest");
        assert_eq!(seq, 1);
        assert!(serde_json::from_slice::<serde_json::Value>(&bytes).is_ok());
        // Once the server has taken some, spooling works again, and reopening finds it all.
        spool.acknowledge(1).expect("ack");
        spool.acknowledge(2).expect("ack");
        let next = *stored.last().expect("some") + 1;
        spool
            .push(&report(next, 10), Priority::Change)
            .expect("room again");
        let reopened = Spool::open(&fs.0.path().join("spool"), DEFAULT_CAP_BYTES).expect("reopen");
        assert_eq!(reopened.seqs().last(), Some(&next));
    }

    #[test]
    fn report_in_flight_is_not_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let one = serde_json::to_vec(&report(1, 1000)).unwrap().len() as u64;
        let mut spool = Spool::open(dir.path(), one * 2 + one / 2).unwrap();
        spool.push(&report(1, 1000), Priority::Metrics).unwrap();
        spool.push(&report(2, 1000), Priority::Metrics).unwrap();
        assert_eq!(spool.take_oldest().unwrap().unwrap().0, 1);
        let out = spool.push(&report(3, 1000), Priority::Metrics).unwrap();
        assert_eq!(out.dropped, vec![2]);
        spool.acknowledge(1).unwrap();
        assert_eq!(spool.seqs(), vec![3]);
    }
}
