//! What each route needs of its caller — the one table of it — and the check that enforces it
//! before any handler runs. A route is public, an agent's, open to anyone signed in, or needs a
//! [`Permission`] the caller's role has ([`crate::people::Role::allows`]). A route missing from
//! the table is refused (and `tests/suite/access.rs` fails: it checks every route of the router
//! against this table, for every role).
//!
//! A caller is a bearer token (`Authorization: Bearer …`) or a session cookie; a session's
//! unsafe requests also carry its CSRF token (`X-CSRF-Token`), which another site's page cannot
//! know. The caller found is put in the request for the handler ([`super::extract::Authorized`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::{HeaderMap, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ApiResult};
use super::extract::bearer;
use super::AppState;
use crate::people::sessions::{self, COOKIE as SESSION_COOKIE};
use crate::people::{tokens, Caller, Credential, Permission};
use crate::store::now_ms;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: health, metrics, the API document, sign-in, satisfaction links (their signed token
    /// is in the path), enrollment (its token is in the body).
    Public,
    /// An enrolled agent (its credential is checked by [`super::extract::AgentAuth`]).
    Agent,
    /// Anyone signed in, whatever their role: their own profile, sessions and tokens.
    SignedIn,
    Needs(Permission),
}

use Access::{Agent, Needs, Public, SignedIn};
use Permission::*;

/// Every route, by method and path template, with what it needs.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("get", "/healthz", Public),
    ("get", "/readyz", Public),
    ("get", "/metrics", Public),
    ("get", "/api/v1/openapi.json", Public),
    ("get", "/satisfaction/{token}", Public),
    ("post", "/satisfaction/{token}", Public),
    // Agents.
    ("post", "/api/v1/agent/enroll", Public),
    ("get", "/api/v1/agent/config", Agent),
    ("post", "/api/v1/agent/report", Agent),
    // Signing in, and one's own sessions, tokens and password.
    ("post", "/api/v1/sessions", Public),
    ("post", "/api/v1/password-resets", Public),
    ("post", "/api/v1/password-resets/{token}", Public),
    ("get", "/password/{token}", Public),
    ("post", "/password/{token}", Public),
    ("get", "/api/v1/sessions", SignedIn),
    ("delete", "/api/v1/sessions/{id}", SignedIn),
    ("get", "/api/v1/me", SignedIn),
    ("put", "/api/v1/me/password", SignedIn),
    ("post", "/api/v1/me/totp", SignedIn),
    ("post", "/api/v1/me/totp/confirm", SignedIn),
    ("delete", "/api/v1/me/totp", SignedIn),
    ("get", "/api/v1/security-policy", Needs(ManagePeople)),
    ("put", "/api/v1/security-policy", Needs(ManagePeople)),
    (
        "get",
        "/api/v1/tenants/{name}/security-policy",
        Needs(ManagePeople),
    ),
    (
        "put",
        "/api/v1/tenants/{name}/security-policy",
        Needs(ManagePeople),
    ),
    ("get", "/api/v1/api-tokens", SignedIn),
    ("post", "/api/v1/api-tokens", SignedIn),
    ("delete", "/api/v1/api-tokens/{id}", SignedIn),
    // People and the audit log.
    ("get", "/api/v1/users", Needs(ManagePeople)),
    ("post", "/api/v1/users", Needs(ManagePeople)),
    ("get", "/api/v1/users/{id}", Needs(ManagePeople)),
    ("patch", "/api/v1/users/{id}", Needs(ManagePeople)),
    (
        "put",
        "/api/v1/users/{id}/memberships/{tenant}",
        Needs(ManagePeople),
    ),
    (
        "delete",
        "/api/v1/users/{id}/memberships/{tenant}",
        Needs(ManagePeople),
    ),
    ("post", "/api/v1/users/{id}/invitation", Needs(ManagePeople)),
    ("get", "/api/v1/audit", Needs(ReadAudit)),
    // Tenants.
    ("get", "/api/v1/tenants", Needs(ReadDesk)),
    ("post", "/api/v1/tenants", Needs(ManageTenants)),
    // The fleet and its agents' configuration.
    ("get", "/api/v1/agents", Needs(ReadCmdb)),
    ("delete", "/api/v1/agents/{id}", Needs(ConfigureMonitoring)),
    (
        "get",
        "/api/v1/enrollment-tokens",
        Needs(ConfigureMonitoring),
    ),
    (
        "post",
        "/api/v1/enrollment-tokens",
        Needs(ConfigureMonitoring),
    ),
    (
        "delete",
        "/api/v1/enrollment-tokens/{id}",
        Needs(ConfigureMonitoring),
    ),
    (
        "get",
        "/api/v1/tenants/{name}/agent-config",
        Needs(ConfigureMonitoring),
    ),
    (
        "put",
        "/api/v1/tenants/{name}/agent-config",
        Needs(ConfigureMonitoring),
    ),
    (
        "get",
        "/api/v1/agents/{id}/agent-config",
        Needs(ConfigureMonitoring),
    ),
    (
        "put",
        "/api/v1/agents/{id}/agent-config",
        Needs(ConfigureMonitoring),
    ),
    (
        "delete",
        "/api/v1/agents/{id}/agent-config",
        Needs(ConfigureMonitoring),
    ),
    // The CMDB.
    ("get", "/api/v1/cis", Needs(ReadCmdb)),
    ("post", "/api/v1/cis", Needs(ConfigureMonitoring)),
    ("get", "/api/v1/cis/{id}", Needs(ReadCmdb)),
    ("patch", "/api/v1/cis/{id}", Needs(ConfigureMonitoring)),
    (
        "delete",
        "/api/v1/cis/{id}/locks/{field}",
        Needs(ConfigureMonitoring),
    ),
    ("get", "/api/v1/cis/{id}/history", Needs(ReadCmdb)),
    ("get", "/api/v1/cis/{id}/software", Needs(ReadCmdb)),
    ("get", "/api/v1/cis/{id}/alerts", Needs(ReadCmdb)),
    (
        "post",
        "/api/v1/cis/{id}/relations",
        Needs(ConfigureMonitoring),
    ),
    (
        "delete",
        "/api/v1/cis/{id}/relations/{kind}/{target}",
        Needs(ConfigureMonitoring),
    ),
    (
        "post",
        "/api/v1/cis/{id}/retire",
        Needs(ConfigureMonitoring),
    ),
    ("get", "/api/v1/saved-queries", Needs(ReadCmdb)),
    ("post", "/api/v1/saved-queries", Needs(WorkDesk)),
    ("delete", "/api/v1/saved-queries/{id}", Needs(WorkDesk)),
    ("get", "/api/v1/ci-reviews", Needs(ReadCmdb)),
    (
        "post",
        "/api/v1/ci-reviews/{id}/resolve",
        Needs(ConfigureMonitoring),
    ),
    // Rules and what silences them.
    ("get", "/api/v1/rules", Needs(ReadCmdb)),
    ("post", "/api/v1/rules", Needs(ConfigureMonitoring)),
    ("get", "/api/v1/rules/{id}", Needs(ReadCmdb)),
    ("put", "/api/v1/rules/{id}", Needs(ConfigureMonitoring)),
    ("delete", "/api/v1/rules/{id}", Needs(ConfigureMonitoring)),
    ("get", "/api/v1/rule-metrics", Needs(ReadCmdb)),
    ("get", "/api/v1/maintenance-windows", Needs(ReadCmdb)),
    (
        "post",
        "/api/v1/maintenance-windows",
        Needs(ManageSuppressions),
    ),
    (
        "delete",
        "/api/v1/maintenance-windows/{id}",
        Needs(ManageSuppressions),
    ),
    ("get", "/api/v1/silences", Needs(ReadCmdb)),
    ("post", "/api/v1/silences", Needs(ManageSuppressions)),
    ("delete", "/api/v1/silences/{id}", Needs(ManageSuppressions)),
    // The desk: incidents and requests alike.
    ("get", "/api/v1/incidents", Needs(ReadDesk)),
    ("post", "/api/v1/incidents", Needs(WorkDesk)),
    ("get", "/api/v1/incidents/{id}", Needs(ReadDesk)),
    ("patch", "/api/v1/incidents/{id}", Needs(WorkDesk)),
    (
        "post",
        "/api/v1/incidents/{id}/transitions",
        Needs(WorkDesk),
    ),
    ("post", "/api/v1/incidents/{id}/comments", Needs(WorkDesk)),
    ("post", "/api/v1/incidents/{id}/assign", Needs(WorkDesk)),
    ("post", "/api/v1/incidents/{id}/escalate", Needs(WorkDesk)),
    ("post", "/api/v1/incidents/{id}/cis", Needs(WorkDesk)),
    ("get", "/api/v1/requests", Needs(ReadDesk)),
    ("post", "/api/v1/requests", Needs(WorkDesk)),
    ("get", "/api/v1/requests/{id}", Needs(ReadDesk)),
    ("patch", "/api/v1/requests/{id}", Needs(WorkDesk)),
    ("post", "/api/v1/requests/{id}/transitions", Needs(WorkDesk)),
    ("post", "/api/v1/requests/{id}/comments", Needs(WorkDesk)),
    ("post", "/api/v1/requests/{id}/assign", Needs(WorkDesk)),
    ("post", "/api/v1/requests/{id}/escalate", Needs(WorkDesk)),
    ("post", "/api/v1/requests/{id}/cis", Needs(WorkDesk)),
    // How the desk works: plans, groups, notifications.
    (
        "get",
        "/api/v1/tenants/{name}/support-plan",
        Needs(ReadDesk),
    ),
    (
        "put",
        "/api/v1/tenants/{name}/support-plan",
        Needs(ConfigureDesk),
    ),
    (
        "get",
        "/api/v1/tenants/{name}/support-plan/history",
        Needs(ReadDesk),
    ),
    ("get", "/api/v1/assignment-groups", Needs(ReadDesk)),
    ("post", "/api/v1/assignment-groups", Needs(ConfigureDesk)),
    (
        "get",
        "/api/v1/assignment-groups/{name}/members",
        Needs(ReadDesk),
    ),
    (
        "put",
        "/api/v1/assignment-groups/{name}/members/{id}",
        Needs(ConfigureDesk),
    ),
    (
        "delete",
        "/api/v1/assignment-groups/{name}/members/{id}",
        Needs(ConfigureDesk),
    ),
    (
        "get",
        "/api/v1/tenants/{name}/notification-channels",
        Needs(ConfigureDesk),
    ),
    (
        "post",
        "/api/v1/tenants/{name}/notification-channels",
        Needs(ConfigureDesk),
    ),
    ("get", "/api/v1/tenants/{name}/outbox", Needs(ConfigureDesk)),
    (
        "get",
        "/api/v1/tenants/{name}/notification-templates",
        Needs(ConfigureDesk),
    ),
    (
        "get",
        "/api/v1/tenants/{name}/notification-templates/{event}",
        Needs(ConfigureDesk),
    ),
    (
        "put",
        "/api/v1/tenants/{name}/notification-templates/{event}",
        Needs(ConfigureDesk),
    ),
    (
        "delete",
        "/api/v1/tenants/{name}/notification-templates/{event}",
        Needs(ConfigureDesk),
    ),
    // Reports.
    ("get", "/api/v1/reports/service-levels", Needs(ReadDesk)),
    (
        "get",
        "/api/v1/reports/first-contact-resolution",
        Needs(ReadDesk),
    ),
    ("get", "/api/v1/reports/volume", Needs(ReadDesk)),
    ("get", "/api/v1/reports/backlog", Needs(ReadDesk)),
    (
        "get",
        "/api/v1/reports/incidents-per-ci-class",
        Needs(ReadDesk),
    ),
    ("get", "/api/v1/reports/incidents-per-rule", Needs(ReadDesk)),
    ("get", "/api/v1/reports/satisfaction", Needs(ReadDesk)),
];

/// What someone the policy requires a second factor of, and who has none yet, may do: see who
/// they are, set it up, sign out.
const SECOND_FACTOR_SETUP: &[(&str, &str)] = &[
    ("GET", "/api/v1/me"),
    ("POST", "/api/v1/me/totp"),
    ("POST", "/api/v1/me/totp/confirm"),
    ("GET", "/api/v1/sessions"),
    ("DELETE", "/api/v1/sessions/{id}"),
];

/// What the route `method path` needs; `None` for a route not in the table.
pub fn access(method: &Method, path: &str) -> Option<Access> {
    static TABLE: OnceLock<HashMap<(String, &'static str), Access>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        ROUTES
            .iter()
            .map(|(m, p, a)| ((m.to_string(), *p), *a))
            .collect()
    });
    table
        .get(&(method.as_str().to_ascii_lowercase(), path))
        .copied()
}

/// The check every routed request passes before its handler (a `route_layer`, so the matched
/// route is known).
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let method = request.method().clone();
    match caller_for(&state, &method, route.as_deref(), request.headers()).await {
        Ok(Some(caller)) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Ok(None) => next.run(request).await,
        Err(refusal) => refusal.into_response(),
    }
}

async fn caller_for(
    state: &AppState,
    method: &Method,
    route: Option<&str>,
    headers: &HeaderMap,
) -> ApiResult<Option<Caller>> {
    let Some(route) = route else {
        return Ok(None);
    };
    let Some(access) = access(method, route) else {
        tracing::error!(route, %method, "a route without an access rule");
        return Err(ApiError::Forbidden(
            "this route declares no permission, so nobody may call it".into(),
        ));
    };
    let needs = match access {
        Access::Public | Access::Agent => return Ok(None),
        Access::SignedIn => None,
        Access::Needs(permission) => Some(permission),
    };
    let caller = authenticate(state, headers, now_ms()).await?;
    if let Some(permission) = needs {
        if !caller.allows(permission) {
            return Err(ApiError::Forbidden(format!(
                "a {} may not {} (permission {permission:?})",
                caller.role.as_str(),
                permission.describe()
            )));
        }
    }
    if caller.user.as_ref().is_some_and(|u| u.must_set_up_totp())
        && !SECOND_FACTOR_SETUP.contains(&(method.as_str(), route))
    {
        return Err(ApiError::SecondFactorSetup(
            "a second factor is required for this account: set it up first (POST /api/v1/me/totp, \
             then POST /api/v1/me/totp/confirm with a code)"
                .into(),
        ));
    }
    if let Credential::Session { csrf, .. } = &caller.credential {
        let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
        let presented = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if !safe && presented != Some(csrf.as_str()) {
            return Err(ApiError::CsrfToken(
                "a signed-in browser's change must carry its X-CSRF-Token (from GET /api/v1/me)"
                    .into(),
            ));
        }
    }
    Ok(Some(caller))
}

/// The caller a request's credential stands for: its bearer token, else its session cookie.
pub async fn authenticate(state: &AppState, headers: &HeaderMap, now: i64) -> ApiResult<Caller> {
    if headers.contains_key(AUTHORIZATION) {
        let token = bearer(headers)?;
        return match tokens::authenticate(&state.store, token, now).await? {
            Ok(caller) => Ok(caller),
            Err(refusal) => {
                tracing::warn!(?refusal, "refused an API token");
                Err(ApiError::Unauthorized(
                    "invalid_token",
                    refusal.message().into(),
                ))
            }
        };
    }
    let Some(secret) = session_cookie(headers) else {
        return Err(ApiError::Unauthorized(
            "missing_token",
            "Authorization: Bearer <token> (or a signed-in session) is required".into(),
        ));
    };
    match sessions::resolve(&state.store, &secret, now).await? {
        Some((session, user)) => Ok(Caller::signed_in(
            user,
            session.id,
            sessions::csrf_token(&secret),
        )),
        None => Err(ApiError::Unauthorized(
            "session_ended",
            "the session has ended (signed out, expired or revoked); sign in again".into(),
        )),
    }
}

/// The session secret in the request's cookies, if any.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_string())
}
