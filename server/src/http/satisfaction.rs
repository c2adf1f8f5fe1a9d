//! `/satisfaction/{token}`: the page the "resolved" email links to, where the requester rates
//! the ticket from 1 to 5, once. No login: the link's signature is the authorisation (see
//! [`crate::desk::satisfaction`]); a forged link answers 403.

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::response::Html;
use axum::Form;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, ServerTrouble};
use super::extract::ApiPath;
use super::AppState;
use crate::desk::satisfaction::{self, TokenError, KEY_NAME};
use crate::store::tickets::TicketKind;
use crate::store::{now_ms, StoreError};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(page, rate))
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ number }}: how did we do?</title></head>
<body>
<h1>{{ number }} {{ title }}</h1>
{% if rating %}<p>Thank you: you rated this {{ noun }} {{ rating.score }} out of 5.</p>
{% elif rateable %}<form method="post">
<p>How satisfied are you with how we handled this {{ noun }}?</p>
{% for n in [1, 2, 3, 4, 5] %}<label><input type="radio" name="score" value="{{ n }}" required> {{ n }}</label>
{% endfor %}<p><textarea name="comment" rows="4" cols="60" placeholder="Anything to add? (optional)"></textarea></p>
<p><button type="submit">Send</button></p>
</form>
{% else %}<p>This {{ noun }} is {{ state }}; it can be rated once it is resolved.</p>
{% endif %}</body></html>
"#;

fn render(context: serde_json::Value) -> ApiResult<Html<String>> {
    super::html::render("satisfaction", PAGE, context)
}

/// The ticket a token names, or 404 (malformed) / 403 (forged).
async fn ticket(state: &AppState, token: &str) -> ApiResult<(TicketKind, i64)> {
    let key = state.store.server_secret(KEY_NAME).await?;
    satisfaction::verify(&key, token).map_err(|e| match e {
        TokenError::Malformed => ApiError::NotFound("no such satisfaction link".into()),
        TokenError::BadSignature => ApiError::Forbidden(e.to_string()),
    })
}

fn not_found(e: StoreError) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::NotFound("the ticket no longer exists".into()),
        other => other.into(),
    }
}

/// The page a "resolved" email links to. No credential: the link is HMAC-signed.
#[utoipa::path(
    get,
    path = "/satisfaction/{token}",
    tag = "satisfaction",
    operation_id = "satisfaction_page",
    params(("token" = String, Path, description = "The signed token of the email's link")),
    responses(
        ServerTrouble,
        (status = 200, description = "The rating page (or the rating given)", content_type = "text/html; charset=utf-8", body = String),
        (status = 403, description = "`forbidden`: the link's signature is wrong", body = ErrorBody),
        (status = 404, description = "`not_found`: a malformed link, or the ticket is gone", body = ErrorBody),
    )
)]
async fn page(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Html<String>> {
    let (kind, id) = ticket(&state, &token).await?;
    let target = state
        .store
        .rating_target(kind, id)
        .await
        .map_err(not_found)?;
    render(json!({
        "number": target.number, "title": target.title, "state": target.state,
        "noun": kind.noun(), "rating": target.rating,
        "rateable": target.state == "resolved" || target.state == "closed",
    }))
}

#[derive(Deserialize, ToSchema)]
struct RatingForm {
    /// 1 (bad) to 5 (good).
    #[schema(minimum = 1, maximum = 5)]
    score: i64,
    comment: Option<String>,
}

/// Rate the ticket, once, from the page's form.
#[utoipa::path(
    post,
    path = "/satisfaction/{token}",
    tag = "satisfaction",
    operation_id = "rate_ticket",
    params(("token" = String, Path, description = "The signed token of the email's link")),
    request_body(content = RatingForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        ServerTrouble,
        (status = 200, description = "Thanks, with the rating given", content_type = "text/html; charset=utf-8", body = String),
        (status = 403, description = "`forbidden`: the link's signature is wrong", body = ErrorBody),
        (status = 404, description = "`not_found`: a malformed link, or the ticket is gone", body = ErrorBody),
        (status = 409, description = "`conflict`: already rated, or not resolved", body = ErrorBody),
        (status = 422, description = "`invalid_body` or `invalid`: the form is incomplete, or the score is not 1 to 5", body = ErrorBody),
    )
)]
async fn rate(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    form: Result<Form<RatingForm>, FormRejection>,
) -> ApiResult<Html<String>> {
    let (kind, id) = ticket(&state, &token).await?;
    let Form(form) = form.map_err(|e| ApiError::Unprocessable("invalid_body", e.body_text()))?;
    let rating = crate::desk::rating::rate(
        &state.store,
        kind,
        id,
        form.score,
        form.comment.as_deref(),
        now_ms(),
    )
    .await
    .map_err(not_found)?;
    let target = state
        .store
        .rating_target(kind, id)
        .await
        .map_err(not_found)?;
    render(json!({
        "number": target.number, "title": target.title, "state": target.state,
        "noun": kind.noun(), "rating": rating, "rateable": true,
    }))
}
