//! What the run measured: counters, latency distributions and the summary printed at the end.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

/// Latency percentiles in milliseconds (nearest rank over every sample, no bucketing).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    pub count: usize,
    pub p50: f64,
    pub p95: f64,
    pub p99: f64,
    pub max: f64,
    pub mean: f64,
}

impl Percentiles {
    /// From samples in microseconds.
    pub fn from_micros(mut samples: Vec<u64>) -> Self {
        if samples.is_empty() {
            return Percentiles::default();
        }
        samples.sort_unstable();
        let n = samples.len();
        let rank = |p: f64| {
            let i = ((p / 100.0) * n as f64).ceil() as usize;
            samples[i.clamp(1, n) - 1] as f64 / 1000.0
        };
        Percentiles {
            count: n,
            p50: rank(50.0),
            p95: rank(95.0),
            p99: rank(99.0),
            max: samples[n - 1] as f64 / 1000.0,
            mean: samples.iter().sum::<u64>() as f64 / n as f64 / 1000.0,
        }
    }
}

/// Shared by every agent task while the fleet runs.
#[derive(Default)]
pub struct Recorder {
    inner: Mutex<Counters>,
}

#[derive(Default)]
struct Counters {
    /// Every acknowledgement, warm-up included (for progress lines).
    all_acked: u64,
    attempts: u64,
    acked: u64,
    duplicates: u64,
    with_inventory: u64,
    bytes_sent: u64,
    ack_micros: Vec<u64>,
    lag_micros: Vec<u64>,
    errors: BTreeMap<String, u64>,
}

/// A moment's view of the counters, for progress lines.
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub acked: u64,
    pub errors: u64,
}

impl Recorder {
    fn with<T>(&self, f: impl FnOnce(&mut Counters) -> T) -> T {
        // A panic while holding this lock can only come from a bug in this module; the counters
        // are still usable, so take them over rather than poisoning the whole run.
        let mut guard = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    pub fn attempt(&self, bytes: usize, lag: Duration) {
        self.with(|c| {
            c.attempts += 1;
            c.bytes_sent += bytes as u64;
            c.lag_micros.push(lag.as_micros() as u64);
        });
    }

    pub fn acked(&self, latency: Duration, duplicate: bool, with_inventory: bool) {
        self.with(|c| {
            c.acked += 1;
            c.duplicates += u64::from(duplicate);
            c.with_inventory += u64::from(with_inventory);
            c.ack_micros.push(latency.as_micros() as u64);
        });
    }

    /// Any acknowledgement, counted or not: progress lines show the warm-up too.
    pub fn any_acked(&self) {
        self.with(|c| c.all_acked += 1);
    }

    pub fn error(&self, kind: String) {
        self.with(|c| *c.errors.entry(kind).or_default() += 1);
    }

    pub fn snapshot(&self) -> Snapshot {
        self.with(|c| Snapshot {
            acked: c.all_acked,
            errors: c.errors.values().sum(),
        })
    }

    pub fn finish(&self, elapsed: Duration) -> ReportStats {
        self.with(|c| ReportStats {
            attempts: c.attempts,
            acked: c.acked,
            duplicates: c.duplicates,
            with_inventory: c.with_inventory,
            failed: c.errors.values().sum(),
            megabytes_sent: c.bytes_sent as f64 / 1e6,
            reports_per_sec: c.acked as f64 / elapsed.as_secs_f64().max(1e-9),
            ack_latency_ms: Percentiles::from_micros(std::mem::take(&mut c.ack_micros)),
            schedule_lag_ms: Percentiles::from_micros(std::mem::take(&mut c.lag_micros)),
            errors: c.errors.clone(),
        })
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportStats {
    pub attempts: u64,
    pub acked: u64,
    /// Acknowledged as already stored (a retry of a report whose first answer was lost).
    pub duplicates: u64,
    pub with_inventory: u64,
    pub failed: u64,
    pub megabytes_sent: f64,
    /// Acknowledged reports per second of the reporting phase.
    pub reports_per_sec: f64,
    /// From sending a report to reading its acknowledgement.
    pub ack_latency_ms: Percentiles,
    /// How late the simulator started sending after a report was due (queueing behind
    /// `--concurrency`); when this grows, the server is not keeping up.
    pub schedule_lag_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct EnrollStats {
    pub enrolled: usize,
    pub seconds: f64,
    pub per_sec: f64,
    pub latency_ms: Percentiles,
    pub errors: BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct IncidentStats {
    /// Agents whose root volume crossed the critical threshold and that reported it.
    pub breaching_agents: usize,
    /// Of those, how many had their incident visible through `GET /api/v1/incidents`.
    pub visible: usize,
    /// From sending the breaching report to the incident's first sighting in the list.
    pub latency_ms: Percentiles,
    pub poll_interval_ms: u64,
    pub polls: u64,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    pub server: String,
    pub agents: usize,
    pub interval_secs: f64,
    pub duration_secs: f64,
    /// Seconds at the start whose reports were not counted.
    pub warmup_secs: f64,
    pub seed: u64,
    pub concurrency: usize,
    /// The fleet's nominal rate: agents / interval.
    pub offered_reports_per_sec: f64,
    pub offline_agents: usize,
    pub inventory_changes: usize,
    pub enrollment: EnrollStats,
    pub reports: ReportStats,
    /// Measured only with `--server-pid` / `--database-size-command`.
    pub server_cost: Option<crate::probe::ServerCost>,
    pub incidents: IncidentStats,
}

impl Summary {
    /// The human-readable form.
    pub fn render(&self) -> String {
        let r = &self.reports;
        let lat = |p: &Percentiles| {
            format!(
                "p50 {:.1}  p95 {:.1}  p99 {:.1}  max {:.1} ms  (n={})",
                p.p50, p.p95, p.p99, p.max, p.count
            )
        };
        let errors = |e: &BTreeMap<String, u64>| {
            if e.is_empty() {
                "none".to_string()
            } else {
                e.iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(" ")
            }
        };
        let mut out = String::new();
        out.push_str(&format!(
            "fleet: {} agents, interval {}s, duration {}s, seed {}, concurrency {}, server {}\n",
            self.agents,
            self.interval_secs,
            self.duration_secs,
            self.seed,
            self.concurrency,
            self.server
        ));
        out.push_str(&format!(
            "enrollment: {} in {:.1}s ({:.0}/s), latency {}, errors {}\n",
            self.enrollment.enrolled,
            self.enrollment.seconds,
            self.enrollment.per_sec,
            lat(&self.enrollment.latency_ms),
            errors(&self.enrollment.errors)
        ));
        if self.warmup_secs > 0.0 {
            out.push_str(&format!(
                "counted: reports due after a warm-up of {}s (the figures below)\n",
                self.warmup_secs
            ));
        }
        out.push_str(&format!(
            "reports: {} acked of {} sent ({} duplicate, {} with inventory, {:.1} MB), {:.1}/s (offered {:.1}/s)\n",
            r.acked, r.attempts, r.duplicates, r.with_inventory, r.megabytes_sent, r.reports_per_sec,
            self.offered_reports_per_sec
        ));
        out.push_str(&format!("ack latency: {}\n", lat(&r.ack_latency_ms)));
        out.push_str(&format!("schedule lag: {}\n", lat(&r.schedule_lag_ms)));
        out.push_str(&format!("errors: {}\n", errors(&r.errors)));
        if let Some(c) = &self.server_cost {
            let opt = |v: Option<f64>, digits: usize| {
                v.map_or("?".to_string(), |v| format!("{v:.digits$}"))
            };
            out.push_str(&format!(
                "server cost: {} ms CPU per report ({} cores busy), database {} bytes per report = {} bytes per agent per day at 60 s ({} reports)\n",
                opt(c.cpu_ms_per_report, 3),
                opt(c.cpu_cores_used, 2),
                opt(c.database_bytes_per_report, 0),
                opt(c.database_bytes_per_agent_day_at_60s, 0),
                c.reports
            ));
        }
        out.push_str(&format!(
            "scripted: {} offline, {} inventory changes, {} threshold breaches\n",
            self.offline_agents, self.inventory_changes, self.incidents.breaching_agents
        ));
        out.push_str(&format!(
            "threshold to incident: {} of {} visible, {} (poll every {} ms)\n",
            self.incidents.visible,
            self.incidents.breaching_agents,
            lat(&self.incidents.latency_ms),
            self.incidents.poll_interval_ms
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::from_micros((1..=100).map(|ms| ms * 1000).collect());
        assert_eq!((p.p50, p.p95, p.p99, p.max), (50.0, 95.0, 99.0, 100.0));
        assert_eq!(Percentiles::from_micros(vec![]).count, 0);
        assert_eq!(Percentiles::from_micros(vec![7000]).p99, 7.0);
    }
}
