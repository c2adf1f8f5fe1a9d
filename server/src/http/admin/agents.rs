//! `/api/v1/agents`: enrolled agents, and revoking one's credential.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiResult, BadQuery, Refused};
use super::super::extract::{ApiPath, ApiQuery, Authorized};
use super::super::AppState;
use super::{scope, TenantQuery};
use crate::store::agents::Agent as AgentRow;
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(revoke))
}

/// An enrolled agent.
#[derive(Serialize, ToSchema)]
pub struct Agent {
    /// The agent's identity (a UUID).
    pub id: String,
    pub tenant_id: i64,
    pub site_id: Option<i64>,
    /// The computer CI the agent reports for, once its first report arrived.
    pub computer_id: Option<i64>,
    pub hostname: String,
    pub agent_version: String,
    pub enrolled_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The last report sequence number stored.
    pub last_seq: Option<i64>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<AgentRow> for Agent {
    fn from(a: AgentRow) -> Self {
        Agent {
            id: a.id,
            tenant_id: a.tenant_id.0,
            site_id: a.site_id,
            computer_id: a.computer_id,
            hostname: a.hostname,
            agent_version: a.agent_version,
            enrolled_at: a.enrolled_at,
            last_seen_at: a.last_seen_at,
            last_seq: a.last_seq,
            revoked_at: a.revoked_at,
        }
    }
}

/// Enrolled agents, revoked ones included.
#[utoipa::path(
    get,
    path = "/api/v1/agents",
    tag = "agents",
    operation_id = "list_agents",
    security(("admin" = [])),
    params(TenantQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The agents", body = Vec<Agent>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Agent>>> {
    let scope = scope(&state, &caller, q.tenant.as_deref()).await?;
    let agents = state.store.list_agents(scope).await?;
    Ok(Json(agents.into_iter().map(Agent::from).collect()))
}

/// Revoke an agent's credential: its reports are refused from now on.
#[utoipa::path(
    delete,
    path = "/api/v1/agents/{id}",
    tag = "agents",
    operation_id = "revoke_agent",
    security(("admin" = [])),
    params(("id" = String, Path, description = "The agent's id")),
    responses(
        Refused,
        (status = 204, description = "Revoked"),
        (status = 404, description = "`not_found`: no such agent", body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<StatusCode> {
    state.store.revoke_agent(caller.scope, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
