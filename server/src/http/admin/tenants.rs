//! `/api/v1/tenants`

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AdminAuth, ApiJson};
use super::super::AppState;
use crate::store::tenants::Tenant;
use crate::store::TenantScope;

pub fn router() -> Router<AppState> {
    Router::new().route("/api/v1/tenants", get(list).post(create))
}

async fn list(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
) -> ApiResult<Json<Vec<Tenant>>> {
    Ok(Json(state.store.list_tenants(principal.scope).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTenant {
    name: String,
    #[serde(default)]
    display_name: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiJson(new): ApiJson<NewTenant>,
) -> ApiResult<(StatusCode, Json<Tenant>)> {
    if principal.scope != TenantScope::All {
        return Err(ApiError::Forbidden(
            "only an MSP-wide admin token can create tenants".into(),
        ));
    }
    let display = new.display_name.clone().unwrap_or_else(|| new.name.clone());
    match state.store.create_tenant(&new.name, &display).await? {
        Some(tenant) => Ok((StatusCode::CREATED, Json(tenant))),
        None => Err(ApiError::Conflict(format!(
            "tenant {:?} already exists",
            new.name
        ))),
    }
}
