//! Installed software: the dpkg status database parsed directly (no `dpkg` process), and the
//! rpm database through `rpm -qa` (time-limited) where there is one.

use std::fs;
use std::path::Path;
use std::time::Duration;

use atalaya_shared::protocol::SoftwarePackage;

use crate::external;

pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";
const RPM_TIMEOUT: Duration = Duration::from_secs(30);

/// All installed packages, sorted; `Err` when there is a package database that cannot be read.
/// A machine with neither database has no packages to report (Ok, empty).
pub fn packages() -> Result<Vec<SoftwarePackage>, String> {
    let mut out = Vec::new();
    if Path::new(DPKG_STATUS).exists() {
        let text =
            fs::read_to_string(DPKG_STATUS).map_err(|e| format!("reading {DPKG_STATUS}: {e}"))?;
        out.extend(parse_dpkg_status(&text));
    }
    if Path::new("/var/lib/rpm").is_dir() {
        match external::run(
            "rpm",
            &[
                "-qa",
                "--qf",
                "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n",
            ],
            RPM_TIMEOUT,
        ) {
            Ok(o) if o.code == Some(0) => {
                out.extend(parse_rpm_qa(&String::from_utf8_lossy(&o.stdout)))
            }
            // An rpm database on a dpkg machine (alien, some tools) without rpm itself: ignore.
            Err(external::RunError::NotFound(_)) => {}
            Ok(o) => {
                return Err(format!(
                    "rpm -qa failed: {}",
                    external::first_line(&o.stderr)
                ))
            }
            Err(e) => return Err(e.to_string()),
        }
    }
    out.sort();
    Ok(out)
}

/// Paragraphs of `Field: value` lines; a package counts when its `Status` ends in `installed`
/// (not `config-files`, `half-installed`…), as `dpkg -l` shows `ii`.
pub fn parse_dpkg_status(text: &str) -> Vec<SoftwarePackage> {
    text.split("\n\n")
        .filter_map(|para| {
            let (mut name, mut version, mut arch, mut status) = (None, None, None, None);
            for line in para.lines() {
                // Continuation lines (descriptions, conffiles) start with a space.
                if line.starts_with([' ', '\t']) {
                    continue;
                }
                let Some((key, value)) = line.split_once(':') else {
                    continue;
                };
                let value = value.trim();
                match key {
                    "Package" => name = Some(value),
                    "Version" => version = Some(value),
                    "Architecture" => arch = Some(value),
                    "Status" => status = Some(value),
                    _ => {}
                }
            }
            if status?.split_whitespace().nth(2) != Some("installed") {
                return None;
            }
            Some(SoftwarePackage {
                name: name?.to_owned(),
                version: version?.to_owned(),
                architecture: arch.map(str::to_owned),
                source: "dpkg".into(),
            })
        })
        .collect()
}

/// `name\tepoch:version-release\tarch` lines; epoch 0 is dropped as rpm itself shows it.
pub fn parse_rpm_qa(text: &str) -> Vec<SoftwarePackage> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split('\t');
            let name = f.next()?.to_owned();
            let version = f.next()?;
            let version = version.strip_prefix("0:").unwrap_or(version).to_owned();
            let arch = f
                .next()
                .filter(|a| !a.is_empty() && *a != "(none)")
                .map(str::to_owned);
            Some(SoftwarePackage {
                name,
                version,
                architecture: arch,
                source: "rpm".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn dpkg_paragraphs_keep_only_installed_packages() {
        let text = "Package: openssl\nStatus: install ok installed\nPriority: optional\nArchitecture: amd64\nVersion: 3.0.15-1~deb12u1\nDescription: tools\n Long: description line\n\n\
                    Package: oldpkg\nStatus: deinstall ok config-files\nArchitecture: all\nVersion: 1.0\n\n\
                    Package: half\nStatus: install reinstreq half-installed\nVersion: 2\n";
        let p = parse_dpkg_status(text);
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].name, "openssl");
        assert_eq!(p[0].version, "3.0.15-1~deb12u1");
        assert_eq!(p[0].architecture.as_deref(), Some("amd64"));
    }

    #[test]
    fn rpm_lines_are_parsed() {
        let p = parse_rpm_qa(
            "openssl\t1:3.0.7-27.el9\tx86_64\ngpg-pubkey\t0:3228467c-613798eb\t(none)\n",
        );
        assert_eq!(p[0].version, "1:3.0.7-27.el9");
        assert_eq!(p[1].version, "3228467c-613798eb");
        assert_eq!(p[1].architecture, None);
    }

    /// Independent source: `dpkg-query -W` over the same database.
    #[test]
    fn packages_match_dpkg_query() {
        if !Path::new(DPKG_STATUS).exists() {
            eprintln!("SKIPPED: not a dpkg system");
            return;
        }
        let out = std::process::Command::new("dpkg-query")
            .args([
                "-W",
                "-f",
                "${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n",
            ])
            .output()
            .expect("dpkg-query runs on a dpkg system");
        let expected: BTreeSet<(String, String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| l.starts_with("ii"))
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                (f[1].to_owned(), f[2].to_owned(), f[3].to_owned())
            })
            .collect();
        let ours: BTreeSet<(String, String, String)> = packages()
            .unwrap()
            .into_iter()
            .filter(|p| p.source == "dpkg")
            .map(|p| (p.name, p.version, p.architecture.unwrap_or_default()))
            .collect();
        assert!(expected.len() > 10);
        assert_eq!(ours, expected);
    }
}
