//! The real SMTP test server, `python3 -m aiosmtpd` (installed by `.ci/run`; a test without it
//! says it was skipped), printing every message it receives.

use std::process::Stdio;
use std::time::{Duration, Instant};

use atalaya_server::notify::email::{SmtpSettings, SmtpTls};
use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdout};

pub struct SmtpServer {
    pub port: u16,
    process: Child,
    stdout: ChildStdout,
    printed: String,
}

impl SmtpServer {
    /// The server on a free port, or `None` (said on stderr) when aiosmtpd is not installed.
    pub async fn start(test: &str) -> Option<SmtpServer> {
        let present = std::process::Command::new("python3")
            .args(["-c", "import aiosmtpd"])
            .status()
            .is_ok_and(|s| s.success());
        if !present {
            eprintln!("*** {test} SKIPPED: aiosmtpd is not installed (`python3 -m pip install aiosmtpd`) ***");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut process = tokio::process::Command::new("python3")
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start aiosmtpd");
        let deadline = Instant::now() + Duration::from_secs(20);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                Instant::now() < deadline,
                "aiosmtpd did not start listening"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let stdout = process.stdout.take().expect("stdout");
        Some(SmtpServer {
            port,
            process,
            stdout,
            printed: String::new(),
        })
    }

    pub fn settings(&self) -> SmtpSettings {
        SmtpSettings {
            host: "127.0.0.1".into(),
            port: self.port,
            from: "Atalaya <desk@msp.example>".into(),
            tls: SmtpTls::None,
            username: None,
            password: None,
        }
    }

    /// Everything printed until `count` messages in all have been received.
    pub async fn messages(&mut self, count: usize) -> String {
        let reading = async {
            let mut buf = vec![0u8; 4096];
            while self.printed.matches("END MESSAGE").count() < count {
                let n = self.stdout.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                self.printed.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        };
        tokio::time::timeout(Duration::from_secs(10), reading)
            .await
            .expect("the SMTP server printed the messages");
        self.printed.clone()
    }

    pub async fn stop(mut self) {
        self.process.kill().await.ok();
    }
}
