//! systemd service units: `systemctl list-units` for load/active/sub state and
//! `systemctl list-unit-files` for the enabled state, both as JSON and time-limited.

use std::collections::HashMap;
use std::time::Duration;

use atalaya_shared::protocol::{ServiceState, ServiceUnit};
use serde::Deserialize;

use crate::external;

const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Deserialize)]
struct UnitRow {
    unit: String,
    load: Option<String>,
    active: Option<String>,
    sub: Option<String>,
    description: Option<String>,
}

#[derive(Deserialize)]
struct UnitFileRow {
    unit_file: String,
    state: Option<String>,
}

const LIST_UNITS: &[&str] = &[
    "list-units",
    "--type=service",
    "--all",
    "--output=json",
    "--no-pager",
];

/// Every service unit systemd knows, sorted by name, those in `watched` marked; `Err` says why
/// none could be read.
pub fn services(watched: &[String]) -> Result<Vec<ServiceUnit>, String> {
    let units: Vec<UnitRow> = systemctl(LIST_UNITS)?;
    // The enabled state is a nicety: without it the units are still worth reporting.
    let enabled: HashMap<String, String> = systemctl::<Vec<UnitFileRow>>(&[
        "list-unit-files",
        "--type=service",
        "--output=json",
        "--no-pager",
    ])
    .map(|rows| {
        rows.into_iter()
            .filter_map(|r| Some((r.unit_file, r.state?)))
            .collect()
    })
    .unwrap_or_default();
    let mut out: Vec<ServiceUnit> = units
        .into_iter()
        .map(|u| {
            // Instances (`getty@tty1.service`) take the template's enabled state.
            let template = u
                .unit
                .split_once('@')
                .map(|(base, _)| format!("{base}@.service"));
            let enabled_state = enabled
                .get(&u.unit)
                .or_else(|| template.as_ref().and_then(|t| enabled.get(t)))
                .cloned();
            ServiceUnit {
                enabled_state,
                name: u.unit,
                description: u.description.filter(|d| !d.is_empty()),
                load_state: u.load,
                active_state: u.active,
                sub_state: u.sub,
                watched: false,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    for s in &mut out {
        s.watched = is_watched(&s.name, watched);
    }
    Ok(out)
}

/// The state of every service unit, for every collection: one `systemctl list-units` (the
/// enabled state and descriptions stay in the inventory).
pub fn service_states(watched: &[String]) -> Result<Vec<ServiceState>, String> {
    let units: Vec<UnitRow> = systemctl(LIST_UNITS)?;
    let mut out: Vec<ServiceState> = units
        .into_iter()
        .map(|u| ServiceState {
            watched: is_watched(&u.unit, watched),
            name: u.unit,
            active_state: u.active,
            sub_state: u.sub,
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// `nginx` and `nginx.service` both name `nginx.service`.
pub fn is_watched(unit: &str, watched: &[String]) -> bool {
    watched
        .iter()
        .any(|w| w == unit || unit.strip_suffix(".service") == Some(w.as_str()))
}

/// sd_booted(3): systemd is the running service manager exactly when this directory exists.
/// Checking it first spares a `systemctl` process per collection where there is no systemd
/// (containers, other init systems).
const SYSTEMD_RUNTIME_DIR: &str = "/run/systemd/system";

fn systemctl<T: serde::de::DeserializeOwned>(args: &[&str]) -> Result<T, String> {
    if !std::path::Path::new(SYSTEMD_RUNTIME_DIR).is_dir() {
        return Err(format!(
            "systemd is not the running service manager (no {SYSTEMD_RUNTIME_DIR})"
        ));
    }
    let out = external::run("systemctl", args, SYSTEMCTL_TIMEOUT).map_err(|e| e.to_string())?;
    if out.code != Some(0) {
        let why = external::first_line(&out.stderr);
        return Err(if why.is_empty() {
            format!("systemctl exited with {:?}", out.code)
        } else {
            why
        });
    }
    serde_json::from_slice(&out.stdout)
        .map_err(|e| format!("systemctl output is not the expected JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_names_match_with_or_without_the_suffix() {
        let watched = vec!["nginx".to_owned(), "cron.service".to_owned()];
        assert!(is_watched("nginx.service", &watched));
        assert!(is_watched("cron.service", &watched));
        assert!(!is_watched("nginx-debug.service", &watched));
        assert!(!is_watched("ssh.service", &[]));
    }

    /// Independent source: `systemctl list-units` in its plain-text form.
    #[test]
    fn services_match_systemctl_list_units() {
        let plain = std::process::Command::new("systemctl")
            .args([
                "list-units",
                "--type=service",
                "--all",
                "--plain",
                "--no-legend",
                "--no-pager",
            ])
            .output();
        let ours = services(&[]);
        match plain {
            Ok(out) if out.status.success() => {
                let text = String::from_utf8_lossy(&out.stdout);
                let expected: Vec<(String, String)> = text
                    .lines()
                    .filter_map(|l| {
                        let mut f = l.split_whitespace();
                        Some((f.next()?.to_owned(), f.nth(1)?.to_owned()))
                    })
                    .collect();
                let ours = ours.expect("systemctl works here, so must we");
                assert_eq!(ours.len(), expected.len());
                let states = service_states(&[]).expect("per-interval states too");
                assert_eq!(states.len(), expected.len());
                for (name, active) in expected {
                    let s = ours
                        .iter()
                        .find(|s| s.name == name)
                        .unwrap_or_else(|| panic!("{name} missing"));
                    assert_eq!(s.active_state.as_deref(), Some(active.as_str()), "{name}");
                }
            }
            _ => {
                let why = ours.expect_err("systemctl fails here, so we must say unavailable");
                let states = service_states(&[]).expect_err("per-interval states too");
                assert_eq!(states, why);
                eprintln!("SKIPPED comparison: systemd is not running here ({why})");
                assert!(!why.is_empty());
            }
        }
    }
}
