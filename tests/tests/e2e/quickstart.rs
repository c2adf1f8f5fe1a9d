//! The README's first command: `atalaya-server quickstart` shows this computer in the CMDB.

use std::process::Stdio;
use std::time::Duration;

use atalaya_tests::{binary, eventually, hostname};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

#[tokio::test]
async fn quickstart_fills_the_cmdb_with_this_computer() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = Command::new(binary("atalaya-server"))
        .args([
            "quickstart",
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "5",
            "--data-dir",
        ])
        .arg(dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let mut url = None;
    let mut token = None;
    let mut curl = false;
    while let Some(line) =
        tokio::time::timeout(Duration::from_secs(60), lines.next_line()).await??
    {
        if let Some(u) = line.strip_prefix("Atalaya is running at ") {
            url = Some(u.trim().to_string());
        }
        if let Some(t) = line.trim().strip_prefix("admin token: ") {
            token = Some(t.trim().to_string());
        }
        curl |= line.contains("curl") && line.contains("/api/v1/cis");
        if line.starts_with("Press Ctrl-C") {
            break;
        }
    }
    let (url, token) = (
        url.expect("URL printed"),
        token.expect("admin token printed"),
    );
    assert!(curl, "a curl line to list the CIs is printed");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let client = reqwest::Client::new();
    let computer = eventually(Duration::from_secs(60), || async {
        let cis: serde_json::Value = client
            .get(format!("{url}/api/v1/cis?class=computer"))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        Ok(cis.as_array().and_then(|a| a.first().cloned()))
    })
    .await?;
    assert_eq!(computer["name"], hostname());
    let volumes: serde_json::Value = client
        .get(format!("{url}/api/v1/cis?class=volume"))
        .bearer_auth(&token)
        .send()
        .await?
        .json()
        .await?;
    assert!(!volumes.as_array().expect("list").is_empty());
    // SIGTERM, not SIGKILL: quickstart must stop its agent too, leaving nothing behind.
    if let Some(pid) = child.id() {
        std::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()?;
    }
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait()).await??;
    assert!(status.success(), "quickstart exited with {status}");
    // A running agent holds its state directory's lock (exit 1 for a second `run`); with the
    // agent gone, `run --once` gets the lock and finds the server down instead (exit 5).
    let once = Command::new(binary("atalaya-agent"))
        .args(["run", "--once"])
        .env("ATALAYA_AGENT_STATE_DIR", dir.path().join("agent"))
        .env("RUST_LOG", "off")
        .output()
        .await?;
    assert_eq!(
        once.status.code(),
        Some(5),
        "an agent outlived quickstart: {}",
        String::from_utf8_lossy(&once.stderr)
    );
    Ok(())
}
