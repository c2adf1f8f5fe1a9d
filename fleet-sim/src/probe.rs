//! Server-side cost around the reporting phase: the server process's CPU time (user + system,
//! from `/proc/<pid>/stat`) and the database size (from a shell command the caller gives, since
//! only it knows where the database lives: `sqlite3 …`, `psql …`).

use serde::Serialize;

/// What to read, and how.
#[derive(Debug, Clone, Default)]
pub struct ServerProbe {
    /// Server processes (one per replica); their CPU times are added.
    pub pids: Vec<u32>,
    /// A shell command that prints the database size in bytes (its last number is taken).
    pub size_command: Option<String>,
}

#[derive(Debug, Clone, Copy, Default)]
pub struct Reading {
    pub cpu_seconds: Option<f64>,
    pub database_bytes: Option<u64>,
}

/// The server's cost of the reports stored between two readings.
#[derive(Debug, Clone, Serialize)]
pub struct ServerCost {
    pub reports: u64,
    pub cpu_seconds: Option<f64>,
    pub cpu_ms_per_report: Option<f64>,
    /// Share of one core the server used during the reporting phase.
    pub cpu_cores_used: Option<f64>,
    pub database_bytes_before: Option<u64>,
    pub database_bytes_after: Option<u64>,
    pub database_bytes_per_report: Option<f64>,
    /// At one report a minute (1,440 reports a day): what one agent adds to the database daily.
    pub database_bytes_per_agent_day_at_60s: Option<f64>,
}

impl ServerProbe {
    pub fn is_empty(&self) -> bool {
        self.pids.is_empty() && self.size_command.is_none()
    }

    pub async fn read(&self) -> Reading {
        let mut cpu_seconds = (!self.pids.is_empty()).then_some(0.0);
        for &pid in &self.pids {
            cpu_seconds = match (cpu_seconds, self::cpu_seconds(pid).await) {
                (Some(total), Some(one)) => Some(total + one),
                _ => None,
            };
        }
        let database_bytes = match &self.size_command {
            Some(command) => database_bytes(command).await,
            None => None,
        };
        Reading {
            cpu_seconds,
            database_bytes,
        }
    }
}

pub fn cost(before: Reading, after: Reading, reports: u64, seconds: f64) -> ServerCost {
    let per_report = |total: f64| (reports > 0).then(|| total / reports as f64);
    let cpu = before
        .cpu_seconds
        .zip(after.cpu_seconds)
        .map(|(b, a)| a - b);
    let bytes = before
        .database_bytes
        .zip(after.database_bytes)
        .map(|(b, a)| a as f64 - b as f64);
    let bytes_per_report = bytes.and_then(per_report);
    ServerCost {
        reports,
        cpu_seconds: cpu,
        cpu_ms_per_report: cpu.and_then(per_report).map(|s| s * 1000.0),
        cpu_cores_used: cpu.map(|c| c / seconds.max(1e-9)),
        database_bytes_before: before.database_bytes,
        database_bytes_after: after.database_bytes,
        database_bytes_per_report: bytes_per_report,
        database_bytes_per_agent_day_at_60s: bytes_per_report.map(|b| b * 1440.0),
    }
}

async fn clock_ticks() -> f64 {
    let output = tokio::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .await;
    output
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

async fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = tokio::fs::read_to_string(format!("/proc/{pid}/stat"))
        .await
        .ok()?;
    let ticks = parse_cpu_ticks(&stat)?;
    Some(ticks as f64 / clock_ticks().await)
}

/// utime + stime from a `/proc/<pid>/stat` line (fields 14 and 15, counted after the
/// parenthesised command name, which may itself contain spaces).
fn parse_cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

async fn database_bytes(command: &str) -> Option<u64> {
    let output = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .output()
        .await
        .ok()?;
    String::from_utf8_lossy(&output.stdout)
        .split_whitespace()
        .rev()
        .find_map(|w| w.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ticks_from_stat() {
        let stat =
            "4242 (atalaya server) S 1 4242 4242 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 9 0 1 2 3";
        assert_eq!(parse_cpu_ticks(stat), Some(175));
        assert_eq!(parse_cpu_ticks("garbage"), None);
    }

    #[test]
    fn cost_per_report() {
        let before = Reading {
            cpu_seconds: Some(1.0),
            database_bytes: Some(1000),
        };
        let after = Reading {
            cpu_seconds: Some(3.0),
            database_bytes: Some(5000),
        };
        let c = cost(before, after, 1000, 10.0);
        assert_eq!(c.cpu_ms_per_report, Some(2.0));
        assert_eq!(c.database_bytes_per_report, Some(4.0));
        assert_eq!(c.cpu_cores_used, Some(0.2));
    }
}
