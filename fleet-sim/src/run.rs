//! A run of the fleet: enroll every machine through the API, then let each one report on its
//! own schedule (spread evenly over the interval, at most `concurrency` requests in flight),
//! while a watcher polls the incident list for the machines that crossed the threshold.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::api::{self, Admin, Failure};
use crate::host::{Scenario, VirtualHost};
use crate::probe::{self, ServerProbe};
use crate::stats::{EnrollStats, IncidentStats, Percentiles, Recorder, Summary};

/// How a run is shaped; the command line fills it in.
#[derive(Debug, Clone)]
pub struct Options {
    /// Base URL, e.g. `http://127.0.0.1:8080`: enrollment tokens and incident polls go here.
    pub server: String,
    /// More replicas of the same server (same database): agents are spread over `server` and
    /// these, agent `i` enrolling and reporting through replica `i % (1 + replicas.len())`.
    pub replicas: Vec<String>,
    pub admin_token: String,
    /// The tenant the fleet enrolls into.
    pub tenant: String,
    pub agents: usize,
    pub interval: Duration,
    pub duration: Duration,
    /// The first part of `duration` whose reports are sent but not counted (first reports,
    /// new CIs, cold caches), so that the figures describe the fleet in its steady state.
    pub warmup: Duration,
    pub seed: u64,
    /// Requests in flight at once (and keep-alive connections kept).
    pub concurrency: usize,
    pub breach_share: f64,
    pub offline_share: f64,
    pub inventory_change_share: f64,
    /// Send the full inventory with each agent's first report, as a freshly enrolled agent does.
    pub inventory_on_start: bool,
    pub request_timeout: Duration,
    pub incident_poll: Duration,
    /// After the reporting phase, how long agents keep sending their backlog before giving up
    /// (a server that fell behind would otherwise keep the run going for as long again).
    pub drain: Duration,
    /// After the reporting phase, how long to wait for incidents not yet visible.
    pub incident_timeout: Duration,
    /// Print a progress line to stderr every this often.
    pub progress: Option<Duration>,
    /// Write every agent's acknowledged sequence numbers here (JSON), for checks.
    pub ledger: Option<PathBuf>,
    /// Server CPU and database size, read when reporting starts and when it ends.
    pub probe: ServerProbe,
}

/// One agent's record of the run: what the server acknowledged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentLedger {
    pub agent_id: String,
    pub hostname: String,
    /// Sequence numbers the server acknowledged (as new or as duplicate), ascending.
    pub acked_seqs: Vec<u64>,
    pub duplicates: u64,
    /// The agent sent a report with its root volume above the critical threshold.
    pub breached: bool,
    /// Its incident was seen through the API.
    pub incident_seen: bool,
}

pub struct Outcome {
    pub summary: Summary,
    pub ledger: Vec<AgentLedger>,
}

/// What the agent tasks share.
struct Fleet {
    client: reqwest::Client,
    /// `options.server` followed by `options.replicas`, without trailing slashes.
    servers: Vec<String>,
    scenario: Scenario,
    options: Options,
    permits: Semaphore,
    recorder: Recorder,
    watch: IncidentWatch,
}

/// Breaching reports sent, and incidents seen, by host name.
#[derive(Default)]
struct IncidentWatch {
    sent: Mutex<HashMap<String, Instant>>,
    seen: Mutex<HashMap<String, Duration>>,
}

impl Fleet {
    /// The replica this agent talks to.
    fn server_of(&self, host: &VirtualHost) -> &str {
        &self.servers[host.index % self.servers.len()]
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps stay consistent even if a holder panicked: each update is a single insert.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub async fn run(options: Options) -> anyhow::Result<Outcome> {
    if options.agents == 0 {
        bail!("--agents must be at least 1");
    }
    if options.interval.is_zero() || options.duration.is_zero() {
        bail!("--interval and --duration must be positive");
    }
    if options.warmup >= options.duration {
        bail!("--warmup must be shorter than --duration");
    }
    let server = options.server.trim_end_matches('/').to_string();
    let concurrency = options.concurrency.max(1);
    let client = api::client(concurrency, options.request_timeout)?;
    let admin = Admin::new(client.clone(), &server, &options.admin_token);
    let scenario = Scenario {
        planned_reports: (options.duration.as_secs_f64() / options.interval.as_secs_f64()).ceil()
            as u64,
        breach_share: options.breach_share,
        offline_share: options.offline_share,
        inventory_change_share: options.inventory_change_share,
        interval_secs: options.interval.as_secs_f64(),
    };
    let now = chrono::Utc::now();
    let hosts: Vec<VirtualHost> = (0..options.agents)
        .map(|i| VirtualHost::new(options.seed, i, &scenario, now))
        .collect();
    let offline_agents = hosts.iter().filter(|h| h.script.offline.is_some()).count();
    let inventory_changes = hosts
        .iter()
        .filter(|h| h.script.inventory_change_at.is_some())
        .count();

    let token = admin
        .create_enrollment_token(
            &options.tenant,
            &format!("fleet-sim seed {} at {}", options.seed, now.to_rfc3339()),
            options.agents,
        )
        .await?;
    let fleet = Arc::new(Fleet {
        client,
        servers: std::iter::once(&server)
            .chain(&options.replicas)
            .map(|url| url.trim_end_matches('/').to_string())
            .collect(),
        scenario,
        options: options.clone(),
        permits: Semaphore::new(concurrency),
        recorder: Recorder::default(),
        watch: IncidentWatch::default(),
    });

    let (hosts, enrollment) = enroll_all(&fleet, hosts, &token).await;
    if hosts.is_empty() {
        bail!("no agent could enroll: {:?}", enrollment.errors);
    }

    let reporting_done = Arc::new(AtomicBool::new(false));
    let baseline = admin
        .incidents(1, 0)
        .await
        .context("reading the incident list")?
        .first()
        .map_or(0, |i| i.id);
    let watcher = tokio::spawn(watch_incidents(
        Arc::clone(&fleet),
        admin,
        baseline,
        Arc::clone(&reporting_done),
    ));
    let progress = options.progress.map(|every| {
        let fleet = Arc::clone(&fleet);
        tokio::spawn(async move {
            let started = Instant::now();
            let mut last = fleet.recorder.snapshot();
            loop {
                tokio::time::sleep(every).await;
                let now = fleet.recorder.snapshot();
                eprintln!(
                    "[{:>5.0}s] acked {} ({:.1}/s), errors {}",
                    started.elapsed().as_secs_f64(),
                    now.acked,
                    (now.acked - last.acked) as f64 / every.as_secs_f64(),
                    now.errors
                );
                last = now;
            }
        })
    });

    // Give the tasks a moment to start so the first agents are not late by construction.
    let t0 = Instant::now() + Duration::from_millis(200);
    // The server's cost is read where the counted part of the run starts.
    let measured_from = t0 + options.warmup;
    let probe = options.probe.clone();
    let before = tokio::spawn(async move {
        tokio::time::sleep_until(measured_from).await;
        probe.read().await
    });
    let n = hosts.len();
    let mut tasks = JoinSet::new();
    for (i, host) in hosts.into_iter().enumerate() {
        let offset = options.interval.mul_f64(i as f64 / n as f64);
        tasks.spawn(drive(Arc::clone(&fleet), host, t0, offset));
    }
    let mut ledger = Vec::with_capacity(n);
    while let Some(done) = tasks.join_next().await {
        ledger.push(done.context("an agent task failed")?);
    }
    let reporting = measured_from.elapsed();
    let after = options.probe.read().await;
    let before = before.await.context("the cost probe failed")?;
    reporting_done.store(true, Ordering::SeqCst);
    if let Some(p) = progress {
        p.abort();
    }
    let (incident_latencies, polls) = watcher.await.context("the incident watcher failed")??;

    let seen = lock(&fleet.watch.seen).clone();
    for entry in &mut ledger {
        entry.incident_seen = seen.contains_key(&entry.hostname);
    }
    ledger.sort_by(|a, b| a.hostname.cmp(&b.hostname));
    let reports = fleet.recorder.finish(reporting);
    let server_cost = (!options.probe.is_empty()).then(|| {
        probe::cost(
            before,
            after,
            reports.acked - reports.duplicates,
            reporting.as_secs_f64(),
        )
    });
    let summary = Summary {
        server: fleet.servers.join(" "),
        agents: n,
        interval_secs: options.interval.as_secs_f64(),
        duration_secs: options.duration.as_secs_f64(),
        warmup_secs: options.warmup.as_secs_f64(),
        seed: options.seed,
        concurrency,
        offered_reports_per_sec: n as f64 / options.interval.as_secs_f64(),
        offline_agents,
        inventory_changes,
        enrollment,
        reports,
        server_cost,
        incidents: IncidentStats {
            breaching_agents: lock(&fleet.watch.sent).len(),
            visible: seen.len(),
            latency_ms: incident_latencies,
            poll_interval_ms: options.incident_poll.as_millis() as u64,
            polls,
        },
    };
    if let Some(path) = &options.ledger {
        std::fs::write(path, serde_json::to_vec(&ledger)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(Outcome { summary, ledger })
}

async fn enroll_all(
    fleet: &Arc<Fleet>,
    hosts: Vec<VirtualHost>,
    token: &str,
) -> (Vec<VirtualHost>, EnrollStats) {
    let started = Instant::now();
    let mut tasks = JoinSet::new();
    for mut host in hosts {
        let fleet = Arc::clone(fleet);
        let token = token.to_string();
        tasks.spawn(async move {
            let mut failures = Vec::new();
            for attempt in 0..5u32 {
                let Ok(_permit) = fleet.permits.acquire().await else {
                    break;
                };
                let t = Instant::now();
                match api::enroll(&fleet.client, fleet.server_of(&host), &token, &host.facts).await
                {
                    Ok(answer) => {
                        host.agent_id = answer.agent_id;
                        host.credential = answer.credential;
                        return (Some(host), Some(t.elapsed()), failures);
                    }
                    // A refused token will not get better by asking again.
                    Err(f @ Failure::Status(401)) => {
                        failures.push(f);
                        break;
                    }
                    Err(f) => failures.push(f),
                }
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
            (None, None, failures)
        });
    }
    let mut enrolled = Vec::new();
    let mut latencies = Vec::new();
    let mut errors: BTreeMap<String, u64> = BTreeMap::new();
    while let Some(result) = tasks.join_next().await {
        let Ok((host, latency, failures)) = result else {
            *errors.entry("task_panicked".into()).or_default() += 1;
            continue;
        };
        for f in failures {
            *errors.entry(f.kind()).or_default() += 1;
        }
        if let Some(host) = host {
            enrolled.push(host);
        }
        if let Some(l) = latency {
            latencies.push(l.as_micros() as u64);
        }
    }
    enrolled.sort_by_key(|h| h.index);
    let seconds = started.elapsed().as_secs_f64();
    let stats = EnrollStats {
        enrolled: enrolled.len(),
        seconds,
        per_sec: enrolled.len() as f64 / seconds.max(1e-9),
        latency_ms: Percentiles::from_micros(latencies),
        errors,
    };
    (enrolled, stats)
}

/// A report waiting for its acknowledgement, like an entry of the agent's spool.
struct Pending {
    body: Vec<u8>,
    seq: u64,
    inventory_revision: Option<u32>,
    breaching: bool,
    /// Due after the warm-up: its figures count.
    counted: bool,
}

/// One agent's life in the run: a report every interval, oldest unacknowledged first.
async fn drive(
    fleet: Arc<Fleet>,
    mut host: VirtualHost,
    t0: Instant,
    offset: Duration,
) -> AgentLedger {
    let options = &fleet.options;
    let end = t0 + options.duration;
    let mut spool: VecDeque<Pending> = VecDeque::new();
    let mut ledger = AgentLedger {
        agent_id: host.agent_id.clone(),
        hostname: host.facts.hostname.clone(),
        acked_seqs: Vec::new(),
        duplicates: 0,
        breached: false,
        incident_seen: false,
    };
    for n in 0u64.. {
        let due = t0 + offset + options.interval.mul_f64(n as f64);
        if due >= end {
            break;
        }
        tokio::time::sleep_until(due).await;
        let counted = due >= t0 + options.warmup;
        if host.online_at(n) {
            let elapsed = due.saturating_duration_since(t0).as_secs_f64();
            let (body, inventory_revision) = host.make_report(
                n,
                chrono::Utc::now(),
                elapsed,
                &fleet.scenario,
                options.inventory_on_start,
            );
            let breaching = host.breached_at(n) && !ledger.breached;
            ledger.breached |= breaching;
            spool.push_back(Pending {
                body,
                seq: host.seq,
                inventory_revision,
                breaching,
                counted,
            });
        }
        while let Some(pending) = spool.front() {
            if Instant::now() >= end + options.drain {
                fleet.recorder.error("abandoned_after_drain".into());
                break;
            }
            let Ok(_permit) = fleet.permits.acquire().await else {
                break;
            };
            let started = Instant::now();
            if pending.counted {
                fleet
                    .recorder
                    .attempt(pending.body.len(), started.saturating_duration_since(due));
            }
            if pending.breaching {
                lock(&fleet.watch.sent)
                    .entry(host.facts.hostname.clone())
                    .or_insert(started);
            }
            let result = api::report(
                &fleet.client,
                fleet.server_of(&host),
                &host.credential,
                pending.body.clone(),
            )
            .await;
            match result {
                Ok(ack) if ack.seq == pending.seq => {
                    fleet.recorder.any_acked();
                    if pending.counted {
                        fleet.recorder.acked(
                            started.elapsed(),
                            ack.duplicate,
                            pending.inventory_revision.is_some(),
                        );
                    }
                    ledger.acked_seqs.push(ack.seq);
                    ledger.duplicates += u64::from(ack.duplicate);
                    if let Some(revision) = pending.inventory_revision {
                        host.inventory_acknowledged(revision);
                    }
                    spool.pop_front();
                }
                Ok(_) => {
                    fleet.recorder.error("ack_seq_mismatch".into());
                    break;
                }
                Err(failure) => {
                    fleet.recorder.error(failure.kind());
                    // Like the agent: keep it spooled and try again at the next tick.
                    break;
                }
            }
        }
    }
    ledger.acked_seqs.sort_unstable();
    ledger.acked_seqs.dedup();
    ledger
}

/// Poll the incident list, newest first, and note when each breaching host's incident appears.
async fn watch_incidents(
    fleet: Arc<Fleet>,
    admin: Admin,
    baseline: i64,
    reporting_done: Arc<AtomicBool>,
) -> anyhow::Result<(Percentiles, u64)> {
    const PAGE: u32 = 100;
    // Incident ids are handed out before commit, so a lower id can become visible after a higher
    // one: look back this far below the newest id already read.
    let look_back = fleet.options.concurrency as i64 + 16;
    let mut newest_read = baseline;
    let mut finished_at: Option<Instant> = None;
    let mut errors = 0u32;
    let mut polls = 0u64;
    loop {
        tokio::time::sleep(fleet.options.incident_poll).await;
        polls += 1;
        let floor = (newest_read - look_back).max(baseline);
        let mut offset = 0u64;
        loop {
            let page = match admin.incidents(PAGE, offset).await {
                Ok(page) => page,
                Err(e) => {
                    errors += 1;
                    fleet.recorder.error("incident_poll".into());
                    if errors > 50 {
                        return Err(e.context("polling incidents kept failing"));
                    }
                    break;
                }
            };
            // The incident was visible at the latest when its page arrived: measure to here.
            let read_at = Instant::now();
            let full = page.len() == PAGE as usize;
            let mut reached_floor = false;
            for incident in &page {
                if incident.id <= floor {
                    reached_floor = true;
                    break;
                }
                newest_read = newest_read.max(incident.id);
                let Some(host) = incident.hostname() else {
                    continue;
                };
                let sent_at = lock(&fleet.watch.sent).get(host).copied();
                if let Some(sent_at) = sent_at {
                    lock(&fleet.watch.seen)
                        .entry(host.to_string())
                        .or_insert_with(|| read_at.saturating_duration_since(sent_at));
                }
            }
            if reached_floor || !full {
                break;
            }
            offset += u64::from(PAGE);
        }
        if reporting_done.load(Ordering::SeqCst) {
            let since = *finished_at.get_or_insert_with(Instant::now);
            let all_seen = lock(&fleet.watch.seen).len() >= lock(&fleet.watch.sent).len();
            if all_seen || since.elapsed() >= fleet.options.incident_timeout {
                break;
            }
        }
    }
    let latencies = lock(&fleet.watch.seen)
        .values()
        .map(|d| d.as_micros() as u64)
        .collect();
    Ok((Percentiles::from_micros(latencies), polls))
}
