//! Counters exported at `/metrics` in the Prometheus text format.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub reports_stored: AtomicU64,
    pub reports_duplicate: AtomicU64,
    pub reports_rejected: AtomicU64,
    pub enrollments: AtomicU64,
    pub enrollments_refused: AtomicU64,
    pub incidents_opened: AtomicU64,
}

impl Metrics {
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    /// The counters, and the group commit's (`steady`).
    pub fn render(&self, steady: &crate::ingest::steady::GroupCommit) -> String {
        let counters = [
            (
                "atalaya_reports_stored_total",
                "Agent reports committed",
                &self.reports_stored,
            ),
            (
                "atalaya_reports_duplicate_total",
                "Replayed reports ignored",
                &self.reports_duplicate,
            ),
            (
                "atalaya_reports_rejected_total",
                "Agent reports refused as invalid",
                &self.reports_rejected,
            ),
            (
                "atalaya_enrollments_total",
                "Agents enrolled",
                &self.enrollments,
            ),
            (
                "atalaya_enrollments_refused_total",
                "Enrollments refused",
                &self.enrollments_refused,
            ),
            (
                "atalaya_incidents_opened_total",
                "Incidents opened by rules",
                &self.incidents_opened,
            ),
            (
                "atalaya_reports_group_committed_total",
                "Steady agent reports committed together with others",
                &steady.reports,
            ),
            (
                "atalaya_report_group_commits_total",
                "Transactions that committed steady agent reports together",
                &steady.batches,
            ),
        ];
        let mut out = String::new();
        for (name, help, value) in counters {
            // Writing to a String cannot fail.
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        out
    }
}
