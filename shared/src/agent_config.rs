//! Agent config set on the server (a tenant default, a per-agent override): the settings, their
//! limits and how they combine. Both sides check a config with the same code, so an agent never
//! meets a value the server would have refused.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::protocol::{AgentConfig, PROTOCOL_VERSION};

pub const MIN_REPORT_INTERVAL_SECS: u64 = 5;
pub const MAX_REPORT_INTERVAL_SECS: u64 = 86_400;
/// Below this a spool holds too few reports to ride out even a short outage.
pub const MIN_SPOOL_MAX_BYTES: u64 = 1 << 20;
pub const DEFAULT_SPOOL_MAX_BYTES: u64 = 64 << 20;
/// Daily at 03:00 local time (cron with seconds: `sec min hour day month weekday`).
pub const DEFAULT_INVENTORY_SCHEDULE: &str = "0 0 3 * * *";
pub const MAX_WATCHED_SERVICES: usize = 500;

/// One layer of agent config: every field optional, an absent one inherits from the layer
/// below (agent override → tenant default → built-in default).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentConfigSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report_interval_secs: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spool_max_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watched_services: Option<Vec<String>>,
}

impl AgentConfigSettings {
    /// Checks every field that is set and normalises the service names (trimmed, `.service`
    /// added when there is no unit suffix, sorted, without duplicates). The message says what is
    /// wrong and what is allowed.
    pub fn validate(&mut self) -> Result<(), String> {
        if let Some(secs) = self.report_interval_secs {
            if !(MIN_REPORT_INTERVAL_SECS..=MAX_REPORT_INTERVAL_SECS).contains(&secs) {
                return Err(format!(
                    "report_interval_secs {secs} is out of range: use {MIN_REPORT_INTERVAL_SECS} to {MAX_REPORT_INTERVAL_SECS} seconds"
                ));
            }
        }
        if let Some(expr) = &self.inventory_schedule {
            check_schedule(expr)?;
        }
        if let Some(bytes) = self.spool_max_bytes {
            if bytes < MIN_SPOOL_MAX_BYTES {
                return Err(format!(
                    "spool_max_bytes {bytes} is too small: at least {MIN_SPOOL_MAX_BYTES} bytes (1 MiB)"
                ));
            }
        }
        if let Some(names) = &mut self.watched_services {
            if names.len() > MAX_WATCHED_SERVICES {
                return Err(format!(
                    "watched_services lists {} services; at most {MAX_WATCHED_SERVICES}",
                    names.len()
                ));
            }
            let mut normalised = Vec::with_capacity(names.len());
            for name in names.iter() {
                let name = name.trim();
                if name.is_empty()
                    || name.len() > 256
                    || name
                        .chars()
                        .any(|c| c.is_whitespace() || c.is_control() || c == '/')
                {
                    return Err(format!(
                        "watched_services: {name:?} is not a service unit name (e.g. \"nginx.service\")"
                    ));
                }
                normalised.push(if name.contains('.') {
                    name.to_owned()
                } else {
                    format!("{name}.service")
                });
            }
            normalised.sort();
            normalised.dedup();
            *names = normalised;
        }
        Ok(())
    }

    /// `self` with the fields `over` sets replaced by `over`'s.
    pub fn overlay(&self, over: &AgentConfigSettings) -> AgentConfigSettings {
        AgentConfigSettings {
            report_interval_secs: over.report_interval_secs.or(self.report_interval_secs),
            inventory_schedule: over
                .inventory_schedule
                .clone()
                .or_else(|| self.inventory_schedule.clone()),
            spool_max_bytes: over.spool_max_bytes.or(self.spool_max_bytes),
            watched_services: over
                .watched_services
                .clone()
                .or_else(|| self.watched_services.clone()),
        }
    }

    /// The complete config an agent runs: these settings over the built-in defaults.
    pub fn resolve(&self, version: u64, default_interval_secs: u64) -> AgentConfig {
        AgentConfig {
            protocol: PROTOCOL_VERSION,
            version,
            report_interval_secs: self.report_interval_secs.unwrap_or(default_interval_secs),
            inventory_schedule: self
                .inventory_schedule
                .clone()
                .unwrap_or_else(|| DEFAULT_INVENTORY_SCHEDULE.to_owned()),
            spool_max_bytes: self.spool_max_bytes.unwrap_or(DEFAULT_SPOOL_MAX_BYTES),
            watched_services: self.watched_services.clone().unwrap_or_default(),
        }
    }
}

impl From<&AgentConfig> for AgentConfigSettings {
    fn from(c: &AgentConfig) -> Self {
        AgentConfigSettings {
            report_interval_secs: Some(c.report_interval_secs),
            inventory_schedule: Some(c.inventory_schedule.clone()),
            spool_max_bytes: Some(c.spool_max_bytes),
            watched_services: Some(c.watched_services.clone()),
        }
    }
}

/// Parses an inventory schedule: cron with seconds (6 or 7 fields).
pub fn check_schedule(expr: &str) -> Result<cron::Schedule, String> {
    cron::Schedule::from_str(expr).map_err(|e| {
        format!(
            "inventory_schedule {expr:?} is not a valid cron expression ({e}); use 6 fields with seconds first, e.g. \"{DEFAULT_INVENTORY_SCHEDULE}\""
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_with_a_clear_message() {
        let bad = |s: AgentConfigSettings| {
            let mut s = s;
            s.validate().expect_err("refused")
        };
        let err = bad(AgentConfigSettings {
            report_interval_secs: Some(0),
            ..Default::default()
        });
        assert!(err.contains("out of range"), "{err}");
        let err = bad(AgentConfigSettings {
            inventory_schedule: Some("every night".into()),
            ..Default::default()
        });
        assert!(err.contains("not a valid cron expression"), "{err}");
        let err = bad(AgentConfigSettings {
            spool_max_bytes: Some(1000),
            ..Default::default()
        });
        assert!(err.contains("too small"), "{err}");
        let err = bad(AgentConfigSettings {
            watched_services: Some(vec!["my service".into()]),
            ..Default::default()
        });
        assert!(err.contains("not a service unit name"), "{err}");
    }

    #[test]
    fn service_names_are_normalised_and_layers_combine() {
        let mut tenant = AgentConfigSettings {
            report_interval_secs: Some(120),
            watched_services: Some(vec![
                " nginx ".into(),
                "cron.service".into(),
                "nginx".into(),
            ]),
            ..Default::default()
        };
        tenant.validate().expect("valid");
        assert_eq!(
            tenant.watched_services.as_deref(),
            Some(&["cron.service".to_owned(), "nginx.service".to_owned()][..])
        );
        let agent = AgentConfigSettings {
            report_interval_secs: Some(30),
            ..Default::default()
        };
        let merged = tenant.overlay(&agent);
        let config = merged.resolve(7, 60);
        assert_eq!(config.version, 7);
        assert_eq!(config.report_interval_secs, 30);
        assert_eq!(config.inventory_schedule, DEFAULT_INVENTORY_SCHEDULE);
        assert_eq!(config.spool_max_bytes, DEFAULT_SPOOL_MAX_BYTES);
        assert_eq!(config.watched_services.len(), 2);
        assert_eq!(
            AgentConfigSettings::default()
                .resolve(0, 60)
                .report_interval_secs,
            60
        );
        let mut back = AgentConfigSettings::from(&config);
        back.validate().expect("a resolved config is valid");
    }
}
