//! `/api/v1/tenants/{name}/notification-channels` (who is told what) and
//! `/api/v1/tenants/{name}/outbox` (what was sent, what is pending, and every attempt).

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiResult, BadBody, Refused};
use super::super::extract::{ApiJson, ApiPath, Authorized};
use super::super::AppState;
use super::support_plans::tenant;
use crate::store::now_ms;
use crate::store::outbox::{Attempt, Channel as ChannelRow, ChannelKind as KindRow, OutboxEntry};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(channels, create_channel))
        .routes(routes!(outbox))
}

#[derive(Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Webhook,
}

impl From<KindRow> for ChannelKind {
    fn from(k: KindRow) -> Self {
        match k {
            KindRow::Email => ChannelKind::Email,
            KindRow::Webhook => ChannelKind::Webhook,
        }
    }
}

impl From<ChannelKind> for KindRow {
    fn from(k: ChannelKind) -> Self {
        match k {
            ChannelKind::Email => KindRow::Email,
            ChannelKind::Webhook => KindRow::Webhook,
        }
    }
}

/// A recipient of the tenant's notifications.
#[derive(Serialize, ToSchema)]
pub struct Channel {
    pub id: i64,
    pub tenant_id: i64,
    pub kind: ChannelKind,
    pub target: String,
    /// Whether webhooks are signed; the secret itself is never shown again.
    pub signed: bool,
    pub events: Vec<String>,
}

impl From<ChannelRow> for Channel {
    fn from(c: ChannelRow) -> Self {
        Channel {
            id: c.id,
            tenant_id: c.tenant_id.0,
            kind: c.kind.into(),
            target: c.target,
            signed: c.signed,
            events: c.events,
        }
    }
}

const NO_TENANT: &str = "`not_found`: no such tenant";

/// The tenant's notification recipients.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{name}/notification-channels",
    tag = "notifications",
    operation_id = "list_notification_channels",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    responses(
        Refused,
        (status = 200, description = "The channels", body = Vec<Channel>),
        (status = 404, description = NO_TENANT, body = ErrorBody),
    )
)]
async fn channels(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<Channel>>> {
    let tenant = tenant(&state, &caller, &name).await?;
    let channels = state.store.list_channels(tenant).await?;
    Ok(Json(channels.into_iter().map(Channel::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ChannelBody {
    kind: ChannelKind,
    /// An email address (or `requester`: each ticket's requester), or the webhook's URL.
    target: String,
    /// Webhooks only: the HMAC-SHA256 key their signature header is made with.
    secret: Option<String>,
    /// Events wanted (`opened`, `escalated`, `resolved`, `sla_warning`, `sla_breach`,
    /// `digest`); all when omitted.
    #[serde(default)]
    events: Vec<String>,
}

/// Add an email or webhook recipient.
#[utoipa::path(
    post,
    path = "/api/v1/tenants/{name}/notification-channels",
    tag = "notifications",
    operation_id = "create_notification_channel",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    request_body = ChannelBody,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created", body = Channel),
        (status = 404, description = NO_TENANT, body = ErrorBody),
    )
)]
async fn create_channel(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    let tenant = tenant(&state, &caller, &name).await?;
    let channel = state
        .store
        .create_channel(
            tenant,
            body.kind.into(),
            &body.target,
            body.secret.as_deref(),
            &body.events,
            now_ms(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(channel.into())))
}

/// A queued or sent notification with every delivery attempt.
#[derive(Serialize, ToSchema)]
struct OutboxView {
    id: i64,
    channel_id: i64,
    idempotency_key: String,
    event: String,
    state: String,
    /// The number of attempts; the same key again below carries the list, which is what JSON
    /// parsers keep (the duplicate is how the flattened row always serialised).
    #[schema(ignore)]
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    last_error: Option<String>,
    /// Every delivery attempt, oldest first.
    #[serde(rename = "attempts")]
    attempt_list: Vec<DeliveryAttempt>,
}

#[derive(Serialize, ToSchema)]
struct DeliveryAttempt {
    at: DateTime<Utc>,
    ok: bool,
    detail: String,
}

impl From<Attempt> for DeliveryAttempt {
    fn from(a: Attempt) -> Self {
        DeliveryAttempt {
            at: a.at,
            ok: a.ok,
            detail: a.detail,
        }
    }
}

impl OutboxView {
    fn new(e: OutboxEntry, attempts: Vec<Attempt>) -> Self {
        OutboxView {
            id: e.id,
            channel_id: e.channel_id,
            idempotency_key: e.idempotency_key,
            event: e.event,
            state: e.state,
            attempts: e.attempts,
            next_attempt_at: e.next_attempt_at,
            sent_at: e.sent_at,
            last_error: e.last_error,
            attempt_list: attempts.into_iter().map(DeliveryAttempt::from).collect(),
        }
    }
}

/// Queued and sent notifications with every delivery attempt.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{name}/outbox",
    tag = "notifications",
    operation_id = "list_outbox",
    security(("admin" = [])),
    params(("name" = String, Path, description = "The tenant's name")),
    responses(
        Refused,
        (status = 200, description = "The outbox", body = Vec<OutboxView>),
        (status = 404, description = NO_TENANT, body = ErrorBody),
    )
)]
async fn outbox(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<OutboxView>>> {
    let tenant = tenant(&state, &caller, &name).await?;
    let mut views = Vec::new();
    for entry in state.store.outbox(tenant).await? {
        let attempts = state.store.outbox_attempts(entry.id).await?;
        views.push(OutboxView::new(entry, attempts));
    }
    Ok(Json(views))
}
