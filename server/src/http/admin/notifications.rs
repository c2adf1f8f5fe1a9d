//! `/api/v1/tenants/{name}/notification-channels` (who is told what) and
//! `/api/v1/tenants/{name}/outbox` (what was sent, what is pending, and every attempt).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::super::error::ApiResult;
use super::super::extract::{AdminAuth, ApiJson};
use super::super::AppState;
use super::support_plans::tenant;
use crate::store::now_ms;
use crate::store::outbox::{Attempt, Channel, ChannelKind, OutboxEntry};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/tenants/{name}/notification-channels",
            get(channels).post(create_channel),
        )
        .route("/api/v1/tenants/{name}/outbox", get(outbox))
}

async fn channels(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<Channel>>> {
    let tenant = tenant(&state, &principal, &name).await?;
    Ok(Json(state.store.list_channels(tenant).await?))
}

#[derive(Deserialize)]
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

async fn create_channel(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
    ApiJson(body): ApiJson<ChannelBody>,
) -> ApiResult<(StatusCode, Json<Channel>)> {
    let tenant = tenant(&state, &principal, &name).await?;
    let channel = state
        .store
        .create_channel(
            tenant,
            body.kind,
            &body.target,
            body.secret.as_deref(),
            &body.events,
            now_ms(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(channel)))
}

#[derive(Serialize)]
struct OutboxView {
    #[serde(flatten)]
    entry: OutboxEntry,
    attempts: Vec<Attempt>,
}

async fn outbox(
    State(state): State<AppState>,
    AdminAuth(principal): AdminAuth,
    Path(name): Path<String>,
) -> ApiResult<Json<Vec<OutboxView>>> {
    let tenant = tenant(&state, &principal, &name).await?;
    let mut views = Vec::new();
    for entry in state.store.outbox(tenant).await? {
        let attempts = state.store.outbox_attempts(entry.id).await?;
        views.push(OutboxView { entry, attempts });
    }
    Ok(Json(views))
}
