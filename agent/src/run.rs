//! `atalaya-agent run`: collect at the interval, spool each report durably, and upload the spool
//! in the background. The collector and the sender are two tasks on one thread; neither waits
//! for the other (a dead server never delays a collection, a slow collection never delays a send).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;
use rand::Rng;
use tokio::sync::{watch, Notify};
use tokio::time::{Instant, Interval, MissedTickBehavior};

use crate::cli::RunArgs;
use crate::collect::{Collection, Collector};
use crate::error::AgentError;
use crate::inventory::{self, InventoryDecision, InventoryPlan};
use crate::report::{self, StateTracker, WireReport};
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
    let spool = Spool::open(&dir.spool_dir(), args.spool_max_bytes)?;
    let seq = SeqCounter::open(dir, spool.max_seq())?;
    let uploader = Uploader::new(&credential)?;
    let plan = InventoryPlan::load(
        dir.inventory_state_path(),
        inventory::parse_schedule(&args.inventory_schedule)?,
        Duration::from_secs(args.inventory_check_secs),
        &credential.agent_id,
    );
    let producer = Producer {
        spool: Arc::new(Mutex::new(spool)),
        seq,
        agent_id: credential.agent_id.clone(),
        collector: Collector::new(),
        tracker: StateTracker::default(),
        plan,
    };

    if args.once {
        return once(producer, &uploader).await;
    }

    let interval = match args.interval {
        Some(secs) => secs,
        None if credential.report_interval_secs > 0 => credential.report_interval_secs,
        None => DEFAULT_INTERVAL_SECS,
    };
    let (spooled, spooled_bytes) = {
        let spool = lock(&producer.spool);
        (spool.len(), spool.total_bytes())
    };
    tracing::info!(
        agent_id = %credential.agent_id,
        server = %credential.server_url,
        interval_secs = interval,
        spooled,
        spooled_bytes,
        "agent running"
    );
    let (interval_tx, interval_rx) = watch::channel(interval);
    let wake_sender = Arc::new(Notify::new());
    let sender = Sender {
        dir: dir.clone(),
        spool: producer.spool.clone(),
        uploader,
        wake: wake_sender.clone(),
        interval_tx: args.interval.is_none().then_some(interval_tx),
    };

    tokio::select! {
        () = producer.collect_loop(interval_rx, wake_sender) => Ok(()),
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
}

impl Producer {
    /// One collection into the spool: the sequence number is durable before it is used, the
    /// report is durable before anyone tries to send it. When the inventory is due it rides in
    /// the report if it changed, or goes in a report of its own (lowest priority) if it is
    /// only the scheduled re-send. Returns the sequence numbers spooled.
    async fn collect_into_spool(&mut self) -> Result<Vec<u64>> {
        let collection = self.collector.collect().await;
        let now = collection.collected_at;
        let state_changed = self.tracker.volumes_changed(&collection.volumes);
        let mut decision = InventoryDecision::Skip;
        let mut inventory = None;
        if self.plan.check_due(now) {
            match tokio::task::spawn_blocking(inventory::collect).await {
                Ok(inv) => {
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
        let report = collection.into_report(&self.agent_id, n, lock(&self.spool).dropped());
        let wire = WireReport {
            report,
            inventory: if changed { inventory.clone() } else { None },
        };
        self.push(&wire, report::priority(state_changed, changed, false))?;
        let mut seqs = vec![n];

        if decision == InventoryDecision::RepeatedDue {
            let n = self.next_seq()?;
            let dropped = lock(&self.spool).dropped();
            let report = Collection {
                collected_at: now,
                host,
                metrics: Vec::new(),
                volumes,
            }
            .into_report(&self.agent_id, n, dropped);
            self.push(
                &WireReport {
                    report,
                    inventory: inventory.clone(),
                },
                Priority::RepeatedInventory,
            )?;
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

    fn push(&self, wire: &WireReport, priority: Priority) -> Result<()> {
        let mut spool = lock(&self.spool);
        spool.push(wire, priority).map(drop).inspect_err(|_| {
            let _ = spool.count_lost(1);
        })
    }

    async fn collect_loop(
        mut self,
        mut interval_rx: watch::Receiver<u64>,
        wake_sender: Arc<Notify>,
    ) {
        let every = *interval_rx.borrow_and_update();
        let jitter_cap = Duration::from_secs(every / 4).min(MAX_STARTUP_JITTER);
        let jitter =
            Duration::from_millis(rand::thread_rng().gen_range(0..=jitter_cap.as_millis() as u64));
        tokio::time::sleep(jitter).await;

        let mut ticker = new_ticker(Instant::now(), every);
        let mut follow = true;
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                changed = interval_rx.changed(), if follow => {
                    if changed.is_err() {
                        // Nobody will change the interval any more (`--interval` was given).
                        follow = false;
                        continue;
                    }
                    let every = *interval_rx.borrow_and_update();
                    tracing::info!(interval_secs = every, "report interval changed by the server");
                    ticker = new_ticker(Instant::now() + Duration::from_secs(every), every);
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

/// Uploads the spool whenever it has something, forever.
struct Sender {
    dir: StateDir,
    spool: Arc<Mutex<Spool>>,
    uploader: Uploader,
    wake: Arc<Notify>,
    /// Set when the interval follows the server (no `--interval` on the command line).
    interval_tx: Option<watch::Sender<u64>>,
}

impl Sender {
    async fn send_loop(mut self) {
        let mut backoff = Backoff::new(
            Duration::from_secs(1),
            Duration::from_secs(300),
            Duration::from_secs(3600),
        );
        loop {
            let interval_tx = self.interval_tx.clone();
            let mut on_ack = |ack: &atalaya_shared::protocol::ReportAck| {
                if let Some(tx) = &interval_tx {
                    if ack.report_interval_secs > 0 && *tx.borrow() != ack.report_interval_secs {
                        let _ = tx.send(ack.report_interval_secs);
                    }
                }
            };
            match uploader::drain(&self.spool, &self.uploader, &mut backoff, None, &mut on_ack)
                .await
            {
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
                }
                self.uploader = u;
            }
            Err(e) => tracing::error!(error = %format!("{e:#}"), "cannot reload the credential"),
        }
    }
}

async fn once(mut producer: Producer, uploader: &Uploader) -> Result<()> {
    let seqs = producer.collect_into_spool().await?;
    tracing::info!(?seqs, "collection spooled");
    // A handful of quick retries: `--once` is for scripts and tests, not for riding out outages.
    let mut backoff = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(8),
        Duration::from_secs(30),
    );
    let outcome = uploader::drain(
        &producer.spool,
        uploader,
        &mut backoff,
        Some(4),
        &mut |_| {},
    )
    .await;
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
