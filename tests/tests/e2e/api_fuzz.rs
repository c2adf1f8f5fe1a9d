//! The API contract, checked from outside: the real server's generated OpenAPI document
//! validates (`openapi-spec-validator`), and a property-based fuzzer (`schemathesis`) that sends
//! requests built from that document gets no 5xx and no response that disagrees with the
//! document (status code, content type, body schema).
//!
//! Both tools come from PyPI; `.ci/run` installs them. Without them this test says loudly that
//! it was skipped. The server holds real data first — this machine's agent enrolled and
//! reporting, an incident and a request — so the fuzzer's reads return real objects, not only
//! empty lists and 404s.
//!
//! The fuzzer runs twice: over the agent's operations with the enrolled agent's credential,
//! and over the whole document with the admin token. `ATALAYA_FUZZ_EXAMPLES` (default 25) sets
//! its examples per operation; each run's report (JUnit XML) is kept under
//! `target/api-fuzz/{admin,agent}/` for a failure's details.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{ensure, Context};
use atalaya_tests::{binary, Agent, Server, ServerOptions};
use serde_json::json;

/// Longest the fuzzer may run before the test counts it as hung.
const FUZZ_LIMIT: Duration = Duration::from_secs(900);

/// The checks that make a response wrong: a server error, or anything the document does not
/// promise.
const CHECKS: &str = "not_a_server_error,status_code_conformance,content_type_conformance,\
                      response_schema_conformance";

/// Whether `tool --version` runs here; says loudly why not.
fn available(tool: &str) -> bool {
    let present = std::process::Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** API contract end-to-end test SKIPPED: {tool} is missing \
             (python3 -m pip install schemathesis openapi-spec-validator) ***\n"
        );
    }
    present
}

/// Where the fuzzer's report is kept: `target/api-fuzz/`, beside the binaries.
fn report_dir() -> PathBuf {
    binary("atalaya-server")
        .parent()
        .and_then(Path::parent)
        .map(|target| target.join("api-fuzz"))
        .unwrap_or_else(|| PathBuf::from("api-fuzz"))
}

/// The bearer credential the seeded agent got at enrollment.
fn agent_credential(dir: &Path) -> anyhow::Result<String> {
    let path = dir.join("agent").join("credential.json");
    let text = std::fs::read_to_string(&path).with_context(|| format!("{}", path.display()))?;
    let credential: serde_json::Value = serde_json::from_str(&text)?;
    credential["credential"]
        .as_str()
        .map(str::to_string)
        .context("credential.json has no credential")
}

/// One schemathesis run against the server's document as `token`; `filters` narrow the
/// operations. Its JUnit report goes to `target/api-fuzz/<pass>/`.
async fn fuzz(server: &Server, pass: &str, token: &str, filters: &[&str]) -> anyhow::Result<()> {
    let examples = std::env::var("ATALAYA_FUZZ_EXAMPLES").unwrap_or_else(|_| "25".into());
    let reports = report_dir().join(pass);
    std::fs::create_dir_all(&reports)?;
    let fuzz = tokio::process::Command::new("schemathesis")
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.url))
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(filters)
        .args(["--checks", CHECKS])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", &examples])
        .args(["--seed", "16"])
        .args(["--workers", "2", "--request-timeout", "30", "--no-color"])
        .args(["--report", "junit", "--report-dir"])
        .arg(&reports)
        .env("SCHEMATHESIS_HOOKS", "")
        // Its cache (`.schemathesis/`) goes beside the report, not into the source tree.
        .current_dir(&reports)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(FUZZ_LIMIT, fuzz)
        .await
        .with_context(|| format!("schemathesis ({pass}) ran out of time"))?
        .with_context(|| format!("running schemathesis ({pass})"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    // The summary goes to the test's output either way: how many operations and cases ran.
    println!("== schemathesis, {pass} pass\n{stdout}");
    ensure!(
        output.status.success(),
        "schemathesis ({pass}) found responses that break the contract (report in {}):\n{}{}",
        reports.display(),
        stdout,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

/// Enroll this machine's agent and let it report once; open an incident and a request.
async fn seed(server: &Server, dir: &Path) -> anyhow::Result<()> {
    let agent = Agent {
        state_dir: dir.join("agent"),
    };
    agent
        .enroll(&server.url, &server.enrollment_token, None)
        .await?;
    ensure!(
        agent.run_once().await? == 0,
        "the agent's first report failed"
    );
    for path in ["/api/v1/incidents", "/api/v1/requests"] {
        let (status, body) = server
            .post(
                path,
                &json!({"tenant": "default", "title": "Printer on floor 2 jams",
                        "description": "Seeded for the API fuzzer", "impact": 2, "urgency": 2}),
            )
            .await?;
        ensure!(status == 201, "POST {path}: {status} {body}");
    }
    Ok(())
}

#[tokio::test]
async fn generated_document_validates_and_the_fuzzer_finds_nothing() -> anyhow::Result<()> {
    if !available("openapi-spec-validator") || !available("schemathesis") {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let server = Server::start(ServerOptions {
        data_dir: &dir.path().join("data"),
        database_url: None,
        listen: "127.0.0.1:0",
        tls: None,
        ca_cert: None,
    })
    .await?;
    seed(&server, dir.path()).await?;

    let document = server.get("/api/v1/openapi.json").await?;
    let document_path = dir.path().join("openapi.json");
    std::fs::write(&document_path, serde_json::to_vec_pretty(&document)?)?;
    let validated = tokio::process::Command::new("openapi-spec-validator")
        .arg(&document_path)
        .output()
        .await
        .context("running openapi-spec-validator")?;
    ensure!(
        validated.status.success(),
        "the served OpenAPI document does not validate:\n{}{}",
        String::from_utf8_lossy(&validated.stdout),
        String::from_utf8_lossy(&validated.stderr)
    );

    // Two passes: the agent's own operations with the agent's credential (with the admin token
    // they only ever answer 401), then the whole document with the admin token — in that order,
    // as the admin pass may revoke the agent. The admin pass leaves out revoking API tokens: its
    // token is the first (id 1, among the first ids tried), and once revoked every later case
    // would only test the 401.
    let agent_credential = agent_credential(dir.path())?;
    fuzz(
        &server,
        "agent",
        &agent_credential,
        &[
            "--include-tag",
            "agent",
            "--exclude-operation-id",
            "enroll_agent",
        ],
    )
    .await?;
    fuzz(
        &server,
        "admin",
        &server.admin_token,
        &["--exclude-operation-id", "revoke_api_token"],
    )
    .await?;
    server.stop().await
}
