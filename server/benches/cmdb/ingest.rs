//! Ingest cost through the real path (`ingest_with_inventory`), on the already seeded database:
//! each sampled computer reports four times — first inventory (a new computer), a changed
//! inventory (five packages upgraded, new hash), the same inventory again (same hash), and a
//! report without inventory.

use std::time::{Duration, Instant};

use atalaya_server::ingest::Ingest;
use atalaya_server::store::agents::{AgentIdentity, NewAgent};
use atalaya_server::store::tokens::NewEnrollmentToken;
use atalaya_server::store::{Store, TenantId};

use crate::fleet::Machine;
use crate::{cpu, Stats};

pub const PHASES: [&str; 4] = [
    "new computer, full inventory",
    "changed inventory (5 packages upgraded)",
    "unchanged inventory (same hash)",
    "no inventory",
];

/// Enroll an agent; returns its credential.
async fn enroll(store: &Store, tenant: TenantId, hostname: &str) -> anyhow::Result<String> {
    let (token, _) = store
        .create_enrollment_token(
            tenant,
            &NewEnrollmentToken {
                name: format!("bench {hostname}"),
                ..Default::default()
            },
        )
        .await?;
    let mut tx = store.begin().await?;
    let (_, credential) = Store::create_agent(
        &mut tx,
        &NewAgent {
            tenant,
            site_id: None,
            enrollment_token_id: token.id,
            hostname,
            agent_version: "0.1.0",
        },
    )
    .await?;
    tx.commit().await?;
    Ok(credential)
}

/// CPU milliseconds per report of one phase: this process (ingest) and PostgreSQL's processes (nothing on SQLite, which runs in this process).
#[derive(Clone, Copy)]
pub struct Cpu {
    pub own_ms: f64,
    pub postgres_ms: f64,
}

impl Cpu {
    pub fn total_ms(&self) -> f64 {
        self.own_ms + self.postgres_ms
    }
}

/// Ingest computers `0..count` through the four phases; the time per report of each phase, and
/// the CPU time.
pub async fn measure(
    store: &Store,
    tenant: TenantId,
    count: u64,
) -> anyhow::Result<Vec<(Stats, Cpu)>> {
    // One runtime for the whole measurement, as a server process has.
    let ingest = Ingest::new(store.clone());
    let mut agents = Vec::new();
    for index in 0..count {
        let machine = Machine { index };
        agents.push((enroll(store, tenant, &machine.hostname()).await?, machine));
    }
    let mut stats = Vec::new();
    for (phase, _) in PHASES.iter().enumerate() {
        let seq = phase as u64 + 1;
        // Untimed, and before the CPU clock starts: authentication (as the report handler does
        // before ingest) and the bench's own making of reports and inventories.
        let mut prepared = Vec::with_capacity(agents.len());
        for (credential, machine) in &agents {
            let agent: AgentIdentity = store
                .authenticate_agent(credential)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the bench agent's credential was refused"))?;
            let report = machine.report(&agent.agent_id, seq);
            let inventory = match phase {
                0 => Some(machine.inventory(0)),
                1 | 2 => Some(machine.inventory(1)),
                _ => None,
            };
            prepared.push((agent, report, inventory));
        }
        let mut times: Vec<Duration> = Vec::with_capacity(agents.len());
        let (own_before, postgres_before) = cpu::now();
        for (agent, report, inventory) in &prepared {
            let started = Instant::now();
            let outcome = ingest
                .report_with_inventory(agent, report, inventory.as_ref())
                .await?;
            times.push(started.elapsed());
            anyhow::ensure!(!outcome.duplicate, "report {seq} was taken as a replay");
        }
        let (own_after, postgres_after) = cpu::now();
        let per_report = |s: f64| s * 1000.0 / agents.len().max(1) as f64;
        let cpu = Cpu {
            own_ms: per_report(own_after - own_before),
            postgres_ms: per_report(postgres_after - postgres_before),
        };
        stats.push((Stats::of(times), cpu));
    }
    Ok(stats)
}
