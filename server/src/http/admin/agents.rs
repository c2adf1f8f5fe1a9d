//! `/api/v1/agents`: enrolled agents, and revoking one's credential.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;

use super::super::error::ApiResult;
use super::super::extract::{AdminAuth, ApiQuery};
use super::super::AppState;
use super::scope;
use crate::store::agents::Agent;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/agents", get(list))
        .route("/api/v1/agents/{id}", delete(revoke))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Agent>>> {
    let scope = scope(&state, &principal, q.tenant.as_deref()).await?;
    Ok(Json(state.store.list_agents(scope).await?))
}

async fn revoke(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.store.revoke_agent(principal.scope, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}
