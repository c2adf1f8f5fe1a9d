//! `atalaya-server create-admin-token`: an MSP-wide token, or with `--tenant` one bound to a single
//! tenant (it sees only that tenant); an unknown tenant is a clear error and creates nothing.

use atalaya_tests::{binary, Server, ServerOptions};
use serde_json::{json, Value};

async fn create_token(
    data_dir: &std::path::Path,
    args: &[&str],
) -> anyhow::Result<std::process::Output> {
    Ok(tokio::process::Command::new(binary("atalaya-server"))
        .arg("--data-dir")
        .arg(data_dir)
        .arg("create-admin-token")
        .args(args)
        .env_remove("ATALAYA_DATABASE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .await?)
}

async fn tenant_names(server: &Server, token: &str) -> anyhow::Result<Vec<String>> {
    let response = server
        .client
        .get(format!("{}/api/v1/tenants", server.url))
        .bearer_auth(token)
        .send()
        .await?;
    anyhow::ensure!(
        response.status().is_success(),
        "GET /api/v1/tenants: {}",
        response.status()
    );
    let body: Value = response.json().await?;
    let mut names: Vec<String> = body
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["name"].as_str().map(String::from))
        .collect();
    names.sort();
    Ok(names)
}

#[tokio::test]
async fn admin_tokens_are_msp_wide_or_bound_to_one_tenant() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let data_dir = dir.path().join("server");
    let server = Server::start(ServerOptions {
        data_dir: &data_dir,
        database_url: None,
        listen: "127.0.0.1:0",
        tls: None,
        ca_cert: None,
    })
    .await?;
    let (status, body) = server
        .post(
            "/api/v1/tenants",
            &json!({"name": "acme", "display_name": "Acme"}),
        )
        .await?;
    assert_eq!(status, 201, "{body}");

    let bound = create_token(&data_dir, &["--tenant", "acme", "--name", "acme-ops"]).await?;
    assert!(
        bound.status.success(),
        "{}",
        String::from_utf8_lossy(&bound.stderr)
    );
    let bound = String::from_utf8(bound.stdout)?.trim().to_string();
    assert!(bound.starts_with("atl_"), "{bound}");
    assert_eq!(tenant_names(&server, &bound).await?, ["acme"]);

    let wide = create_token(&data_dir, &["--name", "spare"]).await?;
    assert!(
        wide.status.success(),
        "{}",
        String::from_utf8_lossy(&wide.stderr)
    );
    let wide = String::from_utf8(wide.stdout)?.trim().to_string();
    assert_eq!(tenant_names(&server, &wide).await?, ["acme", "default"]);

    let unknown = create_token(&data_dir, &["--tenant", "nope"]).await?;
    assert!(!unknown.status.success());
    assert!(unknown.stdout.is_empty(), "no token printed");
    let why = String::from_utf8_lossy(&unknown.stderr);
    assert!(why.contains("no tenant named \"nope\""), "{why}");
    Ok(())
}
