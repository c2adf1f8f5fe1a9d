//! End-to-end test support: start the real `atalaya-server` and `atalaya-agent` binaries on
//! loopback with temporary directories, and talk to them over HTTP.
//!
//! The binaries are the ones `cargo test --workspace` has just built beside this test binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `target/<profile>/NAME`, found from this test executable (`target/<profile>/deps/…`).
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>");
    let path = profile_dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so the binaries are built",
        path.display()
    );
    path
}

/// A running `atalaya-server`, killed when dropped.
pub struct Server {
    child: Child,
    pub url: String,
    pub data_dir: PathBuf,
    pub admin_token: String,
    pub enrollment_token: String,
    pub client: reqwest::Client,
}

pub struct ServerOptions<'a> {
    pub data_dir: &'a Path,
    pub database_url: Option<&'a str>,
    pub listen: &'a str,
    pub tls: Option<(&'a Path, &'a Path)>,
    pub ca_cert: Option<&'a Path>,
}

impl Server {
    pub async fn start(options: ServerOptions<'_>) -> anyhow::Result<Server> {
        Server::start_with_args(options, &[]).await
    }

    /// Start with more flags after the usual ones (`--smtp-host …`, `--public-url …`).
    pub async fn start_with_args(
        options: ServerOptions<'_>,
        extra_args: &[String],
    ) -> anyhow::Result<Server> {
        let mut command = Command::new(binary("atalaya-server"));
        command
            .arg("--listen")
            .arg(options.listen)
            .arg("--data-dir")
            .arg(options.data_dir)
            .env_remove("ATALAYA_DATABASE_URL")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if let Some(url) = options.database_url {
            command.arg("--database-url").arg(url);
        }
        if let Some((cert, key)) = options.tls {
            command
                .arg("--tls-cert")
                .arg(cert)
                .arg("--tls-key")
                .arg(key);
        }
        command.args(extra_args);
        let mut child = command.spawn().context("starting atalaya-server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(url) = line.strip_prefix("atalaya-server listening on ") {
                    return Ok(url.trim().to_string());
                }
            }
            bail!("atalaya-server exited before listening")
        })
        .await
        .context("waiting for atalaya-server to listen")??;
        // Keep draining stdout so the server never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

        let mut client = reqwest::Client::builder().timeout(Duration::from_secs(30));
        if let Some(ca) = options.ca_cert {
            let pem = std::fs::read(ca)?;
            client = client.add_root_certificate(reqwest::Certificate::from_pem(&pem)?);
        }
        let read = |file: &str| {
            std::fs::read_to_string(options.data_dir.join(file)).map(|s| s.trim().to_string())
        };
        let server = Server {
            child,
            url,
            data_dir: options.data_dir.to_path_buf(),
            admin_token: read("initial-admin-token").context("initial-admin-token")?,
            enrollment_token: read("initial-enrollment-token")
                .context("initial-enrollment-token")?,
            client: client.build()?,
        };
        server.wait_ready().await?;
        Ok(server)
    }

    /// Poll `/readyz` until it answers 200, with a deadline (never a fixed sleep).
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let ready = self.client.get(format!("{}/readyz", self.url)).send().await;
            if matches!(&ready, Ok(r) if r.status().is_success()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("server not ready in time: {ready:?}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token)
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        if !status.is_success() {
            bail!("GET {path}: {status} {body}");
        }
        Ok(body)
    }

    pub async fn post(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .client
            .post(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    pub async fn put(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        let response = self
            .client
            .put(format!("{}{path}", self.url))
            .bearer_auth(&self.admin_token)
            .json(body)
            .send()
            .await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    /// `(seq, collected_at ms, received_at ms)` of every stored report, by sequence number
    /// (SQLite servers only: read from the data directory's database).
    pub async fn stored_reports(&self) -> anyhow::Result<Vec<(i64, i64, i64)>> {
        sqlx::any::install_default_drivers();
        let url = format!(
            "sqlite://{}?mode=ro",
            self.data_dir.join("atalaya.db").display()
        );
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .with_context(|| format!("opening {url}"))?;
        let rows: Vec<(i64, i64, i64)> =
            sqlx::query_as("SELECT seq, collected_at, received_at FROM reports ORDER BY seq")
                .fetch_all(&pool)
                .await?;
        pool.close().await;
        Ok(rows)
    }

    /// The distinct metric names sampled on one CI, sorted (SQLite servers only).
    pub async fn sampled_metrics(&self, ci_id: i64) -> anyhow::Result<Vec<String>> {
        sqlx::any::install_default_drivers();
        let url = format!(
            "sqlite://{}?mode=ro",
            self.data_dir.join("atalaya.db").display()
        );
        let pool = sqlx::any::AnyPoolOptions::new()
            .max_connections(1)
            .connect(&url)
            .await
            .with_context(|| format!("opening {url}"))?;
        let rows: Vec<(String,)> = sqlx::query_as(
            "SELECT DISTINCT metric FROM metric_samples WHERE ci_id = $1 ORDER BY metric",
        )
        .bind(ci_id)
        .fetch_all(&pool)
        .await?;
        pool.close().await;
        Ok(rows.into_iter().map(|(m,)| m).collect())
    }

    /// A counter from `/metrics`.
    pub async fn counter(&self, name: &str) -> anyhow::Result<u64> {
        let text = self
            .client
            .get(format!("{}/metrics", self.url))
            .send()
            .await?
            .text()
            .await?;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse().ok()))
            .with_context(|| format!("{name} not in /metrics"))
    }

    /// Die at once (SIGKILL), as in a crash: no shutdown code runs.
    pub async fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }

    /// Stop with SIGTERM and wait, so the test sees a graceful shutdown. The server gives
    /// in-flight requests up to 20 s (`serve::DRAIN`) and then closes its pool; on a machine
    /// loaded by the rest of the suite that took more than 30 s once, so the bound is 60 s.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = std::process::Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status();
        }
        let status = tokio::time::timeout(Duration::from_secs(60), self.child.wait()).await??;
        if !status.success() {
            bail!("server exited with {status} after SIGTERM");
        }
        Ok(())
    }
}

/// The real agent with its own state directory.
pub struct Agent {
    pub state_dir: PathBuf,
}

impl Agent {
    pub fn command(&self) -> Command {
        let mut command = Command::new(binary("atalaya-agent"));
        command
            .env("ATALAYA_AGENT_STATE_DIR", &self.state_dir)
            .env("RUST_LOG", "warn")
            .kill_on_drop(true);
        command
    }

    pub async fn enroll(
        &self,
        server: &str,
        token: &str,
        ca_cert: Option<&Path>,
    ) -> anyhow::Result<()> {
        let mut command = self.command();
        command.args(["enroll", "--server", server, "--token", token]);
        if let Some(ca) = ca_cert {
            command.arg("--ca-cert").arg(ca);
        }
        let output = command.output().await?;
        if !output.status.success() {
            bail!("enroll failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        Ok(())
    }

    /// `run --once`; returns the exit code.
    pub async fn run_once(&self) -> anyhow::Result<i32> {
        let output = self.command().args(["run", "--once"]).output().await?;
        let code = output.status.code().unwrap_or(-1);
        if code != 0 {
            eprintln!(
                "agent run --once exited {code}: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        Ok(code)
    }

    pub fn credential(&self) -> anyhow::Result<Value> {
        Ok(serde_json::from_slice(&std::fs::read(
            self.state_dir.join("credential.json"),
        )?)?)
    }

    /// The last sequence number the agent handed out.
    pub fn last_seq(&self) -> anyhow::Result<u64> {
        Ok(std::fs::read_to_string(self.state_dir.join("seq"))?
            .trim()
            .parse()?)
    }
}

/// A fresh PostgreSQL database on the server named by `ATALAYA_TEST_DATABASE_URL`, dropped by
/// [`drop_postgres_database`]; `None` (and a loud notice) when it is not set.
pub async fn postgres_database() -> Option<(String, String, String)> {
    use sqlx::{Connection, Executor};
    let Ok(admin_url) = std::env::var("ATALAYA_TEST_DATABASE_URL") else {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** end-to-end PostgreSQL run SKIPPED: set ATALAYA_TEST_DATABASE_URL to run it ***\n"
        );
        return None;
    };
    sqlx::any::install_default_drivers();
    let name = format!("atalaya_e2e_{}", uuid::Uuid::new_v4().simple());
    let mut admin = sqlx::AnyConnection::connect(&admin_url)
        .await
        .expect("connect to ATALAYA_TEST_DATABASE_URL");
    admin
        .execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .expect("create database");
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b.to_string(), format!("?{q}")),
        None => (admin_url.clone(), String::new()),
    };
    let root = base
        .rsplit_once('/')
        .map(|(r, _)| r.to_string())
        .unwrap_or(base);
    Some((format!("{root}/{name}{query}"), admin_url, name))
}

pub async fn drop_postgres_database(admin_url: &str, name: &str) {
    use sqlx::{Connection, Executor};
    if let Ok(mut admin) = sqlx::AnyConnection::connect(admin_url).await {
        let _ = admin
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await;
    }
}

/// This machine's host name, as the kernel has it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// `MemTotal` from `/proc/meminfo`, in bytes.
pub fn mem_total_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kib| kib * 1024)
        .unwrap_or(0)
}

/// Poll `check` until it returns `Some`, or fail after `timeout`.
pub async fn eventually<T, F, Fut>(timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if Instant::now() > deadline {
            bail!("condition not met within {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
