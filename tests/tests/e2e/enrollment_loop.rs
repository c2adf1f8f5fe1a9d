//! The foundation's loop: enroll, report, CMDB, threshold incident, replay, re-enrollment.

use std::time::Duration;

use atalaya_tests::{
    drop_postgres_database, hostname, mem_total_bytes, postgres_database, Agent, Server,
    ServerOptions,
};
use serde_json::{json, Value};

async fn computers(server: &Server) -> anyhow::Result<Vec<Value>> {
    let cis = server.get("/api/v1/cis?class=computer").await?;
    Ok(cis.as_array().cloned().unwrap_or_default())
}

async fn volumes(server: &Server) -> anyhow::Result<Vec<Value>> {
    let cis = server.get("/api/v1/cis?class=volume&limit=1000").await?;
    Ok(cis.as_array().cloned().unwrap_or_default())
}

async fn the_loop(database_url: Option<&str>) -> anyhow::Result<()> {
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

    // First-start secrets are written owner-only.
    #[cfg(unix)]
    for file in ["initial-admin-token", "initial-enrollment-token"] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(data_dir.join(file))?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }

    let agent = Agent {
        state_dir: dir.path().join("agent"),
    };
    agent
        .enroll(&server.url, &server.enrollment_token, None)
        .await?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(agent.state_dir.join("credential.json"))?
            .permissions()
            .mode()
            & 0o777;
        assert_eq!(mode, 0o600, "agent credential file");
    }
    assert_eq!(agent.run_once().await?, 0);

    // The computer carries this machine's real host name and memory size.
    let found = computers(&server).await?;
    assert_eq!(found.len(), 1, "{found:?}");
    let computer = &found[0];
    assert_eq!(computer["name"], hostname());
    assert_eq!(computer["attributes"]["hostname"], hostname());
    assert_eq!(
        computer["attributes"]["memory_total_bytes"].as_u64(),
        Some(mem_total_bytes())
    );
    assert!(computer["attributes"]["os_name"]
        .as_str()
        .is_some_and(|s| !s.is_empty()));
    let computer_id = computer["id"].as_i64().expect("id");

    // Its disks carry the first report's per-disk I/O rates (`disk_io`), and a SMART sample only
    // where smartctl gave a verdict (unknown is never recorded as healthy).
    if database_url.is_none() {
        let disks = server.get("/api/v1/cis?class=physical_disk").await?;
        let mut checked = 0;
        for disk in disks.as_array().cloned().unwrap_or_default() {
            let name = disk["name"].as_str().unwrap_or_default();
            if !std::path::Path::new("/sys/block")
                .join(name)
                .join("device")
                .exists()
            {
                continue;
            }
            let id = disk["id"].as_i64().expect("id");
            let sampled = server.sampled_metrics(id).await?;
            for metric in ["disk.read_bytes_per_second", "disk.writes_per_second"] {
                assert!(sampled.iter().any(|m| m == metric), "{name}: {sampled:?}");
            }
            let smart_known = disk["attributes"]["smart_available"] == true;
            assert_eq!(
                sampled.iter().any(|m| m == "disk.smart_failed"),
                smart_known,
                "{name}: {sampled:?} with {disk}"
            );
            checked += 1;
        }
        let hardware_disks = std::fs::read_dir("/sys/block")?
            .filter_map(Result::ok)
            .filter(|e| e.path().join("device").exists())
            .count();
        assert!(checked > 0 || hardware_disks == 0, "no disk CI: {disks}");
    }

    // Its volumes exist, with the root filesystem among them, contained in the computer.
    let vols = volumes(&server).await?;
    let root = vols
        .iter()
        .find(|v| v["name"] == "/")
        .unwrap_or_else(|| panic!("no / volume in {vols:?}"));
    assert_eq!(root["computer_id"].as_i64(), Some(computer_id));
    let detail = server.get(&format!("/api/v1/cis/{}", root["id"])).await?;
    assert!(detail["relations"]
        .as_array()
        .expect("relations")
        .iter()
        .any(|r| r["kind"] == "contained_in" && r["ci_id"].as_i64() == Some(computer_id)));

    // A rule below the real usage of / opens one incident, linked to the volume and computer.
    let used = root["metrics"]["used_percent"]
        .as_f64()
        .expect("used_percent");
    assert!(
        used > 0.5,
        "/ is {used}% used: too empty to test a threshold under it"
    );
    let (status, rule) = server
        .post(
            "/api/v1/rules?tenant=default",
            &json!({"name": "e2e volume", "metric": "volume.used_percent", "critical_level": used - 0.5}),
        )
        .await?;
    assert_eq!(status, 201, "{rule}");
    assert_eq!(agent.run_once().await?, 0);
    assert_eq!(agent.run_once().await?, 0);
    let incidents = server.get("/api/v1/incidents").await?;
    let on_root: Vec<&Value> = incidents
        .as_array()
        .expect("list")
        .iter()
        .filter(|i| i["ci_id"] == root["id"] && i["rule_id"] == rule["id"])
        .collect();
    assert_eq!(
        on_root.len(),
        1,
        "one incident while it stays high: {incidents}"
    );
    let incident = server
        .get(&format!("/api/v1/incidents/{}", on_root[0]["id"]))
        .await?;
    let linked: Vec<i64> = incident["cis"]
        .as_array()
        .expect("cis")
        .iter()
        .filter_map(|c| c["ci_id"].as_i64())
        .collect();
    assert!(
        linked.contains(&computer_id) && linked.contains(&root["id"].as_i64().expect("id")),
        "{incident}"
    );

    // A replayed report (same agent, same sequence number) creates nothing.
    let credential = agent.credential()?;
    let replay = json!({
        "protocol": 1, "agent_id": credential["agent_id"], "seq": agent.last_seq()?,
        "agent_version": "0.1.0", "collected_at": "2026-01-01T00:00:00Z",
        "host": {"hostname": "replayed-name"},
        "volumes": [{"mount_point": "/replayed", "total_bytes": 10, "available_bytes": 1}]
    });
    let ack: Value = server
        .client
        .post(format!("{}/api/v1/agent/report", server.url))
        .bearer_auth(credential["credential"].as_str().expect("credential"))
        .json(&replay)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(ack["duplicate"], true, "{ack}");
    assert_eq!(
        server.counter("atalaya_reports_stored_total").await?,
        agent.last_seq()?
    );

    // Re-enrolling the same machine (a reinstall) keeps one computer and its volumes.
    let vol_count = volumes(&server).await?.len();
    agent
        .enroll(&server.url, &server.enrollment_token, None)
        .await?;
    assert_eq!(agent.run_once().await?, 0);
    let found = computers(&server).await?;
    assert_eq!(
        found.len(),
        1,
        "re-enrollment must not create a second computer: {found:?}"
    );
    assert_eq!(found[0]["id"].as_i64(), Some(computer_id));
    assert_eq!(volumes(&server).await?.len(), vol_count);
    assert_eq!(
        server.get("/api/v1/agents").await?.as_array().map(Vec::len),
        Some(2)
    );
    let incidents = server.get("/api/v1/incidents").await?;
    assert_eq!(
        incidents
            .as_array()
            .expect("list")
            .iter()
            .filter(|i| i["rule_id"] == rule["id"])
            .count(),
        1
    );

    server.stop().await
}

#[tokio::test]
async fn agent_to_incident_on_sqlite() -> anyhow::Result<()> {
    tokio::time::timeout(Duration::from_secs(240), the_loop(None)).await?
}

#[tokio::test]
async fn agent_to_incident_on_postgres() -> anyhow::Result<()> {
    let Some((url, admin_url, name)) = postgres_database().await else {
        return Ok(());
    };
    let result = tokio::time::timeout(Duration::from_secs(240), the_loop(Some(&url))).await;
    drop_postgres_database(&admin_url, &name).await;
    result?
}
