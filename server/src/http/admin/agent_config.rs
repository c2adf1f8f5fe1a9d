//! Agent config set by an admin: `/api/v1/tenants/{name}/agent-config` (the tenant default) and
//! `/api/v1/agents/{id}/agent-config` (one agent's override). Agents pick a change up with their
//! next report's acknowledgement and apply it without a restart.

use atalaya_shared::agent_config::AgentConfigSettings;
use atalaya_shared::AgentConfig;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Serialize;

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AdminAuth, ApiJson};
use super::super::AppState;
use crate::store::agent_configs::{AgentConfigLayers, ConfigLayer};
use crate::store::StoreError;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{name}/agent-config",
            get(get_tenant).put(put_tenant),
        )
        .route(
            "/api/v1/agents/{id}/agent-config",
            get(get_agent).put(put_agent).delete(delete_agent),
        )
}

#[derive(Serialize)]
struct TenantAgentConfig {
    tenant: String,
    /// Changes to the tenant default so far (0: never set).
    version: i64,
    /// The fields the tenant sets; absent ones take the built-in defaults.
    settings: AgentConfigSettings,
    updated_at: Option<chrono::DateTime<chrono::Utc>>,
    /// What an agent of this tenant without an override runs.
    effective: AgentConfig,
}

#[derive(Serialize)]
struct AgentAgentConfig {
    agent_id: String,
    tenant: String,
    /// This agent's own settings (`null`: it follows the tenant default).
    #[serde(rename = "override")]
    agent_override: Option<AgentConfigSettings>,
    tenant_default: AgentConfigSettings,
    /// What the agent is told to run; `effective.version` is the version in its acknowledgements.
    effective: AgentConfig,
}

/// Parses and checks a body: any problem is a 422 `invalid_agent_config` that says what is wrong.
fn settings_from(body: serde_json::Value) -> ApiResult<AgentConfigSettings> {
    let invalid = |m: String| ApiError::Unprocessable("invalid_agent_config", m);
    let mut settings: AgentConfigSettings = serde_json::from_value(body).map_err(|e| {
        invalid(format!(
            "{e}; the fields are report_interval_secs, inventory_schedule, spool_max_bytes and watched_services"
        ))
    })?;
    settings.validate().map_err(invalid)?;
    Ok(settings)
}

fn tenant_view(state: &AppState, tenant: String, layer: ConfigLayer) -> TenantAgentConfig {
    let layers = AgentConfigLayers {
        tenant_default: layer.clone(),
        agent_override: ConfigLayer::default(),
    };
    TenantAgentConfig {
        tenant,
        version: layer.version,
        effective: layers.resolve(state.config.report_interval_secs),
        settings: layer.settings.unwrap_or_default(),
        updated_at: layer.updated_at,
    }
}

async fn get_tenant(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<TenantAgentConfig>> {
    let tenant = tenant_named(&state, principal.scope, &name).await?;
    let layer = state.store.tenant_agent_config(tenant.id).await?;
    Ok(Json(tenant_view(&state, tenant.name, layer)))
}

async fn put_tenant(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<TenantAgentConfig>> {
    let tenant = tenant_named(&state, principal.scope, &name).await?;
    let settings = settings_from(body)?;
    let layer = state
        .store
        .set_tenant_agent_config(tenant.id, &settings)
        .await?;
    tracing::info!(tenant = %tenant.name, version = layer.version, "tenant agent config changed");
    Ok(Json(tenant_view(&state, tenant.name, layer)))
}

async fn get_agent(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<Json<AgentAgentConfig>> {
    let agent = state
        .store
        .agent(principal.scope, &id)
        .await
        .map_err(|e| not_found(e, "agent", &id))?;
    agent_view(&state, agent).await.map(Json)
}

async fn put_agent(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<AgentAgentConfig>> {
    let agent = state
        .store
        .agent(principal.scope, &id)
        .await
        .map_err(|e| not_found(e, "agent", &id))?;
    let settings = settings_from(body)?;
    state
        .store
        .set_agent_config_override(agent.tenant_id, &agent.id, &settings)
        .await?;
    tracing::info!(agent_id = %agent.id, "agent config override changed");
    agent_view(&state, agent).await.map(Json)
}

async fn delete_agent(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let agent = state
        .store
        .agent(principal.scope, &id)
        .await
        .map_err(|e| not_found(e, "agent", &id))?;
    state
        .store
        .remove_agent_config_override(agent.tenant_id, &agent.id)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => {
                ApiError::NotFound(format!("agent {id} has no agent config override"))
            }
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}

async fn agent_view(
    state: &AppState,
    agent: crate::store::agents::Agent,
) -> ApiResult<AgentAgentConfig> {
    let layers = state
        .store
        .agent_config_layers(agent.tenant_id, &agent.id)
        .await?;
    let tenant = state.store.tenant_by_id(agent.tenant_id).await?;
    Ok(AgentAgentConfig {
        effective: layers.resolve(state.config.report_interval_secs),
        agent_id: agent.id,
        tenant: tenant.name,
        agent_override: layers.agent_override.settings,
        tenant_default: layers.tenant_default.settings.unwrap_or_default(),
    })
}

async fn tenant_named(
    state: &AppState,
    scope: crate::store::TenantScope,
    name: &str,
) -> ApiResult<crate::store::tenants::Tenant> {
    state
        .store
        .tenant_by_name(scope, name)
        .await
        .map_err(|e| not_found(e, "tenant", name))
}

fn not_found(e: StoreError, what: &str, key: &str) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound(format!("{what} {key:?} not found")),
        other => other.into(),
    }
}
