//! The one HTTP error type. Every failure becomes `{"error": {"code", "message"}}` with the right
//! status; internal errors are logged and never shown to the client.

use atalaya_shared::ErrorBody;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{1}")]
    BadRequest(&'static str, String),
    #[error("{1}")]
    Unauthorized(&'static str, String),
    #[error("{0}")]
    Forbidden(String),
    /// A session's unsafe request without its CSRF token.
    #[error("{0}")]
    CsrfToken(String),
    /// Signed in, but a second factor must be set up before anything else.
    #[error("{0}")]
    SecondFactorSetup(String),
    /// Throttled (sign-in): try again in `retry_after` seconds.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after: i64 },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{1}")]
    Unprocessable(&'static str, String),
    #[error("request body is too large")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("the database is busy; retry shortly")]
    Unavailable,
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(..) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(..) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) | ApiError::CsrfToken(_) | ApiError::SecondFactorSetup(_) => {
                StatusCode::FORBIDDEN
            }
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(code, _)
            | ApiError::Unauthorized(code, _)
            | ApiError::Unprocessable(code, _) => code,
            ApiError::Forbidden(_) => "forbidden",
            ApiError::CsrfToken(_) => "csrf_token",
            ApiError::SecondFactorSetup(_) => "totp_setup_required",
            ApiError::TooManyRequests { .. } => "too_many_requests",
            ApiError::NotFound(_) => "not_found",
            ApiError::Conflict(_) => "conflict",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::UnsupportedMediaType(_) => "unsupported_media_type",
            ApiError::Unavailable => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        ApiError::Unprocessable("invalid", message.into())
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound => ApiError::NotFound("not found".into()),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Invalid(m) => ApiError::invalid(m),
            StoreError::Database(sqlx::Error::PoolTimedOut) => ApiError::Unavailable,
            StoreError::Database(e) if is_busy(&e) => ApiError::Unavailable,
            StoreError::Database(e) => ApiError::Internal(e.into()),
            StoreError::Migrate(e) => ApiError::Internal(e.into()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status_code();
        let message = match &self {
            ApiError::Internal(err) => {
                tracing::error!(error = ?err, "internal error");
                "internal error; see the server log".to_string()
            }
            other => {
                tracing::debug!(status = status.as_u16(), error = %other, "request refused");
                other.to_string()
            }
        };
        let mut response = (status, Json(ErrorBody::new(self.code(), message))).into_response();
        let retry_after = match &self {
            ApiError::Unavailable => Some(HeaderValue::from_static("5")),
            ApiError::TooManyRequests { retry_after, .. } => Some(HeaderValue::from(*retry_after)),
            _ => None,
        };
        if let Some(value) = retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

// Failure responses shared by many operations, for their `responses(...)` in `#[utoipa::path]`.
// They are never built: [`ApiError`] is what answers; these only describe it.

/// What the server's own trouble answers: an internal error, or a busy database.
#[derive(utoipa::IntoResponses)]
pub enum ServerTrouble {
    #[response(
        status = 500,
        description = "Internal error (the detail is in the server log)"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "The database is busy; retry after `Retry-After` seconds",
        headers(("Retry-After" = u32, description = "Seconds to wait"))
    )]
    Unavailable(ErrorBody),
}

/// What an authenticated call answers without a valid credential or the permission it needs,
/// beside [`ServerTrouble`].
#[derive(utoipa::IntoResponses)]
pub enum Refused {
    #[response(
        status = 401,
        description = "`missing_token`, `invalid_token`, `session_ended` or `invalid_credential`: \
                       the bearer credential or session cookie is missing, unknown, expired or \
                       revoked"
    )]
    Unauthorized(ErrorBody),
    #[response(
        status = 403,
        description = "`forbidden`: the caller's role lacks the permission this needs (or the \
                       object is not theirs to change); `csrf_token`: a session's unsafe request \
                       without its `X-CSRF-Token`; `totp_setup_required`: the \
                       policy requires a second factor and the caller has none yet"
    )]
    Forbidden(ErrorBody),
    #[response(
        status = 500,
        description = "Internal error (the detail is in the server log)"
    )]
    Internal(ErrorBody),
    #[response(
        status = 503,
        description = "The database is busy; retry after `Retry-After` seconds",
        headers(("Retry-After" = u32, description = "Seconds to wait"))
    )]
    Unavailable(ErrorBody),
}

/// What a JSON request body can be refused with ([`super::extract::ApiJson`]).
#[derive(utoipa::IntoResponses)]
pub enum BadBody {
    #[response(
        status = 400,
        description = "`malformed_json` or `bad_body`: the body is not JSON"
    )]
    Malformed(ErrorBody),
    #[response(
        status = 413,
        description = "`payload_too_large`: the body is too large"
    )]
    TooLarge(ErrorBody),
    #[response(
        status = 415,
        description = "`unsupported_media_type`: the body is not `application/json`"
    )]
    NotJson(ErrorBody),
    #[response(
        status = 422,
        description = "`invalid_body` or `invalid`: the JSON does not have the expected shape or \
                       values"
    )]
    Invalid(ErrorBody),
}

/// What a bad query string is refused with ([`super::extract::ApiQuery`]).
#[derive(utoipa::IntoResponses)]
pub enum BadQuery {
    #[response(
        status = 400,
        description = "`invalid_query`: a query parameter is malformed or out of range"
    )]
    Invalid(ErrorBody),
}

/// SQLite's write lock was not free within the busy timeout (`SQLITE_BUSY`, `SQLITE_LOCKED`,
/// with or without an extended code): the server is overloaded, not broken — the client is told
/// to come back (an agent keeps the report spooled), not that the server failed.
fn is_busy(err: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = err else {
        return false;
    };
    db.code()
        .and_then(|code| code.parse::<u32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

#[cfg(test)]
mod busy_tests {
    use super::*;

    #[tokio::test]
    async fn a_locked_sqlite_database_is_unavailable_not_an_internal_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("busy.db").display());
        sqlx::any::install_default_drivers();
        let mut holder = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect");
        let mut other = <sqlx::AnyConnection as sqlx::Connection>::connect(&url)
            .await
            .expect("connect");
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut holder)
            .await
            .expect("create");
        sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut other)
            .await
            .expect("pragma");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut holder)
            .await
            .expect("lock");
        let err = sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut other)
            .await
            .expect_err("the write lock is taken");
        let api = ApiError::from(StoreError::Database(err));
        assert_eq!(api.status_code(), StatusCode::SERVICE_UNAVAILABLE, "{api}");
    }
}
