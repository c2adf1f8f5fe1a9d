//! `/api/v1/tenants/{name}/notification-templates[/{event}]`: a tenant's email wording per
//! event. PUT checks that the template parses and renders (422 with the reason when not);
//! DELETE goes back to the built-in default.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{AdminAuth, ApiJson};
use super::super::AppState;
use super::support_plans::tenant;
use crate::notify::templates::{self, Template, EVENTS};
use crate::notify::tenant_templates::{self, EventTemplate};
use crate::store::now_ms;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/tenants/{name}/notification-templates", get(list))
        .route(
            "/api/v1/tenants/{name}/notification-templates/{event}",
            get(show).put(replace).delete(remove),
        )
}

fn known_event(event: &str) -> ApiResult<()> {
    if EVENTS.contains(&event) {
        Ok(())
    } else {
        Err(ApiError::NotFound(format!(
            "no event {event:?}; events are {}",
            EVENTS.join(", ")
        )))
    }
}

async fn list(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<EventTemplate>>> {
    let tenant = tenant(&state, &principal, &name).await?;
    Ok(Json(
        tenant_templates::in_force(&state.store, tenant).await?,
    ))
}

async fn show(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path((name, event)): Path<(String, String)>,
) -> ApiResult<Json<EventTemplate>> {
    let tenant = tenant(&state, &principal, &name).await?;
    known_event(&event)?;
    let all = tenant_templates::in_force(&state.store, tenant).await?;
    all.into_iter()
        .find(|t| t.event == event)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("template"))
}

async fn replace(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path((name, event)): Path<(String, String)>,
    ApiJson(template): ApiJson<Template>,
) -> ApiResult<Json<EventTemplate>> {
    let tenant = tenant(&state, &principal, &name).await?;
    known_event(&event)?;
    templates::validate(&event, &template)
        .map_err(|e| ApiError::Unprocessable("invalid_template", e))?;
    let actor = state.store.actor_name(principal.token_id).await?;
    Ok(Json(
        tenant_templates::save(&state.store, tenant, &event, &template, &actor, now_ms()).await?,
    ))
}

async fn remove(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path((name, event)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = tenant(&state, &principal, &name).await?;
    known_event(&event)?;
    tenant_templates::reset(&state.store, tenant, &event)
        .await
        .map_err(|e| match e {
            crate::store::StoreError::NotFound => ApiError::NotFound(format!(
                "tenant {name:?} has no template of its own for {event:?}"
            )),
            other => other.into(),
        })?;
    Ok(StatusCode::NO_CONTENT)
}
