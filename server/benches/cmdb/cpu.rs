//! CPU time spent by this process and by PostgreSQL (every `postgres` process: the backends and
//! the writers), read from `/proc`: what a report costs the machine, apart from the time it
//! waits for the disk to flush the commit.

/// CPU seconds so far: (this process, PostgreSQL's processes).
pub fn now() -> (f64, f64) {
    let ticks = clock_ticks();
    let own = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| cpu_ticks(&s))
        .unwrap_or(0);
    let mut postgres = 0;
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
                continue;
            };
            if stat.contains("(postgres)") {
                postgres += cpu_ticks(&stat).unwrap_or(0);
            }
        }
    }
    (own as f64 / ticks, postgres as f64 / ticks)
}

fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime: fields 14 and 15 of a `/proc/<pid>/stat` line, counted after the
/// parenthesised command name.
fn cpu_ticks(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}
