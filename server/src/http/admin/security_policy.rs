//! `/api/v1/security-policy` (the MSP's own people) and `/api/v1/tenants/{name}/security-policy`
//! (a tenant's): whether their people must sign in with a second factor. Turning it on applies
//! at once: whoever has none can then only set one up.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, Refused};
use super::super::extract::{ApiJson, ApiPath, Authorized};
use super::super::AppState;
use super::{audit_change, target_tenant, Audited};
use crate::store::TenantScope;
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(msp_policy, set_msp_policy))
        .routes(routes!(tenant_policy, set_tenant_policy))
}

#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct SecurityPolicy {
    /// People must sign in with a second factor (TOTP).
    require_totp: bool,
}

fn msp_wide(caller: &crate::people::Caller) -> ApiResult<()> {
    if caller.scope == TenantScope::All {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "the MSP's own policy is an MSP-wide admin's to set".into(),
        ))
    }
}

/// The MSP's own people: whether they need a second factor.
#[utoipa::path(
    get,
    path = "/api/v1/security-policy",
    tag = "people",
    operation_id = "msp_security_policy",
    security(("admin" = []), ("session" = [])),
    responses(Refused, (status = 200, description = "The policy", body = SecurityPolicy))
)]
async fn msp_policy(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
) -> ApiResult<Json<SecurityPolicy>> {
    msp_wide(&caller)?;
    Ok(Json(SecurityPolicy {
        require_totp: state.store.msp_requires_totp().await?,
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/security-policy",
    tag = "people",
    operation_id = "set_msp_security_policy",
    security(("admin" = []), ("session" = [])),
    request_body = SecurityPolicy,
    responses(Refused, BadBody, (status = 200, description = "The policy as set", body = SecurityPolicy))
)]
async fn set_msp_policy(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(policy): ApiJson<SecurityPolicy>,
) -> ApiResult<Json<SecurityPolicy>> {
    msp_wide(&caller)?;
    state
        .store
        .set_totp_policy(None, policy.require_totp)
        .await?;
    let change = Audited {
        tenant: None,
        action: "security_policy.updated",
        object_kind: "security_policy",
        object_id: "msp".into(),
        before: None,
        after: Some(serde_json::json!({"require_totp": policy.require_totp})),
    };
    audit_change(&state, &caller, change).await?;
    Ok(Json(policy))
}

/// A tenant's people: whether they need a second factor.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{name}/security-policy",
    tag = "people",
    operation_id = "tenant_security_policy",
    security(("admin" = []), ("session" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    responses(
        Refused,
        (status = 200, description = "The policy", body = SecurityPolicy),
        (status = 404, description = "`not_found`: no such tenant reached", body = ErrorBody),
    )
)]
async fn tenant_policy(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<SecurityPolicy>> {
    let tenant = target_tenant(&state, &caller, Some(&name)).await?;
    Ok(Json(SecurityPolicy {
        require_totp: state.store.tenant_requires_totp(tenant).await?,
    }))
}

#[utoipa::path(
    put,
    path = "/api/v1/tenants/{name}/security-policy",
    tag = "people",
    operation_id = "set_tenant_security_policy",
    security(("admin" = []), ("session" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    request_body = SecurityPolicy,
    responses(
        Refused,
        BadBody,
        (status = 200, description = "The policy as set", body = SecurityPolicy),
        (status = 404, description = "`not_found`: no such tenant reached", body = ErrorBody),
    )
)]
async fn set_tenant_policy(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
    ApiJson(policy): ApiJson<SecurityPolicy>,
) -> ApiResult<Json<SecurityPolicy>> {
    let tenant = target_tenant(&state, &caller, Some(&name)).await?;
    state
        .store
        .set_totp_policy(Some(tenant), policy.require_totp)
        .await?;
    let change = Audited {
        tenant: Some(tenant),
        action: "security_policy.updated",
        object_kind: "security_policy",
        object_id: name,
        before: None,
        after: Some(serde_json::json!({"require_totp": policy.require_totp})),
    };
    audit_change(&state, &caller, change).await?;
    Ok(Json(policy))
}
