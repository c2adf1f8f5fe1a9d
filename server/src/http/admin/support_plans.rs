//! `/api/v1/tenants/{name}/support-plan` (and its history) and `/api/v1/assignment-groups`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AdminAuth, ApiJson};
use super::super::AppState;
use crate::desk::plans::SavedPlan;
use crate::sla::plan::SupportPlan;
use crate::store::assignment_groups::AssignmentGroup;
use crate::store::tokens::ApiPrincipal;
use crate::store::{now_ms, TenantId, TenantScope};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{name}/support-plan",
            get(show).put(replace),
        )
        .route("/api/v1/tenants/{name}/support-plan/history", get(history))
        .route("/api/v1/assignment-groups", get(groups).post(create_group))
}

pub(super) async fn tenant(
    state: &AppState,
    principal: &ApiPrincipal,
    name: &str,
) -> ApiResult<TenantId> {
    state
        .store
        .tenant_by_name(principal.scope, name)
        .await
        .map(|t| t.id)
        .map_err(|_| ApiError::NotFound(format!("tenant {name:?} not found")))
}

async fn show(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<SavedPlan>> {
    let tenant = tenant(&state, &principal, &name).await?;
    Ok(Json(
        crate::desk::plans::current(&state.store, tenant).await?,
    ))
}

async fn history(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<SavedPlan>>> {
    let tenant = tenant(&state, &principal, &name).await?;
    Ok(Json(
        crate::desk::plans::history(&state.store, tenant).await?,
    ))
}

/// A new version, effective now; the old ones stay for the clocks of older tickets.
async fn replace(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
    ApiJson(plan): ApiJson<SupportPlan>,
) -> ApiResult<Json<SavedPlan>> {
    let tenant = tenant(&state, &principal, &name).await?;
    plan.validate().map_err(ApiError::invalid)?;
    let actor = state.store.actor_name(principal.token_id).await?;
    Ok(Json(
        crate::desk::plans::save(&state.store, tenant, &plan, &actor, now_ms()).await?,
    ))
}

async fn groups(
    State(state): State<AppState>,
    AdminAuth(_principal): AdminAuth,
) -> ApiResult<Json<Vec<AssignmentGroup>>> {
    Ok(Json(state.store.list_assignment_groups().await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    name: String,
    tier: i64,
}

/// Groups are the MSP's own queues, so only the MSP-wide administrator creates them.
async fn create_group(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult<(StatusCode, Json<AssignmentGroup>)> {
    if principal.scope != TenantScope::All {
        return Err(ApiError::Forbidden(
            "only the MSP-wide administrator creates assignment groups".into(),
        ));
    }
    let group = state
        .store
        .create_assignment_group(&body.name, body.tier, now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(group)))
}
