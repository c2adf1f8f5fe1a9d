//! The agent binary's `collect --json` against independent sources on this same machine.
//! (Being an integration test also makes `cargo test --workspace` build the binary that the
//! end-to-end tests in `tests/` run.)

use std::process::Command;

fn collect() -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_atalaya-agent"))
        .args(["collect", "--json"])
        .env(
            "ATALAYA_AGENT_STATE_DIR",
            std::env::temp_dir().join("atalaya-agent-collect-test"),
        )
        .output()
        .expect("run atalaya-agent");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("collect --json prints JSON")
}

#[test]
fn collect_json_matches_the_kernel_and_df() {
    let report = collect();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").expect("hostname");
    assert_eq!(report["host"]["hostname"], hostname.trim());

    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal");
    assert_eq!(
        report["host"]["memory_total_bytes"].as_u64(),
        Some(mem_kib * 1024)
    );

    let df = Command::new("df")
        .args(["-B1", "--output=size,avail", "/"])
        .output()
        .expect("df");
    let text = String::from_utf8_lossy(&df.stdout);
    let numbers: Vec<u64> = text
        .lines()
        .nth(1)
        .expect("df data line")
        .split_whitespace()
        .filter_map(|n| n.parse().ok())
        .collect();
    let root = report["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["mount_point"] == "/")
        .expect("/ is reported");
    assert_eq!(root["total_bytes"].as_u64(), Some(numbers[0]));
    // Free space moves while the machine works; allow 64 MiB of drift between the two reads.
    let available = root["available_bytes"].as_u64().expect("available");
    assert!(
        available.abs_diff(numbers[1]) < 64 << 20,
        "agent {available} vs df {}",
        numbers[1]
    );
}
