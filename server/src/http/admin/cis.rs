//! `/api/v1/cis`: the CMDB — list and query (`?q=`), export (CSV/JSON), one CI with its
//! relations, locks, history and past states; edits by people; business services; relations;
//! retirement; software; saved queries and identification reviews.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AdminAuth, ApiJson, ApiQuery};
use super::super::AppState;
use super::{scope, target_tenant, Paging};
use crate::cmdb::{class, query};
use crate::store::ci_admin::{FieldLock, HistoryEntry, InstalledPackage, Review};
use crate::store::ci_query::{CiQuery, CiQueryError, SavedQuery};
use crate::store::cis::{ConfigurationItem, Relation};
use crate::store::tokens::ApiPrincipal;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/cis", get(list).post(create))
        .route("/api/v1/cis/{id}", get(show).patch(edit))
        .route("/api/v1/cis/{id}/history", get(history))
        .route("/api/v1/cis/{id}/software", get(software))
        .route("/api/v1/cis/{id}/locks/{field}", delete(unlock))
        .route("/api/v1/cis/{id}/relations", post(relate))
        .route(
            "/api/v1/cis/{id}/relations/{kind}/{target}",
            delete(unrelate),
        )
        .route("/api/v1/cis/{id}/retire", post(retire))
        .route("/api/v1/saved-queries", get(list_saved).post(save))
        .route("/api/v1/saved-queries/{id}", delete(delete_saved))
        .route("/api/v1/ci-reviews", get(reviews))
        .route("/api/v1/ci-reviews/{id}/resolve", post(resolve_review))
}

/// Who made a change, for the history: the admin token's id.
fn author(principal: &ApiPrincipal) -> String {
    format!("api_token:{}", principal.token_id)
}

impl From<CiQueryError> for ApiError {
    fn from(err: CiQueryError) -> Self {
        match err {
            CiQueryError::Query(e) => ApiError::BadRequest("query_syntax", e.to_string()),
            CiQueryError::Store(e) => e.into(),
        }
    }
}

#[derive(Deserialize)]
struct ListQuery {
    tenant: Option<String>,
    class: Option<String>,
    computer_id: Option<i64>,
    /// A filter in the asset query language.
    q: Option<String>,
    /// A saved query's name (of the tenant in `tenant`, or the caller's own).
    saved: Option<String>,
    sort: Option<String>,
    /// `json` (default) or `csv`.
    format: Option<String>,
    include_retired: Option<bool>,
    limit: Option<i64>,
    offset: Option<i64>,
}

async fn list(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let scope = scope(&state, &principal, q.tenant.as_deref()).await?;
    let (limit, offset) = Paging {
        limit: q.limit,
        offset: q.offset,
    }
    .resolve()?;
    let text = match (&q.q, &q.saved) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "invalid_query",
                "give q or saved, not both".into(),
            ))
        }
        (Some(text), None) => Some(text.clone()),
        (None, Some(name)) => {
            let tenant = target_tenant(&state, &principal, q.tenant.as_deref()).await?;
            let saved = state
                .store
                .saved_query(tenant, name)
                .await
                .map_err(|_| ApiError::NotFound(format!("saved query {name:?} not found")))?;
            Some(saved.query)
        }
        (None, None) => None,
    };
    let filter = text
        .as_deref()
        .map(query::parse)
        .transpose()
        .map_err(CiQueryError::from)?;
    let sort = q
        .sort
        .as_deref()
        .map(query::Sort::parse)
        .transpose()
        .map_err(CiQueryError::from)?
        .flatten();
    let request = CiQuery {
        class: q.class,
        computer_id: q.computer_id,
        filter,
        sort,
        include_retired: q.include_retired.unwrap_or(false),
        limit,
        offset,
    };
    let cis = state.store.query_cis(scope, &request).await?;
    match q.format.as_deref().unwrap_or("json") {
        "json" => Ok(Json(cis).into_response()),
        "csv" => Ok(csv_response(&cis)?),
        other => Err(ApiError::BadRequest(
            "invalid_query",
            format!("format must be json or csv, not {other:?}"),
        )),
    }
}

/// CSV: fixed columns, then every attribute and measurement key present in the result.
fn csv_response(cis: &[ConfigurationItem]) -> ApiResult<Response> {
    let keys = |pick: fn(&ConfigurationItem) -> &Value| {
        let mut keys: Vec<String> = cis
            .iter()
            .filter_map(|c| pick(c).as_object())
            .flat_map(|m| m.keys().cloned())
            .collect();
        keys.sort();
        keys.dedup();
        keys
    };
    let attributes = keys(|c| &c.attributes);
    let metrics = keys(|c| &c.metrics);
    let mut writer = csv::Writer::from_writer(Vec::new());
    let mut header = vec![
        "id",
        "tenant_id",
        "class",
        "name",
        "status",
        "computer_id",
        "last_seen_at",
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    header.extend(attributes.iter().cloned());
    header.extend(metrics.iter().map(|k| format!("metrics.{k}")));
    let fail = |e: csv::Error| ApiError::Internal(e.into());
    writer.write_record(&header).map_err(fail)?;
    let cell = |v: Option<&Value>| match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    for ci in cis {
        let mut row = vec![
            ci.id.to_string(),
            ci.tenant_id.0.to_string(),
            ci.class.clone(),
            ci.name.clone(),
            ci.status.clone(),
            ci.computer_id.map(|c| c.to_string()).unwrap_or_default(),
            ci.last_seen_at.to_rfc3339(),
        ];
        row.extend(attributes.iter().map(|k| cell(ci.attributes.get(k))));
        row.extend(metrics.iter().map(|k| cell(ci.metrics.get(k))));
        writer.write_record(&row).map_err(fail)?;
    }
    let body = writer
        .into_inner()
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("csv: {e}")))?;
    Ok(([(header::CONTENT_TYPE, "text/csv; charset=utf-8")], body).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewCi {
    class: String,
    name: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    attributes: Map<String, Value>,
}

/// People create business services; everything else comes from agents.
async fn create(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiJson(new): ApiJson<NewCi>,
) -> ApiResult<(StatusCode, Json<ConfigurationItem>)> {
    if new.class != class::BUSINESS_SERVICE {
        return Err(ApiError::invalid(format!(
            "only class {:?} can be created by hand; the others come from agents",
            class::BUSINESS_SERVICE
        )));
    }
    let tenant = target_tenant(&state, &principal, new.tenant.as_deref()).await?;
    let ci = state
        .store
        .create_business_service(tenant, &new.name, &new.attributes, &author(&principal))
        .await?;
    Ok((StatusCode::CREATED, Json(ci)))
}

#[derive(Serialize)]
struct CiDetail {
    #[serde(flatten)]
    ci: ConfigurationItem,
    relations: Vec<Relation>,
    locks: Vec<FieldLock>,
}

#[derive(Deserialize)]
struct ShowQuery {
    /// Show the CI as it was at this time (RFC 3339).
    at: Option<chrono::DateTime<chrono::Utc>>,
}

async fn show(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
    ApiQuery(q): ApiQuery<ShowQuery>,
) -> ApiResult<Response> {
    if let Some(at) = q.at {
        let ci = state
            .store
            .ci_as_of(principal.scope, id, at.timestamp_millis())
            .await
            .map_err(|_| ApiError::NotFound("configuration item not found at that time".into()))?;
        return Ok(Json(ci).into_response());
    }
    let ci = found(state.store.get_ci(principal.scope, id).await)?;
    let relations = state.store.ci_relations(ci.tenant_id, ci.id).await?;
    let locks = state.store.ci_locks(ci.id).await?;
    Ok(Json(CiDetail {
        ci,
        relations,
        locks,
    })
    .into_response())
}

fn found<T>(result: Result<T, crate::store::StoreError>) -> ApiResult<T> {
    result.map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::not_found("configuration item"),
        other => other.into(),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Edit {
    attributes: Map<String, Value>,
}

/// Set attributes by hand; each edited field is locked against agent overwrite.
async fn edit(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
    ApiJson(edit): ApiJson<Edit>,
) -> ApiResult<Json<ConfigurationItem>> {
    if edit.attributes.is_empty() {
        return Err(ApiError::invalid("attributes must name at least one field"));
    }
    Ok(Json(found(
        state
            .store
            .edit_ci(principal.scope, id, &edit.attributes, &author(&principal))
            .await,
    )?))
}

async fn unlock(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path((id, field)): Path<(i64, String)>,
) -> ApiResult<Json<ConfigurationItem>> {
    let field = field
        .strip_prefix("attributes.")
        .unwrap_or(&field)
        .to_string();
    let ci = state
        .store
        .unlock_field(principal.scope, id, &field, &author(&principal))
        .await;
    ci.map(Json).map_err(|e| match e {
        crate::store::StoreError::NotFound => {
            ApiError::NotFound(format!("no lock on {field:?} of CI {id}"))
        }
        other => other.into(),
    })
}

async fn history(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<HistoryEntry>>> {
    Ok(Json(found(
        state.store.ci_history(principal.scope, id).await,
    )?))
}

async fn software(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<InstalledPackage>>> {
    let ci = found(state.store.get_ci(principal.scope, id).await)?;
    Ok(Json(state.store.installed_software(&ci).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRelation {
    kind: String,
    target_id: i64,
}

async fn relate(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
    ApiJson(new): ApiJson<NewRelation>,
) -> ApiResult<StatusCode> {
    let added = found(
        state
            .store
            .add_relation(
                principal.scope,
                id,
                &new.kind,
                new.target_id,
                &author(&principal),
            )
            .await,
    )?;
    Ok(if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

async fn unrelate(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path((id, kind, target)): Path<(i64, String, i64)>,
) -> ApiResult<StatusCode> {
    state
        .store
        .remove_relation(principal.scope, id, &kind, target, &author(&principal))
        .await
        .map_err(|_| ApiError::not_found("relation"))?;
    Ok(StatusCode::NO_CONTENT)
}

async fn retire(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<ConfigurationItem>> {
    Ok(Json(found(
        state
            .store
            .retire_ci(principal.scope, id, &author(&principal))
            .await,
    )?))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn list_saved(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<SavedQuery>>> {
    let scope = scope(&state, &principal, q.tenant.as_deref()).await?;
    Ok(Json(state.store.list_saved_queries(scope).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSaved {
    #[serde(default)]
    tenant: Option<String>,
    name: String,
    query: String,
}

async fn save(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiJson(new): ApiJson<NewSaved>,
) -> ApiResult<(StatusCode, Json<SavedQuery>)> {
    let tenant = target_tenant(&state, &principal, new.tenant.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .save_query(tenant, &new.name, &new.query)
                .await?,
        ),
    ))
}

async fn delete_saved(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_saved_query(principal.scope, id)
        .await
        .map_err(|_| ApiError::not_found("saved query"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
struct ReviewQuery {
    tenant: Option<String>,
    /// Include resolved reviews.
    all: Option<bool>,
}

async fn reviews(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> ApiResult<Json<Vec<Review>>> {
    let scope = scope(&state, &principal, q.tenant.as_deref()).await?;
    Ok(Json(
        state
            .store
            .list_reviews(scope, !q.all.unwrap_or(false))
            .await?,
    ))
}

async fn resolve_review(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<StatusCode> {
    state
        .store
        .resolve_review(principal.scope, id)
        .await
        .map_err(|_| ApiError::not_found("review"))?;
    Ok(StatusCode::NO_CONTENT)
}
