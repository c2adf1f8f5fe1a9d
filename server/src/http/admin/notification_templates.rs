//! `/api/v1/tenants/{name}/notification-templates[/{event}]`: a tenant's email wording per
//! event. PUT checks that the template parses and renders (422 with the reason when not);
//! DELETE goes back to the built-in default.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, Refused};
use super::super::extract::{ApiJson, ApiPath, Authorized};
use super::super::AppState;
use super::support_plans::tenant;
use crate::notify::templates::{self, Template, EVENTS};
use crate::notify::tenant_templates::{self, EventTemplate as TemplateRow};
use crate::store::now_ms;
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(show, replace, remove))
}

/// The email template in force for one event.
#[derive(Serialize, ToSchema)]
pub struct EventTemplate {
    pub event: String,
    /// False: the built-in default.
    pub custom: bool,
    /// The subject line (minijinja).
    pub subject: String,
    /// The body (minijinja).
    pub body: String,
    pub updated_by: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<TemplateRow> for EventTemplate {
    fn from(t: TemplateRow) -> Self {
        EventTemplate {
            event: t.event,
            custom: t.custom,
            subject: t.template.subject,
            body: t.template.body,
            updated_by: t.updated_by,
            updated_at: t.updated_at,
        }
    }
}

/// A tenant's own wording for an event, in minijinja.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TemplateBody {
    subject: String,
    body: String,
}

const EVENT: &str = "The event: opened, escalated, resolved, sla_warning, sla_breach or digest";
const NOT_FOUND: &str = "`not_found`: no such tenant or event";

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

/// Every event's email template in force for the tenant (custom or built in).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{name}/notification-templates",
    tag = "notifications",
    operation_id = "list_notification_templates",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    responses(
        Refused,
        (status = 200, description = "The templates", body = Vec<EventTemplate>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<EventTemplate>>> {
    let tenant = tenant(&state, &caller, &name).await?;
    let all = tenant_templates::in_force(&state.store, tenant).await?;
    Ok(Json(all.into_iter().map(EventTemplate::from).collect()))
}

/// The template in force for one event.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{name}/notification-templates/{event}",
    tag = "notifications",
    operation_id = "show_notification_template",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name"),
        ("event" = String, Path, description = EVENT)),
    responses(
        Refused,
        (status = 200, description = "The template", body = EventTemplate),
        (status = 404, description = NOT_FOUND, body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((name, event)): ApiPath<(String, String)>,
) -> ApiResult<Json<EventTemplate>> {
    let tenant = tenant(&state, &caller, &name).await?;
    known_event(&event)?;
    let all = tenant_templates::in_force(&state.store, tenant).await?;
    all.into_iter()
        .find(|t| t.event == event)
        .map(|t| Json(t.into()))
        .ok_or_else(|| ApiError::not_found("template"))
}

/// Set the tenant's own template; refused with the reason when it does not render.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{name}/notification-templates/{event}",
    tag = "notifications",
    operation_id = "replace_notification_template",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name"),
        ("event" = String, Path, description = EVENT)),
    request_body = TemplateBody,
    responses(
        Refused,
        BadBody,
        (status = 200, description = "The template as saved", body = EventTemplate),
        (status = 404, description = NOT_FOUND, body = ErrorBody),
        (status = 422, description = "`invalid_template`: the template does not parse or render, with the reason", body = ErrorBody),
    )
)]
async fn replace(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((name, event)): ApiPath<(String, String)>,
    ApiJson(body): ApiJson<TemplateBody>,
) -> ApiResult<Json<EventTemplate>> {
    let template = Template {
        subject: body.subject,
        body: body.body,
    };
    let tenant = tenant(&state, &caller, &name).await?;
    known_event(&event)?;
    templates::validate(&event, &template)
        .map_err(|e| ApiError::Unprocessable("invalid_template", e))?;
    let actor = caller.name.clone();
    Ok(Json(
        tenant_templates::save(&state.store, tenant, &event, &template, &actor, now_ms())
            .await?
            .into(),
    ))
}

/// Go back to the built-in template.
#[utoipa::path(
    delete,
    path = "/api/v1/tenants/{name}/notification-templates/{event}",
    tag = "notifications",
    operation_id = "delete_notification_template",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name"),
        ("event" = String, Path, description = EVENT)),
    responses(
        Refused,
        (status = 204, description = "Removed"),
        (status = 404, description = "`not_found`: no such tenant or event, or no template of its own", body = ErrorBody),
    )
)]
async fn remove(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((name, event)): ApiPath<(String, String)>,
) -> ApiResult<StatusCode> {
    let tenant = tenant(&state, &caller, &name).await?;
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
