//! The first MSP admin, made by the real binary on its first start: announced on stdout without
//! the password when stdout is not a terminal (a redirected log), the password in a 0600 file,
//! signing in with it works, and a second start makes no other.

use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use atalaya_tests::binary;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

/// Start the server; the lines it printed up to "listening", its URL and the process.
async fn start(
    data_dir: &std::path::Path,
) -> anyhow::Result<(Vec<String>, String, tokio::process::Child)> {
    let mut child = tokio::process::Command::new(binary("atalaya-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-email",
            "boss@msp.example",
            "--data-dir",
        ])
        .arg(data_dir)
        .env_remove("ATALAYA_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .context("starting atalaya-server")?;
    let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
    let mut printed = Vec::new();
    let url = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await? {
            if let Some(url) = line.strip_prefix("atalaya-server listening on ") {
                return Ok(url.trim().to_string());
            }
            printed.push(line);
        }
        bail!("atalaya-server exited before listening")
    })
    .await
    .context("waiting for atalaya-server")??;
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok((printed, url, child))
}

#[tokio::test]
async fn the_first_start_makes_the_first_admin_and_keeps_the_password_out_of_logs(
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("server");
    let (printed, url, mut server) = start(&data_dir).await?;
    let file = data_dir.join("initial-admin-password");
    let password = std::fs::read_to_string(&file)?.trim().to_string();
    let all = printed.join("\n");
    assert!(
        all.contains("first MSP admin boss@msp.example created"),
        "{all}"
    );
    assert!(all.contains(&file.display().to_string()), "{all}");
    assert!(
        !all.contains(&password),
        "the password went into a redirected log: {all}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)?.permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file:?}");
    }

    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let signed_in = client
        .post(format!("{url}/api/v1/sessions"))
        .json(&json!({"email": "boss@msp.example", "password": password}))
        .send()
        .await?;
    assert_eq!(signed_in.status(), reqwest::StatusCode::CREATED);
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .context("cookie")?
        .to_str()?
        .split(';')
        .next()
        .context("cookie value")?
        .to_string();
    let me: Value = client
        .get(format!("{url}/api/v1/me"))
        .header("cookie", &cookie)
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(me["role"], "msp_admin", "{me}");
    server.kill().await.ok();
    server.wait().await.ok();

    // The second start finds the admin: no other is made, the password stays.
    let (printed, _url, mut server) = start(&data_dir).await?;
    assert!(
        !printed.join("\n").contains("first MSP admin"),
        "{printed:?}"
    );
    assert_eq!(std::fs::read_to_string(&file)?.trim(), password);
    server.kill().await.ok();
    Ok(())
}
