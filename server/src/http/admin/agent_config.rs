//! Agent config set by an admin: `/api/v1/tenants/{name}/agent-config` (the tenant default) and
//! `/api/v1/agents/{id}/agent-config` (one agent's override). Agents pick a change up with their
//! next report's acknowledgement and apply it without a restart.

use atalaya_shared::agent_config::AgentConfigSettings;
use atalaya_shared::AgentConfig;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, Refused};
use super::super::extract::{ApiJson, ApiPath, Authorized};
use super::super::AppState;
use crate::store::agent_configs::{AgentConfigLayers, ConfigLayer};
use crate::store::StoreError;
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_tenant, put_tenant))
        .routes(routes!(get_agent, put_agent, delete_agent))
}

/// A tenant's default agent config.
#[derive(Serialize, ToSchema)]
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

/// One agent's config: its override, the tenant default and what it runs.
#[derive(Serialize, ToSchema)]
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

/// The tenant's default agent config: the fields it sets, its version (0: never set) and the
/// effective config of an agent without an override.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{name}/agent-config",
    tag = "agent-config",
    operation_id = "show_tenant_agent_config",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    responses(
        Refused,
        (status = 200, description = "The tenant default", body = TenantAgentConfig),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn get_tenant(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<TenantAgentConfig>> {
    let tenant = tenant_named(&state, caller.scope, &name).await?;
    let layer = state.store.tenant_agent_config(tenant.id).await?;
    Ok(Json(tenant_view(&state, tenant.name, layer)))
}

/// Replace the tenant's default agent config; unset fields take the built-in defaults. Agents
/// pick it up with their next acknowledgement.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{name}/agent-config",
    tag = "agent-config",
    operation_id = "replace_tenant_agent_config",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    request_body = AgentConfigSettings,
    responses(
        Refused,
        BadBody,
        (status = 200, description = "The tenant default as saved", body = TenantAgentConfig),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 422, description = "`invalid_agent_config`: says which field is wrong and what is allowed", body = ErrorBody),
    )
)]
async fn put_tenant(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<TenantAgentConfig>> {
    let tenant = tenant_named(&state, caller.scope, &name).await?;
    let settings = settings_from(body)?;
    let layer = state
        .store
        .set_tenant_agent_config(tenant.id, &settings)
        .await?;
    tracing::info!(tenant = %tenant.name, version = layer.version, "tenant agent config changed");
    Ok(Json(tenant_view(&state, tenant.name, layer)))
}

/// One agent's config: its override (`null` when it follows the tenant), the tenant default
/// and the effective config with the version its acknowledgements carry.
#[utoipa::path(
    get,
    path = "/api/v1/agents/{id}/agent-config",
    tag = "agent-config",
    operation_id = "show_agent_agent_config",
    security(("admin" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        Refused,
        (status = 200, description = "The agent's config", body = AgentAgentConfig),
        (status = 404, description = "`not_found`: no such agent", body = ErrorBody),
    )
)]
async fn get_agent(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Json<AgentAgentConfig>> {
    let agent = state
        .store
        .agent(caller.scope, &id)
        .await
        .map_err(|e| not_found(e, "agent", &id))?;
    agent_view(&state, agent).await.map(Json)
}

/// Set the agent's override; unset fields follow the tenant default.
#[utoipa::path(
    put,
    path = "/api/v1/agents/{id}/agent-config",
    tag = "agent-config",
    operation_id = "replace_agent_agent_config",
    security(("admin" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    request_body = AgentConfigSettings,
    responses(
        Refused,
        BadBody,
        (status = 200, description = "The agent's config as saved", body = AgentAgentConfig),
        (status = 404, description = "`not_found`: no such agent", body = ErrorBody),
        (status = 422, description = "`invalid_agent_config`: says which field is wrong and what is allowed", body = ErrorBody),
    )
)]
async fn put_agent(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<String>,
    ApiJson(body): ApiJson<serde_json::Value>,
) -> ApiResult<Json<AgentAgentConfig>> {
    let agent = state
        .store
        .agent(caller.scope, &id)
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

/// Remove the agent's override: it follows the tenant default again (its config version
/// still moves forward).
#[utoipa::path(
    delete,
    path = "/api/v1/agents/{id}/agent-config",
    tag = "agent-config",
    operation_id = "delete_agent_agent_config",
    security(("admin" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        Refused,
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`: no such agent, or it has no override", body = ErrorBody),
    )
)]
async fn delete_agent(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    let agent = state
        .store
        .agent(caller.scope, &id)
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
