//! Scale-out: three `atalaya-server` processes on one PostgreSQL receive breaching reports of
//! the same machine at the same moment, and exactly one incident opens — a database constraint
//! decides, not any replica's memory — while every report is stored exactly once.

use std::time::Duration;

use atalaya_tests::{drop_postgres_database, postgres_database, Server, ServerOptions};
use serde_json::{json, Value};

const REPORTS_PER_REPLICA: u64 = 5;

async fn start(dir: &std::path::Path, url: &str) -> anyhow::Result<Server> {
    Server::start(ServerOptions {
        data_dir: dir,
        database_url: Some(url),
        listen: "127.0.0.1:0",
        tls: None,
        ca_cert: None,
    })
    .await
}

fn breach(agent_id: &str, seq: u64) -> Value {
    json!({
        "protocol": 1, "agent_id": agent_id, "seq": seq, "agent_version": "test",
        "collected_at": format!("2026-11-22T00:{:02}:00Z", seq),
        "host": {"hostname": "contended", "machine_id": "m-contended"},
        "volumes": [{"mount_point": "/", "total_bytes": 1000, "available_bytes": 100}]
    })
}

async fn three_replicas_one_incident(url: &str) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let first = start(&dir.path().join("a"), url).await?;
    // The other replicas join the initialised database; the operator copies the tokens along.
    let mut replicas = vec![first];
    for name in ["b", "c"] {
        let data_dir = dir.path().join(name);
        std::fs::create_dir_all(&data_dir)?;
        for file in ["initial-admin-token", "initial-enrollment-token"] {
            std::fs::copy(dir.path().join("a").join(file), data_dir.join(file))?;
        }
        replicas.push(start(&data_dir, url).await?);
    }
    let (status, rule) = replicas[0]
        .post(
            "/api/v1/rules?tenant=default",
            &json!({"name": "replica test", "metric": "volume.used_percent", "critical_level": 50.0}),
        )
        .await?;
    assert_eq!(status, 201, "{rule}");
    let enrolled: Value = replicas[1]
        .client
        .post(format!("{}/api/v1/agent/enroll", replicas[1].url))
        .json(
            &json!({"protocol": 1, "token": replicas[1].enrollment_token, "agent_version": "test",
                      "host": {"hostname": "contended", "machine_id": "m-contended"}}),
        )
        .send()
        .await?
        .json()
        .await?;
    let credential = enrolled["credential"]
        .as_str()
        .expect("credential")
        .to_string();
    let agent_id = enrolled["agent_id"].as_str().expect("agent id").to_string();

    // Every replica gets its own breaching reports, all at once.
    let mut sends = Vec::new();
    for (i, replica) in replicas.iter().enumerate() {
        for k in 0..REPORTS_PER_REPLICA {
            let seq = 1 + i as u64 * REPORTS_PER_REPLICA + k;
            let request = replica
                .client
                .post(format!("{}/api/v1/agent/report", replica.url))
                .bearer_auth(&credential)
                .json(&breach(&agent_id, seq));
            sends.push(tokio::spawn(async move {
                // A replica may answer 503 under lock contention; the agent would retry, so do we.
                for _ in 0..20 {
                    let response = request.try_clone().expect("clonable").send().await?;
                    if response.status().is_success() {
                        return anyhow::Ok(());
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                anyhow::bail!("report {seq} never acknowledged")
            }));
        }
    }
    for send in sends {
        send.await??;
    }
    let total = 3 * REPORTS_PER_REPLICA;
    let agents = replicas[2].get("/api/v1/agents").await?;
    assert_eq!(agents[0]["last_seq"].as_u64(), Some(total));
    let mut stored = 0;
    for replica in &replicas {
        stored += replica.counter("atalaya_reports_stored_total").await?;
    }
    assert_eq!(stored, total, "each report stored once across the replicas");
    // The machine was new to all of them at once: still one computer and one volume.
    for class in ["computer", "volume"] {
        let cis = replicas[0]
            .get(&format!("/api/v1/cis?class={class}"))
            .await?;
        assert_eq!(cis.as_array().map(Vec::len), Some(1), "one {class}: {cis}");
    }
    for replica in &replicas {
        let incidents = replica.get("/api/v1/incidents").await?;
        let mine: Vec<&Value> = incidents
            .as_array()
            .expect("list")
            .iter()
            .filter(|i| i["rule_id"] == rule["id"])
            .collect();
        assert_eq!(
            mine.len(),
            1,
            "exactly one incident, seen alike from every replica: {incidents}"
        );
    }
    for replica in replicas {
        replica.stop().await?;
    }
    Ok(())
}

#[tokio::test]
async fn three_replicas_on_one_postgres_open_one_incident() -> anyhow::Result<()> {
    let Some((url, admin_url, name)) = postgres_database().await else {
        return Ok(());
    };
    let result =
        tokio::time::timeout(Duration::from_secs(240), three_replicas_one_incident(&url)).await;
    drop_postgres_database(&admin_url, &name).await;
    result?
}
