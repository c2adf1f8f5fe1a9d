//! `/api/v1/cis`: the CMDB — list and query (`?q=`), export (CSV/JSON), one CI with its
//! relations, locks, history and past states; edits by people; business services; relations;
//! retirement; software; saved queries and identification reviews.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, BadQuery, Refused};
use super::super::extract::{ApiJson, ApiPath, ApiQuery, Authorized};
use super::super::openapi::one_of;
use super::super::AppState;
use super::{scope, target_tenant, Paging, TenantQuery};
use crate::cmdb::{class, query, relation};
use crate::people::Caller;
use crate::store::ci_admin::{FieldLock, HistoryEntry, InstalledPackage, Review as ReviewRow};
use crate::store::ci_query::{CiQuery, CiQueryError, SavedQuery as SavedQueryRow};
use crate::store::cis::{ConfigurationItem as CiRow, Relation};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(show, edit))
        .routes(routes!(history))
        .routes(routes!(software))
        .routes(routes!(unlock))
        .routes(routes!(relate))
        .routes(routes!(unrelate))
        .routes(routes!(retire))
        .routes(routes!(list_saved, save))
        .routes(routes!(delete_saved))
        .routes(routes!(reviews))
        .routes(routes!(resolve_review))
}

/// A configuration item: a computer, a volume, a service, a business service…
#[derive(Serialize, ToSchema)]
pub struct ConfigurationItem {
    pub id: i64,
    pub tenant_id: i64,
    pub class: String,
    pub name: String,
    /// The computer this CI belongs to (a volume's, a service's).
    pub computer_id: Option<i64>,
    pub status: String,
    /// The CI's attributes, by name.
    pub attributes: Value,
    /// Latest measurements (used bytes, CPU…); not part of the change history.
    pub metrics: Value,
    pub first_seen_at: DateTime<Utc>,
    pub last_seen_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub retired_at: Option<DateTime<Utc>>,
}

impl From<CiRow> for ConfigurationItem {
    fn from(c: CiRow) -> Self {
        ConfigurationItem {
            id: c.id,
            tenant_id: c.tenant_id.0,
            class: c.class,
            name: c.name,
            computer_id: c.computer_id,
            status: c.status,
            attributes: c.attributes,
            metrics: c.metrics,
            first_seen_at: c.first_seen_at,
            last_seen_at: c.last_seen_at,
            updated_at: c.updated_at,
            retired_at: c.retired_at,
        }
    }
}

/// Which end of a relation the CI is (for the document: the field is text).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum RelationDirection {
    /// This CI is the source (e.g. this volume is contained in that computer).
    Outgoing,
    Incoming,
}

/// A relation of a CI to another.
#[derive(Serialize, ToSchema)]
struct CiRelation {
    /// `contained_in`, `runs_on` or `depends_on`.
    kind: String,
    #[schema(value_type = RelationDirection)]
    direction: &'static str,
    /// The CI at the other end.
    ci_id: i64,
    class: String,
    name: String,
}

impl From<Relation> for CiRelation {
    fn from(r: Relation) -> Self {
        CiRelation {
            kind: r.kind,
            direction: r.direction,
            ci_id: r.ci_id,
            class: r.class,
            name: r.name,
        }
    }
}

/// A field set by hand, locked against agent overwrite.
#[derive(Serialize, ToSchema)]
struct Lock {
    field: String,
    value: Value,
    /// What the agent last reported for this field, kept while it is locked.
    agent_value: Option<Value>,
    locked_by: String,
    locked_at: DateTime<Utc>,
}

impl From<FieldLock> for Lock {
    fn from(l: FieldLock) -> Self {
        Lock {
            field: l.field,
            value: l.value,
            agent_value: l.agent_value,
            locked_by: l.locked_by,
            locked_at: l.locked_at,
        }
    }
}

/// One change of a CI: an attribute, a relation or its lifecycle.
#[derive(Serialize, ToSchema)]
struct CiChange {
    at: DateTime<Utc>,
    field: String,
    old_value: Option<Value>,
    new_value: Option<Value>,
    source: String,
}

impl From<HistoryEntry> for CiChange {
    fn from(h: HistoryEntry) -> Self {
        CiChange {
            at: h.at,
            field: h.field,
            old_value: h.old_value,
            new_value: h.new_value,
            source: h.source,
        }
    }
}

/// A software package installed on a computer.
#[derive(Serialize, ToSchema)]
struct Package {
    name: String,
    version: String,
    architecture: String,
    source: String,
    first_seen_at: DateTime<Utc>,
}

impl From<InstalledPackage> for Package {
    fn from(p: InstalledPackage) -> Self {
        Package {
            name: p.name,
            version: p.version,
            architecture: p.architecture,
            source: p.source,
            first_seen_at: p.first_seen_at,
        }
    }
}

/// An identification clash to review (a cloned machine, for example).
#[derive(Serialize, ToSchema)]
struct Review {
    id: i64,
    tenant_id: i64,
    ci_id: i64,
    other_ci_id: Option<i64>,
    kind: String,
    detail: String,
    created_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
}

impl From<ReviewRow> for Review {
    fn from(r: ReviewRow) -> Self {
        Review {
            id: r.id,
            tenant_id: r.tenant_id.0,
            ci_id: r.ci_id,
            other_ci_id: r.other_ci_id,
            kind: r.kind,
            detail: r.detail,
            created_at: r.created_at,
            resolved_at: r.resolved_at,
        }
    }
}

/// An asset query saved under a name for a tenant.
#[derive(Serialize, ToSchema)]
struct SavedQuery {
    id: i64,
    tenant_id: i64,
    name: String,
    query: String,
    created_at: DateTime<Utc>,
}

impl From<SavedQueryRow> for SavedQuery {
    fn from(q: SavedQueryRow) -> Self {
        SavedQuery {
            id: q.id,
            tenant_id: q.tenant_id.0,
            name: q.name,
            query: q.query,
            created_at: q.created_at,
        }
    }
}

/// `json` (default) or `csv` (for the document: the field is text).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)]
enum ListFormat {
    Json,
    Csv,
}

const CI_ID: &str = "The CI's id";

fn manual_class() -> utoipa::openapi::schema::Object {
    one_of(
        "Only `business_service`: the other classes come from agents",
        [class::BUSINESS_SERVICE],
    )
}

fn relation_kind() -> utoipa::openapi::schema::Object {
    one_of(
        "Read as \"this CI KIND the target\"",
        relation::ALL.iter().copied(),
    )
}
const NO_CI: &str = "`not_found`: no such configuration item";

/// Who made a change, for the history.
fn author(caller: &Caller) -> String {
    caller.author()
}

impl From<CiQueryError> for ApiError {
    fn from(err: CiQueryError) -> Self {
        match err {
            CiQueryError::Query(e) => ApiError::BadRequest("query_syntax", e.to_string()),
            CiQueryError::Store(e) => e.into(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// A tenant's name; the caller's own tenants when absent.
    tenant: Option<String>,
    /// Only CIs of this class.
    class: Option<String>,
    /// Only the CIs of this computer.
    computer_id: Option<i64>,
    /// A filter in the asset query language.
    q: Option<String>,
    /// A saved query's name (of the tenant in `tenant`, or the caller's own).
    saved: Option<String>,
    /// A field to sort by, `-` in front for descending.
    sort: Option<String>,
    #[param(value_type = Option<ListFormat>, inline)]
    format: Option<String>,
    include_retired: Option<bool>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

/// List or query configuration items, as JSON or CSV.
#[utoipa::path(
    get,
    path = "/api/v1/cis",
    tag = "cis",
    operation_id = "list_cis",
    security(("admin" = [])),
    params(ListQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The CIs; CSV has fixed columns, then every attribute and `metrics.` key present", content(
            (Vec<ConfigurationItem> = "application/json"),
            (String = "text/csv"),
        )),
        (status = 400, description = "`invalid_query` or `query_syntax`: a bad parameter or asset query", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant or saved query", body = ErrorBody),
        (status = 422, description = "`invalid`: `saved` without a tenant to look it up in", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Response> {
    let scope = scope(&state, &caller, q.tenant.as_deref()).await?;
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
            let tenant = target_tenant(&state, &caller, q.tenant.as_deref()).await?;
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
        "json" => Ok(Json(
            cis.into_iter()
                .map(ConfigurationItem::from)
                .collect::<Vec<_>>(),
        )
        .into_response()),
        "csv" => Ok(csv_response(&cis)?),
        other => Err(ApiError::BadRequest(
            "invalid_query",
            format!("format must be json or csv, not {other:?}"),
        )),
    }
}

/// CSV: fixed columns, then every attribute and measurement key present in the result.
fn csv_response(cis: &[CiRow]) -> ApiResult<Response> {
    let keys = |pick: fn(&CiRow) -> &Value| {
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

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewCi {
    /// Only `business_service`: the other classes come from agents.
    #[schema(schema_with = manual_class)]
    class: String,
    #[schema(pattern = r"\S")]
    name: String,
    #[serde(default)]
    tenant: Option<String>,
    #[serde(default)]
    #[schema(value_type = Object)]
    attributes: Map<String, Value>,
}

/// Create a business service; every other class comes from agents.
#[utoipa::path(
    post,
    path = "/api/v1/cis",
    tag = "cis",
    operation_id = "create_ci",
    security(("admin" = [])),
    request_body = NewCi,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created", body = ConfigurationItem),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(new): ApiJson<NewCi>,
) -> ApiResult<(StatusCode, Json<ConfigurationItem>)> {
    if new.class != class::BUSINESS_SERVICE {
        return Err(ApiError::invalid(format!(
            "only class {:?} can be created by hand; the others come from agents",
            class::BUSINESS_SERVICE
        )));
    }
    let tenant = target_tenant(&state, &caller, new.tenant.as_deref()).await?;
    let ci = state
        .store
        .create_business_service(tenant, &new.name, &new.attributes, &author(&caller))
        .await?;
    Ok((StatusCode::CREATED, Json(ci.into())))
}

/// A CI with its relations and locks (without them when shown as it was at a time).
#[derive(Serialize, ToSchema)]
struct CiDetail {
    #[serde(flatten)]
    ci: ConfigurationItem,
    #[schema(required = false)]
    relations: Vec<CiRelation>,
    #[schema(required = false)]
    locks: Vec<Lock>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ShowQuery {
    /// Show the CI as it was at this time (RFC 3339).
    at: Option<chrono::DateTime<chrono::Utc>>,
}

/// One CI with its relations and locks; `?at=` shows it as it was then.
#[utoipa::path(
    get,
    path = "/api/v1/cis/{id}",
    tag = "cis",
    operation_id = "show_ci",
    security(("admin" = [])),
    params(("id" = i64, Path, description = CI_ID), ShowQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The CI", body = CiDetail),
        (status = 404, description = NO_CI, body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<ShowQuery>,
) -> ApiResult<Response> {
    if let Some(at) = q.at {
        let ci = state
            .store
            .ci_as_of(caller.scope, id, at.timestamp_millis())
            .await
            .map_err(|_| ApiError::NotFound("configuration item not found at that time".into()))?;
        return Ok(Json(ConfigurationItem::from(ci)).into_response());
    }
    let ci = found(state.store.get_ci(caller.scope, id).await)?;
    let relations = state.store.ci_relations(ci.tenant_id, ci.id).await?;
    let locks = state.store.ci_locks(ci.id).await?;
    Ok(Json(CiDetail {
        ci: ci.into(),
        relations: relations.into_iter().map(CiRelation::from).collect(),
        locks: locks.into_iter().map(Lock::from).collect(),
    })
    .into_response())
}

fn found<T>(result: Result<T, crate::store::StoreError>) -> ApiResult<T> {
    result.map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::not_found("configuration item"),
        other => other.into(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Edit {
    /// The fields to set, by name (at least one).
    #[schema(value_type = Object)]
    attributes: Map<String, Value>,
}

/// Set attributes by hand; each edited field is locked against agent overwrite.
#[utoipa::path(
    patch,
    path = "/api/v1/cis/{id}",
    tag = "cis",
    operation_id = "edit_ci",
    security(("admin" = [])),
    params(("id" = i64, Path, description = CI_ID)),
    request_body = Edit,
    responses(
        Refused,
        BadBody,
        (status = 200, description = "The CI as edited", body = ConfigurationItem),
        (status = 404, description = NO_CI, body = ErrorBody),
    )
)]
async fn edit(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(edit): ApiJson<Edit>,
) -> ApiResult<Json<ConfigurationItem>> {
    if edit.attributes.is_empty() {
        return Err(ApiError::invalid("attributes must name at least one field"));
    }
    Ok(Json(
        found(
            state
                .store
                .edit_ci(caller.scope, id, &edit.attributes, &author(&caller))
                .await,
        )?
        .into(),
    ))
}

/// Unlock a field: the agent's value returns.
#[utoipa::path(
    delete,
    path = "/api/v1/cis/{id}/locks/{field}",
    tag = "cis",
    operation_id = "unlock_ci_field",
    security(("admin" = [])),
    params(
        ("id" = i64, Path, description = CI_ID),
        ("field" = String, Path, description = "The locked field (`attributes.` in front is allowed)"),
    ),
    responses(
        Refused,
        (status = 200, description = "The CI with the agent's value back", body = ConfigurationItem),
        (status = 404, description = "`not_found`: no such CI, or no lock on that field", body = ErrorBody),
    )
)]
async fn unlock(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((id, field)): ApiPath<(i64, String)>,
) -> ApiResult<Json<ConfigurationItem>> {
    let field = field
        .strip_prefix("attributes.")
        .unwrap_or(&field)
        .to_string();
    let ci = state
        .store
        .unlock_field(caller.scope, id, &field, &author(&caller))
        .await;
    ci.map(|c| Json(c.into())).map_err(|e| match e {
        crate::store::StoreError::NotFound => {
            ApiError::NotFound(format!("no lock on {field:?} of CI {id}"))
        }
        other => other.into(),
    })
}

/// Every attribute, relation and lifecycle change of a CI.
#[utoipa::path(
    get,
    path = "/api/v1/cis/{id}/history",
    tag = "cis",
    operation_id = "ci_history",
    security(("admin" = [])),
    params(("id" = i64, Path, description = CI_ID)),
    responses(
        Refused,
        (status = 200, description = "The changes", body = Vec<CiChange>),
        (status = 404, description = NO_CI, body = ErrorBody),
    )
)]
async fn history(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<CiChange>>> {
    let changes = found(state.store.ci_history(caller.scope, id).await)?;
    Ok(Json(changes.into_iter().map(CiChange::from).collect()))
}

/// Software installed on a computer.
#[utoipa::path(
    get,
    path = "/api/v1/cis/{id}/software",
    tag = "cis",
    operation_id = "ci_software",
    security(("admin" = [])),
    params(("id" = i64, Path, description = CI_ID)),
    responses(
        Refused,
        (status = 200, description = "The packages", body = Vec<Package>),
        (status = 404, description = NO_CI, body = ErrorBody),
    )
)]
async fn software(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Vec<Package>>> {
    let ci = found(state.store.get_ci(caller.scope, id).await)?;
    let packages = state.store.installed_software(&ci).await?;
    Ok(Json(packages.into_iter().map(Package::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewRelation {
    #[schema(schema_with = relation_kind)]
    kind: String,
    target_id: i64,
}

/// Add a relation from this CI to another.
#[utoipa::path(
    post,
    path = "/api/v1/cis/{id}/relations",
    tag = "cis",
    operation_id = "relate_ci",
    security(("admin" = [])),
    params(("id" = i64, Path, description = CI_ID)),
    request_body = NewRelation,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Added"),
        (status = 200, description = "It was there already"),
        (status = 404, description = "`not_found`: no such CI or target", body = ErrorBody),
    )
)]
async fn relate(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(new): ApiJson<NewRelation>,
) -> ApiResult<StatusCode> {
    let added = found(
        state
            .store
            .add_relation(caller.scope, id, &new.kind, new.target_id, &author(&caller))
            .await,
    )?;
    Ok(if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    })
}

/// Remove a relation.
#[utoipa::path(
    delete,
    path = "/api/v1/cis/{id}/relations/{kind}/{target}",
    tag = "cis",
    operation_id = "unrelate_ci",
    security(("admin" = [])),
    params(
        ("id" = i64, Path, description = CI_ID),
        ("kind" = String, Path, description = "`contained_in`, `runs_on` or `depends_on`"),
        ("target" = i64, Path, description = "The CI at the other end"),
    ),
    responses(
        Refused,
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`: no such relation", body = ErrorBody),
    )
)]
async fn unrelate(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((id, kind, target)): ApiPath<(i64, String, i64)>,
) -> ApiResult<StatusCode> {
    state
        .store
        .remove_relation(caller.scope, id, &kind, target, &author(&caller))
        .await
        .map_err(|_| ApiError::not_found("relation"))?;
    Ok(StatusCode::NO_CONTENT)
}

/// Retire a CI: it is kept, with the date.
#[utoipa::path(
    post,
    path = "/api/v1/cis/{id}/retire",
    tag = "cis",
    operation_id = "retire_ci",
    security(("admin" = [])),
    params(("id" = i64, Path, description = CI_ID)),
    responses(
        Refused,
        (status = 200, description = "The retired CI", body = ConfigurationItem),
        (status = 404, description = NO_CI, body = ErrorBody),
    )
)]
async fn retire(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ConfigurationItem>> {
    let ci = state
        .store
        .retire_ci(caller.scope, id, &author(&caller))
        .await;
    Ok(Json(found(ci)?.into()))
}

/// Saved asset queries.
#[utoipa::path(
    get,
    path = "/api/v1/saved-queries",
    tag = "cis",
    operation_id = "list_saved_queries",
    security(("admin" = [])),
    params(TenantQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The saved queries", body = Vec<SavedQuery>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn list_saved(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<SavedQuery>>> {
    let scope = scope(&state, &caller, q.tenant.as_deref()).await?;
    let saved = state.store.list_saved_queries(scope).await?;
    Ok(Json(saved.into_iter().map(SavedQuery::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewSaved {
    #[serde(default)]
    tenant: Option<String>,
    name: String,
    query: String,
}

/// Save an asset query for a tenant.
#[utoipa::path(
    post,
    path = "/api/v1/saved-queries",
    tag = "cis",
    operation_id = "save_query",
    security(("admin" = [])),
    request_body = NewSaved,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Saved", body = SavedQuery),
        (status = 400, description = "`query_syntax`: the query does not parse", body = ErrorBody),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorBody),
    )
)]
async fn save(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(new): ApiJson<NewSaved>,
) -> ApiResult<(StatusCode, Json<SavedQuery>)> {
    let tenant = target_tenant(&state, &caller, new.tenant.as_deref()).await?;
    Ok((
        StatusCode::CREATED,
        Json(
            state
                .store
                .save_query(tenant, &new.name, &new.query)
                .await?
                .into(),
        ),
    ))
}

/// Delete a saved query.
#[utoipa::path(
    delete,
    path = "/api/v1/saved-queries/{id}",
    tag = "cis",
    operation_id = "delete_saved_query",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The saved query's id")),
    responses(
        Refused,
        (status = 204, description = "Deleted"),
        (status = 404, description = "`not_found`: no such saved query", body = ErrorBody),
    )
)]
async fn delete_saved(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    state
        .store
        .delete_saved_query(caller.scope, id)
        .await
        .map_err(|_| ApiError::not_found("saved query"))?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct ReviewQuery {
    /// A tenant's name; the caller's own tenants when absent.
    tenant: Option<String>,
    /// Include resolved reviews.
    all: Option<bool>,
}

/// Identification clashes to review (cloned machines).
#[utoipa::path(
    get,
    path = "/api/v1/ci-reviews",
    tag = "cis",
    operation_id = "list_ci_reviews",
    security(("admin" = [])),
    params(ReviewQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The reviews", body = Vec<Review>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn reviews(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<ReviewQuery>,
) -> ApiResult<Json<Vec<Review>>> {
    let scope = scope(&state, &caller, q.tenant.as_deref()).await?;
    let open_only = !q.all.unwrap_or(false);
    let reviews = state.store.list_reviews(scope, open_only).await?;
    Ok(Json(reviews.into_iter().map(Review::from).collect()))
}

/// Mark a review done.
#[utoipa::path(
    post,
    path = "/api/v1/ci-reviews/{id}/resolve",
    tag = "cis",
    operation_id = "resolve_ci_review",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The review's id")),
    responses(
        Refused,
        (status = 204, description = "Resolved"),
        (status = 404, description = "`not_found`: no such review", body = ErrorBody),
    )
)]
async fn resolve_review(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    state
        .store
        .resolve_review(caller.scope, id)
        .await
        .map_err(|_| ApiError::not_found("review"))?;
    Ok(StatusCode::NO_CONTENT)
}
