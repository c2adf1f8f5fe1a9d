//! Ingest: one agent report, committed atomically, so the agent's acknowledgement means all of
//! it is durable. A report goes through four named steps in one transaction (`ingest_once`):
//!
//! 1. [`ledger`] — the sequence number recorded for the agent; a replay stops here;
//! 2. [`observe`] — the CMDB observes the computer, its inventory, volumes, disks and services;
//! 3. [`record_samples`] — every measurement, in one statement;
//! 4. [`alert`] — the rules are shown what the report says ([`crate::alerting::Engine`]), and commands
//!    to the lifecycle core open, update and resolve incidents.
//!
//! On PostgreSQL a report that changes nothing in the CMDB is committed together with other
//! agents' ([`steady`], group commit): a way of batching the same steps, not a second copy of
//! them. Each step's rows for one report are made by one function for both paths — the ledger
//! row and the samples by [`rows`], the computer's and volumes' refresh by `cmdb::inventory`,
//! what the rules are shown by `Shown::of` — and the batch writes many reports' rows in one
//! statement per step, then runs step 4 for each report that has anything to show the rules,
//! with the same alerting code.

mod disks;
pub mod forecasts;
mod parts;
mod rows;
mod runtime;
mod services;
pub mod steady;

use atalaya_shared::{DiskIo, Inventory, Report, ServiceState, Volume, VolumeInodes};

use crate::cmdb::{inventory, software};
use crate::store::agent_configs::AgentConfigLayers;
use crate::store::agents::{AgentIdentity, AgentRecord};
use crate::store::{now_ms, reports, StoreError, StoreResult, TenantId, Tx};

pub use runtime::Ingest;

use crate::alerting::{Engine, Subject};
use crate::rules::metrics;
use crate::store::rules::Rule;

/// The sample name volume usage is stored under.
pub const VOLUME_USED_PERCENT: &str = metrics::VOLUME_USED_PERCENT;

/// A report as it arrives: the shared envelope ([`atalaya_shared::ReportEnvelope`]) — the
/// protocol's [`Report`] plus the inventory the agent attaches when it changed (or on its daily
/// schedule), the state of every service at this collection (absent when the agent could not ask
/// its service manager), the volumes' inode use and every whole disk's I/O rates and last SMART
/// verdict. Checked with [`validate_incoming`].
pub use atalaya_shared::ReportEnvelope as IncomingReport;

/// Check what [`validate`] checks, and the top-level fields.
pub fn validate_incoming(incoming: &IncomingReport) -> Result<(), String> {
    validate(&incoming.report)?;
    if incoming
        .service_states
        .as_ref()
        .is_some_and(|s| s.len() > 20_000)
    {
        return Err("too many service states in one report (at most 20000)".into());
    }
    if incoming.volume_inodes.len() > 4096 {
        return Err("too many volume_inodes in one report (at most 4096)".into());
    }
    if incoming
        .volume_inodes
        .iter()
        .any(|v| v.inodes_free > v.inodes_total || v.inodes_total > i64::MAX as u64)
    {
        return Err("a volume_inodes entry has more free than total inodes".into());
    }
    validate_disk_io(&incoming.disk_io)
}

fn validate_disk_io(disk_io: &[DiskIo]) -> Result<(), String> {
    if disk_io.len() > 4096 {
        return Err("too many disk_io entries in one report (at most 4096)".into());
    }
    let mut devices: Vec<&str> = disk_io.iter().map(|d| d.device.as_str()).collect();
    devices.sort_unstable();
    if devices.first().is_some_and(|d| d.is_empty()) {
        return Err("a disk_io entry has an empty device".into());
    }
    if devices.windows(2).any(|w| w[0] == w[1]) {
        return Err("a device appears twice in disk_io".into());
    }
    let bad_rate = |r: Option<f64>| r.is_some_and(|r| !r.is_finite() || r < 0.0);
    let too_big = |n: Option<u64>| n.is_some_and(|n| n > i64::MAX as u64);
    if disk_io.iter().any(|d| {
        [
            d.read_bytes_per_sec,
            d.write_bytes_per_sec,
            d.reads_per_sec,
            d.writes_per_sec,
        ]
        .into_iter()
        .any(bad_rate)
            || [d.reallocated_sectors, d.pending_sectors, d.wear_percent]
                .into_iter()
                .any(too_big)
    }) {
        return Err("disk_io rates must be finite and not negative, counts in range".into());
    }
    Ok(())
}

/// The per-collection extras of a report, beside the [`Report`] and its inventory.
#[derive(Debug, Clone, Copy, Default)]
struct Extras<'a> {
    service_states: Option<&'a [ServiceState]>,
    volume_inodes: &'a [VolumeInodes],
    disk_io: &'a [DiskIo],
}

/// What happened to a report.
#[derive(Debug, Clone)]
pub struct IngestOutcome {
    /// The sequence number had been stored before; nothing changed.
    pub duplicate: bool,
    pub computer_id: Option<i64>,
    /// Incidents this report opened.
    pub incidents_opened: usize,
    /// The agent's config as the report's transaction read it (`None` for a duplicate).
    pub config: Option<AgentConfigLayers>,
}

/// Check what no database constraint can: values a well-behaved agent never sends.
pub fn validate(report: &Report) -> Result<(), String> {
    if report.host.hostname.trim().is_empty() {
        return Err("host.hostname must not be empty".into());
    }
    if report.seq > i64::MAX as u64 {
        return Err("seq is out of range".into());
    }
    if report.volumes.len() > 4096 {
        return Err("too many volumes in one report (at most 4096)".into());
    }
    let mut mounts: Vec<&str> = report
        .volumes
        .iter()
        .map(|v| v.mount_point.as_str())
        .collect();
    mounts.sort_unstable();
    if mounts.windows(2).any(|w| w[0] == w[1]) {
        return Err("a mount point appears twice in volumes".into());
    }
    if report.volumes.iter().any(bad_volume) {
        return Err("a volume has an empty mount point or more available than total bytes".into());
    }
    if report
        .metrics
        .iter()
        .any(|s| !s.value.is_finite() || s.metric.is_empty())
    {
        return Err("metrics must have a name and a finite value".into());
    }
    Ok(())
}

fn bad_volume(v: &Volume) -> bool {
    v.mount_point.is_empty() || v.available_bytes > v.total_bytes || v.total_bytes > i64::MAX as u64
}

impl Ingest {
    /// Store one report. The caller has authenticated the agent and validated the report.
    pub async fn report(
        &self,
        agent: &AgentIdentity,
        report: &Report,
    ) -> StoreResult<IngestOutcome> {
        self.report_with_inventory(agent, report, None).await
    }

    /// Store one report as it arrived, with its inventory, service states and inode use.
    pub async fn incoming(
        &self,
        agent: &AgentIdentity,
        incoming: &IncomingReport,
    ) -> StoreResult<IngestOutcome> {
        if let Some(steady) = steady::SteadyReport::prepare(self.store(), agent, incoming) {
            if let steady::Committed::Stored(outcome) =
                self.group_commit().submit(self, steady).await
            {
                return Ok(*outcome);
            }
        }
        let extras = Extras {
            service_states: incoming.service_states.as_deref(),
            volume_inodes: &incoming.volume_inodes,
            disk_io: &incoming.disk_io,
        };
        ingest_full(
            self,
            agent,
            &incoming.report,
            incoming.inventory.as_ref(),
            extras,
        )
        .await
    }

    /// Store one report and, when present, the inventory that came with it.
    pub async fn report_with_inventory(
        &self,
        agent: &AgentIdentity,
        report: &Report,
        inventory: Option<&Inventory>,
    ) -> StoreResult<IngestOutcome> {
        ingest_full(self, agent, report, inventory, Extras::default()).await
    }
}

async fn ingest_full(
    runtime: &Ingest,
    agent: &AgentIdentity,
    report: &Report,
    inventory: Option<&Inventory>,
    extras: Extras<'_>,
) -> StoreResult<IngestOutcome> {
    // The daily full send mostly repeats the inventory the computer already has: that costs
    // neither an inventory slot nor the catalogue, which cost as much as a change — and, when
    // this process stored the agent's last inventory, not even a read here.
    let store = runtime.store();
    let mut needs_catalogue = match inventory {
        Some(inventory) => match runtime
            .inventory_hints()
            .get(&agent.agent_id, &inventory.hash)
        {
            Some(same) => !same,
            None => {
                !store
                    .has_applied_inventory(&agent.agent_id, &inventory.hash)
                    .await?
            }
        },
        None => false,
    };
    let mut attempt = 1;
    loop {
        // A report with an inventory writes hundreds of rows; a few at a time is plenty, and the
        // small reports keep the rest of the connection pool (and SQLite's write lock between
        // them).
        let _inventory_slot = match needs_catalogue {
            true => {
                let asked = std::time::Instant::now();
                let slot = INVENTORY_SLOTS
                    .acquire()
                    .await
                    .map_err(|_| StoreError::Invalid("the server is shutting down".into()))?;
                runtime
                    .lag()
                    .waited("an inventory slot", asked.elapsed(), now_ms());
                Some(slot)
            }
            false => None,
        };
        let catalogue = match inventory {
            Some(inventory) if needs_catalogue => {
                Some(software::Catalogue::register(store, &inventory.software).await?)
            }
            _ => None,
        };
        match ingest_once(
            runtime,
            agent,
            report,
            inventory,
            catalogue.as_ref(),
            extras,
        )
        .await
        {
            // The computer's inventory changed since the look-up above (a concurrent report of
            // the same machine): store it again, this time with its catalogue.
            Ok(Attempt::NeedsCatalogue) if !needs_catalogue => needs_catalogue = true,
            Ok(Attempt::NeedsCatalogue) => {
                return Err(StoreError::Invalid(
                    "the inventory's catalogue was registered but not passed on".into(),
                ))
            }
            Ok(Attempt::Stored(outcome)) => {
                if let (Some(inventory), false) = (inventory, outcome.duplicate) {
                    runtime
                        .inventory_hints()
                        .remember(&agent.agent_id, &inventory.hash);
                }
                return Ok(*outcome);
            }
            Err(err) if attempt < MAX_ATTEMPTS && is_transient(&err) => {
                tracing::debug!(attempt, error = %err, "report transaction failed; retrying");
                attempt += 1;
            }
            Err(err) => return Err(err),
        }
    }
}

/// How one try of a report's transaction ended.
enum Attempt {
    Stored(Box<IngestOutcome>),
    /// The inventory is not the computer's current one, and the try had no catalogue for it:
    /// rolled back.
    NeedsCatalogue,
}

/// Reports with an inventory being stored at once, per server process.
static INVENTORY_SLOTS: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Tries of one report's transaction before its error reaches the agent (which retries later).
const MAX_ATTEMPTS: u32 = 3;

/// A failure that says nothing about the report, only about its timing: a PostgreSQL deadlock or
/// serialization failure, or SQLite's stale-snapshot busy error. Retrying is safe: a report that
/// did commit is recognised by its sequence number.
fn is_transient(err: &StoreError) -> bool {
    let StoreError::Database(sqlx::Error::Database(db)) = err else {
        return false;
    };
    matches!(db.code().as_deref(), Some("40P01" | "40001" | "517"))
}

async fn ingest_once(
    runtime: &Ingest,
    agent: &AgentIdentity,
    report: &Report,
    inventory: Option<&Inventory>,
    catalogue: Option<&software::Catalogue>,
    extras: Extras<'_>,
) -> StoreResult<Attempt> {
    let now = now_ms();
    let asked = std::time::Instant::now();
    let mut tx = runtime.store().begin().await?;
    runtime
        .lag()
        .waited("a database connection", asked.elapsed(), now_ms());

    let Some(recorded) = ledger(&mut tx, agent, report, now).await? else {
        tx.rollback().await?;
        return Ok(Attempt::Stored(Box::new(IngestOutcome {
            duplicate: true,
            computer_id: None,
            incidents_opened: 0,
            config: None,
        })));
    };
    let Some(observed) = observe(&mut tx, agent, report, inventory, catalogue, extras).await?
    else {
        tx.rollback().await?;
        return Ok(Attempt::NeedsCatalogue);
    };
    record_samples(&mut tx, agent.tenant, report, &observed, extras).await?;
    let incidents_opened = alert(
        &mut tx,
        runtime,
        agent.tenant,
        recorded.rules_revision,
        report,
        inventory,
        &observed,
        extras,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(Attempt::Stored(Box::new(IngestOutcome {
        duplicate: false,
        computer_id: Some(observed.computer_id),
        incidents_opened,
        config: Some(recorded.config),
    })))
}

/// Step 1, the ledger: the report's sequence number recorded for its agent ([`rows::ledger`]);
/// `None` for one seen before (a replay after a lost acknowledgement), which stores nothing
/// more.
async fn ledger(
    tx: &mut Tx<'_>,
    agent: &AgentIdentity,
    report: &Report,
    now: i64,
) -> StoreResult<Option<reports::Recorded>> {
    let row = rows::ledger(agent.tenant, &agent.agent_id, report, now)?;
    reports::record(tx, &row).await
}

/// What the CMDB made of a report: its computer, the CIs of its volumes (in report order), of
/// the disks and services its inventory set, and the parts the rules are shown.
struct Observed<'r> {
    computer_id: i64,
    alerts_unsettled: Option<bool>,
    volume_ids: Vec<i64>,
    /// The inventory's disks and services, when one was applied.
    applied: Option<inventory::Applied>,
    /// This collection's service states, unless the applied inventory set every service.
    service_states: Option<&'r [ServiceState]>,
    services: Vec<(i64, String, Option<String>)>,
    /// The disks of `disk_io` that have a CI.
    known_disks: Vec<disks::KnownDisk<'r>>,
}

/// Step 2, the CMDB observes: the computer (created, refreshed or reconciled), the agent's row
/// pointed at it, the inventory applied, the volumes, and the disks and services the rules will
/// see. `None`: the inventory is not the computer's current one and this try has no catalogue.
async fn observe<'r>(
    tx: &mut Tx<'_>,
    agent: &AgentIdentity,
    report: &Report,
    inventory: Option<&Inventory>,
    catalogue: Option<&software::Catalogue>,
    extras: Extras<'r>,
) -> StoreResult<Option<Observed<'r>>> {
    let tenant = agent.tenant;
    let collected_at = report.collected_at.timestamp_millis();
    // The volumes, fingerprinted for the computer the agent reported for last time: when
    // nothing changed they are refreshed with it.
    let last_computer = agent.recorded.as_ref().and_then(|r| r.computer_id);
    let observed_ahead = last_computer
        .map(|id| inventory::observe_volumes(tenant, id, &report.volumes, collected_at));
    let volumes_ahead = last_computer
        .zip(observed_ahead.as_deref())
        .map(|(id, observed)| inventory::prepare_volumes(id, observed));
    // An inventory the computer already has adds nothing to its attributes (checked below).
    let mut computer = inventory::computer(
        tx,
        tenant,
        &agent.agent_id,
        &report.host,
        &report.agent_version,
        inventory.filter(|_| catalogue.is_some()),
        &report.metrics,
        collected_at,
        volumes_ahead.as_ref(),
    )
    .await?;
    let computer_id = computer.ci_id;
    let record = AgentRecord {
        computer_id: Some(computer_id),
        hostname: report.host.hostname.clone(),
        agent_version: report.agent_version.clone(),
    };
    if agent.recorded.as_ref() != Some(&record) {
        reports::record_agent(tx, &agent.agent_id, &record).await?;
    }

    let applied = match inventory {
        Some(inventory) => {
            let hash = computer.inventory_hash.as_deref();
            match catalogue {
                Some(catalogue) => {
                    inventory::apply(
                        tx,
                        tenant,
                        computer_id,
                        inventory,
                        catalogue,
                        hash,
                        collected_at,
                    )
                    .await?
                }
                None if inventory::already_applied(inventory, hash) => None,
                None => return Ok(None),
            }
        }
        None => None,
    };
    let observed_now;
    let volumes_now;
    let volumes = match &volumes_ahead {
        Some(ahead) if ahead.computer_id == computer_id => ahead,
        _ => {
            observed_now =
                inventory::observe_volumes(tenant, computer_id, &report.volumes, collected_at);
            volumes_now = inventory::prepare_volumes(computer_id, &observed_now);
            &volumes_now
        }
    };
    let refreshed_ahead = computer.components.take();
    let volume_ids = inventory::volumes(tx, tenant, volumes, refreshed_ahead, collected_at).await?;
    // Services: from the inventory when one was applied (it has just set every service CI),
    // else from this collection's service states.
    let services_from_inventory = applied
        .as_ref()
        .is_some_and(|_| inventory.is_some_and(|i| !i.unavailable.contains_key("services")));
    let service_states = extras
        .service_states
        .filter(|states| !services_from_inventory && !states.is_empty());
    // Disks (by name) and services, once the inventory (if any) has made their CIs.
    let parts = parts::load(
        tx,
        computer_id,
        !extras.disk_io.is_empty(),
        service_states.is_some(),
    )
    .await?;
    Ok(Some(Observed {
        computer_id,
        alerts_unsettled: computer.alerts_unsettled,
        volume_ids,
        applied,
        service_states,
        known_disks: disks::known(&parts.disks, extras.disk_io),
        services: parts.services,
    }))
}

/// Step 3, the samples: every measurement of the report ([`rows::samples`]) in one statement,
/// before the rules read them.
async fn record_samples(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    report: &Report,
    observed: &Observed<'_>,
    extras: Extras<'_>,
) -> StoreResult<()> {
    let cis = rows::SampledCis {
        computer_id: observed.computer_id,
        volume_ids: &observed.volume_ids,
        known_disks: &observed.known_disks,
    };
    let mut samples = Vec::new();
    rows::samples(tenant, report, extras.volume_inodes, &cis, &mut samples);
    crate::store::samples::record(tx, &samples).await
}

/// Step 4, alerting: the tenant's rules (at the ledger's revision) are shown the computer and
/// its volumes (with their fill forecasts when due), the services, and the disks' SMART verdicts
/// — from the inventory when it has them, else from `disk_io`. The incidents it opened.
#[allow(clippy::too_many_arguments)]
async fn alert(
    tx: &mut Tx<'_>,
    runtime: &Ingest,
    tenant: TenantId,
    rules_revision: i64,
    report: &Report,
    inventory: Option<&Inventory>,
    observed: &Observed<'_>,
    extras: Extras<'_>,
    now: i64,
) -> StoreResult<usize> {
    let collected_at = report.collected_at.timestamp_millis();
    let computer_id = observed.computer_id;
    let rules = runtime.rules_at(tx, tenant, rules_revision).await?;
    let mut engine = Engine::with_rules(
        tx,
        runtime.store().backend(),
        rules,
        computer_id,
        observed.alerts_unsettled,
        now,
    )
    .await?;
    let host = &report.host.hostname;
    let shown = Shown::of(
        tenant,
        computer_id,
        report,
        extras.volume_inodes,
        &observed.volume_ids,
        now,
    );
    show_computer_and_volumes(tx, runtime.forecasts(), &mut engine, &shown).await?;
    if let Some(states) = observed.service_states {
        services::observe_states(
            tx,
            &mut engine,
            tenant,
            computer_id,
            host,
            states,
            &observed.services,
            collected_at,
        )
        .await?;
    }
    // Disks whose SMART verdict the inventory of this report shows the rules (fresher than the
    // report's `disk_io`, which the agent made before reading the inventory).
    let mut disks_from_inventory = Vec::new();
    if let (Some(applied), Some(inventory)) = (&observed.applied, inventory) {
        for (disk, id) in inventory.disks.iter().zip(&applied.disk_ids) {
            let id = *id;
            let subject = Subject {
                tenant,
                ci_id: id,
                computer_id,
                description: format!("Disk {} on {host}", disk.name),
            };
            // Unavailable SMART is unknown, not healthy: it must not resolve a failing disk.
            let passed = disk.smart.passed.filter(|_| disk.smart.available);
            if let Some(passed) = passed {
                disks_from_inventory.push(id);
                engine
                    .observe(
                        tx,
                        &subject,
                        metrics::DISK_SMART_FAILED,
                        f64::from(u8::from(!passed)),
                        collected_at,
                    )
                    .await?;
            }
            if let Some(n) = disk.smart.reallocated_sectors {
                engine
                    .observe(
                        tx,
                        &subject,
                        metrics::DISK_REALLOCATED_SECTORS,
                        n as f64,
                        collected_at,
                    )
                    .await?;
            }
            if let Some(n) = disk.smart.pending_sectors {
                engine
                    .observe(
                        tx,
                        &subject,
                        metrics::DISK_PENDING_SECTORS,
                        n as f64,
                        collected_at,
                    )
                    .await?;
            }
        }
        for (service, id) in inventory.services.iter().zip(&applied.service_ids) {
            let subject = Subject {
                tenant,
                ci_id: *id,
                computer_id,
                description: format!("Service {} on {host}", service.name),
            };
            let stopped = f64::from(u8::from(service.active_state.as_deref() != Some("active")));
            engine
                .observe(
                    tx,
                    &subject,
                    metrics::SERVICE_STOPPED,
                    stopped,
                    collected_at,
                )
                .await?;
        }
    }
    disks::observe(
        tx,
        &mut engine,
        tenant,
        computer_id,
        host,
        &observed.known_disks,
        &disks_from_inventory,
        collected_at,
    )
    .await?;
    Ok(engine.incidents_opened)
}

/// A report's computer and volumes as the rules see them.
struct Shown<'a> {
    tenant: TenantId,
    computer_id: i64,
    host: &'a str,
    /// See [`computer_readings`].
    readings: Vec<(&'static str, f64)>,
    volumes: Vec<ShownVolume<'a>>,
    /// The report's arrival (proof of life counts from it).
    now: i64,
    collected_at: i64,
}

impl<'a> Shown<'a> {
    /// What the rules are shown of a report's computer and volumes (`volume_ids`: the volumes'
    /// CIs, in report order) — the same for both paths.
    fn of(
        tenant: TenantId,
        computer_id: i64,
        report: &'a Report,
        volume_inodes: &[VolumeInodes],
        volume_ids: &[i64],
        now: i64,
    ) -> Self {
        let volumes = report
            .volumes
            .iter()
            .zip(volume_ids)
            .map(|(volume, ci_id)| ShownVolume {
                ci_id: *ci_id,
                mount_point: &volume.mount_point,
                total_bytes: volume.total_bytes,
                readings: volume_readings(volume, inodes_used(volume_inodes, &volume.mount_point)),
            })
            .collect();
        Shown {
            tenant,
            computer_id,
            host: &report.host.hostname,
            readings: computer_readings(report),
            volumes,
            now,
            collected_at: report.collected_at.timestamp_millis(),
        }
    }
}

struct ShownVolume<'a> {
    ci_id: i64,
    mount_point: &'a str,
    total_bytes: u64,
    /// See [`volume_readings`].
    readings: Vec<(&'static str, f64)>,
}

/// Show the rules a report's computer and volumes — and each volume's fill forecast, when it is
/// due.
async fn show_computer_and_volumes(
    tx: &mut crate::store::Tx<'_>,
    forecasts: &forecasts::ForecastSchedule,
    engine: &mut Engine,
    shown: &Shown<'_>,
) -> StoreResult<()> {
    let Shown {
        tenant,
        computer_id,
        host,
        now,
        collected_at,
        ..
    } = *shown;
    let computer = Subject {
        tenant,
        ci_id: computer_id,
        computer_id,
        description: format!("Computer {host}"),
    };
    // A report is proof of life: an offline alert on this computer recovers (as of now, the
    // report's arrival).
    for &(metric, value) in &shown.readings {
        let at = if metric == metrics::OFFLINE_SECONDS {
            now
        } else {
            collected_at
        };
        engine.observe(tx, &computer, metric, value, at).await?;
    }
    for volume in &shown.volumes {
        let subject = Subject {
            tenant,
            ci_id: volume.ci_id,
            computer_id,
            description: format!("Volume {} on {host}", volume.mount_point),
        };
        for &(metric, value) in &volume.readings {
            engine
                .observe(tx, &subject, metric, value, collected_at)
                .await?;
        }
        // Forecasting reads hours of samples: worth it only once a volume is half full (a
        // half-empty one that fills within a day trips the usage rules long before it is full).
        let used = volume_used(&volume.readings);
        if forecast_wanted(used, engine.rules()) && forecasts.due(volume.ci_id, collected_at) {
            let forecast =
                forecast_hours(tx, volume.ci_id, volume.total_bytes, collected_at).await?;
            if let Some(hours) = forecast {
                engine
                    .observe(
                        tx,
                        &subject,
                        metrics::VOLUME_HOURS_TO_FULL,
                        hours,
                        collected_at,
                    )
                    .await?;
            }
        }
    }
    Ok(())
}

/// The usage among a volume's [`volume_readings`].
fn volume_used(readings: &[(&'static str, f64)]) -> f64 {
    readings
        .iter()
        .find(|(metric, _)| *metric == metrics::VOLUME_USED_PERCENT)
        .map_or(0.0, |(_, used)| *used)
}

/// Volumes less full than this are not forecast.
const FORECAST_FROM_PERCENT: f64 = 50.0;

/// The inode use the agent sent for the volume mounted at `mount`, if any.
fn inodes_used(volume_inodes: &[VolumeInodes], mount: &str) -> Option<f64> {
    volume_inodes
        .iter()
        .find(|i| i.mount_point == mount && i.inodes_total > 0)
        .map(VolumeInodes::used_percent)
}

/// Whether a volume this full is forecast (when its forecast is due), under these rules.
fn forecast_wanted(used_percent: f64, rules: &[Rule]) -> bool {
    used_percent >= FORECAST_FROM_PERCENT
        && rules
            .iter()
            .any(|r| r.metric == metrics::VOLUME_HOURS_TO_FULL)
}

/// What a report shows the rules of one of its volumes (besides the forecast): its usage, its
/// inode use when the agent sent it, and its free bytes.
fn volume_readings(volume: &Volume, inodes_used: Option<f64>) -> Vec<(&'static str, f64)> {
    let mut readings = vec![(metrics::VOLUME_USED_PERCENT, volume.used_percent())];
    if let Some(inodes_used) = inodes_used {
        readings.push((metrics::VOLUME_INODES_USED_PERCENT, inodes_used));
    }
    readings.push((metrics::VOLUME_FREE_BYTES, volume.available_bytes as f64));
    readings
}

/// A report's computer-level readings as the rules see them: proof of life (no offline
/// seconds) and the latest of its samples.
fn computer_readings(report: &Report) -> Vec<(&'static str, f64)> {
    let mut readings = vec![(metrics::OFFLINE_SECONDS, 0.0)];
    readings.extend(computer_metrics(report));
    readings
}

/// Computer-level rule metrics from a report's samples (the latest of each).
fn computer_metrics(report: &Report) -> Vec<(&'static str, f64)> {
    use atalaya_shared::metric as m;
    let latest = |name: &str| {
        report
            .metrics
            .iter()
            .rev()
            .find(|s| s.metric == name)
            .map(|s| s.value)
    };
    let share = |used: Option<f64>, total: Option<f64>| match (used, total) {
        (Some(u), Some(t)) if t > 0.0 => Some(u * 100.0 / t),
        _ => None,
    };
    let memory_total =
        latest(m::MEMORY_TOTAL_BYTES).or(report.host.memory_total_bytes.map(|b| b as f64));
    [
        (metrics::CPU_PERCENT, latest(m::CPU_USAGE_PERCENT)),
        (metrics::LOAD_1M, latest(m::LOAD_1)),
        (
            metrics::MEMORY_USED_PERCENT,
            share(latest(m::MEMORY_USED_BYTES), memory_total),
        ),
        (
            metrics::SWAP_USED_PERCENT,
            share(latest(m::SWAP_USED_BYTES), latest(m::SWAP_TOTAL_BYTES)),
        ),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| (name, v)))
    .collect()
}

/// Six hours of a volume's usage, extrapolated: hours until it is full at that pace.
async fn forecast_hours(
    tx: &mut crate::store::Tx<'_>,
    volume_id: i64,
    total_bytes: u64,
    at: i64,
) -> StoreResult<Option<f64>> {
    let rows: Vec<(i64, f64)> = sqlx::query_as(
        "SELECT at, value FROM metric_samples WHERE ci_id = $1 AND metric = $2 AND at > $3 AND at <= $4 ORDER BY at",
    )
    .bind(volume_id)
    .bind(VOLUME_USED_PERCENT)
    .bind(at - 6 * 3_600_000)
    .bind(at)
    .fetch_all(&mut **tx)
    .await?;
    let total = total_bytes as f64;
    let samples: Vec<(i64, f64)> = rows
        .into_iter()
        .map(|(t, pct)| (t, pct * total / 100.0))
        .collect();
    Ok(crate::rules::forecast::hours_to_full(&samples, total))
}
