//! The simulator's command line refuses bad input before it touches a server.
//!
//! These tests also make `cargo test --workspace` build the `atalaya-fleet-sim` binary, which the
//! end-to-end fleet smoke test in `tests/` runs.

use std::process::{Command, Output};

fn fleet_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_atalaya-fleet-sim"))
        .args(args)
        .env_remove("ATALAYA_ADMIN_TOKEN")
        .output()
        .expect("atalaya-fleet-sim runs")
}

fn refused_with(args: &[&str], message: &str) {
    let output = fleet_sim(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} was accepted");
    assert!(
        stderr.contains(message),
        "{args:?}: expected {message:?} in stderr, got {stderr}"
    );
}

#[test]
fn a_missing_admin_token_is_refused() {
    refused_with(&["--agents", "1"], "give --admin-token");
}

#[test]
fn a_share_outside_zero_to_one_is_refused() {
    refused_with(
        &["--admin-token", "t", "--breach-share", "1.5"],
        "--breach-share must be between 0 and 1",
    );
}

#[test]
fn a_zero_or_negative_interval_is_refused() {
    refused_with(
        &["--admin-token", "t", "--interval", "0"],
        "--interval must be a positive number of seconds",
    );
    refused_with(
        &["--admin-token", "t", "--duration=-3"],
        "--duration must be a positive number of seconds",
    );
}

#[test]
fn an_unreadable_data_dir_names_the_token_file() {
    let dir = std::env::temp_dir().join(format!("fleet-sim-cli-{}", std::process::id()));
    refused_with(
        &[
            "--data-dir",
            dir.to_str().expect("the temporary directory is UTF-8"),
        ],
        "initial-admin-token",
    );
}
