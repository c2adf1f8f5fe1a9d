//! Extractors: JSON bodies, query strings and path parameters with our error shape, and the two
//! kinds of callers (people and their tokens, and agents).

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::http::HeaderMap;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::AppState;
use crate::people::Caller;
use crate::store::agents::AgentIdentity;

/// `axum::Json`, but a bad body answers with our JSON error body and a precise status.
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

/// `axum::extract::Query`, but a bad query string answers with our JSON error body.
pub struct ApiQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

/// `axum::extract::Path`, but a path parameter that does not parse (a word where an id belongs,
/// an id beyond 64 bits) answers with our JSON error body, `invalid_path`, like every other
/// rejection — not axum's plain text.
pub struct ApiPath<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(ApiPath(value)),
            Err(rejection) => Err(path_rejection(rejection)),
        }
    }
}

fn path_rejection(rejection: PathRejection) -> ApiError {
    // A route whose template does not match its extractor is our bug, not the caller's.
    if rejection.status().is_server_error() {
        return ApiError::Internal(anyhow::anyhow!(rejection.body_text()));
    }
    ApiError::BadRequest("invalid_path", rejection.body_text())
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::BadRequest("invalid_query", rejection.body_text())
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
        }
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest("malformed_json", e.body_text()),
        JsonRejection::JsonDataError(e) => ApiError::Unprocessable("invalid_body", e.body_text()),
        JsonRejection::BytesRejection(e)
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            ApiError::PayloadTooLarge
        }
        other => ApiError::BadRequest("bad_body", other.body_text()),
    }
}

/// The credential of an `Authorization: Bearer …` header.
pub fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    let header = headers.get(AUTHORIZATION).ok_or_else(|| {
        ApiError::Unauthorized(
            "missing_token",
            "Authorization: Bearer <token> is required".into(),
        )
    })?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized(
                "missing_token",
                "Authorization must be 'Bearer <token>'".into(),
            )
        })
}

/// The caller the access check let through ([`super::access`]): a person or a token whose role
/// has the permission the route needs.
pub struct Authorized(pub Caller);

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Caller>() {
            Some(caller) => Ok(Authorized(caller.clone())),
            // Only a route the access table calls public or an agent's lacks a caller; one of
            // those asking for a person is a bug in the table, refused rather than let through.
            None => Err(ApiError::Internal(anyhow::anyhow!(
                "{} asks for a caller but its access rule does not authenticate one",
                parts.uri.path()
            ))),
        }
    }
}

/// An authenticated, enrolled agent.
pub struct AgentAuth(pub AgentIdentity);

impl FromRequestParts<AppState> for AgentAuth {
    type Rejection = ApiError;

    #[tracing::instrument(skip_all)]
    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let credential = bearer(&parts.headers)?;
        match state.store.authenticate_agent(credential).await? {
            Some(agent) => Ok(AgentAuth(agent)),
            None => {
                tracing::warn!("refused an unknown or revoked agent credential");
                Err(ApiError::Unauthorized(
                    "invalid_credential",
                    "the agent credential is unknown or revoked; enroll the agent again".into(),
                ))
            }
        }
    }
}

/// The client's address, when the server was reached over a socket (not in in-process tests).
pub struct PeerAddress(pub Option<std::net::SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for PeerAddress {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(PeerAddress(
            parts
                .extensions
                .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0),
        ))
    }
}
