//! `/api/v1/rules`: threshold rules, per tenant or MSP-wide.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AdminAuth, ApiJson, ApiQuery};
use super::super::AppState;
use super::{scope, target_tenant};
use crate::store::rules::{Rule, RuleSpec};
use crate::store::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/rules", get(list).post(create))
        .route("/api/v1/rules/{id}", get(show).put(replace).delete(remove))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Rule>>> {
    let scope = scope(&state, &principal, q.tenant.as_deref()).await?;
    Ok(Json(state.store.list_rules(scope).await?))
}

/// A rule for `?tenant=NAME`; without it, an MSP-wide rule (MSP admins only).
async fn create(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<TenantQuery>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> ApiResult<(StatusCode, Json<Rule>)> {
    let tenant = match (q.tenant.as_deref(), principal.scope) {
        (None, TenantScope::All) => None,
        (name, _) => Some(target_tenant(&state, &principal, name).await?),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_rule(tenant, &spec).await?),
    ))
}

async fn show(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Rule>> {
    let rule = state.store.get_rule(principal.scope, id).await;
    rule.map(Json).map_err(|_| ApiError::not_found("rule"))
}

async fn replace(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
    ApiJson(spec): ApiJson<RuleSpec>,
) -> ApiResult<Json<Rule>> {
    Ok(Json(
        state.store.update_rule(principal.scope, id, &spec).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state.store.delete_rule(principal.scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
