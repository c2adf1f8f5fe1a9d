//! Email end to end: the real `atalaya-server` configured with `--smtp-*` flags sends through a
//! real SMTP server process (`python3 -m aiosmtpd`, writing a maildir) — one email per event,
//! with the resolved email's satisfaction link working once — and a server killed between
//! queueing a message and sending it delivers that message exactly once after a restart.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use atalaya_tests::{eventually, Server, ServerOptions};
use serde_json::{json, Value};
use tokio::process::{Child, Command};

/// Whether `python3 -m aiosmtpd` can run here; says loudly why not.
fn aiosmtpd_available() -> bool {
    let present = std::process::Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "\n*** desk email end-to-end test SKIPPED: python3 with aiosmtpd is missing \
             (python3 -m pip install aiosmtpd) ***\n"
        );
    }
    present
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// A real SMTP server on loopback storing every message it accepts in a maildir.
struct Smtp {
    _child: Child,
    maildir: PathBuf,
}

impl Smtp {
    async fn start(port: u16, maildir: &Path) -> anyhow::Result<Smtp> {
        let child = Command::new("python3")
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(maildir)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .context("starting aiosmtpd")?;
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                bail!("aiosmtpd did not listen on port {port}");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(Smtp {
            _child: child,
            maildir: maildir.to_path_buf(),
        })
    }

    /// Every message received so far, as text with quoted-printable soft breaks undone.
    fn messages(&self) -> anyhow::Result<Vec<String>> {
        let mut out = Vec::new();
        for folder in ["new", "cur"] {
            let Ok(entries) = std::fs::read_dir(self.maildir.join(folder)) else {
                continue;
            };
            for entry in entries {
                let text = std::fs::read_to_string(entry?.path())?;
                out.push(
                    text.replace("=\r\n", "")
                        .replace("=\n", "")
                        .replace("\r\n", "\n"),
                );
            }
        }
        Ok(out)
    }
}

fn subject(message: &str) -> &str {
    message
        .lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
}

fn smtp_args(smtp_port: u16, public_url: &str) -> Vec<String> {
    [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        &smtp_port.to_string(),
        "--smtp-tls",
        "none",
        "--smtp-from",
        "Atalaya <desk@msp.example>",
        "--public-url",
        public_url,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

async fn start_server(data_dir: &Path, smtp_port: u16) -> anyhow::Result<Server> {
    let port = free_port()?;
    let listen = format!("127.0.0.1:{port}");
    Server::start_with_args(
        ServerOptions {
            data_dir,
            database_url: None,
            listen: &listen,
            tls: None,
            ca_cert: None,
        },
        &smtp_args(smtp_port, &format!("http://{listen}")),
    )
    .await
}

/// The MSP's desk hears of new incidents; each requester hears of the resolution of theirs.
async fn email_channels(server: &Server) -> anyhow::Result<()> {
    for (target, event) in [("ops@msp.example", "opened"), ("requester", "resolved")] {
        let (status, body) = server
            .post(
                "/api/v1/tenants/default/notification-channels",
                &json!({"kind": "email", "target": target, "events": [event]}),
            )
            .await?;
        anyhow::ensure!(status == 201, "channel: {status} {body}");
    }
    Ok(())
}

async fn open_incident(server: &Server, title: &str) -> anyhow::Result<i64> {
    let (status, body) = server
        .post(
            "/api/v1/incidents",
            &json!({"tenant": "default", "title": title, "impact": 2, "urgency": 2,
                    "requester": "ana@customer.example"}),
        )
        .await?;
    anyhow::ensure!(status == 201, "incident: {status} {body}");
    body["id"].as_i64().context("incident id")
}

/// Wait until exactly `n` messages are in the maildir, then a little longer to see no more come.
async fn exactly(smtp: &Smtp, n: usize, within: Duration) -> anyhow::Result<Vec<String>> {
    eventually(within, || async {
        let messages = smtp.messages()?;
        anyhow::ensure!(messages.len() <= n, "more than {n} messages: {messages:#?}");
        Ok((messages.len() == n).then_some(()))
    })
    .await?;
    // Two more delivery passes (every 5 s) must not send anything again.
    tokio::time::sleep(Duration::from_secs(11)).await;
    let messages = smtp.messages()?;
    anyhow::ensure!(
        messages.len() == n,
        "expected exactly {n} messages: {messages:#?}"
    );
    Ok(messages)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incident_emails_arrive_once_with_a_working_satisfaction_link() -> anyhow::Result<()> {
    if !aiosmtpd_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let smtp_port = free_port()?;
    let smtp = Smtp::start(smtp_port, &dir.path().join("maildir")).await?;
    let server = start_server(&dir.path().join("data"), smtp_port).await?;
    email_channels(&server).await?;
    let id = open_incident(&server, "Mail server down").await?;

    let messages = exactly(&smtp, 1, Duration::from_secs(30)).await?;
    let opened = &messages[0];
    assert_eq!(subject(opened), "[INC-000001] Opened: Mail server down");
    assert!(opened.contains("To: ops@msp.example"), "{opened}");
    assert!(opened.contains("Priority: P"), "{opened}");
    assert!(!opened.contains("/satisfaction/"), "{opened}");

    let (status, body) = server
        .post(
            &format!("/api/v1/incidents/{id}/transitions"),
            &json!({"to": "resolved", "note": "restarted the MTA"}),
        )
        .await?;
    assert_eq!(status, 200, "{body}");
    let messages = exactly(&smtp, 2, Duration::from_secs(30)).await?;
    let resolved = messages
        .iter()
        .find(|m| subject(m).contains("Resolved"))
        .context("the resolved email")?;
    assert_eq!(subject(resolved), "[INC-000001] Resolved: Mail server down");
    assert!(resolved.contains("To: ana@customer.example"), "{resolved}");
    assert!(resolved.contains("note: restarted the MTA"), "{resolved}");
    let link = resolved
        .split_whitespace()
        .find(|w| w.contains("/satisfaction/"))
        .context("a satisfaction link")?;
    assert!(link.starts_with(&server.url), "{link} on {}", server.url);

    let page = server.client.get(link).send().await?;
    assert_eq!(page.status(), 200);
    let html = page.text().await?;
    assert!(
        html.contains("Mail server down") && html.contains("name=\"score\""),
        "{html}"
    );
    let rate = |score: &str| {
        server
            .client
            .post(link)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("score={score}"))
            .send()
    };
    assert_eq!(rate("5").await?.status(), 200);
    assert_eq!(rate("1").await?.status(), 409, "rated once");
    // Another ticket's number under this ticket's signature.
    let forged = link.replacen("/satisfaction/i", "/satisfaction/i9", 1);
    assert_eq!(server.client.get(&forged).send().await?.status(), 403);

    let report = server
        .get("/api/v1/reports/satisfaction?tenant=default")
        .await?;
    assert_eq!(report["rows"][0]["score_5"], 1, "{report}");
    let outbox: Value = server.get("/api/v1/tenants/default/outbox").await?;
    let states: Vec<&str> = outbox
        .as_array()
        .context("outbox")?
        .iter()
        .filter_map(|e| e["state"].as_str())
        .collect();
    assert_eq!(states, ["sent", "sent"]);
    server.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_killed_before_sending_delivers_exactly_once_after_restart() -> anyhow::Result<()>
{
    if !aiosmtpd_available() {
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    // The SMTP server is not up yet: whatever the first life tries cannot be sent.
    let smtp_port = free_port()?;
    let server = start_server(&data, smtp_port).await?;
    email_channels(&server).await?;
    open_incident(&server, "UPS on battery").await?;
    // The notification committed with the incident; die before it leaves.
    server.kill().await?;

    let smtp = Smtp::start(smtp_port, &dir.path().join("maildir")).await?;
    let server = start_server(&data, smtp_port).await?;
    // The dead server's job lease expires after 15 s; a failed first attempt, if the first
    // life made one, waits 30 s before its retry.
    let messages = exactly(&smtp, 1, Duration::from_secs(90)).await?;
    assert_eq!(subject(&messages[0]), "[INC-000001] Opened: UPS on battery");
    let outbox: Value = server.get("/api/v1/tenants/default/outbox").await?;
    assert_eq!(outbox.as_array().map(Vec::len), Some(1), "{outbox}");
    assert_eq!(outbox[0]["state"], "sent", "{outbox}");
    server.stop().await
}
