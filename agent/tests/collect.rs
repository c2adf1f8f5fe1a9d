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

/// `disk_io` lists the disks backed by a device (`/sys/block/*/device`: not loop, zram or
/// device-mapper), each with rates over the first collection's window and a SMART verdict only
/// when smartctl gave one.
#[test]
fn disk_io_lists_the_hardware_disks() {
    let report = collect();
    let mut expected: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().join("device").exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    expected.sort();
    let disks = report["disk_io"].as_array().cloned().unwrap_or_default();
    let mut ours: Vec<String> = disks
        .iter()
        .filter_map(|d| d["device"].as_str().map(str::to_owned))
        .collect();
    ours.sort();
    assert_eq!(ours, expected, "{disks:?}");
    for d in &disks {
        for rate in [
            "read_bytes_per_sec",
            "write_bytes_per_sec",
            "reads_per_sec",
            "writes_per_sec",
        ] {
            assert!(d[rate].as_f64().is_some_and(|r| r >= 0.0), "{rate}: {d}");
        }
        if d.get("smart_healthy").is_some() {
            assert!(d["smart_checked_at"].is_string(), "{d}");
        }
    }
}

fn collect_with_inventory() -> serde_json::Value {
    let output = Command::new(env!("CARGO_BIN_EXE_atalaya-agent"))
        .args(["collect", "--json", "--inventory"])
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

/// `df` numbers of one mount point: (size, avail, inodes, ifree).
fn df(mount: &str) -> Option<(u64, u64, u64, u64)> {
    let field = |args: &[&str]| -> Option<Vec<u64>> {
        let out = Command::new("df").args(args).arg(mount).output().ok()?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        Some(
            text.lines()
                .nth(1)?
                .split_whitespace()
                .filter_map(|n| n.parse().ok())
                .collect(),
        )
    };
    let bytes = field(&["-B1", "--output=size,avail"])?;
    let inodes = field(&["--output=itotal,iavail"])?;
    Some((
        *bytes.first()?,
        *bytes.get(1)?,
        *inodes.first()?,
        *inodes.get(1)?,
    ))
}

/// Every volume and its inode use against `df` and `df -i`; the services and memory modules
/// against what this machine offers (systemd may not be PID 1 here, as in a container: then the
/// agent must say services are unavailable, not report none).
#[test]
fn inventory_matches_df_systemctl_and_smbios() {
    let report = collect_with_inventory();
    let volumes = report["volumes"].as_array().expect("volumes");
    assert!(!volumes.is_empty());
    let inodes = report["volume_inodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for v in volumes {
        let mount = v["mount_point"].as_str().expect("mount point");
        let Some((size, avail, itotal, ifree)) = df(mount) else {
            continue;
        };
        assert_eq!(v["total_bytes"].as_u64(), Some(size), "size of {mount}");
        let ours = v["available_bytes"].as_u64().expect("available");
        assert!(
            ours.abs_diff(avail) < 64 << 20,
            "{mount}: {ours} vs df {avail}"
        );
        let ours = inodes.iter().find(|i| i["mount_point"] == mount);
        if itotal == 0 {
            assert!(ours.is_none(), "{mount} has no inode table, none reported");
            continue;
        }
        let ours = ours.unwrap_or_else(|| panic!("inodes of {mount} missing"));
        assert_eq!(
            ours["inodes_total"].as_u64(),
            Some(itotal),
            "inodes of {mount}"
        );
        let free = ours["inodes_free"].as_u64().expect("free inodes");
        assert!(
            free.abs_diff(ifree) < 10_000,
            "{mount}: {free} vs df -i {ifree}"
        );
    }

    let inventory = &report["inventory"];
    let systemd_runs = std::path::Path::new("/run/systemd/system").exists();
    let systemctl = Command::new("systemctl")
        .args([
            "list-units",
            "--type=service",
            "--all",
            "--plain",
            "--no-legend",
            "--no-pager",
        ])
        .output();
    match systemctl {
        Ok(out) if out.status.success() && systemd_runs => {
            let expected: std::collections::BTreeSet<String> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
                .collect();
            let ours: std::collections::BTreeSet<String> = report["service_states"]
                .as_array()
                .expect("service states every collection")
                .iter()
                .filter_map(|s| s["name"].as_str().map(str::to_owned))
                .collect();
            assert_eq!(ours, expected, "service states vs systemctl list-units");
            assert_eq!(
                inventory["services"].as_array().map(Vec::len),
                Some(expected.len())
            );
        }
        _ => {
            eprintln!(
                "SKIPPED comparison with systemctl: systemd is not PID 1 here (PID 1 is {:?})",
                std::fs::read_to_string("/proc/1/comm")
                    .unwrap_or_default()
                    .trim()
            );
            let why = inventory["unavailable"]["services"].as_str().unwrap_or("");
            assert!(
                !why.is_empty(),
                "services must be named unavailable: {inventory}"
            );
            assert!(
                report.get("service_states").is_none(),
                "no states, not an empty list"
            );
        }
    }

    let modules = inventory["memory_modules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if modules.is_empty() {
        let why = inventory["unavailable"]["memory_modules"]
            .as_str()
            .unwrap_or("");
        eprintln!("memory modules unavailable here: {why}");
        assert!(!why.is_empty(), "no modules without a reason: {inventory}");
    } else {
        let total: u64 = modules
            .iter()
            .filter_map(|m| m["size_bytes"].as_u64())
            .sum();
        let host_total = report["host"]["memory_total_bytes"]
            .as_u64()
            .expect("memory");
        assert!(
            total >= host_total,
            "modules {total} < MemTotal {host_total}"
        );
    }
}

/// A `smartctl` that hangs must not hang the inventory: it is killed at its time limit and the
/// disk's SMART health is reported unavailable with the reason (never as healthy).
#[test]
fn hung_smartctl_is_killed_and_reported_unavailable() {
    let disks: Vec<String> = std::fs::read_dir("/sys/block")
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| {
                    !["loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd"]
                        .iter()
                        .any(|p| n.starts_with(p))
                })
                .collect()
        })
        .unwrap_or_default();
    if disks.is_empty() {
        eprintln!("SKIPPED: no physical disk in /sys/block, so smartctl is never run here");
        return;
    }
    let bin = tempfile::tempdir().expect("tempdir");
    let fake = bin.path().join("smartctl");
    std::fs::write(&fake, "#!/bin/sh\nexec sleep 120\n").expect("fake smartctl");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let started = std::time::Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_atalaya-agent"))
        .args(["collect", "--json", "--inventory"])
        .env("PATH", path)
        .env(
            "ATALAYA_AGENT_STATE_DIR",
            std::env::temp_dir().join("atalaya-agent-collect-test"),
        )
        .output()
        .expect("run atalaya-agent");
    let took = started.elapsed();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // One time limit (15 s) per disk, and nothing else waits for the hung helper.
    assert!(
        took < std::time::Duration::from_secs(15 * disks.len() as u64 + 15),
        "inventory took {took:?}"
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let reported = report["inventory"]["disks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!reported.is_empty(), "disks {disks:?} not reported");
    for d in reported {
        assert_eq!(d["smart"]["available"], false, "{d}");
        let why = d["smart"]["reason"].as_str().unwrap_or("");
        assert!(why.contains("did not finish"), "{d}");
    }
    // The per-interval entries know no verdict either: unknown, not healthy.
    for d in report["disk_io"].as_array().cloned().unwrap_or_default() {
        assert!(d.get("smart_healthy").is_none(), "{d}");
    }
}
