//! The audit trail of the API's other changes: every successful POST, PUT, PATCH or DELETE by
//! a person or token — to CIs, rules, suppressions, plans, groups, notification settings,
//! agent configs, enrollment tokens, agents, tenants, sessions and tokens — appends an entry
//! with the caller, the action (`rule.updated`, `ci.retire`, …), the object, what it is now (the
//! response, secrets blanked), the request id and the client's address.
//!
//! Tickets are left to the lifecycle core, which records each change with its before and after
//! inside the change's own transaction ([`crate::desk::reactions`]); users and memberships to
//! their handlers, which know the before ([`super::admin::audit_change`]).
//!
//! Every response carries `X-Request-Id` (the caller's, if it sent a sane one), the id the
//! audit entry and the log line share.

use axum::body::{to_bytes, Body};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, Method};
use axum::middleware::Next;
use axum::response::Response;
use serde_json::Value;

use super::AppState;
use crate::audit::{self, Record};
use crate::people::Caller;
use crate::store::{now_ms, TenantId, TenantScope};

pub const REQUEST_ID: &str = "x-request-id";
/// A response larger than this is recorded without its body.
const MAX_RECORDED: usize = 256 * 1024;

/// Routes whose changes are recorded by their owner, with more than the trail knows.
fn recorded_by_owner(route: &str) -> bool {
    route.starts_with("/api/v1/incidents")
        || route.starts_with("/api/v1/requests")
        || route.starts_with("/api/v1/users")
        || route == "/api/v1/me/password"
        || route == "/api/v1/sessions"
        || route.ends_with("/security-policy")
        || route.starts_with("/api/v1/assignment-groups/{name}/members")
}

pub async fn record(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let request_id = request_id(&request);
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let caller = request.extensions().get::<Caller>().cloned();
    let address = request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string());
    let path = request.uri().path().to_string();
    let mut response = next.run(request).await;
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let unsafe_method = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let (Some(route), Some(caller)) = (route, caller) else {
        return response;
    };
    if !unsafe_method || !response.status().is_success() || recorded_by_owner(&route) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match to_bytes(body, MAX_RECORDED).await {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::error!(error = %e, route, "a response could not be read for the audit log");
            return Response::from_parts(parts, Body::empty());
        }
    };
    let mut after: Option<Value> = serde_json::from_slice(&bytes).ok();
    if let Some(value) = after.as_mut() {
        blank_secrets(value);
    }
    let entry = Entry::of(&method, &route, &path, after.as_ref());
    let tenant = match entry.tenant_name {
        Some(name) => state
            .store
            .tenant_by_name(TenantScope::All, &name)
            .await
            .ok()
            .map(|t| t.id),
        None => None,
    }
    .or_else(|| after.as_ref().and_then(tenant_of))
    .or(caller.scope.single());
    let actor = caller.audit_actor();
    let written = async {
        let mut conn = state.store.pool().acquire().await?;
        audit::record_with_request(
            &mut conn,
            &Record {
                at: now_ms(),
                tenant,
                actor: &actor,
                action: entry.action,
                object_kind: &entry.object_kind,
                object_id: entry.object_id,
                before: None,
                after: after.as_ref(),
            },
            Some(&request_id),
            address.as_deref(),
        )
        .await
    }
    .await;
    if let Err(e) = written {
        tracing::error!(error = %e, route, request_id, "an API change could not be added to the audit log");
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn request_id(request: &Request) -> String {
    request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| {
            (1..=128).contains(&id.len())
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c))
        })
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string())
}

/// Secrets shown once in a response (a new token's, an enrollment token's) never reach the log.
fn blank_secrets(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                let secret = key.contains("secret")
                    || key.contains("password")
                    || key.contains("otpauth")
                    || key == "token";
                if secret && v.is_string() {
                    *v = Value::String("(not recorded)".into());
                } else {
                    blank_secrets(v);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(blank_secrets),
        _ => {}
    }
}

fn tenant_of(after: &Value) -> Option<TenantId> {
    after.get("tenant_id").and_then(Value::as_i64).map(TenantId)
}

/// What the trail says of a change, from its route.
#[derive(Debug, PartialEq, Eq)]
struct Entry {
    action: String,
    object_kind: String,
    object_id: String,
    /// The tenant a `/tenants/{name}/…` route names.
    tenant_name: Option<String>,
}

impl Entry {
    /// `POST /api/v1/rules` → `rule.created`; `PUT /api/v1/tenants/acme/support-plan` →
    /// `support_plan.updated` of `acme`; `POST /api/v1/cis/7/retire` → `ci.retire` of 7.
    fn of(method: &Method, route: &str, path: &str, after: Option<&Value>) -> Entry {
        let template: Vec<&str> = route.trim_start_matches("/api/v1/").split('/').collect();
        let values: Vec<&str> = path.trim_start_matches("/api/v1/").split('/').collect();
        let is_param = |s: &str| s.starts_with('{');
        let mut tenant_name = None;
        let mut kind = template[0];
        let mut object_id = None;
        let mut verb = None;
        for (i, segment) in template.iter().enumerate().skip(1) {
            let value = values.get(i).copied().unwrap_or("");
            if is_param(segment) {
                if i == 1 && kind == "tenants" && template.len() > 2 {
                    tenant_name = Some(value.to_string());
                } else if object_id.is_none() {
                    object_id = Some(value.to_string());
                }
            } else if kind == "tenants" && i == 2 {
                kind = segment;
                object_id = tenant_name.clone();
            } else {
                verb = Some(*segment);
            }
        }
        // A trailing word is a command (`retire`) or a part of the object (`relations`,
        // `agent-config`): added, updated or deleted.
        let verb = verb.map(|word| {
            let part = singular(word);
            match *method {
                Method::POST if word.ends_with('s') => format!("{part}_added"),
                Method::POST => part,
                Method::DELETE => format!("{part}_deleted"),
                _ => format!("{part}_updated"),
            }
        });
        let verb = verb.unwrap_or_else(|| {
            match *method {
                Method::POST => "created",
                Method::DELETE => "deleted",
                _ => "updated",
            }
            .to_string()
        });
        let object_id = object_id
            .or_else(|| after.and_then(|a| a.get("id")).map(|id| id.to_string()))
            .or_else(|| {
                after
                    .and_then(|a| a.get("token"))
                    .and_then(|t| t.get("id"))
                    .map(|id| id.to_string())
            })
            .unwrap_or_default();
        let object_kind = singular(kind);
        Entry {
            action: format!("{object_kind}.{verb}"),
            object_kind,
            object_id,
            tenant_name,
        }
    }
}

/// `maintenance-windows` → `maintenance_window`, `cis` → `ci`, `saved-queries` →
/// `saved_query`, `support-plan` → `support_plan`.
fn singular(plural: &str) -> String {
    let word = plural.replace('-', "_");
    if let Some(stem) = word.strip_suffix("ies") {
        format!("{stem}y")
    } else if word.ends_with("sses") || word.ends_with("ches") {
        word[..word.len() - 2].to_string()
    } else if let Some(stem) = word.strip_suffix('s') {
        stem.to_string()
    } else {
        word
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(
        method: Method,
        route: &str,
        path: &str,
        after: Option<Value>,
    ) -> (String, String, String, Option<String>) {
        let e = Entry::of(&method, route, path, after.as_ref());
        (e.action, e.object_kind, e.object_id, e.tenant_name)
    }

    #[test]
    fn routes_name_their_action_and_object() {
        assert_eq!(
            entry(
                Method::POST,
                "/api/v1/rules",
                "/api/v1/rules",
                Some(json!({"id": 12}))
            ),
            ("rule.created".into(), "rule".into(), "12".into(), None)
        );
        assert_eq!(
            entry(
                Method::PUT,
                "/api/v1/tenants/{name}/support-plan",
                "/api/v1/tenants/acme/support-plan",
                None
            ),
            (
                "support_plan.updated".into(),
                "support_plan".into(),
                "acme".into(),
                Some("acme".into())
            )
        );
        assert_eq!(
            entry(
                Method::POST,
                "/api/v1/cis/{id}/retire",
                "/api/v1/cis/7/retire",
                None
            ),
            ("ci.retire".into(), "ci".into(), "7".into(), None)
        );
        assert_eq!(
            entry(
                Method::DELETE,
                "/api/v1/maintenance-windows/{id}",
                "/api/v1/maintenance-windows/3",
                None
            )
            .0,
            "maintenance_window.deleted"
        );
        assert_eq!(
            entry(
                Method::DELETE,
                "/api/v1/tenants/{name}/notification-templates/{event}",
                "/api/v1/tenants/acme/notification-templates/opened",
                None
            ),
            (
                "notification_template.deleted".into(),
                "notification_template".into(),
                "acme".into(),
                Some("acme".into())
            )
        );
        assert_eq!(
            entry(
                Method::POST,
                "/api/v1/api-tokens",
                "/api/v1/api-tokens",
                Some(json!({"token": {"id": 5}, "secret": "x"}))
            ),
            (
                "api_token.created".into(),
                "api_token".into(),
                "5".into(),
                None
            )
        );
        assert_eq!(
            entry(
                Method::POST,
                "/api/v1/cis/{id}/relations",
                "/api/v1/cis/7/relations",
                None
            )
            .0,
            "ci.relation_added"
        );
        assert_eq!(
            entry(
                Method::PUT,
                "/api/v1/agents/{id}/agent-config",
                "/api/v1/agents/a1/agent-config",
                None
            ),
            (
                "agent.agent_config_updated".into(),
                "agent".into(),
                "a1".into(),
                None
            )
        );
        assert_eq!(singular("saved-queries"), "saved_query");
        assert_eq!(singular("silences"), "silence");
        assert_eq!(singular("cis"), "ci");
    }

    #[test]
    fn secrets_are_blanked_wherever_they_are() {
        let mut v = json!({"token": {"id": 1, "name": "bot"}, "secret": "atl_x",
                           "items": [{"password": "p"}], "token_hash": 3});
        blank_secrets(&mut v);
        assert_eq!(v["secret"], "(not recorded)");
        assert_eq!(v["items"][0]["password"], "(not recorded)");
        assert_eq!(v["token"]["name"], "bot", "an object named token is kept");
        assert_eq!(v["token_hash"], 3);
    }
}
