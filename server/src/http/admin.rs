//! Admin resources under `/api/v1/…`, authenticated with an admin token.

mod agent_config;
mod agents;
mod cis;
mod enrollment_tokens;
mod incidents;
mod kpis;
mod notification_templates;
mod notifications;
mod requests;
mod rules;
mod support_plans;
mod suppressions;
mod tenants;
mod ticket_routes;
mod ticket_views;
mod tickets;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::store::tokens::ApiPrincipal;
use crate::store::{TenantId, TenantScope};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(tenants::router())
        .merge(enrollment_tokens::router())
        .merge(agents::router())
        .merge(agent_config::router())
        .merge(cis::router())
        .merge(incidents::router())
        .merge(rules::router())
        .merge(suppressions::router())
        .merge(requests::router())
        .merge(support_plans::router())
        .merge(notifications::router())
        .merge(notification_templates::router())
        .merge(kpis::router())
}

/// `?tenant=NAME`: narrow a list to one of the caller's tenants.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TenantQuery {
    /// A tenant's name; the caller's own tenants when absent.
    pub tenant: Option<String>,
}

/// Paging shared by every list: `?limit=` (1-1000, default 100) and `?offset=`.
#[derive(Debug)]
pub struct Paging {
    pub limit: Option<i64>,
    pub offset: Option<i64>,
}

impl Paging {
    pub fn resolve(&self) -> ApiResult<(i64, i64)> {
        let limit = self.limit.unwrap_or(100);
        let offset = self.offset.unwrap_or(0);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::BadRequest(
                "invalid_query",
                "limit must be between 1 and 1000".into(),
            ));
        }
        if offset < 0 {
            return Err(ApiError::BadRequest(
                "invalid_query",
                "offset must not be negative".into(),
            ));
        }
        Ok((limit, offset))
    }
}

/// The scope of a request: the caller's own, narrowed to `?tenant=NAME` when given.
pub async fn scope(
    state: &AppState,
    principal: &ApiPrincipal,
    tenant: Option<&str>,
) -> ApiResult<TenantScope> {
    match tenant {
        None => Ok(principal.scope),
        Some(name) => {
            let tenant = state
                .store
                .tenant_by_name(principal.scope, name)
                .await
                .map_err(|_| ApiError::NotFound(format!("tenant {name:?} not found")))?;
            Ok(TenantScope::Tenant(tenant.id))
        }
    }
}

/// The single tenant a write goes to: named in the request, or the caller's own tenant.
pub async fn target_tenant(
    state: &AppState,
    principal: &ApiPrincipal,
    tenant: Option<&str>,
) -> ApiResult<TenantId> {
    match scope(state, principal, tenant).await? {
        TenantScope::Tenant(id) => Ok(id),
        TenantScope::All => Err(ApiError::invalid(
            "name the tenant (\"tenant\": \"<name>\")",
        )),
    }
}
