//! `/api/v1/maintenance-windows` and `/api/v1/silences`: the one suppression concept, seen as
//! planned work or as a known problem being handled; plus the rule metric catalogue and a CI's
//! alert history.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, BadQuery, Refused};
use super::super::extract::{ApiJson, ApiPath, ApiQuery, Authorized};
use super::super::AppState;
use super::{scope, target_tenant, TenantQuery};
use crate::rules::metrics::{Unit, METRICS};
use crate::store::alerts::{AlertHistoryEntry, NewSuppression, Suppression as SuppressionRow};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_maintenance, create_maintenance))
        .routes(routes!(cancel_maintenance_window))
        .routes(routes!(list_silences, create_silence))
        .routes(routes!(cancel_silence))
        .routes(routes!(rule_metrics))
        .routes(routes!(alert_history))
}

/// What a suppression is (for the document: the field is text).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum SuppressionKind {
    Maintenance,
    Silence,
    /// Opened and ended by the offline sweep while a whole site is unreachable.
    SiteOutage,
}

/// A maintenance window or silence: alerts in its scope open no incident while it is active.
#[derive(Serialize, ToSchema)]
pub struct Suppression {
    pub id: i64,
    pub tenant_id: i64,
    #[schema(value_type = SuppressionKind)]
    pub kind: String,
    pub reason: String,
    pub author: String,
    /// Only CIs matching this asset query (all of the tenant's when absent).
    pub scope_query: Option<String>,
    /// Only this rule's alerts (all rules when absent).
    pub rule_id: Option<i64>,
    pub starts_at: Option<DateTime<Utc>>,
    pub ends_at: Option<DateTime<Utc>>,
    /// A recurring window: when it starts (cron with seconds) …
    pub cron: Option<String>,
    /// … and for how long.
    pub duration_secs: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub cancelled_at: Option<DateTime<Utc>>,
    /// For a `site_outage`: the site, and the site incident that explains the suppression.
    pub site_id: Option<i64>,
    pub incident_id: Option<i64>,
}

impl From<SuppressionRow> for Suppression {
    fn from(s: SuppressionRow) -> Self {
        Suppression {
            id: s.id,
            tenant_id: s.tenant_id.0,
            kind: s.kind,
            reason: s.reason,
            author: s.author,
            scope_query: s.scope_query,
            rule_id: s.rule_id,
            starts_at: s.starts_at,
            ends_at: s.ends_at,
            cron: s.cron,
            duration_secs: s.duration_secs,
            created_at: s.created_at,
            cancelled_at: s.cancelled_at,
            site_id: s.site_id,
            incident_id: s.incident_id,
        }
    }
}

/// One change of a (rule, CI) pair's alert state, with the value behind it.
#[derive(Serialize, ToSchema)]
pub struct AlertTransition {
    pub rule_id: i64,
    pub at: DateTime<Utc>,
    pub from: String,
    pub to: String,
    pub severity: Option<String>,
    pub value: Option<f64>,
    pub incident_id: Option<i64>,
    pub note: Option<String>,
}

impl From<AlertHistoryEntry> for AlertTransition {
    fn from(e: AlertHistoryEntry) -> Self {
        AlertTransition {
            rule_id: e.rule_id,
            at: e.at,
            from: e.from,
            to: e.to,
            severity: e.severity,
            value: e.value,
            incident_id: e.incident_id,
            note: e.note,
        }
    }
}

async fn list(
    state: &AppState,
    caller: &crate::people::Caller,
    tenant: Option<&str>,
    kind: &str,
) -> ApiResult<Json<Vec<Suppression>>> {
    let scope = scope(state, caller, tenant).await?;
    let all = state.store.list_suppressions(scope).await?;
    Ok(Json(
        all.into_iter()
            .filter(|s| s.kind == kind)
            .map(Suppression::from)
            .collect(),
    ))
}

/// Maintenance windows.
#[utoipa::path(
    get,
    path = "/api/v1/maintenance-windows",
    tag = "suppressions",
    operation_id = "list_maintenance_windows",
    security(("admin" = [])),
    params(TenantQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The maintenance windows, ended ones included", body = Vec<Suppression>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn list_maintenance(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Suppression>>> {
    list(&state, &caller, q.tenant.as_deref(), "maintenance").await
}

/// Silences.
#[utoipa::path(
    get,
    path = "/api/v1/silences",
    tag = "suppressions",
    operation_id = "list_silences",
    security(("admin" = [])),
    params(TenantQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The silences, ended ones included", body = Vec<Suppression>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn list_silences(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Suppression>>> {
    list(&state, &caller, q.tenant.as_deref(), "silence").await
}

/// The body of both resources; `kind` comes from the path.
#[derive(Deserialize, ToSchema)]
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
    /// A recurring window: when it starts (cron with seconds), with `duration_secs`.
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    duration_secs: Option<i64>,
}

async fn create(
    state: &AppState,
    caller: &crate::people::Caller,
    kind: &str,
    body: Body,
) -> ApiResult<(StatusCode, Json<Suppression>)> {
    let tenant = target_tenant(state, caller, body.tenant.as_deref()).await?;
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
    let author = caller.author();
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
    Ok((StatusCode::CREATED, Json(created.into())))
}

/// Create a one-off or recurring (cron + duration) maintenance window.
#[utoipa::path(
    post,
    path = "/api/v1/maintenance-windows",
    tag = "suppressions",
    operation_id = "create_maintenance_window",
    security(("admin" = [])),
    request_body = Body,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created", body = Suppression),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn create_maintenance(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<(StatusCode, Json<Suppression>)> {
    create(&state, &caller, "maintenance", body).await
}

/// Silence alerts until a time.
#[utoipa::path(
    post,
    path = "/api/v1/silences",
    tag = "suppressions",
    operation_id = "create_silence",
    security(("admin" = [])),
    request_body = Body,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created", body = Suppression),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn create_silence(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(body): ApiJson<Body>,
) -> ApiResult<(StatusCode, Json<Suppression>)> {
    create(&state, &caller, "silence", body).await
}

/// End a maintenance window now; it stays listed with the time it was cancelled.
#[utoipa::path(
    delete,
    path = "/api/v1/maintenance-windows/{id}",
    tag = "suppressions",
    operation_id = "cancel_maintenance_window",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The maintenance window's id")),
    responses(
        Refused,
        (status = 200, description = "Cancelled", body = Suppression),
        (status = 404, description = "`not_found`: no such maintenance window", body = ErrorBody),
    )
)]
async fn cancel_maintenance_window(
    State(state): State<AppState>,
    auth: Authorized,
    id: ApiPath<i64>,
) -> ApiResult<Json<Suppression>> {
    cancel(State(state), auth, id).await
}

/// End a silence now; it stays listed with the time it was cancelled.
#[utoipa::path(
    delete,
    path = "/api/v1/silences/{id}",
    tag = "suppressions",
    operation_id = "cancel_silence",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The silence's id")),
    responses(
        Refused,
        (status = 200, description = "Cancelled", body = Suppression),
        (status = 404, description = "`not_found`: no such silence", body = ErrorBody),
    )
)]
async fn cancel_silence(
    State(state): State<AppState>,
    auth: Authorized,
    id: ApiPath<i64>,
) -> ApiResult<Json<Suppression>> {
    cancel(State(state), auth, id).await
}

/// End a window or silence now; it stays listed with the time it was cancelled.
async fn cancel(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Suppression>> {
    let cancelled = state.store.cancel_suppression(caller.scope, id).await;
    cancelled
        .map(|s| Json(s.into()))
        .map_err(|_| ApiError::not_found("maintenance window or silence"))
}

/// A metric a rule can watch.
#[derive(Serialize, ToSchema)]
struct MetricInfo {
    name: &'static str,
    class: &'static str,
    unit: &'static str,
    description: &'static str,
}

/// What a rule can watch: metric, CI class, unit.
#[utoipa::path(
    get,
    path = "/api/v1/rule-metrics",
    tag = "rules",
    operation_id = "list_rule_metrics",
    security(("admin" = [])),
    responses(
        Refused,
        (status = 200, description = "The metric catalogue", body = Vec<MetricInfo>),
    )
)]
async fn rule_metrics(Authorized(_): Authorized) -> Json<Vec<MetricInfo>> {
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

/// Alert history of a CI with the values behind each transition.
#[utoipa::path(
    get,
    path = "/api/v1/cis/{id}/alerts",
    tag = "cis",
    operation_id = "ci_alert_history",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The CI's id")),
    responses(
        Refused,
        (status = 200, description = "The transitions", body = Vec<AlertTransition>),
        (status = 404, description = "`not_found`: no such CI", body = ErrorBody),
    )
)]
async fn alert_history(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<AlertTransition>>> {
    let history = state.store.alert_history(caller.scope, id).await;
    history
        .map(|h| Json(h.into_iter().map(AlertTransition::from).collect()))
        .map_err(|_| ApiError::not_found("configuration item"))
}
