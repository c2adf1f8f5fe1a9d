//! `/password/{token}`: the page a reset or an invitation email links to, where the person
//! chooses their password. No sign-in: the link's secret is the authorisation, and it works
//! once. Plain HTML, no script: it works in any mail client's browser.

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
use super::people::set_password_with_link;
use super::AppState;
use crate::people::password::MIN_LENGTH;
use crate::people::password_links;
use crate::store::now_ms;
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(page, choose))
}

const PAGE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Atalaya: choose your password</title></head>
<body>
<h1>Choose your password</h1>
{% if done %}<p>Your password is set. Sign in as {{ email }} at <a href="{{ sign_in }}">{{ sign_in }}</a>.</p>
{% elif refusal %}<p>{{ refusal }}</p>
{% else %}<p>For {{ email }}. At least {{ min }} characters; a few words you will remember make a good one.</p>
{% if problem %}<p role="alert"><strong>{{ problem }}</strong></p>{% endif %}
<form method="post">
<p><label>New password <input type="password" name="password" minlength="{{ min }}" required autocomplete="new-password"></label></p>
<p><label>Once more <input type="password" name="confirm" minlength="{{ min }}" required autocomplete="new-password"></label></p>
<p><button type="submit">Set the password</button></p>
</form>
{% endif %}</body></html>
"#;

fn render(context: serde_json::Value) -> ApiResult<Html<String>> {
    super::html::render("password", PAGE, context)
}

/// The form for the link's person, or why the link no longer works.
#[utoipa::path(
    get,
    path = "/password/{token}",
    tag = "people",
    operation_id = "password_page",
    params(("token" = String, Path, description = "The secret of the emailed link")),
    responses(
        ServerTrouble,
        (status = 200, description = "The form (or why the link does not work)", content_type = "text/html; charset=utf-8", body = String),
    )
)]
async fn page(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
) -> ApiResult<Html<String>> {
    match password_links::check(&state.store, &token, now_ms()).await? {
        Ok(user) => render(json!({"email": user.email, "min": MIN_LENGTH})),
        Err(refusal) => render(json!({"refusal": refusal.message()})),
    }
}

#[derive(Deserialize, ToSchema)]
struct PasswordForm {
    password: String,
    confirm: String,
}

/// Set the password from the page's form.
#[utoipa::path(
    post,
    path = "/password/{token}",
    tag = "people",
    operation_id = "choose_password",
    params(("token" = String, Path, description = "The secret of the emailed link")),
    request_body(content = PasswordForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        ServerTrouble,
        (status = 200, description = "Done, or the form again with what to fix", content_type = "text/html; charset=utf-8", body = String),
        (status = 422, description = "`invalid_body`: the form is incomplete", body = ErrorBody),
    )
)]
async fn choose(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    form: Result<Form<PasswordForm>, FormRejection>,
) -> ApiResult<Html<String>> {
    let Form(form) = form.map_err(|e| ApiError::Unprocessable("invalid_body", e.body_text()))?;
    let user = match password_links::check(&state.store, &token, now_ms()).await? {
        Ok(user) => user,
        Err(refusal) => return render(json!({"refusal": refusal.message()})),
    };
    let again =
        |problem: &str| render(json!({"email": user.email, "min": MIN_LENGTH, "problem": problem}));
    if form.password != form.confirm {
        return again("The two passwords differ; type the same one twice.");
    }
    match set_password_with_link(&state, &token, &form.password).await {
        Ok(user) => render(json!({"done": true, "email": user.email,
                                  "sign_in": state.config.public_url})),
        Err(ApiError::Unprocessable(_, problem)) => again(&problem),
        Err(ApiError::NotFound(refusal)) => render(json!({"refusal": refusal})),
        Err(other) => Err(other),
    }
}
