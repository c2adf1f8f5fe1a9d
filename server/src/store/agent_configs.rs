//! Agent config layers: a tenant default and per-agent overrides, each a JSON object of the
//! fields it sets, each with a version that counts its changes (see migration 0012).

use atalaya_shared::agent_config::AgentConfigSettings;
use atalaya_shared::AgentConfig;
use serde::Serialize;

use super::{now_ms, to_time_opt, Store, StoreError, StoreResult, TenantId};

/// The tenant-default row's `agent_id`.
const TENANT_DEFAULT: &str = "";

/// One stored layer. A layer never set has version 0 and no settings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ConfigLayer {
    /// `None`: the layer sets nothing (never set, or the override was removed).
    pub settings: Option<AgentConfigSettings>,
    pub version: i64,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

type LayerRow = (String, Option<String>, i64, i64);

fn layer_from_row(row: &LayerRow) -> StoreResult<ConfigLayer> {
    layer_from_columns(row.1.as_deref(), Some(row.2), Some(row.3))
}

/// A layer from its columns, each `NULL` when the layer has no row (never set).
pub(super) fn layer_from_columns(
    settings: Option<&str>,
    version: Option<i64>,
    updated_at: Option<i64>,
) -> StoreResult<ConfigLayer> {
    let settings =
        match settings {
            Some(json) => Some(serde_json::from_str(json).map_err(|e| {
                StoreError::Invalid(format!("stored agent config is not valid: {e}"))
            })?),
            None => None,
        };
    Ok(ConfigLayer {
        settings,
        version: version.unwrap_or(0),
        updated_at: to_time_opt(updated_at),
    })
}

/// An agent's two config layers as six subselects for a `RETURNING` list — settings, version
/// and time of the tenant default, then of the agent's override; `tenant` and `agent` are SQL
/// expressions naming them (the default's row has the empty agent id). Decode with
/// [`layers_from_columns`].
pub(super) fn layer_columns(tenant: &str, agent: &str) -> String {
    let column = |name: &str, agent: &str| {
        format!(
            "(SELECT g.{name} FROM agent_configs g WHERE g.tenant_id = {tenant} AND g.agent_id = {agent})"
        )
    };
    let names = ["settings", "version", "updated_at"];
    let default = names.iter().map(|name| column(name, "''"));
    let override_ = names.iter().map(|name| column(name, agent));
    default.chain(override_).collect::<Vec<_>>().join(", ")
}

/// One layer as [`layer_columns`] returns it: settings, version, updated at.
pub(super) type LayerColumns = (Option<String>, Option<i64>, Option<i64>);

/// Both layers from what [`layer_columns`] returned.
pub(super) fn layers_from_columns(
    (d_settings, d_version, d_at): LayerColumns,
    (o_settings, o_version, o_at): LayerColumns,
) -> StoreResult<AgentConfigLayers> {
    Ok(AgentConfigLayers {
        tenant_default: layer_from_columns(d_settings.as_deref(), d_version, d_at)?,
        agent_override: layer_from_columns(o_settings.as_deref(), o_version, o_at)?,
    })
}

/// The two layers that make one agent's config.
#[derive(Debug, Clone, Default)]
pub struct AgentConfigLayers {
    pub tenant_default: ConfigLayer,
    pub agent_override: ConfigLayer,
}

impl AgentConfigLayers {
    /// The agent's config version: the sum of both layers' versions, which only grow.
    pub fn version(&self) -> u64 {
        u64::try_from(self.tenant_default.version + self.agent_override.version).unwrap_or(0)
    }

    /// The complete config: the override over the tenant default over the built-in defaults
    /// (`default_interval_secs` is the server's configured report interval).
    pub fn resolve(&self, default_interval_secs: u64) -> AgentConfig {
        let base = self.tenant_default.settings.clone().unwrap_or_default();
        let merged = match &self.agent_override.settings {
            Some(over) => base.overlay(over),
            None => base,
        };
        merged.resolve(self.version(), default_interval_secs)
    }
}

impl Store {
    /// Both layers of one agent's config in one query (cheap enough for every report).
    pub async fn agent_config_layers(
        &self,
        tenant: TenantId,
        agent_id: &str,
    ) -> StoreResult<AgentConfigLayers> {
        let rows: Vec<LayerRow> = sqlx::query_as(
            "SELECT agent_id, settings, version, updated_at FROM agent_configs
             WHERE tenant_id = $1 AND (agent_id = $2 OR agent_id = $3)",
        )
        .bind(tenant.0)
        .bind(TENANT_DEFAULT)
        .bind(agent_id)
        .fetch_all(self.pool())
        .await?;
        let mut layers = AgentConfigLayers::default();
        for row in &rows {
            let layer = layer_from_row(row)?;
            if row.0 == TENANT_DEFAULT {
                layers.tenant_default = layer;
            } else {
                layers.agent_override = layer;
            }
        }
        Ok(layers)
    }

    pub async fn tenant_agent_config(&self, tenant: TenantId) -> StoreResult<ConfigLayer> {
        Ok(self
            .agent_config_layers(tenant, TENANT_DEFAULT)
            .await?
            .tenant_default)
    }

    /// Replaces the tenant default (validated by the caller) and bumps its version.
    pub async fn set_tenant_agent_config(
        &self,
        tenant: TenantId,
        settings: &AgentConfigSettings,
    ) -> StoreResult<ConfigLayer> {
        self.upsert_layer(tenant, TENANT_DEFAULT, Some(settings))
            .await
    }

    /// Replaces one agent's override (validated by the caller) and bumps its version.
    pub async fn set_agent_config_override(
        &self,
        tenant: TenantId,
        agent_id: &str,
        settings: &AgentConfigSettings,
    ) -> StoreResult<ConfigLayer> {
        if agent_id == TENANT_DEFAULT {
            return Err(StoreError::Invalid("an agent id must not be empty".into()));
        }
        self.upsert_layer(tenant, agent_id, Some(settings)).await
    }

    /// Removes one agent's override: it follows the tenant default again. The row stays, with
    /// no settings and a higher version, so the agent's config version still moves forward.
    pub async fn remove_agent_config_override(
        &self,
        tenant: TenantId,
        agent_id: &str,
    ) -> StoreResult<()> {
        let done = sqlx::query(
            "UPDATE agent_configs SET settings = NULL, version = version + 1, updated_at = $3
             WHERE tenant_id = $1 AND agent_id = $2 AND settings IS NOT NULL AND agent_id <> ''",
        )
        .bind(tenant.0)
        .bind(agent_id)
        .bind(now_ms())
        .execute(self.pool())
        .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }

    async fn upsert_layer(
        &self,
        tenant: TenantId,
        agent_id: &str,
        settings: Option<&AgentConfigSettings>,
    ) -> StoreResult<ConfigLayer> {
        let json = settings
            .map(serde_json::to_string)
            .transpose()
            .map_err(|e| StoreError::Invalid(e.to_string()))?;
        // One statement, so two admins saving at once both bump the version.
        let row: LayerRow = sqlx::query_as(
            "INSERT INTO agent_configs (tenant_id, agent_id, settings, version, updated_at)
             VALUES ($1, $2, $3, 1, $4)
             ON CONFLICT (tenant_id, agent_id) DO UPDATE
                SET settings = excluded.settings, version = agent_configs.version + 1,
                    updated_at = excluded.updated_at
             RETURNING agent_id, settings, version, updated_at",
        )
        .bind(tenant.0)
        .bind(agent_id)
        .bind(json)
        .bind(now_ms())
        .fetch_one(self.pool())
        .await?;
        layer_from_row(&row)
    }
}
