//! Fleet smoke run: a few hundred simulated agents (`atalaya-fleet-sim`) against the real server
//! for a few seconds. Every report the server acknowledged is in the database exactly once, no
//! report it did not acknowledge is, and every agent that crossed the critical threshold got
//! its incident. The full benchmarks (BENCHMARKS.md, "Fleet ingest") are run by command.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use anyhow::{ensure, Context};
use atalaya_tests::{binary, drop_postgres_database, postgres_database, Server, ServerOptions};
use serde_json::Value;
use sqlx::Row;

const AGENTS: usize = 300;

async fn smoke(database_url: Option<&str>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("server");
    let server = Server::start(ServerOptions {
        data_dir: &data_dir,
        database_url,
        listen: "127.0.0.1:0",
        tls: None,
        ca_cert: None,
    })
    .await?;

    let ledger_path = dir.path().join("ledger.json");
    let agents = AGENTS.to_string();
    let ledger_arg = ledger_path.to_string_lossy().to_string();
    let output = tokio::process::Command::new(binary("atalaya-fleet-sim"))
        .args([
            "--server",
            &server.url,
            "--admin-token",
            &server.admin_token,
        ])
        .args(["--agents", &agents, "--interval", "2", "--duration", "6"])
        .args(["--warmup", "2"])
        .args(["--seed", "7", "--concurrency", "16"])
        .args(["--breach-share", "0.05", "--offline-share", "0.05"])
        .args(["--inventory-change-share", "0.05"])
        .args(["--incident-timeout", "30", "--progress", "0", "--json"])
        .args(["--ledger", &ledger_arg])
        .kill_on_drop(true)
        .output()
        .await
        .context("running atalaya-fleet-sim")?;
    ensure!(
        output.status.success(),
        "fleet-sim failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary: Value = serde_json::from_slice(&output.stdout).context("fleet-sim --json")?;
    let ledger: Vec<Value> = serde_json::from_slice(&std::fs::read(&ledger_path)?)?;
    eprintln!("fleet smoke summary: {summary}");

    assert_eq!(summary["enrollment"]["enrolled"], AGENTS);
    assert_eq!(ledger.len(), AGENTS);
    // The summary counts the reports due after the warm-up (the last two of three rounds).
    let acked = summary["reports"]["acked"].as_u64().unwrap_or(0);
    assert_eq!(summary["warmup_secs"], 2.0);
    let all_acked: usize = ledger
        .iter()
        .filter_map(|e| e["acked_seqs"].as_array().map(Vec::len))
        .sum();
    // Three rounds of 300 less the offline gaps: most of them must get through even on a slow
    // debug build; the exactness checks below are what this test is about.
    assert!(all_acked >= AGENTS, "only {all_acked} reports acknowledged");
    assert!(
        acked > 0 && (acked as usize) < all_acked,
        "{acked} counted of {all_acked}: the first round is the warm-up"
    );

    // What the simulator was told is stored…
    let mut promised: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for entry in &ledger {
        let agent = entry["agent_id"].as_str().context("agent_id")?.to_string();
        let seqs = entry["acked_seqs"].as_array().context("acked_seqs")?;
        let set: BTreeSet<i64> = seqs.iter().filter_map(Value::as_i64).collect();
        assert_eq!(set.len(), seqs.len(), "{agent}: an ack listed twice");
        promised.insert(agent, set);
    }
    // …is exactly what the database holds for those agents: each acknowledged report once,
    // nothing unacknowledged (a report whose answer timed out is retried until acknowledged).
    let rows = stored_reports(&server, database_url).await?;
    let mut stored: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for (agent, seq) in &rows {
        let fresh = stored.entry(agent.clone()).or_default().insert(*seq);
        assert!(fresh, "report ({agent}, {seq}) stored twice");
    }
    for (agent, seqs) in &promised {
        let in_db = stored.remove(agent).unwrap_or_default();
        assert_eq!(&in_db, seqs, "agent {agent}: acknowledged vs stored");
    }
    assert!(stored.is_empty(), "reports of unknown agents: {stored:?}");
    let total: usize = promised.values().map(BTreeSet::len).sum();
    assert_eq!(rows.len(), total);
    // On PostgreSQL most of them were group-committed (the reports after each agent's first
    // that change nothing in the CMDB); SQLite stores each on its own.
    let metrics = server
        .client
        .get(format!("{}/metrics", server.url))
        .send()
        .await?
        .text()
        .await?;
    let counter = |name: &str| -> u64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    let batched = counter("atalaya_reports_group_committed_total ");
    eprintln!("group-committed: {batched} of {total} reports");
    match database_url {
        Some(_) => assert!(
            batched as usize >= total - AGENTS - total / 10,
            "{batched} of {total} reports group-committed"
        ),
        None => assert_eq!(batched, 0, "SQLite stores each report on its own"),
    }

    // Every breach was seen by the simulator's watcher, and is an open incident of that host.
    let breached: Vec<&str> = ledger
        .iter()
        .filter(|e| e["breached"] == true)
        .filter_map(|e| e["hostname"].as_str())
        .collect();
    assert!(!breached.is_empty(), "the scenario had no breaches");
    assert_eq!(summary["incidents"]["visible"], breached.len());
    let incidents = server.get("/api/v1/incidents?limit=1000").await?;
    let titles: Vec<&str> = incidents
        .as_array()
        .context("incident list")?
        .iter()
        .filter_map(|i| i["title"].as_str())
        .collect();
    for host in &breached {
        let needle = format!(" on {host}: ");
        assert!(
            titles.iter().any(|t| t.contains(&needle)),
            "no incident for {host}"
        );
    }
    // Ordinary machines stay below the warning levels: every incident is about a breaching host
    // (each may have two: the default pack watches both used % and free GB).
    for title in &titles {
        assert!(
            breached
                .iter()
                .any(|host| title.contains(&format!(" on {host}: "))),
            "an incident about a machine that did not breach: {title}"
        );
    }
    server.stop().await
}

/// Every `(agent_id, seq)` in the `reports` table.
async fn stored_reports(
    server: &Server,
    database_url: Option<&str>,
) -> anyhow::Result<Vec<(String, i64)>> {
    sqlx::any::install_default_drivers();
    let url = match database_url {
        Some(url) => url.to_string(),
        None => format!(
            "sqlite://{}?mode=ro",
            server.data_dir.join("atalaya.db").display()
        ),
    };
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&url)
        .await
        .with_context(|| format!("opening {url}"))?;
    let rows = sqlx::query("SELECT agent_id, seq FROM reports")
        .fetch_all(&pool)
        .await?;
    pool.close().await;
    rows.iter()
        .map(|r| Ok((r.try_get::<String, _>(0)?, r.try_get::<i64, _>(1)?)))
        .collect()
}

#[tokio::test]
async fn fleet_smoke_on_sqlite() -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(300), smoke(None)).await?
}

#[tokio::test]
async fn fleet_smoke_on_postgres() -> anyhow::Result<()> {
    let Some((url, admin_url, name)) = postgres_database().await else {
        return Ok(());
    };
    let result = tokio::time::timeout(Duration::from_secs(300), smoke(Some(&url))).await;
    drop_postgres_database(&admin_url, &name).await;
    result?
}
