//! `/api/v1/reports/…`: the desk's KPIs as JSON (`{"from", "to", "rows": […]}`) or CSV
//! (`?format=csv` or `Accept: text/csv`), filtered by `from`, `to` (RFC 3339 times or dates;
//! the last 30 days by default) and `tenant`, within the caller's tenants.

use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AdminAuth, ApiQuery};
use super::super::AppState;
use super::scope;
use crate::desk::kpis::{self, Period};
use crate::store::kpis::ReportRange;
use crate::store::{now_ms, to_time};

const DEFAULT_DAYS: i64 = 30;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/reports/service-levels", get(service_levels))
        .route("/api/v1/reports/volume", get(volume))
        .route("/api/v1/reports/backlog", get(backlog))
        .route(
            "/api/v1/reports/first-contact-resolution",
            get(first_contact_resolution),
        )
        .route(
            "/api/v1/reports/incidents-per-ci-class",
            get(incidents_per_ci_class),
        )
        .route(
            "/api/v1/reports/incidents-per-rule",
            get(incidents_per_rule),
        )
        .route("/api/v1/reports/satisfaction", get(satisfaction))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    from: Option<String>,
    to: Option<String>,
    tenant: Option<String>,
    format: Option<String>,
    /// Volume only: `day` (default), `week` or `month`.
    period: Option<Period>,
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
    principal: &crate::store::tokens::ApiPrincipal,
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
    let scope = scope(state, principal, query.tenant.as_deref()).await?;
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

async fn service_levels(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &principal, query, &headers).await?;
    let rows = kpis::service_levels(&state.store, &request.range, request.now).await?;
    respond("service-levels", &request, rows)
}

/// First-contact resolution and reopen rate alone, per tenant, kind and priority (the same
/// numbers as in service levels).
async fn first_contact_resolution(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    #[derive(Serialize)]
    struct Row {
        tenant: String,
        kind: &'static str,
        priority: i64,
        resolved: i64,
        first_contact_resolution_percent: Option<f64>,
        reopen_rate_percent: Option<f64>,
    }
    let request = resolve(&state, &principal, query, &headers).await?;
    let rows = kpis::service_levels(&state.store, &request.range, request.now)
        .await?
        .into_iter()
        .map(|r| Row {
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

async fn volume(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &principal, query, &headers).await?;
    let rows = kpis::volume(&state.store, &request.range, request.period).await?;
    respond("volume", &request, rows)
}

/// Open tickets as of now; `from` and `to` do not apply.
async fn backlog(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &principal, query, &headers).await?;
    let rows = kpis::backlog(&state.store, request.range.scope, request.now).await?;
    respond("backlog", &request, rows)
}

async fn incidents_per_ci_class(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &principal, query, &headers).await?;
    let rows = state.store.incidents_per_ci_class(&request.range).await?;
    respond("incidents-per-ci-class", &request, rows)
}

async fn incidents_per_rule(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &principal, query, &headers).await?;
    let rows = state.store.incidents_per_rule(&request.range).await?;
    respond("incidents-per-rule", &request, rows)
}

async fn satisfaction(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    headers: HeaderMap,
    ApiQuery(query): ApiQuery<ReportQuery>,
) -> ApiResult<Response> {
    let request = resolve(&state, &principal, query, &headers).await?;
    let rows = kpis::satisfaction(&state.store, &request.range).await?;
    respond("satisfaction", &request, rows)
}
