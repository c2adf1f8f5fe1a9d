//! `/api/v1/tenants`

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, Refused};
use super::super::extract::{ApiJson, Authorized};
use super::super::AppState;
use crate::store::tenants::Tenant as TenantRow;
use crate::store::TenantScope;
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list, create))
}

/// A customer of the MSP.
#[derive(Serialize, ToSchema)]
pub struct Tenant {
    pub id: i64,
    /// The name used in paths and `?tenant=`.
    pub name: String,
    pub display_name: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl From<TenantRow> for Tenant {
    fn from(t: TenantRow) -> Self {
        Tenant {
            id: t.id.0,
            name: t.name,
            display_name: t.display_name,
            created_at: t.created_at,
        }
    }
}

/// The caller's tenants (all of them for an MSP-wide token).
#[utoipa::path(
    get,
    path = "/api/v1/tenants",
    tag = "tenants",
    operation_id = "list_tenants",
    security(("admin" = [])),
    responses(
        Refused,
        (status = 200, description = "The tenants", body = Vec<Tenant>),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
) -> ApiResult<Json<Vec<Tenant>>> {
    let tenants = state.store.list_tenants(caller.scope).await?;
    Ok(Json(tenants.into_iter().map(Tenant::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    /// A short slug used in URLs and filters.
    #[schema(pattern = "^[a-z0-9_][a-z0-9_-]{0,62}$")]
    name: String,
    /// The name shown to people; `name` when absent.
    #[serde(default)]
    display_name: Option<String>,
}

/// Create a tenant (MSP-wide tokens only).
#[utoipa::path(
    post,
    path = "/api/v1/tenants",
    tag = "tenants",
    operation_id = "create_tenant",
    security(("admin" = [])),
    request_body = NewTenant,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created", body = Tenant),
        (status = 403, description = "`forbidden`: not an MSP-wide token", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(new): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    if caller.scope != TenantScope::All {
        return Err(ApiError::Forbidden(
            "only an MSP-wide admin token can create tenants".into(),
        ));
    }
    let display = new.display_name.clone().unwrap_or_else(|| new.name.clone());
    match state.store.create_tenant(&new.name, &display).await? {
        Some(tenant) => Ok((StatusCode::CREATED, Json(tenant.into()))),
        None => Err(ApiError::Conflict(format!(
            "tenant {:?} already exists",
            new.name
        ))),
    }
}
