//! `/api/v1/reports/…`: the desk's KPIs as JSON (`{"from", "to", "rows": […]}`) or CSV
//! (`?format=csv` or `Accept: text/csv`), filtered by `from`, `to` (RFC 3339 times or dates;
//! the last 30 days by default) and `tenant`, within the caller's tenants.

use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadQuery, Refused};
use super::super::extract::{ApiQuery, Authorized};
use super::super::AppState;
use super::scope;
use crate::desk::kpis::{self, BacklogRow, Period, SatisfactionRow, ServiceLevelRow, VolumeRow};
use crate::store::kpis::{CiClassRow, ReportRange, RuleRow};
use crate::store::{now_ms, to_time};
use atalaya_shared::ErrorBody;

const DEFAULT_DAYS: i64 = 30;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(service_levels))
        .routes(routes!(volume))
        .routes(routes!(backlog))
        .routes(routes!(first_contact_resolution))
        .routes(routes!(incidents_per_ci_class))
        .routes(routes!(incidents_per_rule))
        .routes(routes!(satisfaction))
}

/// The periods of the volume report (for the document: `Period` parses them).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum ReportPeriod {
    Day,
    /// ISO weeks, named by their Monday.
    Week,
    Month,
}

/// `json` (the default unless `Accept` asks for `text/csv`) or `csv`.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
enum ReportFormat {
    Json,
    Csv,
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ReportQuery {
    /// An RFC 3339 time or a `YYYY-MM-DD` date; 30 days before `to` when absent.
    from: Option<String>,
    /// An RFC 3339 time or a `YYYY-MM-DD` date; now when absent.
    to: Option<String>,
    /// A tenant's name; the caller's own tenants when absent.
    tenant: Option<String>,
    #[param(value_type = Option<ReportFormat>, inline)]
    format: Option<String>,
    /// Volume only: `day` (default), `week` or `month`.
    #[param(value_type = Option<ReportPeriod>, inline)]
    period: Option<Period>,
}

/// A report: its name, the range it covers and its rows.
#[derive(ToSchema)]
#[allow(dead_code)]
struct Report<T> {
    report: String,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    rows: Vec<T>,
}

/// MTTA, MTTR, SLA compliance, first-contact resolution and reopen rate of a tenant, kind and
/// priority.
#[derive(Serialize, ToSchema)]
struct ServiceLevel {
    tenant: String,
    #[schema(value_type = super::ticket_views::KindName)]
    kind: &'static str,
    priority: i64,
    tickets: i64,
    responded: i64,
    resolved: i64,
    mtta_minutes: Option<f64>,
    mtta_business_minutes: Option<f64>,
    mttr_minutes: Option<f64>,
    mttr_business_minutes: Option<f64>,
    /// Tickets whose SLA outcome is known.
    sla_measured: i64,
    sla_met: i64,
    sla_compliance_percent: Option<f64>,
    first_contact_resolution_percent: Option<f64>,
    reopen_rate_percent: Option<f64>,
}

impl From<ServiceLevelRow> for ServiceLevel {
    fn from(r: ServiceLevelRow) -> Self {
        ServiceLevel {
            tenant: r.tenant,
            kind: r.kind,
            priority: r.priority,
            tickets: r.tickets,
            responded: r.responded,
            resolved: r.resolved,
            mtta_minutes: r.mtta_minutes,
            mtta_business_minutes: r.mtta_business_minutes,
            mttr_minutes: r.mttr_minutes,
            mttr_business_minutes: r.mttr_business_minutes,
            sla_measured: r.sla_measured,
            sla_met: r.sla_met,
            sla_compliance_percent: r.sla_compliance_percent,
            first_contact_resolution_percent: r.first_contact_resolution_percent,
            reopen_rate_percent: r.reopen_rate_percent,
        }
    }
}

/// Tickets opened in one period.
#[derive(Serialize, ToSchema)]
struct Volume {
    period: String,
    tenant: String,
    /// Incidents opened by rules (auto-created).
    incidents_auto: i64,
    /// Incidents opened by people.
    incidents_manual: i64,
    requests: i64,
}

impl From<VolumeRow> for Volume {
    fn from(r: VolumeRow) -> Self {
        Volume {
            period: r.period,
            tenant: r.tenant,
            incidents_auto: r.incidents_auto,
            incidents_manual: r.incidents_manual,
            requests: r.requests,
        }
    }
}

/// Open tickets of a tenant, priority and age bucket.
#[derive(Serialize, ToSchema)]
struct Backlog {
    tenant: String,
    priority: i64,
    age: &'static str,
    incidents: i64,
    requests: i64,
}

impl From<BacklogRow> for Backlog {
    fn from(r: BacklogRow) -> Self {
        Backlog {
            tenant: r.tenant,
            priority: r.priority,
            age: r.age,
            incidents: r.incidents,
            requests: r.requests,
        }
    }
}

/// Incidents opened per class of linked CI.
#[derive(Serialize, ToSchema)]
struct IncidentsPerCiClass {
    tenant: String,
    class: String,
    incidents: i64,
}

impl From<CiClassRow> for IncidentsPerCiClass {
    fn from(r: CiClassRow) -> Self {
        IncidentsPerCiClass {
            tenant: r.tenant,
            class: r.class,
            incidents: r.incidents,
        }
    }
}

/// Incidents opened per rule, and how many are still open.
#[derive(Serialize, ToSchema)]
struct IncidentsPerRule {
    tenant: String,
    rule_id: i64,
    rule: String,
    incidents: i64,
    still_open: i64,
}

impl From<RuleRow> for IncidentsPerRule {
    fn from(r: RuleRow) -> Self {
        IncidentsPerRule {
            tenant: r.tenant,
            rule_id: r.rule_id,
            rule: r.rule,
            incidents: r.incidents,
            still_open: r.still_open,
        }
    }
}

/// Satisfaction ratings of a tenant: count, average, distribution.
#[derive(Serialize, ToSchema)]
struct Satisfaction {
    tenant: String,
    ratings: i64,
    average: Option<f64>,
    score_1: i64,
    score_2: i64,
    score_3: i64,
    score_4: i64,
    score_5: i64,
}

impl From<SatisfactionRow> for Satisfaction {
    fn from(r: SatisfactionRow) -> Self {
        Satisfaction {
            tenant: r.tenant,
            ratings: r.ratings,
            average: r.average,
            score_1: r.score_1,
            score_2: r.score_2,
            score_3: r.score_3,
            score_4: r.score_4,
            score_5: r.score_5,
        }
    }
}

/// First-contact resolution and reopen rate alone (the same numbers as in service levels).
#[derive(Serialize, ToSchema)]
struct FirstContactResolution {
    tenant: String,
    #[schema(value_type = super::ticket_views::KindName)]
    kind: &'static str,
    priority: i64,
    resolved: i64,
    first_contact_resolution_percent: Option<f64>,
    reopen_rate_percent: Option<f64>,
}

/// The rows as a list of `T`, the HTTP layer's row type.
fn to_rows<R, T: From<R>>(rows: Vec<R>) -> Vec<T> {
    rows.into_iter().map(T::from).collect()
}

/// An RFC 3339 time or a `YYYY-MM-DD` date (midnight UTC), in ms.
fn parse_time(name: &str, text: &str) -> ApiResult<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(t.timestamp_millis());
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        if let Some(t) = d.and_hms_opt(0, 0, 0) {
            return Ok(t.and_utc().timestamp_millis());
        }
    }
    Err(ApiError::BadRequest(
        "invalid_query",
        format!("{name} must be an RFC 3339 time or a YYYY-MM-DD date, got {text:?}"),
    ))
}

struct Request {
    range: ReportRange,
    csv: bool,
    period: Period,
    now: i64,
}

async fn resolve(
    state: &AppState,
    caller: &crate::people::Caller,
    query: ReportQuery,
    headers: &HeaderMap,
) -> ApiResult<Request> {
    let now = now_ms();
    let to = match &query.to {
        Some(text) => parse_time("to", text)?,
        None => now,
    };
    let from = match &query.from {
        Some(text) => parse_time("from", text)?,
        None => to - DEFAULT_DAYS * 86_400_000,
    };
    if from >= to {
        return Err(ApiError::BadRequest(
            "invalid_query",
            "from must be before to".into(),
        ));
    }
    let csv = match query.format.as_deref() {
        Some("csv") => true,
        Some("json") => false,
        Some(other) => {
            return Err(ApiError::BadRequest(
                "invalid_query",
                format!("format must be json or csv, got {other:?}"),
            ))
        }
        None => headers
            .get(ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.contains("text/csv")),
    };
    let scope = scope(state, caller, query.tenant.as_deref()).await?;
    Ok(Request {
        range: ReportRange { scope, from, to },
        csv,
        period: query.period.unwrap_or_default(),
        now,
    })
}

/// The rows as CSV (a header line, then one line per row) or JSON.
fn respond<T: Serialize>(name: &str, request: &Request, rows: Vec<T>) -> ApiResult<Response> {
    if !request.csv {
        return Ok(Json(json!({
            "report": name,
            "from": to_time(request.range.from),
            "to": to_time(request.range.to),
            "rows": rows,
        }))
        .into_response());
    }
    let mut writer = csv::Writer::from_writer(Vec::new());
    for row in &rows {
        writer
            .serialize(row)
            .map_err(|e| ApiError::Internal(e.into()))?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("writing CSV: {e}")))?;
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
            (
                CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.csv\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// MTTA, MTTR, SLA compliance, first-contact resolution and reopen rate per tenant, kind and
/// priority.
#[utoipa::path(
    get,
    path = "/api/v1/reports/service-levels",
    tag = "reports",
    operation_id = "service_levels_report",
    security(("admin" = [])),
    params(
        ReportQuery,
        ("Accept" = Option<String>, Header, description = "`text/csv` asks for CSV when `format` is absent"),
    ),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "MTTA and MTTR (wall and business time), SLA compliance, first-contact resolution and reopen rate per tenant, kind and priority", content(
            (Report<ServiceLevel> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn service_levels(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &caller, query, &headers).await?;
    let rows = kpis::service_levels(&state.store, &request.range, request.now).await?;
    respond("service-levels", &request, to_rows::<_, ServiceLevel>(rows))
}

/// First-contact resolution and reopen rate alone, per tenant, kind and priority (the same
/// numbers as in service levels).
#[utoipa::path(
    get,
    path = "/api/v1/reports/first-contact-resolution",
    tag = "reports",
    operation_id = "first_contact_resolution_report",
    security(("admin" = [])),
    params(
        ReportQuery,
        ("Accept" = Option<String>, Header, description = "`text/csv` asks for CSV when `format` is absent"),
    ),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "First-contact resolution and reopen rate per tenant, kind and priority", content(
            (Report<FirstContactResolution> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn first_contact_resolution(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &caller, query, &headers).await?;
    let rows = kpis::service_levels(&state.store, &request.range, request.now)
        .await?
        .into_iter()
        .map(|r| FirstContactResolution {
            tenant: r.tenant,
            kind: r.kind,
            priority: r.priority,
            resolved: r.resolved,
            first_contact_resolution_percent: r.first_contact_resolution_percent,
            reopen_rate_percent: r.reopen_rate_percent,
        })
        .collect::<Vec<_>>();
    respond("first-contact-resolution", &request, rows)
}

/// Tickets opened per day, week or month (`period`), per tenant.
#[utoipa::path(
    get,
    path = "/api/v1/reports/volume",
    tag = "reports",
    operation_id = "volume_report",
    security(("admin" = [])),
    params(
        ReportQuery,
        ("Accept" = Option<String>, Header, description = "`text/csv` asks for CSV when `format` is absent"),
    ),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "Tickets opened per period: incidents from rules, incidents by people, service requests", content(
            (Report<Volume> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn volume(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &caller, query, &headers).await?;
    let rows = kpis::volume(&state.store, &request.range, request.period).await?;
    respond("volume", &request, to_rows::<_, Volume>(rows))
}

/// Open tickets as of now; `from` and `to` do not apply.
#[utoipa::path(
    get,
    path = "/api/v1/reports/backlog",
    tag = "reports",
    operation_id = "backlog_report",
    security(("admin" = [])),
    params(
        ReportQuery,
        ("Accept" = Option<String>, Header, description = "`text/csv` asks for CSV when `format` is absent"),
    ),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "Open tickets now by tenant, priority and age bucket (`from` and `to` do not apply)", content(
            (Report<Backlog> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn backlog(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &caller, query, &headers).await?;
    let rows = kpis::backlog(&state.store, request.range.scope, request.now).await?;
    respond("backlog", &request, to_rows::<_, Backlog>(rows))
}

/// Incidents opened per class of linked CI.
#[utoipa::path(
    get,
    path = "/api/v1/reports/incidents-per-ci-class",
    tag = "reports",
    operation_id = "incidents_per_ci_class_report",
    security(("admin" = [])),
    params(
        ReportQuery,
        ("Accept" = Option<String>, Header, description = "`text/csv` asks for CSV when `format` is absent"),
    ),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "Incidents opened per class of linked CI", content(
            (Report<IncidentsPerCiClass> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn incidents_per_ci_class(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &caller, query, &headers).await?;
    let rows = state.store.incidents_per_ci_class(&request.range).await?;
    respond(
        "incidents-per-ci-class",
        &request,
        to_rows::<_, IncidentsPerCiClass>(rows),
    )
}

/// Incidents opened per rule, and how many are still open.
#[utoipa::path(
    get,
    path = "/api/v1/reports/incidents-per-rule",
    tag = "reports",
    operation_id = "incidents_per_rule_report",
    security(("admin" = [])),
    params(
        ReportQuery,
        ("Accept" = Option<String>, Header, description = "`text/csv` asks for CSV when `format` is absent"),
    ),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "Incidents opened per rule, and how many are still open", content(
            (Report<IncidentsPerRule> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn incidents_per_rule(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &caller, query, &headers).await?;
    let rows = state.store.incidents_per_rule(&request.range).await?;
    respond(
        "incidents-per-rule",
        &request,
        to_rows::<_, IncidentsPerRule>(rows),
    )
}

/// Satisfaction ratings per tenant: count, average and distribution.
#[utoipa::path(
    get,
    path = "/api/v1/reports/satisfaction",
    tag = "reports",
    operation_id = "satisfaction_report",
    security(("admin" = [])),
    params(
        ReportQuery,
        ("Accept" = Option<String>, Header, description = "`text/csv` asks for CSV when `format` is absent"),
    ),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "Satisfaction ratings per tenant: count, average, distribution", content(
            (Report<Satisfaction> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn satisfaction(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &caller, query, &headers).await?;
    let rows = kpis::satisfaction(&state.store, &request.range).await?;
    respond("satisfaction", &request, to_rows::<_, Satisfaction>(rows))
}
