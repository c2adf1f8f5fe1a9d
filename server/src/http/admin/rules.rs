//! `/api/v1/rules`: threshold rules, per tenant or MSP-wide.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, BadQuery, Refused};
use super::super::extract::{ApiJson, ApiPath, ApiQuery, Authorized};
use super::super::openapi::one_of;
use super::super::AppState;
use super::{scope, target_tenant, TenantQuery};
use crate::rules::metrics::METRICS;
use crate::store::rules::{Rule as RuleRow, RuleSpec};
use crate::store::TenantScope;
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, replace, remove))
}

/// Which side of the levels is bad (for the document: the field is checked as text).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum Direction {
    /// High is bad.
    Above,
    /// Low is bad (free space, for example).
    Below,
}

/// A threshold rule.
#[derive(Serialize, ToSchema)]
pub struct Rule {
    pub id: i64,
    /// `null`: an MSP-wide rule, applying to every tenant without its own rule of that name.
    pub tenant_id: Option<i64>,
    pub name: String,
    /// A metric from `GET /api/v1/rule-metrics`.
    pub metric: String,
    #[schema(value_type = Direction)]
    pub direction: String,
    pub warning_level: Option<f64>,
    pub critical_level: f64,
    pub recovery_level: Option<f64>,
    pub for_secs: i64,
    /// Only CIs matching this asset query are watched (all of the metric's class when absent).
    pub scope_query: Option<String>,
    pub impact: i64,
    pub urgency: i64,
    pub auto_resolve: bool,
    /// A problem that comes back within this many seconds of resolution reopens its incident.
    pub reopen_window_secs: i64,
    pub enabled: bool,
    pub runbook: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<RuleRow> for Rule {
    fn from(r: RuleRow) -> Self {
        Rule {
            id: r.id,
            tenant_id: r.tenant_id.map(|t| t.0),
            name: r.name,
            metric: r.metric,
            direction: r.direction,
            warning_level: r.warning_level,
            critical_level: r.critical_level,
            recovery_level: r.recovery_level,
            for_secs: r.for_secs,
            scope_query: r.scope_query,
            impact: r.impact,
            urgency: r.urgency,
            auto_resolve: r.auto_resolve,
            reopen_window_secs: r.reopen_window_secs,
            enabled: r.enabled,
            runbook: r.runbook,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

fn above() -> String {
    "above".into()
}

fn level() -> i64 {
    2
}

fn yes() -> bool {
    true
}

fn hour() -> i64 {
    3600
}

fn metric_name() -> utoipa::openapi::schema::Object {
    one_of(
        "What the rule watches (see `GET /api/v1/rule-metrics`)",
        METRICS.iter().map(|m| m.name),
    )
}

/// The fields a person sets on a rule (create, or full replacement).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct RuleBody {
    #[schema(pattern = r"\S")]
    name: String,
    #[schema(schema_with = metric_name)]
    metric: String,
    #[serde(default = "above")]
    #[schema(value_type = Direction, default = "above")]
    direction: String,
    #[serde(default)]
    warning_level: Option<f64>,
    critical_level: f64,
    #[serde(default)]
    recovery_level: Option<f64>,
    #[serde(default)]
    for_secs: i64,
    #[serde(default)]
    scope_query: Option<String>,
    #[serde(default = "level")]
    #[schema(minimum = 1, maximum = 3)]
    impact: i64,
    #[serde(default = "level")]
    #[schema(minimum = 1, maximum = 3)]
    urgency: i64,
    #[serde(default = "yes")]
    auto_resolve: bool,
    #[serde(default = "hour")]
    reopen_window_secs: i64,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    runbook: Option<String>,
}

impl From<RuleBody> for RuleSpec {
    fn from(b: RuleBody) -> Self {
        RuleSpec {
            name: b.name,
            metric: b.metric,
            direction: b.direction,
            warning_level: b.warning_level,
            critical_level: b.critical_level,
            recovery_level: b.recovery_level,
            for_secs: b.for_secs,
            scope_query: b.scope_query,
            impact: b.impact,
            urgency: b.urgency,
            auto_resolve: b.auto_resolve,
            reopen_window_secs: b.reopen_window_secs,
            enabled: b.enabled,
            runbook: b.runbook,
        }
    }
}

/// Rules of the caller's tenants, and the MSP-wide ones.
#[utoipa::path(
    get,
    path = "/api/v1/rules",
    tag = "rules",
    operation_id = "list_rules",
    security(("admin" = [])),
    params(TenantQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The rules", body = Vec<Rule>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Rule>>> {
    let scope = scope(&state, &caller, q.tenant.as_deref()).await?;
    let rules = state.store.list_rules(scope).await?;
    Ok(Json(rules.into_iter().map(Rule::from).collect()))
}

/// A rule for `?tenant=NAME`; without it, an MSP-wide rule (MSP admins only).
#[utoipa::path(
    post,
    path = "/api/v1/rules",
    tag = "rules",
    operation_id = "create_rule",
    security(("admin" = [])),
    params(TenantQuery),
    request_body = RuleBody,
    responses(
        Refused,
        BadQuery,
        BadBody,
        (status = 201, description = "Created", body = Rule),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`conflict`: the tenant has a rule of that name", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<TenantQuery>,
    ApiJson(body): ApiJson<RuleBody>,
) -> ApiResult<(StatusCode, Json<Rule>)> {
    let spec = RuleSpec::from(body);
    let tenant = match (q.tenant.as_deref(), caller.scope) {
        (None, TenantScope::All) => None,
        (name, _) => Some(target_tenant(&state, &caller, name).await?),
    };
    Ok((
        StatusCode::CREATED,
        Json(state.store.create_rule(tenant, &spec).await?.into()),
    ))
}

/// One rule.
#[utoipa::path(
    get,
    path = "/api/v1/rules/{id}",
    tag = "rules",
    operation_id = "show_rule",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The rule's id")),
    responses(
        Refused,
        (status = 200, description = "The rule", body = Rule),
        (status = 404, description = "`not_found`: no such rule", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Rule>> {
    let rule = state.store.get_rule(caller.scope, id).await;
    rule.map(|r| Json(r.into()))
        .map_err(|_| ApiError::not_found("rule"))
}

/// Replace a rule.
#[utoipa::path(
    put,
    path = "/api/v1/rules/{id}",
    tag = "rules",
    operation_id = "replace_rule",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The rule's id")),
    request_body = RuleBody,
    responses(
        Refused,
        BadBody,
        (status = 200, description = "The rule as saved", body = Rule),
        (status = 404, description = "`not_found`: no such rule", body = ErrorBody),
        (status = 409, description = "`conflict`: the tenant has a rule of that name", body = ErrorBody),
    )
)]
async fn replace(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RuleBody>,
) -> ApiResult<Json<Rule>> {
    let spec = RuleSpec::from(body);
    Ok(Json(
        state
            .store
            .update_rule(caller.scope, id, &spec)
            .await?
            .into(),
    ))
}

/// Delete a rule.
#[utoipa::path(
    delete,
    path = "/api/v1/rules/{id}",
    tag = "rules",
    operation_id = "delete_rule",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The rule's id")),
    responses(
        Refused,
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`: no such rule", body = ErrorBody),
    )
)]
async fn remove(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    state.store.delete_rule(caller.scope, id).await?;
    Ok(StatusCode::NO_CONTENT)
}
