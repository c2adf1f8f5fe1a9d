//! `/api/v1/audit`: the audit log, newest first, filtered and paged, as JSON or CSV — for MSP
//! admins and auditors (everything) and customer admins (their tenant's entries).

use axum::extract::State;
use axum::http::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadQuery, Refused};
use super::super::extract::{ApiQuery, Authorized};
use super::super::AppState;
use crate::audit::{self, Entry, MAX_PAGE};
use crate::store::audit_log::AuditFilter;
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// A tenant's name; every entry the caller may read when absent.
    tenant: Option<String>,
    /// Who made the change, as the log names them (an email, a token's name, `rule`, `sla`, …).
    actor: Option<String>,
    /// `KIND` or `KIND:ID`, e.g. `incident` or `incident:42`.
    object: Option<String>,
    /// From this instant (RFC 3339), inclusive.
    from: Option<chrono::DateTime<chrono::Utc>>,
    /// Until this instant (RFC 3339), exclusive.
    to: Option<chrono::DateTime<chrono::Utc>>,
    /// Entries older than the entry with this id (the next page: the last id of this one).
    before_id: Option<i64>,
    /// 1-1000, default 100.
    limit: Option<i64>,
    /// `json` (default) or `csv`.
    format: Option<String>,
}

/// One audit entry.
#[derive(Serialize, ToSchema)]
struct AuditEntry {
    id: i64,
    at: chrono::DateTime<chrono::Utc>,
    tenant_id: Option<i64>,
    /// `user`, `token`, `agent` or `system`.
    actor_kind: String,
    actor_id: Option<i64>,
    actor: String,
    action: String,
    object_kind: String,
    object_id: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
    request_id: Option<String>,
    client_address: Option<String>,
}

impl From<Entry> for AuditEntry {
    fn from(e: Entry) -> Self {
        AuditEntry {
            id: e.id,
            at: e.at,
            tenant_id: e.tenant_id,
            actor_kind: e.actor_kind,
            actor_id: e.actor_id,
            actor: e.actor,
            action: e.action,
            object_kind: e.object_kind,
            object_id: e.object_id,
            before: e.before,
            after: e.after,
            request_id: e.request_id,
            client_address: e.client_address,
        }
    }
}

/// The audit log: who changed what, when and from where; newest first. Append-only: nothing in
/// the API edits or deletes an entry.
#[utoipa::path(
    get,
    path = "/api/v1/audit",
    tag = "people",
    operation_id = "audit_log",
    security(("admin" = []), ("session" = [])),
    params(AuditQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The entries, newest first (`format=csv`: as CSV)",
         content((Vec<AuditEntry> = "application/json"), (String = "text/csv"))),
        (status = 404, description = "`not_found`: no such tenant reached", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(query): ApiQuery<AuditQuery>,
) -> ApiResult<Response> {
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::BadRequest(
                "invalid_query",
                format!("format must be json or csv, not {other:?}"),
            ))
        }
    };
    let limit = query.limit.unwrap_or(100);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::BadRequest(
            "invalid_query",
            format!("limit must be between 1 and {MAX_PAGE}"),
        ));
    }
    let (object_kind, object_id) = match query.object.as_deref() {
        None => (None, None),
        Some(object) => match object.split_once(':') {
            Some((kind, id)) => (Some(kind.to_string()), Some(id.to_string())),
            None => (Some(object.to_string()), None),
        },
    };
    let scope = super::scope(&state, &caller, query.tenant.as_deref()).await?;
    let filter = AuditFilter {
        actor_name: query.actor,
        object_kind,
        object_id,
        from: query.from.map(|t| t.timestamp_millis()),
        to: query.to.map(|t| t.timestamp_millis()),
        before_id: query.before_id,
        limit,
    };
    let entries = audit::entries(&state.store, scope, &filter).await?;
    let entries: Vec<AuditEntry> = entries.into_iter().map(AuditEntry::from).collect();
    if !csv {
        return Ok(Json(entries).into_response());
    }
    Ok((
        [
            (CONTENT_TYPE, "text/csv; charset=utf-8"),
            (CONTENT_DISPOSITION, "attachment; filename=\"audit.csv\""),
        ],
        as_csv(&entries)?,
    )
        .into_response())
}

fn as_csv(entries: &[AuditEntry]) -> ApiResult<String> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let internal = |e: csv::Error| ApiError::Internal(e.into());
    out.write_record([
        "id",
        "at",
        "tenant_id",
        "actor_kind",
        "actor_id",
        "actor",
        "action",
        "object_kind",
        "object_id",
        "before",
        "after",
        "request_id",
        "client_address",
    ])
    .map_err(internal)?;
    let text =
        |v: &Option<serde_json::Value>| v.as_ref().map(|v| v.to_string()).unwrap_or_default();
    let opt = |v: Option<i64>| v.map(|v| v.to_string()).unwrap_or_default();
    for e in entries {
        out.write_record([
            e.id.to_string(),
            e.at.to_rfc3339(),
            opt(e.tenant_id),
            e.actor_kind.clone(),
            opt(e.actor_id),
            // A spreadsheet runs a cell that starts with = + - @ as a formula: quote it out.
            defuse(&e.actor),
            e.action.clone(),
            e.object_kind.clone(),
            defuse(&e.object_id),
            defuse(&text(&e.before)),
            defuse(&text(&e.after)),
            e.request_id.clone().unwrap_or_default(),
            e.client_address.clone().unwrap_or_default(),
        ])
        .map_err(internal)?;
    }
    let bytes = out
        .into_inner()
        .map_err(|e| ApiError::Internal(e.into_error().into()))?;
    String::from_utf8(bytes).map_err(|e| ApiError::Internal(e.into()))
}

/// A cell that a spreadsheet would read as a formula, prefixed with `'` (OWASP's CSV injection
/// advice).
fn defuse(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}
