//! Group commit of steady reports (PostgreSQL).
//!
//! Most reports of a fleet change nothing in the CMDB: same host facts and volumes, no
//! inventory. Stored one by one, each costs about nine round trips to PostgreSQL, and on a small
//! server that per-statement cost, not the rows, is what limits the fleet. So such a report is
//! queued; a few workers take whatever has queued up (up to `MAX_BATCH`) and store it in one
//! transaction with one statement per step: the computers and volumes refreshed (with their
//! disks, services and the rules revision read back, `store::steady_reports`), the ledger
//! (`store::reports::record_batch`), the samples (`store::samples::record_batch`). The rows are
//! the ones the full path writes for one report, made by the same functions ([`super::rows`],
//! `cmdb::inventory`). Each agent is acknowledged when that transaction has committed, so an
//! acknowledgement still means the report is durable.
//!
//! The rules see every report of the batch as the full path shows them: a *quiet* report (no
//! alert unsettled, no threshold crossed, no service changed, no forecast due) costs them
//! nothing; any other is shown to the rule engine in the batch's transaction, one after the
//! other — a computer with a long-failed service stays in the batch.
//!
//! Whether a report changes the CMDB is only known inside the transaction (its computer's and
//! volumes' fingerprints); one that does — or a replay, or one the batch could not store —
//! *leaves the batch*: nothing of it is in the ledger or the samples, and it takes the full
//! path ([`super::Ingest::incoming`]) at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use atalaya_shared::ServiceState;
use tokio::sync::{mpsc, oneshot, Mutex};

use super::forecasts::ForecastSchedule;
use super::{
    disks, forecast_wanted, is_transient, rows, services, show_computer_and_volumes, volume_used,
    IncomingReport, Ingest, IngestOutcome, Shown, MAX_ATTEMPTS,
};
use crate::alerting::Engine;
use crate::cmdb::inventory;
use crate::store::agent_configs::AgentConfigLayers;
use crate::store::agents::AgentIdentity;
use crate::store::rules::Rule;
use crate::store::samples::SampleRow;
use crate::store::steady_reports::{self as batch, ComputerRow, VolumeRow};
use crate::store::{now_ms, Backend, Store, StoreResult, TenantId, Tx};

/// Reports stored in one transaction at most.
const MAX_BATCH: usize = 64;

/// Transactions of steady reports under way at once, per server process: one commits while the
/// next is being written.
const WORKERS: usize = 3;

/// Reports waiting for a worker at most; past that a report takes the full path.
const QUEUE: usize = 4096;

/// A report that may be steady, prepared for the batch (everything worked out that needs no
/// database). Its rows are made by the same functions as the full path's: step 2's by
/// `cmdb::inventory` (here, ahead of the batch), steps 1 and 3 by [`super::rows`], step 4's
/// view by [`Shown::of`].
pub struct SteadyReport {
    tenant: TenantId,
    agent_id: String,
    seq: i64,
    /// The computer the agent reported for last time.
    computer_id: i64,
    /// The report as it arrived (without an inventory, or it would not be steady).
    incoming: IncomingReport,
    /// The computer's fingerprint and measurements, as the full path's refresh compares and
    /// writes them.
    fingerprint: String,
    measurements: String,
    /// Each volume's (fingerprint, measurements), in report order.
    volumes: Vec<(String, String)>,
}

impl SteadyReport {
    /// The report prepared for the batch, if it may be steady: PostgreSQL, no inventory, and an
    /// agent whose row already names its computer, host name and version as reported.
    pub fn prepare(
        store: &Store,
        agent: &AgentIdentity,
        incoming: &IncomingReport,
    ) -> Option<SteadyReport> {
        let report = &incoming.report;
        let recorded = agent.recorded.as_ref()?;
        let steady = store.backend() == Backend::Postgres
            && incoming.inventory.is_none()
            && recorded.hostname == report.host.hostname
            && recorded.agent_version == report.agent_version;
        if !steady {
            return None;
        }
        let computer_id = recorded.computer_id?;
        let tenant = agent.tenant;
        let seq = rows::ledger(tenant, &agent.agent_id, report, 0).ok()?.seq;
        let collected_at = report.collected_at.timestamp_millis();
        let (fingerprint, measurements) = inventory::steady_computer(
            tenant,
            &report.host,
            &report.agent_version,
            &report.metrics,
            collected_at,
        );
        let observed =
            inventory::observe_volumes(tenant, computer_id, &report.volumes, collected_at);
        let volumes = inventory::prepare_volumes(computer_id, &observed)
            .refresh_pairs()
            .into_iter()
            .map(|(fingerprint, measurements)| (fingerprint.to_string(), measurements.to_string()))
            .collect();
        Some(SteadyReport {
            tenant,
            agent_id: agent.agent_id.clone(),
            seq,
            computer_id,
            incoming: IncomingReport {
                report: report.clone(),
                inventory: None,
                service_states: incoming.service_states.clone(),
                volume_inodes: incoming.volume_inodes.clone(),
                disk_io: incoming.disk_io.clone(),
            },
            fingerprint,
            measurements,
            volumes,
        })
    }

    fn collected_at(&self) -> i64 {
        self.incoming.report.collected_at.timestamp_millis()
    }

    /// This collection's service states (none when the agent could not ask its service
    /// manager).
    fn service_states(&self) -> &[ServiceState] {
        self.incoming.service_states.as_deref().unwrap_or_default()
    }
}

/// How a queued report ended.
pub enum Committed {
    Stored(Box<IngestOutcome>),
    /// Not steady after all, or not stored: nothing of it was kept; take the full path.
    LeftBatch,
}

/// The queue of steady reports of one [`Ingest`] runtime, and its workers (started with the
/// first report).
#[derive(Default)]
pub struct GroupCommit {
    queue: OnceLock<mpsc::Sender<Queued>>,
    /// Reports stored by a batch.
    pub reports: AtomicU64,
    /// Batches committed.
    pub batches: AtomicU64,
}

struct Queued {
    ingest: Ingest,
    report: SteadyReport,
    queued_at: Instant,
    reply: oneshot::Sender<Committed>,
}

impl GroupCommit {
    /// Reports stored by a batch, and batches committed, so far.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.reports.load(Ordering::Relaxed),
            self.batches.load(Ordering::Relaxed),
        )
    }

    /// Queue the report and wait until its batch has committed (or it left the batch).
    pub async fn submit(&self, ingest: &Ingest, report: SteadyReport) -> Committed {
        let queue = self.queue.get_or_init(start_workers);
        let (reply, answer) = oneshot::channel();
        let queued = Queued {
            ingest: ingest.clone(),
            report,
            queued_at: Instant::now(),
            reply,
        };
        if queue.try_send(queued).is_err() {
            return Committed::LeftBatch;
        }
        answer.await.unwrap_or(Committed::LeftBatch)
    }
}

fn start_workers() -> mpsc::Sender<Queued> {
    let (queue, receiver) = mpsc::channel(QUEUE);
    let receiver = Arc::new(Mutex::new(receiver));
    for _ in 0..WORKERS {
        tokio::spawn(work(Arc::clone(&receiver)));
    }
    queue
}

/// Take what has queued up, store it, answer each report; until the runtime is dropped.
async fn work(receiver: Arc<Mutex<mpsc::Receiver<Queued>>>) {
    loop {
        let batch = {
            let mut receiver = receiver.lock().await;
            let Some(first) = receiver.recv().await else {
                return;
            };
            let mut batch = vec![first];
            while batch.len() < MAX_BATCH {
                match receiver.try_recv() {
                    Ok(next) => batch.push(next),
                    Err(_) => break,
                }
            }
            batch
        };
        commit_batch(batch).await;
    }
}

async fn commit_batch(batch: Vec<Queued>) {
    let ingest = batch[0].ingest.clone();
    let waited = batch[0].queued_at.elapsed();
    ingest
        .lag()
        .waited("the group commit of steady reports", waited, now_ms());
    // One report per agent and per computer in a batch; a second one waits for the full path.
    let mut agents = HashSet::new();
    let mut computers = HashSet::new();
    let (batch, repeated): (Vec<Queued>, Vec<Queued>) = batch.into_iter().partition(|q| {
        agents.insert(q.report.agent_id.clone()) & computers.insert(q.report.computer_id)
    });
    for queued in repeated {
        let _ = queued.reply.send(Committed::LeftBatch);
    }
    let reports: Vec<&SteadyReport> = batch.iter().map(|q| &q.report).collect();
    let mut attempt = 1;
    let outcomes = loop {
        match store_batch(&ingest, &reports).await {
            Ok(outcomes) => break outcomes,
            Err(err) if attempt < MAX_ATTEMPTS && is_transient(&err) => attempt += 1,
            Err(err) => {
                tracing::warn!(error = %err, reports = reports.len(), "a batch of steady reports failed; each takes the full path");
                break vec![None; reports.len()];
            }
        }
    };
    let stored = outcomes.iter().filter(|o| o.is_some()).count() as u64;
    if stored > 0 {
        let counts = ingest.group_commit();
        counts.reports.fetch_add(stored, Ordering::Relaxed);
        counts.batches.fetch_add(1, Ordering::Relaxed);
    }
    for (queued, outcome) in batch.into_iter().zip(outcomes) {
        let _ = queued.reply.send(match outcome {
            Some(outcome) => Committed::Stored(Box::new(outcome)),
            None => Committed::LeftBatch,
        });
    }
}

/// One transaction for the batch; per report, its outcome or `None` (it left the batch).
async fn store_batch(
    ingest: &Ingest,
    reports: &[&SteadyReport],
) -> StoreResult<Vec<Option<IngestOutcome>>> {
    let asked = Instant::now();
    let mut tx = ingest.store().begin().await?;
    ingest
        .lag()
        .waited("a database connection", asked.elapsed(), now_ms());
    let computers: Vec<ComputerRow<'_>> = reports
        .iter()
        .map(|r| ComputerRow {
            agent_id: &r.agent_id,
            seq: r.seq,
            computer_id: r.computer_id,
            hash: &r.fingerprint,
            metrics: &r.measurements,
            seen_at: r.collected_at(),
        })
        .collect();
    let volumes: Vec<VolumeRow<'_>> = reports
        .iter()
        .flat_map(|r| {
            r.volumes.iter().map(|(hash, metrics)| VolumeRow {
                computer_id: r.computer_id,
                hash,
                metrics,
                seen_at: r.collected_at(),
            })
        })
        .collect();
    let refreshed = Found::from(batch::refresh(&mut tx, &computers, &volumes).await?);

    let now = now_ms();
    let mut steady = Vec::with_capacity(reports.len());
    for report in reports {
        let rules = ingest
            .rules_at(&mut tx, report.tenant, refreshed.rules_revision)
            .await?;
        steady.push(refreshed.steady(ingest.forecasts(), report, rules, now));
    }
    let ledger = reports
        .iter()
        .zip(&steady)
        .filter(|(_, s)| s.is_some())
        .map(|(r, _)| rows::ledger(r.tenant, &r.agent_id, &r.incoming.report, now))
        .collect::<StoreResult<Vec<_>>>()?;
    let mut configs: HashMap<String, _> = if ledger.is_empty() {
        HashMap::new()
    } else {
        crate::store::reports::record_batch(&mut tx, &ledger)
            .await?
            .into_iter()
            .collect()
    };
    // Not steady, or already in the ledger (the full path then says it is a duplicate): out.
    let stored: Vec<Option<(Steady<'_>, AgentConfigLayers)>> = reports
        .iter()
        .zip(steady)
        .map(|(report, steady)| steady.zip(configs.remove(&report.agent_id)))
        .collect();
    let mut samples = Vec::new();
    for (report, stored) in reports.iter().zip(&stored) {
        if let Some((steady, _)) = stored {
            steady.samples(report, &mut samples);
        }
    }
    crate::store::samples::record_batch(&mut tx, &samples).await?;
    let mut outcomes = Vec::with_capacity(reports.len());
    for (report, stored) in reports.iter().zip(stored) {
        let Some((steady, config)) = stored else {
            outcomes.push(None);
            continue;
        };
        let incidents_opened = match steady.quiet {
            true => 0,
            false => steady.show_rules(&mut tx, ingest, report).await?,
        };
        outcomes.push(Some(IngestOutcome {
            duplicate: false,
            computer_id: Some(report.computer_id),
            incidents_opened,
            config: Some(config),
        }));
    }
    tx.commit().await?;
    Ok(outcomes)
}

/// What the batch's refresh found, by computer.
struct Found {
    rules_revision: i64,
    /// Refreshed computers: whether an alert is unsettled, live volumes.
    computers: HashMap<i64, (bool, i64)>,
    /// Refreshed volumes by (computer, fingerprint).
    volumes: HashMap<(i64, String), i64>,
    /// Live disks (id, kernel name) by computer.
    disks: HashMap<i64, Vec<(i64, String)>>,
    /// Live services (id, unit name, measurements) by computer.
    services: HashMap<i64, Vec<(i64, String, Option<String>)>>,
}

impl From<batch::Refreshed> for Found {
    fn from(refreshed: batch::Refreshed) -> Self {
        let mut found = Found {
            rules_revision: refreshed.rules_revision,
            computers: refreshed
                .computers
                .into_iter()
                .map(|(id, unsettled, live)| (id, (unsettled, live)))
                .collect(),
            volumes: refreshed
                .volumes
                .into_iter()
                .map(|(computer, id, hash)| ((computer, hash), id))
                .collect(),
            disks: HashMap::new(),
            services: HashMap::new(),
        };
        for (computer, id, class, name, measurements) in refreshed.parts {
            if class == crate::cmdb::class::SERVICE {
                let services = found.services.entry(computer).or_default();
                services.push((id, name, measurements));
            } else {
                found.disks.entry(computer).or_default().push((id, name));
            }
        }
        found
    }
}

/// A report found steady: the CIs its samples go to, what the rules are shown, and whether
/// they have anything to do with it.
struct Steady<'r> {
    volume_ids: Vec<i64>,
    disks: Vec<disks::KnownDisk<'r>>,
    services: &'r [(i64, String, Option<String>)],
    shown: Shown<'r>,
    rules: Arc<Vec<Rule>>,
    unsettled: bool,
    /// No alert unsettled, no threshold crossed, no service changed, no forecast due: the
    /// rules would do nothing.
    quiet: bool,
}

impl Found {
    /// The report's CIs if it is steady: its computer and every volume refreshed (unchanged,
    /// none added or gone). Anything else is for the full path.
    fn steady<'r>(
        &'r self,
        forecasts: &ForecastSchedule,
        report: &'r SteadyReport,
        rules: Arc<Vec<Rule>>,
        now: i64,
    ) -> Option<Steady<'r>> {
        let &(unsettled, live) = self.computers.get(&report.computer_id)?;
        if usize::try_from(live).ok()? != report.volumes.len() {
            return None;
        }
        let volume_ids = report
            .volumes
            .iter()
            .map(|(fingerprint, _)| {
                let key = (report.computer_id, fingerprint.clone());
                self.volumes.get(&key).copied()
            })
            .collect::<Option<Vec<i64>>>()?;
        let services = self
            .services
            .get(&report.computer_id)
            .map_or(&[][..], Vec::as_slice);
        let known_disks = self
            .disks
            .get(&report.computer_id)
            .map_or(&[][..], Vec::as_slice);
        let incoming = &report.incoming;
        let disks = disks::known(known_disks, &incoming.disk_io);
        let shown = Shown::of(
            report.tenant,
            report.computer_id,
            &incoming.report,
            &incoming.volume_inodes,
            &volume_ids,
            now,
        );
        let breached = |(metric, value): &(&str, f64)| {
            rules
                .iter()
                .any(|r| r.metric == *metric && r.levels().severity_of(*value).is_some())
        };
        let mut readings = shown
            .readings
            .iter()
            .chain(shown.volumes.iter().flat_map(|v| v.readings.iter()));
        let crossed = readings.any(breached)
            || disks
                .iter()
                .any(|d| disks::readings(d.disk, false).iter().any(breached));
        let collected_at = shown.collected_at;
        let forecast_due = shown.volumes.iter().any(|v| {
            forecast_wanted(volume_used(&v.readings), &rules)
                && forecasts.is_due(v.ci_id, collected_at)
        });
        let quiet = !unsettled
            && !crossed
            && !forecast_due
            && !services::any_changed(report.service_states(), services);
        Some(Steady {
            volume_ids,
            disks,
            services,
            shown,
            rules,
            unsettled,
            quiet,
        })
    }
}

impl Steady<'_> {
    /// Show the rules everything the report says, as the full path would (in the batch's
    /// transaction); the incidents this opened.
    async fn show_rules(
        &self,
        tx: &mut Tx<'_>,
        ingest: &Ingest,
        report: &SteadyReport,
    ) -> StoreResult<usize> {
        let Shown {
            tenant,
            computer_id,
            host,
            now,
            collected_at,
            ..
        } = self.shown;
        let mut engine = Engine::with_rules(
            tx,
            ingest.store().backend(),
            Arc::clone(&self.rules),
            computer_id,
            Some(self.unsettled),
            now,
        )
        .await?;
        show_computer_and_volumes(tx, ingest.forecasts(), &mut engine, &self.shown).await?;
        services::observe_states(
            tx,
            &mut engine,
            tenant,
            computer_id,
            host,
            report.service_states(),
            self.services,
            collected_at,
        )
        .await?;
        disks::observe(
            tx,
            &mut engine,
            tenant,
            computer_id,
            host,
            &self.disks,
            &[],
            collected_at,
        )
        .await?;
        Ok(engine.incidents_opened)
    }

    /// The report's samples ([`rows::samples`], as the full path writes them).
    fn samples<'r>(&self, report: &'r SteadyReport, out: &mut Vec<SampleRow<'r>>) {
        let cis = rows::SampledCis {
            computer_id: report.computer_id,
            volume_ids: &self.volume_ids,
            known_disks: &self.disks,
        };
        let incoming = &report.incoming;
        rows::samples(
            report.tenant,
            &incoming.report,
            &incoming.volume_inodes,
            &cis,
            out,
        );
    }
}
