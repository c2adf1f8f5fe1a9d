//! Steady reports stored together (group commit, on PostgreSQL): each stored exactly once, with
//! every sample and refresh the full path would make; a report that turns out not to be steady
//! leaves the batch and is stored in full. On SQLite every report takes the full path, and the
//! same assertions hold.

use atalaya_server::ingest::{IncomingReport, Ingest, IngestOutcome};
use atalaya_server::store::agents::AgentIdentity;
use atalaya_server::store::{Backend, Store, TenantId};
use atalaya_shared::{metric, DiskIo, Sample, ServiceState, Volume, VolumeInodes};

use crate::cmdb::{disk, inventory, service};
use crate::db::tenant;
use crate::ingest::{as_authenticated, enroll, host, report};
use crate::on_every_backend;
use crate::store::rule;

/// Report `seq` of the agent of `pc{n}`: a CPU sample, its root volume `used` per cent full
/// (and, when `extra_volume`, a second one), and the root's inode use.
fn incoming(agent: &AgentIdentity, n: usize, seq: u64, used: f64, extra: bool) -> IncomingReport {
    let mut report = report(
        agent,
        seq,
        host(&format!("pc{n:02}"), &format!("m{n}"), None),
        used,
    );
    report.metrics = vec![Sample {
        metric: metric::CPU_USAGE_PERCENT.into(),
        value: seq as f64 + n as f64 / 100.0,
        at: report.collected_at,
    }];
    if extra {
        report.volumes.push(Volume {
            mount_point: "/data".into(),
            device: Some("/dev/vdb1".into()),
            filesystem: Some("xfs".into()),
            total_bytes: 1000,
            available_bytes: 500,
            read_only: false,
        });
    }
    IncomingReport {
        report,
        inventory: None,
        service_states: None,
        volume_inodes: vec![VolumeInodes {
            mount_point: "/".into(),
            inodes_total: 100,
            inodes_free: 75,
        }],
        disk_io: vec![],
    }
}

/// `count` agents of one tenant, each with its first report stored (the full path: the agent's
/// row names no computer before it), as the report endpoint then knows them.
async fn fleet(ingest: &Ingest, tenant: TenantId, count: usize) -> Vec<AgentIdentity> {
    let store = ingest.store();
    let mut agents = Vec::new();
    for n in 0..count {
        let hostname = format!("pc{n:02}");
        let agent = enroll(store, tenant, &hostname).await;
        let first = report(&agent, 1, host(&hostname, &format!("m{n}"), None), 10.0);
        ingest.report(&agent, &first).await.expect("first report");
        agents.push(as_authenticated(store, agent).await);
    }
    agents
}

/// Send every (agent index, report) at once, as a busy fleet does; the outcomes in order.
async fn all_at_once(
    ingest: &Ingest,
    agents: &[AgentIdentity],
    reports: Vec<(usize, IncomingReport)>,
) -> Vec<IngestOutcome> {
    let tasks: Vec<_> = reports
        .into_iter()
        .map(|(n, incoming)| {
            let ingest = ingest.clone();
            let agent = agents[n].clone();
            tokio::spawn(async move { ingest.incoming(&agent, &incoming).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.expect("task").expect("stored"));
    }
    outcomes
}

async fn count(store: &Store, sql: &str, id: &str) -> i64 {
    let (n,): (i64,) = sqlx::query_as(sql)
        .bind(id)
        .fetch_one(store.pool())
        .await
        .expect("count");
    n
}

async fn computer_of(store: &Store, agent: &AgentIdentity) -> i64 {
    let (id,): (i64,) = sqlx::query_as("SELECT computer_id FROM agents WHERE id = $1")
        .bind(&agent.agent_id)
        .fetch_one(store.pool())
        .await
        .expect("computer");
    id
}

/// The sample of `metric` on `ci_id` taken at report `seq` (see `ingest::report`'s clock).
async fn sample(store: &Store, ci_id: i64, metric: &str, seq: i64) -> Option<f64> {
    let at = (1_800_000_000 + seq * 60) * 1000;
    let row: Option<(f64,)> = sqlx::query_as(
        "SELECT value FROM metric_samples WHERE ci_id = $1 AND metric = $2 AND at = $3",
    )
    .bind(ci_id)
    .bind(metric)
    .bind(at)
    .fetch_optional(store.pool())
    .await
    .expect("sample");
    row.map(|(v,)| v)
}

on_every_backend!(
    steady_reports_of_many_agents_are_stored_once_with_every_sample,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        let agents = fleet(&ingest, t, 30).await;
        for seq in 2..=3u64 {
            let reports = (0..agents.len())
                .map(|n| (n, incoming(&agents[n], n, seq, 20.0 + seq as f64, false)))
                .collect();
            for outcome in all_at_once(&ingest, &agents, reports).await {
                assert!(!outcome.duplicate);
                assert_eq!(outcome.incidents_opened, 0);
                assert!(
                    outcome.config.is_some(),
                    "the acknowledgement names a config"
                );
            }
        }
        for (n, agent) in agents.iter().enumerate() {
            let ledger = "SELECT COUNT(*) FROM reports WHERE agent_id = $1";
            assert_eq!(count(&store, ledger, &agent.agent_id).await, 3, "pc{n:02}");
            let last_seq = "SELECT last_seq FROM agents WHERE id = $1";
            assert_eq!(count(&store, last_seq, &agent.agent_id).await, 3);
            let computer = computer_of(&store, agent).await;
            let (volume, metrics, seen): (i64, String, i64) = sqlx::query_as(
                "SELECT v.id, v.metrics, c.last_seen_at FROM configuration_items v
                 JOIN configuration_items c ON c.id = v.computer_id
                 WHERE v.computer_id = $1 AND v.class = 'volume'",
            )
            .bind(computer)
            .fetch_one(store.pool())
            .await
            .expect("the one volume");
            assert_eq!(seen, (1_800_000_000 + 3 * 60) * 1000, "computer refreshed");
            let metrics: serde_json::Value = serde_json::from_str(&metrics).expect("json");
            assert_eq!(metrics["used_percent"], 23.0, "volume refreshed");
            for seq in 2..=3 {
                let cpu = sample(&store, computer, metric::CPU_USAGE_PERCENT, seq).await;
                assert_eq!(cpu, Some(seq as f64 + n as f64 / 100.0));
                let used = sample(&store, volume, "volume.used_percent", seq).await;
                assert_eq!(used, Some(20.0 + seq as f64));
                let inodes = sample(&store, volume, "volume.inodes_used_percent", seq).await;
                assert_eq!(inodes, Some(25.0));
            }
            let samples = "SELECT COUNT(*) FROM metric_samples s
                JOIN configuration_items c ON c.id = s.ci_id JOIN agents a ON a.computer_id = c.id OR a.computer_id = c.computer_id
                WHERE a.id = $1";
            // First report: the volume's usage; then per report CPU, usage and inodes.
            assert_eq!(count(&store, samples, &agent.agent_id).await, 1 + 2 * 3);
        }
        let (reports, batches) = ingest.group_commit().counts();
        if store.backend() == Backend::Postgres {
            assert_eq!(
                reports, 60,
                "every steady report went through the group commit"
            );
            assert!(
                batches < 60,
                "{batches} batches for 60 reports sent at once"
            );
        } else {
            assert_eq!(
                (reports, batches),
                (0, 0),
                "SQLite stores each report in full"
            );
        }
    }
);

on_every_backend!(
    a_report_that_is_not_steady_leaves_the_batch_and_is_stored_in_full,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        store
            .create_rule(Some(t), &rule("Volume full", 90.0))
            .await
            .expect("rule");
        let mut agents = fleet(&ingest, t, 10).await;
        // pc05's computer has a disk and a service, from an inventory.
        let described = report(&agents[5], 100, host("pc05", "m5", None), 10.0);
        let parts = inventory(
            "i1",
            vec![disk("sda", "S1")],
            vec![],
            vec![service("nginx.service")],
        );
        ingest
            .report_with_inventory(&agents[5], &described, Some(&parts))
            .await
            .expect("inventory");
        agents[5] = as_authenticated(&store, agents[5].clone()).await;
        // 0–4 steady; 5 says its service failed and sends its disk's I/O; 6 crosses the rule:
        // the rules have work with those two, which stay in the batch. 7 has been renamed, 8
        // has a new volume, 9 replays its first report: those leave it.
        let mut reports: Vec<(usize, IncomingReport)> = (0..=6)
            .map(|n| {
                let used = if n == 6 { 95.0 } else { 20.0 };
                let seq = if n == 5 { 101 } else { 2 };
                (n, incoming(&agents[n], n, seq, used, false))
            })
            .collect();
        reports[5].1.service_states = Some(vec![ServiceState {
            name: "nginx.service".into(),
            active_state: Some("failed".into()),
            sub_state: Some("failed".into()),
            watched: false,
        }]);
        reports[5].1.disk_io = vec![DiskIo {
            device: "sda".into(),
            read_bytes_per_sec: Some(1234.0),
            smart_healthy: Some(true),
            ..DiskIo::default()
        }];
        let mut renamed = incoming(&agents[7], 7, 2, 20.0, false);
        renamed.report.host.hostname = "pc07-new".into();
        reports.push((7, renamed));
        reports.push((8, incoming(&agents[8], 8, 2, 20.0, true)));
        reports.push((9, incoming(&agents[9], 9, 1, 20.0, false)));
        let outcomes = all_at_once(&ingest, &agents, reports).await;
        let opened: Vec<usize> = outcomes.iter().map(|o| o.incidents_opened).collect();
        assert_eq!(opened, [0, 0, 0, 0, 0, 0, 1, 0, 0, 0]);
        let duplicates: Vec<bool> = outcomes.iter().map(|o| o.duplicate).collect();
        assert_eq!(
            duplicates,
            [false, false, false, false, false, false, false, false, false, true]
        );
        for (n, agent) in agents.iter().enumerate() {
            let ledger = "SELECT COUNT(*) FROM reports WHERE agent_id = $1";
            let expected = match n {
                5 => 3,
                9 => 1,
                _ => 2,
            };
            assert_eq!(
                count(&store, ledger, &agent.agent_id).await,
                expected,
                "pc{n:02}"
            );
        }
        let renamed = computer_of(&store, &agents[7]).await;
        let (name,): (String,) =
            sqlx::query_as("SELECT name FROM configuration_items WHERE id = $1")
                .bind(renamed)
                .fetch_one(store.pool())
                .await
                .expect("renamed computer");
        assert_eq!(name, "pc07-new");
        let grown = computer_of(&store, &agents[8]).await;
        let volumes: Vec<(i64, String)> = sqlx::query_as(
            "SELECT id, name FROM configuration_items
             WHERE computer_id = $1 AND class = 'volume' AND status <> 'retired' ORDER BY name",
        )
        .bind(grown)
        .fetch_all(store.pool())
        .await
        .expect("volumes");
        assert_eq!(volumes.len(), 2, "{volumes:?}");
        for (id, _) in &volumes {
            assert!(sample(&store, *id, "volume.used_percent", 2)
                .await
                .is_some());
        }
        let with_parts = computer_of(&store, &agents[5]).await;
        let part = |class: &'static str| {
            let store = store.clone();
            async move {
                let row: (i64, Option<String>) = sqlx::query_as(
                    "SELECT id, metrics FROM configuration_items
                     WHERE computer_id = $1 AND class = $2",
                )
                .bind(with_parts)
                .bind(class)
                .fetch_one(store.pool())
                .await
                .expect("the part");
                row
            }
        };
        let (_, state) = part("service").await;
        let state: serde_json::Value =
            serde_json::from_str(&state.unwrap_or_default()).expect("json");
        assert_eq!(
            state["active_state"], "failed",
            "the service's new state is stored"
        );
        let (disk_id, _) = part("physical_disk").await;
        let read = sample(&store, disk_id, metric::DISK_READ_BYTES_PER_SECOND, 101).await;
        assert_eq!(read, Some(1234.0), "the disk's sample is stored");
        // The seven steady reports were batched, 5 and 6 among them (PostgreSQL).
        let batched = || ingest.group_commit().counts().0;
        let postgres = store.backend() == Backend::Postgres;
        assert_eq!(batched(), if postgres { 7 } else { 0 });

        // Next round: the full volume is back to 20 %, and its alert recovers; the rest
        // (renamed and grown alike) are steady again: all nine are batched.
        for agent in agents.iter_mut().take(9) {
            *agent = as_authenticated(&store, agent.clone()).await;
        }
        let next = (0..9)
            .map(|n| {
                let seq = if n == 5 { 102 } else { 3 };
                let mut incoming = incoming(&agents[n], n, seq, 20.0, n == 8);
                if n == 7 {
                    incoming.report.host.hostname = "pc07-new".into();
                }
                (n, incoming)
            })
            .collect();
        let outcomes = all_at_once(&ingest, &agents, next).await;
        assert!(outcomes
            .iter()
            .all(|o| !o.duplicate && o.incidents_opened == 0));
        let full = computer_of(&store, &agents[6]).await;
        let unsettled = "SELECT COUNT(*) FROM alert_states s
            JOIN agents a ON a.computer_id = s.computer_id
            WHERE a.id = $1 AND s.state <> 'ok'";
        assert_eq!(
            count(&store, unsettled, &agents[6].agent_id).await,
            0,
            "recovered ({full})"
        );
        assert_eq!(batched(), if postgres { 7 + 9 } else { 0 });
    }
);
