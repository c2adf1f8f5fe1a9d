//! Ingest cost through the real path (`ingest_with_inventory`), on the already seeded database:
//! each sampled computer reports four times — first inventory (a new computer), a changed
//! inventory (five packages upgraded, new hash), the same inventory again (same hash), and a
//! report without inventory.

use std::time::{Duration, Instant};

use atalaya_server::ingest::ingest_with_inventory;
use atalaya_server::store::agents::{AgentIdentity, NewAgent};
use atalaya_server::store::tokens::NewEnrollmentToken;
use atalaya_server::store::{Store, TenantId};

use crate::fleet::Machine;
use crate::Stats;

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

/// Ingest computers `0..count` through the four phases; the time per report of each phase.
pub async fn measure(store: &Store, tenant: TenantId, count: u64) -> anyhow::Result<Vec<Stats>> {
    let mut agents = Vec::new();
    for index in 0..count {
        let machine = Machine { index };
        agents.push((enroll(store, tenant, &machine.hostname()).await?, machine));
    }
    let mut stats = Vec::new();
    for (phase, _) in PHASES.iter().enumerate() {
        let seq = phase as u64 + 1;
        let mut times: Vec<Duration> = Vec::with_capacity(agents.len());
        for (credential, machine) in &agents {
            // As the report handler does, untimed: authentication comes before ingest.
            let agent: AgentIdentity = store
                .authenticate_agent(credential)
                .await?
                .ok_or_else(|| anyhow::anyhow!("the bench agent's credential was refused"))?;
            let agent = &agent;
            let report = machine.report(&agent.agent_id, seq);
            let inventory = match phase {
                0 => Some(machine.inventory(0)),
                1 | 2 => Some(machine.inventory(1)),
                _ => None,
            };
            let started = Instant::now();
            let outcome = ingest_with_inventory(store, agent, &report, inventory.as_ref()).await?;
            times.push(started.elapsed());
            anyhow::ensure!(!outcome.duplicate, "report {seq} was taken as a replay");
        }
        stats.push(Stats::of(times));
    }
    Ok(stats)
}
