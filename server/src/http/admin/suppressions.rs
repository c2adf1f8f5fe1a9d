//! `/api/v1/maintenance-windows` and `/api/v1/silences`: the one suppression concept, seen as
//! planned work or as a known problem being handled; plus the rule metric catalogue and a CI's
//! alert history.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AdminAuth, ApiJson, ApiQuery};
use super::super::AppState;
use super::{scope, target_tenant};
use crate::rules::metrics::{Unit, METRICS};
use crate::store::alerts::{AlertHistoryEntry, NewSuppression, Suppression};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/maintenance-windows",
            get(list_maintenance).post(create_maintenance),
        )
        .route("/api/v1/maintenance-windows/{id}", delete(cancel))
        .route("/api/v1/silences", get(list_silences).post(create_silence))
        .route("/api/v1/silences/{id}", delete(cancel))
        .route("/api/v1/rule-metrics", get(rule_metrics))
        .route("/api/v1/cis/{id}/alerts", get(alert_history))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn list(
    state: &AppState,
    principal: &crate::store::tokens::ApiPrincipal,
    tenant: Option<&str>,
    kind: &str,
) -> ApiResult<Json<Vec<Suppression>>> {
    let scope = scope(state, principal, tenant).await?;
    let all = state.store.list_suppressions(scope).await?;
    Ok(Json(all.into_iter().filter(|s| s.kind == kind).collect()))
}

async fn list_maintenance(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Suppression>>> {
    list(&state, &principal, q.tenant.as_deref(), "maintenance").await
}

async fn list_silences(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Suppression>>> {
    list(&state, &principal, q.tenant.as_deref(), "silence").await
}

/// The body of both resources; `kind` comes from the path.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    tenant: Option<String>,
    reason: String,
    #[serde(default)]
    scope_query: Option<String>,
    #[serde(default)]
    rule_id: Option<i64>,
    #[serde(default)]
    starts_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    ends_at: Option<chrono::DateTime<chrono::Utc>>,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    duration_secs: Option<i64>,
}

async fn create(
    state: &AppState,
    principal: &crate::store::tokens::ApiPrincipal,
    kind: &str,
    body: Body,
) -> ApiResult<(StatusCode, Json<Suppression>)> {
    let tenant = target_tenant(state, principal, body.tenant.as_deref()).await?;
    let new = NewSuppression {
        tenant: body.tenant,
        kind: kind.into(),
        reason: body.reason,
        scope_query: body.scope_query,
        rule_id: body.rule_id,
        starts_at: body.starts_at,
        ends_at: body.ends_at,
        cron: body.cron,
        duration_secs: body.duration_secs,
    };
    let author = format!("api_token:{}", principal.token_id);
    let created = state
        .store
        .create_suppression(tenant, &new, &author)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => {
                ApiError::invalid("rule_id names no rule of this tenant")
            }
            other => other.into(),
        })?;
    Ok((StatusCode::CREATED, Json(created)))
}

async fn create_maintenance(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<(StatusCode, Json<Suppression>)> {
    create(&state, &principal, "maintenance", body).await
}

async fn create_silence(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<(StatusCode, Json<Suppression>)> {
    create(&state, &principal, "silence", body).await
}

/// End a window or silence now; it stays listed with the time it was cancelled.
async fn cancel(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Suppression>> {
    let cancelled = state.store.cancel_suppression(principal.scope, id).await;
    cancelled
        .map(Json)
        .map_err(|_| ApiError::not_found("maintenance window or silence"))
}

#[derive(Serialize)]
struct MetricInfo {
    name: &'static str,
    class: &'static str,
    unit: &'static str,
    description: &'static str,
}

async fn rule_metrics(AdminAuth(_): AdminAuth) -> Json<Vec<MetricInfo>> {
    let unit = |u: Unit| match u {
        Unit::Percent => "percent",
        Unit::Bytes => "bytes",
        Unit::Seconds => "seconds",
        Unit::Hours => "hours",
        Unit::Days => "days",
        Unit::Count => "count",
        Unit::Flag => "flag (0 or 1)",
    };
    Json(
        METRICS
            .iter()
            .map(|m| MetricInfo {
                name: m.name,
                class: m.class,
                unit: unit(m.unit),
                description: m.description,
            })
            .collect(),
    )
}

async fn alert_history(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<AlertHistoryEntry>>> {
    let history = state.store.alert_history(principal.scope, id).await;
    history
        .map(Json)
        .map_err(|_| ApiError::not_found("configuration item"))
}
