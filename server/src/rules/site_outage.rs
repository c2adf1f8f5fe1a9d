//! Site-level correlation: when many computers of one site stop reporting at about the same
//! time, the likely cause is the site's network or power, so one site incident stands for all of
//! them instead of one "agent offline" incident each.
//!
//! A site is "out" when a *cluster* of its computers is offline: computers whose last reports
//! lie within `window_secs` of the newest last report among the site's offline computers (a
//! machine that died a month ago is not part of today's power cut). The cluster must be at
//! least `min_computers` computers *and* at least `min_percent` of the site: both, because
//! "3 of 200" is three problems and "1 of 1" is one computer, not a site outage.

use serde::Deserialize;

/// How many computers make a site outage. Set under `[site_outage]` in the config file.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SiteOutagePolicy {
    /// Smallest number of offline computers that can be a site outage.
    pub min_computers: usize,
    /// Smallest share of the site's computers (0–100) that must be offline.
    pub min_percent: f64,
    /// Computers whose last reports lie this close together went offline "at once". It is also
    /// the longest an agent-offline incident waits while peers of its site are going silent,
    /// so the site check sees the whole picture before anyone is paged one computer at a time.
    pub window_secs: i64,
}

impl Default for SiteOutagePolicy {
    fn default() -> Self {
        SiteOutagePolicy {
            min_computers: 3,
            min_percent: 50.0,
            window_secs: 300,
        }
    }
}

impl SiteOutagePolicy {
    pub fn validate(&self) -> Result<(), String> {
        if self.min_computers < 2 {
            return Err("site_outage.min_computers must be at least 2".into());
        }
        if !(self.min_percent > 0.0 && self.min_percent <= 100.0) {
            return Err("site_outage.min_percent must be above 0 and at most 100".into());
        }
        if !(10..=86_400).contains(&self.window_secs) {
            return Err("site_outage.window_secs must be between 10 and 86400".into());
        }
        Ok(())
    }

    pub fn window_ms(&self) -> i64 {
        self.window_secs.saturating_mul(1000)
    }

    /// Whether `offline` of a site's `total` computers is a site outage.
    pub fn is_outage(&self, offline: usize, total: usize) -> bool {
        total > 0
            && offline >= self.min_computers
            && offline as f64 * 100.0 >= self.min_percent * total as f64
    }

    /// The computers (ids) of one site that went offline together, from the site's computers as
    /// `(id, when its last report arrived)` and the instant before which that means "offline".
    pub fn cluster(&self, computers: &[(i64, i64)], offline_before: i64) -> Vec<i64> {
        let offline: Vec<&(i64, i64)> = computers
            .iter()
            .filter(|(_, seen)| *seen < offline_before)
            .collect();
        let Some(newest) = offline.iter().map(|(_, seen)| *seen).max() else {
            return Vec::new();
        };
        offline
            .into_iter()
            .filter(|(_, seen)| *seen >= newest - self.window_ms())
            .map(|(id, _)| *id)
            .collect()
    }

    /// Whether the site's computers are a site outage now (the cluster, if so).
    pub fn outage(&self, computers: &[(i64, i64)], offline_before: i64) -> Option<Vec<i64>> {
        let cluster = self.cluster(computers, offline_before);
        self.is_outage(cluster.len(), computers.len())
            .then_some(cluster)
    }

    /// Whether a computer offline since `last_seen` should wait before its own offline alert is
    /// evaluated: its site could still become an outage (big enough, and another computer of the
    /// site is offline too), and it has not waited a full window past the offline threshold.
    pub fn defer(&self, last_seen: i64, computers: &[(i64, i64)], offline_before: i64) -> bool {
        let offline = computers
            .iter()
            .filter(|(_, seen)| *seen < offline_before)
            .count();
        computers.len() >= self.min_computers
            && offline >= 2
            && last_seen >= offline_before - self.window_ms()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn needs_both_a_count_and_a_share() {
        let p = SiteOutagePolicy::default();
        assert!(p.is_outage(14, 20));
        assert!(!p.is_outage(3, 200), "three problems, not a site outage");
        assert!(!p.is_outage(2, 2), "below the minimum count");
        assert!(p.is_outage(3, 6));
        assert!(!p.is_outage(3, 7));
        assert!(!p.is_outage(0, 0));
    }

    #[test]
    fn long_dead_machines_are_not_part_of_todays_outage() {
        let p = SiteOutagePolicy::default();
        let now = 1_000 * MIN;
        let offline_before = now - 3 * MIN;
        let mut site = vec![(1, now - 30 * 24 * 60 * MIN)]; // dead for a month
        site.extend((2..=4).map(|id| (id, now - 10 * MIN + id * 1000)));
        site.extend((5..=6).map(|id| (id, now - 1000)));
        let mut cluster = p.cluster(&site, offline_before);
        cluster.sort_unstable();
        assert_eq!(cluster, vec![2, 3, 4]);
        assert_eq!(p.outage(&site, offline_before), Some(vec![2, 3, 4]));
        // The same three in a bigger site are not half of it.
        site.extend((7..=12).map(|id| (id, now - 1000)));
        assert_eq!(p.outage(&site, offline_before), None);
    }

    #[test]
    fn a_lone_offline_computer_never_waits() {
        let p = SiteOutagePolicy::default();
        let now = 1_000 * MIN;
        let offline_before = now - 3 * MIN;
        let site = vec![(1, now - 4 * MIN), (2, now), (3, now), (4, now)];
        assert!(!p.defer(now - 4 * MIN, &site, offline_before));
        let site = vec![(1, now - 4 * MIN), (2, now - 4 * MIN), (3, now), (4, now)];
        assert!(
            p.defer(now - 4 * MIN, &site, offline_before),
            "a peer is silent too"
        );
        assert!(
            !p.defer(now - 9 * MIN, &site, offline_before),
            "waited a whole window past the threshold"
        );
        assert!(
            !p.defer(now - 4 * MIN, &site[..2], offline_before),
            "too small a site"
        );
    }

    #[test]
    fn policy_validation() {
        assert!(SiteOutagePolicy::default().validate().is_ok());
        let bad = SiteOutagePolicy {
            min_computers: 1,
            ..SiteOutagePolicy::default()
        };
        assert!(bad.validate().is_err());
        let bad = SiteOutagePolicy {
            min_percent: 0.0,
            ..SiteOutagePolicy::default()
        };
        assert!(bad.validate().is_err());
    }
}
