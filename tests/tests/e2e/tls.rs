//! The server serves HTTPS itself from PEM files, and the agent trusts it through --ca-cert.

use atalaya_tests::{hostname, Agent, Server, ServerOptions};

#[tokio::test]
async fn agent_reports_over_https_with_a_private_ca() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".to_string(), "127.0.0.1".to_string()])?;
    let cert_path = dir.path().join("server.pem");
    let key_path = dir.path().join("server.key");
    std::fs::write(&cert_path, cert.cert.pem())?;
    std::fs::write(&key_path, cert.signing_key.serialize_pem())?;

    let server = Server::start(ServerOptions {
        data_dir: &dir.path().join("server"),
        database_url: None,
        listen: "127.0.0.1:0",
        tls: Some((&cert_path, &key_path)),
        ca_cert: Some(&cert_path),
    })
    .await?;
    assert!(server.url.starts_with("https://"), "{}", server.url);

    // Without the CA the agent refuses the unknown certificate.
    let untrusting = Agent {
        state_dir: dir.path().join("untrusting"),
    };
    assert!(untrusting
        .enroll(&server.url, &server.enrollment_token, None)
        .await
        .is_err());

    let agent = Agent {
        state_dir: dir.path().join("agent"),
    };
    agent
        .enroll(&server.url, &server.enrollment_token, Some(&cert_path))
        .await?;
    assert_eq!(agent.run_once().await?, 0);
    let cis = server.get("/api/v1/cis?class=computer").await?;
    assert_eq!(cis[0]["name"], hostname());
    server.stop().await
}
