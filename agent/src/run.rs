//! `atalaya-agent run`: collect at the interval, spool each report durably, and upload the spool
//! in the background. The collector and the sender are two tasks on one thread; neither waits
//! for the other (a dead server never delays a collection, a slow collection never delays a send).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use atalaya_shared::ReportEnvelope;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::agent_config::{self, ConfigSync, LocalOverrides, Settings};
use crate::cli::RunArgs;
use crate::collect::{Collection, Collector};
use crate::error::AgentError;
use crate::inventory::{self, InventoryDecision, InventoryPlan};
use crate::report::{self, StateTracker};
use crate::spool::{Priority, Spool};
use crate::state::{Credential, SeqCounter, StateDir};
use crate::uploader::{self, lock, Backoff, Drained, Uploader};

const DEFAULT_INTERVAL_SECS: u64 = 60;
/// Start-up jitter is at most a quarter of the interval and never more than this, so a fleet
/// restarted at once does not report in lockstep.
const MAX_STARTUP_JITTER: Duration = Duration::from_secs(15);
/// How long to wait before trying again after the server refused the credential.
const UNAUTHORIZED_BACKOFF: Duration = Duration::from_secs(300);

pub async fn command(dir: &StateDir, args: RunArgs) -> Result<()> {
    let credential = Credential::load(dir)?;
    dir.ensure()?;
    let _lock = dir.lock_exclusive()?;
    let default_interval = match credential.report_interval_secs {
        0 => DEFAULT_INTERVAL_SECS,
        secs => secs,
    };
    let overrides = LocalOverrides {
        interval_secs: args.interval,
        spool_max_bytes: args.spool_max_bytes,
        inventory_schedule: args.inventory_schedule.clone(),
    };
    let mut config_sync = ConfigSync::new(dir.clone(), overrides, default_interval);
    let remote = agent_config::load(&dir.agent_config_path());
    let settings = config_sync
        .overrides
        .resolve(remote.as_ref(), config_sync.default_interval)?;
    config_sync.applied = settings.version;
    let spool = Spool::open(&dir.spool_dir(), settings.spool_max_bytes)?;
    let seq = SeqCounter::open(dir, spool.max_seq())?;
    let uploader = Uploader::new(&credential)?;
    let plan = InventoryPlan::load(
        dir.inventory_state_path(),
        settings.schedule.clone(),
        Duration::from_secs(args.inventory_check_secs),
        &credential.agent_id,
    );
    let mut collector = Collector::new();
    collector.set_watched(settings.watched_services.clone());
    let producer = Producer {
        spool: Arc::new(Mutex::new(spool)),
        seq,
        agent_id: credential.agent_id.clone(),
        collector,
        tracker: StateTracker::default(),
        plan,
        watched: settings.watched_services.clone(),
    };

    if args.once {
        return once(producer, &uploader, config_sync).await;
    }

    let (spooled, spooled_bytes) = {
        let spool = lock(&producer.spool);
        (spool.len(), spool.total_bytes())
    };
    tracing::info!(
        agent_id = %credential.agent_id,
        server = %credential.server_url,
        interval_secs = settings.interval_secs,
        config_version = ?settings.version,
        spooled,
        spooled_bytes,
        "agent running"
    );
    let (settings_tx, settings_rx) = watch::channel(settings);
    let wake_sender = Arc::new(Notify::new());
    let sender = Sender {
        dir: dir.clone(),
        spool: producer.spool.clone(),
        uploader,
        wake: wake_sender.clone(),
        config_sync,
        settings_tx,
    };

    tokio::select! {
        () = producer.collect_loop(settings_rx, wake_sender) => Ok(()),
        () = sender.send_loop() => Ok(()),
        () = shutdown_signal() => {
            // Every file write is synchronous between two awaits, so stopping here never
            // leaves a half-written report or sequence number.
            tracing::info!("stopping");
            Ok(())
        }
    }
}

/// Makes collections and puts them in the spool.
struct Producer {
    spool: Arc<Mutex<Spool>>,
    seq: SeqCounter,
    agent_id: String,
    collector: Collector,
    tracker: StateTracker,
    plan: InventoryPlan,
    /// Services the agent config asks to watch (marked in the inventory and service states).
    watched: Vec<String>,
}

impl Producer {
    /// One collection into the spool: the sequence number is durable before it is used, the
    /// report is durable before anyone tries to send it. When the inventory is due it rides in
    /// the report if it changed, or goes in a report of its own (lowest priority) if it is
    /// only the scheduled re-send. Returns the sequence numbers spooled.
    async fn collect_into_spool(&mut self) -> Result<Vec<u64>> {
        let collection = self.collector.collect().await;
        let now = collection.collected_at;
        let volumes_changed = self.tracker.volumes_changed(&collection.volumes);
        let services_changed = self
            .tracker
            .services_changed(collection.service_states.as_deref());
        let smart_changed = self.tracker.smart_changed(&collection.disk_io);
        let state_changed = volumes_changed || services_changed || smart_changed;
        let mut decision = InventoryDecision::Skip;
        let mut inventory = None;
        if self.plan.check_due(now) {
            let watched = self.watched.clone();
            match tokio::task::spawn_blocking(move || inventory::collect(&watched)).await {
                Ok(inv) => {
                    if !inv.unavailable.contains_key("disks") {
                        self.collector.record_inventory_smart(&inv.disks);
                    }
                    decision = self.plan.decide(now, &inv.hash);
                    inventory = Some(inv);
                }
                Err(e) => tracing::error!(error = %e, "inventory collection failed"),
            }
        }
        let host = collection.host.clone();
        let volumes = collection.volumes.clone();
        let changed = decision == InventoryDecision::Changed;

        let n = self.next_seq()?;
        let mut wire = collection.into_wire(&self.agent_id, n, lock(&self.spool).dropped());
        if changed {
            wire.inventory = inventory.clone();
        }
        self.push(&wire, report::priority(state_changed, changed, false))?;
        let mut seqs = vec![n];

        if decision == InventoryDecision::RepeatedDue {
            let n = self.next_seq()?;
            let dropped = lock(&self.spool).dropped();
            let mut wire = Collection {
                collected_at: now,
                host,
                metrics: Vec::new(),
                volumes,
                volume_inodes: Vec::new(),
                service_states: None,
                disk_io: Vec::new(),
            }
            .into_wire(&self.agent_id, n, dropped);
            wire.inventory = inventory.clone();
            self.push(&wire, Priority::RepeatedInventory)?;
            seqs.push(n);
        }
        if let (Some(inv), true) = (&inventory, decision != InventoryDecision::Skip) {
            if let Err(e) = self.plan.record_sent(now, &inv.hash) {
                tracing::warn!(error = %format!("{e:#}"), "inventory state not saved; it may be sent again");
            }
        }
        Ok(seqs)
    }

    fn next_seq(&mut self) -> Result<u64> {
        self.seq.next().inspect_err(|_| {
            let _ = lock(&self.spool).count_lost(1);
        })
    }

    fn push(&self, wire: &ReportEnvelope, priority: Priority) -> Result<()> {
        let mut spool = lock(&self.spool);
        spool.push(wire, priority).map(drop).inspect_err(|_| {
            let _ = spool.count_lost(1);
        })
    }

    /// Applies new settings between two collections: nothing restarts, nothing is lost.
    fn apply(&mut self, old: &Settings, new: &Settings) {
        self.plan.set_schedule(new.schedule.clone());
        if new.spool_max_bytes != old.spool_max_bytes {
            if let Err(e) = lock(&self.spool).set_cap(new.spool_max_bytes) {
                tracing::error!(error = %format!("{e:#}"), "could not shrink the spool to its new cap");
            }
        }
        if new.watched_services != old.watched_services {
            self.watched = new.watched_services.clone();
            self.collector.set_watched(new.watched_services.clone());
            // The inventory marks watched services: check it at the next collection.
            self.plan.check_soon();
        }
    }

    async fn collect_loop(
        mut self,
        mut settings_rx: watch::Receiver<Settings>,
        wake_sender: Arc<Notify>,
    ) {
        let mut current = settings_rx.borrow_and_update().clone();
        let every = current.interval_secs;
        let jitter_cap = Duration::from_secs(every / 4).min(MAX_STARTUP_JITTER);
        let jitter =
            Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_cap.as_millis() as u64));
        tokio::time::sleep(jitter).await;

        let mut ticker = new_ticker(Instant::now(), every);
        let mut follow = true;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = settings_rx.changed(), if follow => {
                    if changed.is_err() {
                        follow = false;
                        continue;
                    }
                    let new = settings_rx.borrow_and_update().clone();
                    self.apply(&current, &new);
                    if new.interval_secs != current.interval_secs {
                        let every = new.interval_secs;
                        tracing::info!(interval_secs = every, "report interval changed");
                        ticker = new_ticker(Instant::now() + Duration::from_secs(every), every);
                    }
                    current = new;
                    continue;
                }
            }
            match self.collect_into_spool().await {
                Ok(seqs) => {
                    tracing::debug!(?seqs, "collection spooled");
                    wake_sender.notify_one();
                }
                Err(e) => {
                    tracing::error!(error = %format!("{e:#}"), "collection could not be spooled; counted as dropped")
                }
            }
        }
    }
}

fn new_ticker(start: Instant, every_secs: u64) -> Interval {
    let mut t = tokio::time::interval_at(start, Duration::from_secs(every_secs.max(1)));
    // After a suspend or a stall, make one collection and carry on; no burst of catch-ups.
    t.set_missed_tick_behavior(MissedTickBehavior::Delay);
    t
}

/// Uploads the spool whenever it has something, forever, and follows the server's config.
struct Sender {
    dir: StateDir,
    spool: Arc<Mutex<Spool>>,
    uploader: Uploader,
    wake: Arc<Notify>,
    config_sync: ConfigSync,
    settings_tx: watch::Sender<Settings>,
}

impl Sender {
    async fn send_loop(mut self) {
        let mut backoff = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(300),
            Duration::from_secs(3600),
        );
        loop {
            let mut wanted = None;
            let drained = uploader::drain(
                &self.spool,
                &self.uploader,
                &mut backoff,
                None,
                &mut |ack| wanted = Some(ack.config_version),
            )
            .await;
            // The config is fetched once the backlog is sent: after an outage the reports
            // that waited go first.
            if let Some(wanted) = wanted {
                if let Some(settings) = self.config_sync.sync(&self.uploader, wanted).await {
                    // The producer lives as long as this loop: sending cannot fail.
                    let _ = self.settings_tx.send(settings);
                }
            }
            match drained {
                Drained::Empty { .. } => self.wake.notified().await,
                Drained::Unauthorized(e) => {
                    tracing::error!(error = %e, retry_in_secs = UNAUTHORIZED_BACKOFF.as_secs(), "credential refused; reports stay spooled");
                    tokio::time::sleep(UNAUTHORIZED_BACKOFF).await;
                    self.reload_credential();
                }
                // `drain` without a give-up limit only returns the two outcomes above.
                Drained::GaveUp(e) => tracing::error!(error = %e, "upload stopped unexpectedly"),
            }
        }
    }

    /// Someone may have re-enrolled the agent while it was refused: pick up the new credential.
    fn reload_credential(&mut self) {
        match Credential::load(&self.dir).and_then(|c| Uploader::new(&c)) {
            Ok(u) => {
                if u.agent_id() != self.uploader.agent_id() {
                    tracing::info!(agent_id = u.agent_id(), "using the new credential");
                    // Another identity may have another config: fetch it at the next ack.
                    self.config_sync.applied = None;
                }
                self.uploader = u;
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot reload the credential"),
        }
    }
}

async fn once(
    mut producer: Producer,
    uploader: &Uploader,
    mut config_sync: ConfigSync,
) -> Result<()> {
    let seqs = producer.collect_into_spool().await?;
    tracing::info!(?seqs, "collection spooled");
    // A handful of quick retries: `--once` is for scripts and tests, not for riding out outages.
    let mut backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(8),
        Duration::from_secs(30),
    );
    let mut wanted = None;
    let outcome = uploader::drain(
        &producer.spool,
        uploader,
        &mut backoff,
        Some(4),
        &mut |ack| wanted = Some(ack.config_version),
    )
    .await;
    // Saved for the next run; this one is done.
    if let Some(wanted) = wanted {
        config_sync.sync(uploader, wanted).await;
    }
    let spool = lock(&producer.spool);
    let kept = || {
        format!(
            "{} report(s) kept in {}",
            spool.len(),
            spool.dir().display()
        )
    };
    match outcome {
        Drained::Empty { sent, rejected: 0 } => {
            println!("sent {sent} report(s); spool empty");
            Ok(())
        }
        Drained::Empty { sent, rejected } => Err(AgentError::Rejected(format!(
            "sent {sent} report(s); the server rejected {rejected}, moved to {}/rejected",
            spool.dir().display()
        ))
        .into()),
        Drained::Unauthorized(e) => Err(AgentError::Rejected(format!("{e}; {}", kept())).into()),
        Drained::GaveUp(e) => Err(AgentError::Unavailable(format!(
            "server unavailable: {e}; {} for the next run",
            kept()
        ))
        .into()),
    }
}

#[cfg(unix)]
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGTERM; only Ctrl-C stops the agent cleanly");
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(not(unix))]
async fn shutdown_signal() {
    let _ = tokio::signal::ctrl_c().await;
}
