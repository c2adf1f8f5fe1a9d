//! Config from the server reaches a running agent: an admin changes the tenant's agent config,
//! the agent learns the new version from its next acknowledgement, fetches the config, applies
//! it without a restart (the report interval visibly changes) and keeps it on disk, so a restart
//! starts with it.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use atalaya_tests::{eventually, Agent, Server, ServerOptions};
use serde_json::{json, Value};

/// Seconds between consecutive collections among the stored reports after `from_seq`.
async fn gaps_after(server: &Server, from_seq: i64) -> anyhow::Result<Vec<f64>> {
    let rows = server.stored_reports().await?;
    let times: Vec<i64> = rows
        .iter()
        .filter(|(seq, _, _)| *seq > from_seq)
        .map(|(_, collected, _)| *collected)
        .collect();
    Ok(times
        .windows(2)
        .map(|w| (w[1] - w[0]) as f64 / 1000.0)
        .collect())
}

fn saved_config(agent: &Agent) -> Option<Value> {
    let bytes = std::fs::read(agent.state_dir.join("agent_config.json")).ok()?;
    serde_json::from_slice(&bytes).ok()
}

#[tokio::test]
async fn a_running_agent_applies_a_new_tenant_config_without_restarting() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start(ServerOptions {
        data_dir: &dir.path().join("server"),
        database_url: None,
        listen: "127.0.0.1:0",
        tls: None,
        ca_cert: None,
    })
    .await?;
    let agent = Agent {
        state_dir: dir.path().join("agent"),
    };
    agent
        .enroll(&server.url, &server.enrollment_token, None)
        .await?;
    // Enrolled at the server's 60 s. Before the agent runs, the tenant asks for 5 s: the first
    // acknowledgement carries version 1 and the agent switches.
    let (status, body) = server
        .put(
            "/api/v1/tenants/default/agent-config",
            &json!({"report_interval_secs": 5, "watched_services": ["atalaya-e2e"]}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let mut running = agent.command().arg("run").spawn()?;
    let pid = running.id();
    let saved = eventually(Duration::from_secs(40), || async {
        Ok(saved_config(&agent).filter(|c| c["version"] == 1))
    })
    .await?;
    assert_eq!(saved["report_interval_secs"], 5);
    assert_eq!(saved["watched_services"], json!(["atalaya-e2e.service"]));
    let mode = std::fs::metadata(agent.state_dir.join("agent_config.json"))?
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // The agent's first collection came before it knew; from then on, every 5 s.
    let switched_at = server.stored_reports().await?.last().map_or(0, |r| r.0);
    let gaps = eventually(Duration::from_secs(30), || async {
        let gaps = gaps_after(&server, switched_at).await?;
        Ok((gaps.len() >= 2).then_some(gaps))
    })
    .await?;
    assert!(
        gaps.iter().all(|g| (4.0..7.5).contains(g)),
        "5 s interval expected: {gaps:?}"
    );

    // A change while it runs: 10 s.
    let (status, body) = server
        .put(
            "/api/v1/tenants/default/agent-config",
            &json!({"report_interval_secs": 10, "watched_services": ["atalaya-e2e"]}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["version"], 2);
    eventually(Duration::from_secs(30), || async {
        Ok(saved_config(&agent).filter(|c| c["version"] == 2).map(drop))
    })
    .await?;
    let switched_at = server.stored_reports().await?.last().map_or(0, |r| r.0);
    let gaps = eventually(Duration::from_secs(45), || async {
        let gaps = gaps_after(&server, switched_at).await?;
        Ok((gaps.len() >= 2).then_some(gaps))
    })
    .await?;
    assert!(
        gaps.iter().all(|g| (9.0..13.0).contains(g)),
        "10 s interval expected: {gaps:?}"
    );
    assert_eq!(running.id(), pid, "same process: no restart");
    assert!(running.try_wait()?.is_none(), "agent still running");
    running.start_kill()?;
    running.wait().await?;

    // A restart starts with the saved config (10 s), not the 60 s of the enrollment.
    let restarted_at = server.stored_reports().await?.last().map_or(0, |r| r.0);
    let mut running = agent.command().arg("run").spawn()?;
    let gaps = eventually(Duration::from_secs(40), || async {
        let gaps = gaps_after(&server, restarted_at).await?;
        Ok((!gaps.is_empty()).then_some(gaps))
    })
    .await?;
    assert!(
        gaps.iter().all(|g| (9.0..13.0).contains(g)),
        "10 s interval kept across the restart: {gaps:?}"
    );
    running.start_kill()?;
    running.wait().await?;
    server.stop().await
}
