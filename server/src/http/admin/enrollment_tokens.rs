//! `/api/v1/enrollment-tokens`: create (the secret is shown once), list, revoke.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::super::error::ApiResult;
use super::super::extract::{AdminAuth, ApiJson, ApiQuery};
use super::super::AppState;
use super::{scope, target_tenant};
use crate::store::tokens::{EnrollmentToken, NewEnrollmentToken};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/enrollment-tokens", get(list).post(create))
        .route("/api/v1/enrollment-tokens/{id}", delete(revoke))
}

#[derive(Deserialize)]
struct TenantQuery {
    tenant: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<EnrollmentToken>>> {
    let scope = scope(&state, &principal, q.tenant.as_deref()).await?;
    Ok(Json(state.store.list_enrollment_tokens(scope).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewToken {
    #[serde(default)]
    tenant: Option<String>,
    name: String,
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    max_uses: Option<i64>,
}

#[derive(Serialize)]
struct CreatedToken {
    #[serde(flatten)]
    token: EnrollmentToken,
    /// The secret; it is never shown again.
    secret: String,
}

async fn create(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    ApiJson(new): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let tenant = target_tenant(&state, &principal, new.tenant.as_deref()).await?;
    let site_id = match new.site.as_deref() {
        Some(site) => Some(state.store.ensure_site(tenant, site).await?),
        None => None,
    };
    let (token, secret) = state
        .store
        .create_enrollment_token(
            tenant,
            &NewEnrollmentToken {
                name: new.name,
                site_id,
                expires_at_ms: new.expires_at.map(|t| t.timestamp_millis()),
                max_uses: new.max_uses,
            },
        )
        .await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

async fn revoke(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(id): Path<i64>,
) -> ApiResult<Json<EnrollmentToken>> {
    Ok(Json(
        state
            .store
            .revoke_enrollment_token(principal.scope, id)
            .await?,
    ))
}
