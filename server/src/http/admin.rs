//! Admin resources under `/api/v1/…`, authenticated with an admin token.

mod agent_config;
mod agents;
mod audit;
mod cis;
mod enrollment_tokens;
mod group_members;
mod incidents;
mod kpis;
mod notification_templates;
mod notifications;
mod requests;
mod rules;
mod security_policy;
mod support_plans;
mod suppressions;
mod tenants;
mod ticket_routes;
mod ticket_views;
mod tickets;
mod users;

use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;

use super::error::{ApiError, ApiResult};
use super::AppState;
use crate::audit::{self as audit_log, Record};
use crate::people::{users as people, Caller, User};
use crate::store::now_ms;
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
        .merge(users::router())
        .merge(audit::router())
        .merge(security_policy::router())
        .merge(group_members::router())
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
    caller: &Caller,
    tenant: Option<&str>,
) -> ApiResult<TenantScope> {
    match tenant {
        None => Ok(caller.scope),
        Some(name) => {
            let tenant = state
                .store
                .tenant_by_name(caller.scope, name)
                .await
                .map_err(|_| ApiError::NotFound(format!("tenant {name:?} not found")))?;
            Ok(TenantScope::Tenant(tenant.id))
        }
    }
}

/// The single tenant a write goes to: named in the request, or the caller's own tenant.
pub async fn target_tenant(
    state: &AppState,
    caller: &Caller,
    tenant: Option<&str>,
) -> ApiResult<TenantId> {
    match scope(state, caller, tenant).await? {
        TenantScope::Tenant(id) => Ok(id),
        TenantScope::All | TenantScope::Members(_) => Err(ApiError::invalid(
            "name the tenant (\"tenant\": \"<name>\")",
        )),
    }
}

/// A person the caller manages: anyone for an MSP-wide admin; within one tenant (a customer
/// admin, a tenant-bound token), its own people. Anybody else is "not found", as for any object
/// out of scope.
pub async fn managed_user(state: &AppState, caller: &Caller, id: i64) -> ApiResult<User> {
    let user = people::get(&state.store, id).await.map_err(|e| match e {
        crate::store::StoreError::NotFound => ApiError::not_found("user"),
        other => other.into(),
    })?;
    let reached = match caller.scope {
        TenantScope::All => true,
        TenantScope::Tenant(t) => user.tenant_id == Some(t),
        TenantScope::Members(_) => false,
    };
    if reached {
        Ok(user)
    } else {
        Err(ApiError::not_found("user"))
    }
}

/// A change made through the API, for the audit log.
pub struct Audited {
    pub tenant: Option<TenantId>,
    /// `object_kind.verb`, e.g. `user.created`.
    pub action: &'static str,
    pub object_kind: &'static str,
    pub object_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

/// Append a change the API made to the audit log, as the caller's.
pub async fn audit_change(state: &AppState, caller: &Caller, change: Audited) -> ApiResult<()> {
    let actor = caller.audit_actor();
    let mut conn = state
        .store
        .pool()
        .acquire()
        .await
        .map_err(crate::store::StoreError::from)?;
    audit_log::record(
        &mut conn,
        &Record {
            at: now_ms(),
            tenant: change.tenant,
            actor: &actor,
            action: change.action.to_string(),
            object_kind: change.object_kind,
            object_id: change.object_id,
            before: change.before.as_ref(),
            after: change.after.as_ref(),
        },
    )
    .await?;
    Ok(())
}
