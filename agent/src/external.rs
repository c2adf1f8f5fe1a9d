//! Running other programs (`systemctl`, `smartctl`, `rpm`) with a time limit: a hung helper
//! must never hang the agent.

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// What a finished command produced.
#[derive(Debug)]
pub struct Output {
    /// `None` when the process was killed by a signal.
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{0} is not installed")]
    NotFound(String),
    #[error("{program} did not finish within {timeout:?} and was killed")]
    TimedOut { program: String, timeout: Duration },
    #[error("running {program}: {source}")]
    Io {
        program: String,
        source: std::io::Error,
    },
}

/// Runs `program args…` with no stdin, capturing stdout and stderr, killing it after `timeout`.
pub fn run(program: &str, args: &[&str], timeout: Duration) -> Result<Output, RunError> {
    let io_err = |source| RunError::Io {
        program: program.to_owned(),
        source,
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Plain, stable output whatever the machine's locale.
        .env("LC_ALL", "C")
        .env("SYSTEMD_PAGER", "")
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => RunError::NotFound(program.to_owned()),
            _ => io_err(e),
        })?;
    // Read both pipes on helper threads so a chatty child never blocks on a full pipe.
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let out_reader = std::thread::spawn(move || read_all(stdout.as_mut()));
    let err_reader = std::thread::spawn(move || read_all(stderr.as_mut()));

    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(io_err)? {
            Some(status) => break status,
            None if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(RunError::TimedOut {
                    program: program.to_owned(),
                    timeout,
                });
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    Ok(Output {
        code: status.code(),
        stdout: out_reader.join().unwrap_or_default(),
        stderr: err_reader.join().unwrap_or_default(),
    })
}

fn read_all(pipe: Option<&mut impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(p) = pipe {
        let _ = p.read_to_end(&mut buf);
    }
    buf
}

/// The first line of a command's stderr, for "why is this unavailable" messages.
pub fn first_line(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_captured() {
        let out = run(
            "sh",
            &["-c", "echo hi; echo err >&2; exit 3"],
            Duration::from_secs(5),
        )
        .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, b"hi\n");
        assert_eq!(first_line(&out.stderr), "err");
    }

    #[test]
    fn hung_command_is_killed_at_the_deadline() {
        let started = Instant::now();
        let err = run("sleep", &["30"], Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, RunError::TimedOut { .. }), "{err}");
        assert!(started.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn missing_program_is_reported_as_not_installed() {
        let err = run("atalaya-no-such-program", &[], Duration::from_secs(1)).unwrap_err();
        assert_eq!(err.to_string(), "atalaya-no-such-program is not installed");
    }

    #[test]
    fn large_output_does_not_deadlock() {
        let out = run(
            "sh",
            &["-c", "head -c 1000000 /dev/zero"],
            Duration::from_secs(10),
        )
        .unwrap();
        assert_eq!(out.stdout.len(), 1_000_000);
    }
}
