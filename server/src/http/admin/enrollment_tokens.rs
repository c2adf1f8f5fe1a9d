//! `/api/v1/enrollment-tokens`: create (the secret is shown once), list, revoke.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiResult, BadBody, BadQuery, Refused};
use super::super::extract::{ApiJson, ApiPath, ApiQuery, Authorized};
use super::super::AppState;
use super::{scope, target_tenant, TenantQuery};
use crate::store::tokens::{EnrollmentToken as TokenRow, NewEnrollmentToken};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(revoke))
}

/// A tenant's enrollment token (without its secret).
#[derive(Serialize, ToSchema)]
pub struct EnrollmentToken {
    pub id: i64,
    pub tenant_id: i64,
    /// The site new agents join.
    pub site_id: Option<i64>,
    pub name: String,
    pub expires_at: Option<DateTime<Utc>>,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<TokenRow> for EnrollmentToken {
    fn from(t: TokenRow) -> Self {
        EnrollmentToken {
            id: t.id,
            tenant_id: t.tenant_id.0,
            site_id: t.site_id,
            name: t.name,
            expires_at: t.expires_at,
            max_uses: t.max_uses,
            uses: t.uses,
            created_at: t.created_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// Enrollment tokens.
#[utoipa::path(
    get,
    path = "/api/v1/enrollment-tokens",
    tag = "enrollment-tokens",
    operation_id = "list_enrollment_tokens",
    security(("admin" = [])),
    params(TenantQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The tokens", body = Vec<EnrollmentToken>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<EnrollmentToken>>> {
    let scope = scope(&state, &caller, q.tenant.as_deref()).await?;
    let tokens = state.store.list_enrollment_tokens(scope).await?;
    Ok(Json(
        tokens.into_iter().map(EnrollmentToken::from).collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewToken {
    /// The tenant's name; required for an MSP-wide token.
    #[serde(default)]
    tenant: Option<String>,
    name: String,
    /// The site new agents join (created when new).
    #[serde(default)]
    site: Option<String>,
    #[serde(default)]
    expires_at: Option<DateTime<Utc>>,
    #[serde(default)]
    max_uses: Option<i64>,
}

/// A token with its secret, shown this once.
#[derive(Serialize, ToSchema)]
struct CreatedToken {
    #[serde(flatten)]
    token: EnrollmentToken,
    /// The secret; it is never shown again.
    secret: String,
}

/// Create an enrollment token; the answer is the only time its secret is shown.
#[utoipa::path(
    post,
    path = "/api/v1/enrollment-tokens",
    tag = "enrollment-tokens",
    operation_id = "create_enrollment_token",
    security(("admin" = [])),
    request_body = NewToken,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created", body = CreatedToken),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(new): ApiJson<NewToken>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let tenant = target_tenant(&state, &caller, new.tenant.as_deref()).await?;
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
    let token = token.into();
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Revoke an enrollment token: agents can no longer enroll with it.
#[utoipa::path(
    delete,
    path = "/api/v1/enrollment-tokens/{id}",
    tag = "enrollment-tokens",
    operation_id = "revoke_enrollment_token",
    security(("admin" = [])),
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        Refused,
        (status = 200, description = "Revoked", body = EnrollmentToken),
        (status = 404, description = "`not_found`: no such token", body = ErrorBody),
    )
)]
async fn revoke(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<EnrollmentToken>> {
    Ok(Json(
        state
            .store
            .revoke_enrollment_token(caller.scope, id)
            .await?
            .into(),
    ))
}
