//! The software catalog simulated machines draw their package lists from: the real dpkg list of
//! a Debian 12 machine (`atalaya-agent collect --json --inventory`), with a popularity per package
//! so that fleets look like real ones — a large common base every machine has, and a long tail of
//! packages only some machines have, some of them one version behind.

use std::sync::OnceLock;

use atalaya_shared::SoftwarePackage;
use rand::Rng;

/// One package of the catalog and how common it is in a fleet.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub name: &'static str,
    pub version: &'static str,
    pub architecture: &'static str,
    /// Share of machines that have it installed, 0–1.
    pub popularity: f64,
}

const SOFTWARE_TSV: &str = include_str!("../data/software.tsv");

/// Share of catalog packages that form the common base (installed on ~98% of machines).
const BASE_SHARE: u64 = 60;
/// Share of installed packages that lag one version behind the catalog's.
const OUTDATED_SHARE: f64 = 0.15;

pub fn catalog() -> &'static [CatalogEntry] {
    static CATALOG: OnceLock<Vec<CatalogEntry>> = OnceLock::new();
    CATALOG.get_or_init(|| {
        SOFTWARE_TSV
            .lines()
            .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
            .filter_map(|line| {
                let mut fields = line.split('\t');
                let name = fields.next()?;
                let version = fields.next()?;
                let architecture = fields.next().unwrap_or("");
                Some(CatalogEntry {
                    name,
                    version,
                    architecture,
                    popularity: popularity(name),
                })
            })
            .collect()
    })
}

/// A stable popularity from the package name alone (FNV-1a), so it does not depend on the seed.
fn popularity(name: &str) -> f64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in name.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    if h % 100 < BASE_SHARE {
        0.98
    } else {
        0.05 + ((h >> 16) % 86) as f64 / 100.0
    }
}

/// The version before `version`: the last digit run decremented (`3.134` → `3.133`), or a
/// Debian-style older build when there is no digit to lower.
pub fn previous_version(version: &str) -> String {
    let bytes = version.as_bytes();
    let Some(end) = bytes.iter().rposition(u8::is_ascii_digit) else {
        return format!("{version}~old1");
    };
    let start = bytes[..end]
        .iter()
        .rposition(|b| !b.is_ascii_digit())
        .map_or(0, |p| p + 1);
    match version[start..=end].parse::<u64>() {
        Ok(n) if n > 0 => format!("{}{}{}", &version[..start], n - 1, &version[end + 1..]),
        _ => format!("{version}~old1"),
    }
}

/// The package list of one machine, sorted by name like the agent's collector sorts it.
pub fn installed_software(rng: &mut impl Rng) -> Vec<SoftwarePackage> {
    catalog()
        .iter()
        .filter_map(|entry| {
            if !rng.gen_bool(entry.popularity) {
                return None;
            }
            let version = if rng.gen_bool(OUTDATED_SHARE) {
                previous_version(entry.version)
            } else {
                entry.version.to_string()
            };
            Some(SoftwarePackage {
                name: entry.name.to_string(),
                version,
                architecture: (!entry.architecture.is_empty())
                    .then(|| entry.architecture.to_string()),
                source: "dpkg".into(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn catalog_is_the_real_package_list() {
        let c = catalog();
        assert!(c.len() > 500, "{} packages", c.len());
        assert!(c.iter().any(|e| e.name == "adduser"));
    }

    #[test]
    fn previous_versions() {
        assert_eq!(previous_version("3.134"), "3.133");
        assert_eq!(previous_version("1.2.5.1-2"), "1.2.5.1-1");
        assert_eq!(previous_version("43-0"), "43-0~old1");
        assert_eq!(previous_version("abc"), "abc~old1");
    }

    #[test]
    fn fleets_share_a_base_and_differ_in_the_tail() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
        let a = installed_software(&mut rng);
        let b = installed_software(&mut rng);
        assert_ne!(a, b);
        let share = a.len() as f64 / catalog().len() as f64;
        assert!((0.6..0.95).contains(&share), "share {share}");
    }
}
