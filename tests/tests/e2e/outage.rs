//! The server is down when the agent starts: the agent keeps collecting, retries with backoff,
//! and once the server is up every collection arrives exactly once.

use std::time::Duration;

use atalaya_tests::{eventually, Agent, Server, ServerOptions};

#[tokio::test]
async fn collections_made_while_the_server_is_down_arrive_exactly_once() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("server");
    // Start once to enroll, then stop: the agent now points at a server that is down.
    let server = Server::start(ServerOptions {
        data_dir: &data_dir,
        database_url: None,
        listen: "127.0.0.1:0",
        tls: None,
        ca_cert: None,
    })
    .await?;
    let listen = server.url.trim_start_matches("http://").to_string();
    let agent = Agent {
        state_dir: dir.path().join("agent"),
    };
    agent
        .enroll(&server.url, &server.enrollment_token, None)
        .await?;
    server.stop().await?;

    assert_eq!(
        agent.run_once().await?,
        5,
        "unreachable server: exit 5, data kept"
    );
    let mut running = agent.command().args(["run", "--interval", "1"]).spawn()?;
    // Let it collect a few times against the dead server.
    let spool = agent.state_dir.join("spool");
    eventually(Duration::from_secs(30), || {
        let spool = spool.clone();
        async move {
            let pending = std::fs::read_dir(&spool)?
                .filter_map(Result::ok)
                .filter(|e| e.path().is_file())
                .count();
            Ok((pending >= 3).then_some(()))
        }
    })
    .await?;

    let server = Server::start(ServerOptions {
        data_dir: &data_dir,
        database_url: None,
        listen: &listen,
        tls: None,
        ca_cert: None,
    })
    .await?;
    // The backoff is capped, so the agent finds the server again on its own.
    eventually(Duration::from_secs(90), || async {
        let stored = server.counter("atalaya_reports_stored_total").await?;
        Ok((stored >= 3).then_some(()))
    })
    .await?;
    running.start_kill()?;
    running.wait().await?;
    // Whatever is still spooled goes now; then every sequence number is stored exactly once.
    assert_eq!(agent.run_once().await?, 0);
    let agents = server.get("/api/v1/agents").await?;
    let last_seq = agent.last_seq()?;
    assert_eq!(agents[0]["last_seq"].as_u64(), Some(last_seq));
    let stored = server.counter("atalaya_reports_stored_total").await?;
    let dropped: u64 = 0;
    assert_eq!(
        stored + dropped,
        last_seq,
        "every collection stored exactly once"
    );
    server.stop().await
}
