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

/// The server stops in the middle of a stream of reports: the agent spools, the server comes
/// back on the same address, and every collection is stored exactly once, in order of sequence
/// number (the stored collection times rise with the sequence numbers and the backlog arrives
/// oldest first).
#[tokio::test]
async fn server_stopped_mid_stream_gets_every_collection_once_in_order() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("server");
    let options = |listen| ServerOptions {
        data_dir: &data_dir,
        database_url: None,
        listen,
        tls: None,
        ca_cert: None,
    };
    let server = Server::start(options("127.0.0.1:0")).await?;
    let listen = server.url.trim_start_matches("http://").to_string();
    let agent = Agent {
        state_dir: dir.path().join("agent"),
    };
    agent
        .enroll(&server.url, &server.enrollment_token, None)
        .await?;
    let mut running = agent.command().args(["run", "--interval", "1"]).spawn()?;
    eventually(Duration::from_secs(30), || async {
        let stored = server.counter("atalaya_reports_stored_total").await?;
        Ok((stored >= 3).then_some(()))
    })
    .await?;

    server.stop().await?;
    let before = agent.last_seq()?;
    eventually(Duration::from_secs(30), || async {
        Ok((agent.last_seq()? >= before + 4).then_some(()))
    })
    .await?;
    let spool = agent.state_dir.join("spool");
    let pending = std::fs::read_dir(&spool)?
        .filter_map(Result::ok)
        .filter(|e| e.path().is_file() && e.file_name().to_string_lossy().ends_with(".json"))
        .count();
    assert!(
        pending >= 3,
        "only {pending} reports spooled during the outage"
    );

    let server = Server::start(options(&listen)).await?;
    let target = agent.last_seq()?;
    eventually(Duration::from_secs(90), || async {
        let rows = server.stored_reports().await?;
        Ok(rows
            .last()
            .is_some_and(|r| r.0 as u64 >= target)
            .then_some(()))
    })
    .await?;
    running.start_kill()?;
    running.wait().await?;

    let rows = server.stored_reports().await?;
    let seqs: Vec<u64> = rows.iter().map(|r| r.0 as u64).collect();
    let max = *seqs.last().expect("reports stored");
    assert_eq!(
        seqs,
        (1..=max).collect::<Vec<_>>(),
        "every sequence number exactly once, no gaps"
    );
    assert!(
        rows.windows(2).all(|w| w[0].1 <= w[1].1),
        "collection times follow the sequence: {rows:?}"
    );
    assert!(
        rows.windows(2).all(|w| w[0].2 <= w[1].2),
        "the backlog was stored oldest first: {rows:?}"
    );
    let dropped: (i64,) = {
        sqlx::any::install_default_drivers();
        let url = format!("sqlite://{}?mode=ro", data_dir.join("atalaya.db").display());
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await?;
        let d = sqlx::query_as("SELECT COALESCE(SUM(dropped), 0) FROM reports")
            .fetch_one(&pool)
            .await?;
        pool.close().await;
        d
    };
    assert_eq!(dropped.0, 0, "nothing dropped under the default cap");
    server.stop().await
}
