//! The HTTP API: one router per resource, merged by [`app`], separate from serving so tests can
//! drive it without a socket.

pub mod access;
mod admin;
mod agent;
pub mod audit_trail;
pub mod error;
pub mod extract;
mod health;
mod html;
mod metrics;
pub mod openapi;
mod password_page;
mod people;
mod satisfaction;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::StatusCode;
use axum::{Extension, Router};
use tower_http::decompression::RequestDecompressionLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::config::Config;
use crate::ingest::Ingest;
use crate::store::Store;
pub use metrics::Metrics;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// This process's ingest runtime (over the same store), shared with its background jobs.
    pub ingest: Ingest,
    pub config: Arc<Config>,
    pub metrics: Arc<Metrics>,
}

impl AppState {
    /// State over a fresh ingest runtime (tests, and servers without background jobs).
    pub fn new(store: Store, config: Config) -> Self {
        AppState::with_ingest(Ingest::new(store), config)
    }

    /// State over the process's ingest runtime, the one its background jobs read too.
    pub fn with_ingest(ingest: Ingest, config: Config) -> Self {
        AppState {
            store: ingest.store().clone(),
            ingest,
            config: Arc::new(config),
            metrics: Arc::new(Metrics::default()),
        }
    }
}

/// Every route with its documentation, from one list: the router serves what the OpenAPI
/// document describes, and a route cannot be added without its `#[utoipa::path]`.
pub fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .merge(health::router())
        .merge(agent::router())
        .merge(admin::router())
        .merge(satisfaction::router())
        .merge(people::router())
        .merge(password_page::router())
}

/// The OpenAPI document `GET /api/v1/openapi.json` serves.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut document = api().into_openapi();
    openapi::describe_path_rejections(&mut document);
    document
}

pub fn app(state: AppState) -> Router {
    let max_body = state.config.max_request_bytes;
    let (router, mut document) = api().split_for_parts();
    openapi::describe_path_rejections(&mut document);
    // Layers added later run first: the access check, then the audit trail around the handler.
    router
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            audit_trail::record,
        ))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::authorize,
        ))
        .layer(Extension(openapi::Served::new(&document)))
        .fallback(|| async { error::ApiError::NotFound("no such endpoint".into()) })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(RequestDecompressionLayer::new())
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(60),
        ))
        // Spans carry the matched route, not the raw path, so logs stay low-cardinality.
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let route = req
                .extensions()
                .get::<MatchedPath>()
                .map(MatchedPath::as_str)
                .unwrap_or("unmatched");
            tracing::info_span!("http", method = %req.method(), route)
        }))
        .with_state(state)
}
