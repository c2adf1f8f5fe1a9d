//! Signing in and one's own account: `/api/v1/sessions` (sign in, list, sign out or revoke),
//! `/api/v1/me` (who am I, with the CSRF token a browser's changes carry), `/api/v1/me/password`
//! and `/api/v1/api-tokens` (personal tokens). What is allowed is [`crate::people`]'s; this turns
//! it into HTTP: the session cookie, the throttled sign-in's `Retry-After`.

use std::net::SocketAddr;

use axum::extract::State;
use axum::http::header::{SET_COOKIE, USER_AGENT};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::admin::{audit_change, Audited};
use super::error::{ApiError, ApiResult, BadBody, BadQuery, Refused, ServerTrouble};
use super::extract::{ApiJson, ApiPath, ApiQuery, Authorized, PeerAddress};
use super::AppState;
use crate::people::sessions::{self, Client, Session, COOKIE};
use crate::people::sign_in::{self, Outcome};
use crate::people::tokens::{self, ApiToken, NewToken};
use crate::people::{password_links, totp, users, Caller, Credential, Permission, Role, User};
use crate::store::{now_ms, StoreError, TenantScope};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(sign_in_with_password, list_sessions))
        .routes(routes!(revoke_session))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(revoke_token))
        .routes(routes!(ask_for_reset))
        .routes(routes!(begin_totp, remove_totp))
        .routes(routes!(confirm_totp))
        .routes(routes!(reset_password))
}

/// A person, as the API shows them.
#[derive(Serialize, ToSchema)]
pub struct Person {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// The customer tenant of a customer admin or requester.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<i64>,
    pub active: bool,
    /// Made from a free-text name on an old ticket; cannot sign in.
    pub placeholder: bool,
    pub has_password: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Signs in with a second factor (an authenticator app's code).
    pub totp_enabled: bool,
    /// The policy requires a second factor of them.
    pub totp_required: bool,
}

impl From<&User> for Person {
    fn from(u: &User) -> Self {
        Person {
            id: u.id,
            email: u.email.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            tenant_id: u.tenant_id.map(|t| t.0),
            active: u.active,
            placeholder: u.placeholder,
            has_password: u.has_password,
            created_at: u.created_at,
            totp_enabled: u.totp_enabled,
            totp_required: u.totp_required,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct Credentials {
    email: String,
    password: String,
    /// The authenticator app's current code, for an account with a second factor.
    code: Option<String>,
}

/// A new session: the cookie is set; the CSRF token goes with every change the browser makes.
#[derive(Serialize, ToSchema)]
struct SignedIn {
    user: Person,
    session: Session,
    /// Send as `X-CSRF-Token` with every POST, PUT, PATCH and DELETE of this session.
    csrf_token: String,
}

fn client(headers: &HeaderMap, peer: Option<SocketAddr>) -> Client {
    Client {
        address: peer.map(|p| p.ip().to_string()),
        user_agent: headers
            .get(USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    }
}

/// The session cookie: HttpOnly (no script reads it), SameSite=Lax (another site's forms do not
/// carry it), Secure when the server is reached over HTTPS; it lasts as long as a session may.
fn session_cookie(state: &AppState, value: &str, max_age_secs: i64) -> ApiResult<HeaderValue> {
    let secure = if state.config.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}"
    ))
    .map_err(|e| ApiError::Internal(e.into()))
}

/// Sign in with email and password: a session in a cookie. Five failures of an account (or
/// thirty from one address) within 15 minutes pause it: `429` with `Retry-After`.
#[utoipa::path(
    post,
    path = "/api/v1/sessions",
    tag = "people",
    operation_id = "sign_in",
    request_body = Credentials,
    responses(
        ServerTrouble,
        BadBody,
        (status = 201, description = "Signed in; the `atalaya_session` cookie is set", body = SignedIn,
         headers(("Set-Cookie" = String, description = "The session cookie"))),
        (status = 401, description = "`wrong_credentials`: the email or the password is wrong; \
         `code_required`: the account has a second factor and no `code` came; `wrong_code`", body = ErrorBody),
        (status = 429, description = "`too_many_requests`: too many failed sign-ins lately",
         body = ErrorBody, headers(("Retry-After" = u32, description = "Seconds to wait"))),
    )
)]
async fn sign_in_with_password(
    State(state): State<AppState>,
    PeerAddress(peer): PeerAddress,
    headers: HeaderMap,
    ApiJson(credentials): ApiJson<Credentials>,
) -> ApiResult<Response> {
    let client = client(&headers, peer);
    let outcome = sign_in::sign_in(
        &state.store,
        &credentials.email,
        &credentials.password,
        credentials.code.as_deref(),
        &client,
        now_ms(),
    )
    .await?;
    match outcome {
        Outcome::SignedIn(signed_in) => {
            let sign_in::SignedIn {
                secret,
                session,
                user,
            } = *signed_in;
            let cookie = session_cookie(&state, &secret, sessions::ABSOLUTE_MS / 1000)?;
            let caller = Caller::signed_in(user.clone(), session.id, String::new());
            let opened = Audited {
                tenant: user.tenant_id,
                action: "session.opened",
                object_kind: "session",
                object_id: session.id.to_string(),
                before: None,
                after: Some(
                    serde_json::json!({"client_address": client.address, "user_agent": client.user_agent}),
                ),
            };
            audit_change(&state, &caller, opened).await?;
            let body = SignedIn {
                user: Person::from(&user),
                session,
                csrf_token: sessions::csrf_token(&secret),
            };
            let mut response = (StatusCode::CREATED, Json(body)).into_response();
            response.headers_mut().insert(SET_COOKIE, cookie);
            Ok(response)
        }
        Outcome::Refused => Err(ApiError::Unauthorized(
            "wrong_credentials",
            "the email or the password is wrong".into(),
        )),
        Outcome::CodeNeeded => Err(ApiError::Unauthorized(
            "code_required",
            "this account has a second factor: send the authenticator app's current code as \
             \"code\""
                .into(),
        )),
        Outcome::WrongCode => Err(ApiError::Unauthorized(
            "wrong_code",
            "the code is wrong or was used already; codes change every 30 seconds".into(),
        )),
        Outcome::Throttled { retry_after_secs } => Err(ApiError::TooManyRequests {
            message: format!(
                "too many failed sign-ins for this account or from this address; try again in \
                 {} minute(s), or reset the password",
                (retry_after_secs + 59) / 60
            ),
            retry_after: retry_after_secs,
        }),
    }
}

fn signed_in_user(caller: &Caller) -> ApiResult<&User> {
    caller.user.as_ref().ok_or_else(|| {
        ApiError::Forbidden(
            "an ownerless admin token has no account: sign in as a person, or use a personal \
             token"
                .into(),
        )
    })
}

/// The caller's live sessions, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/sessions",
    tag = "people",
    operation_id = "list_sessions",
    security(("admin" = []), ("session" = [])),
    responses(
        Refused,
        (status = 200, description = "The caller's live sessions", body = Vec<Session>),
    )
)]
async fn list_sessions(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
) -> ApiResult<Json<Vec<Session>>> {
    let user = signed_in_user(&caller)?;
    Ok(Json(sessions::list(&state.store, user.id, now_ms()).await?))
}

/// End one of the caller's sessions: signing out (the current one; its cookie is cleared) or
/// revoking one left signed in elsewhere.
#[utoipa::path(
    delete,
    path = "/api/v1/sessions/{id}",
    tag = "people",
    operation_id = "revoke_session",
    security(("admin" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The session's id")),
    responses(
        Refused,
        (status = 204, description = "Ended"),
        (status = 404, description = "`not_found`: no such session of the caller's", body = ErrorBody),
    )
)]
async fn revoke_session(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Response> {
    let user = signed_in_user(&caller)?;
    sessions::revoke(&state.store, user.id, id, now_ms())
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("session"),
            other => other.into(),
        })?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    if matches!(caller.credential, Credential::Session { id: current, .. } if current == id) {
        response
            .headers_mut()
            .insert(SET_COOKIE, session_cookie(&state, "", 0)?);
    }
    Ok(response)
}

/// Who the caller is and what they may do.
#[derive(Serialize, ToSchema)]
struct Me {
    /// Absent for an ownerless admin token.
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<Person>,
    role: Role,
    /// Every permission the role has.
    permissions: Vec<Permission>,
    /// The tenants reached: absent for every tenant.
    #[serde(skip_serializing_if = "Option::is_none")]
    tenant_ids: Option<Vec<i64>>,
    /// The session's id and CSRF token, when signed in with a session.
    #[serde(skip_serializing_if = "Option::is_none")]
    session_id: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    csrf_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_id: Option<i64>,
}

/// Who the caller is: their account, role and permissions, the tenants they reach, and — for a
/// browser session — the CSRF token its changes carry.
#[utoipa::path(
    get,
    path = "/api/v1/me",
    tag = "people",
    operation_id = "me",
    security(("admin" = []), ("session" = [])),
    responses(
        Refused,
        (status = 200, description = "The caller", body = Me),
    )
)]
async fn me(State(state): State<AppState>, Authorized(caller): Authorized) -> ApiResult<Json<Me>> {
    let tenant_ids = match caller.scope {
        TenantScope::All => None,
        TenantScope::Tenant(t) => Some(vec![t.0]),
        TenantScope::Members(user) => Some(
            state
                .store
                .memberships(user)
                .await?
                .into_iter()
                .map(|t| t.0)
                .collect(),
        ),
    };
    let (session_id, csrf_token) = match &caller.credential {
        Credential::Session { id, csrf } => (Some(*id), Some(csrf.clone())),
        Credential::Token { .. } => (None, None),
    };
    Ok(Json(Me {
        user: caller.user.as_ref().map(Person::from),
        role: caller.role,
        permissions: Permission::ALL
            .into_iter()
            .filter(|p| caller.allows(*p))
            .collect(),
        tenant_ids,
        session_id,
        csrf_token,
        token_id: caller.token_id(),
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: String,
    /// At least 12 characters.
    new_password: String,
}

/// Change one's own password; every session of the account ends (sign in again).
#[utoipa::path(
    put,
    path = "/api/v1/me/password",
    tag = "people",
    operation_id = "change_password",
    security(("admin" = []), ("session" = [])),
    request_body = PasswordChange,
    responses(
        Refused,
        BadBody,
        (status = 204, description = "Changed; every session of the account has ended"),
    )
)]
async fn change_password(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(change): ApiJson<PasswordChange>,
) -> ApiResult<Response> {
    let user = signed_in_user(&caller)?;
    if users::authenticate(&state.store, &user.email, &change.current_password)
        .await?
        .is_none()
    {
        return Err(ApiError::invalid("the current password is wrong"));
    }
    users::set_password(&state.store, user.id, &change.new_password, now_ms()).await?;
    let changed = Audited {
        tenant: user.tenant_id,
        action: "user.password_changed",
        object_kind: "user",
        object_id: user.id.to_string(),
        before: None,
        after: None,
    };
    audit_change(&state, &caller, changed).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    response
        .headers_mut()
        .insert(SET_COOKIE, session_cookie(&state, "", 0)?);
    Ok(response)
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct TokensQuery {
    /// Another person's tokens (needs the permission to manage people reaching them).
    user: Option<i64>,
}

/// The caller's API tokens, or another person's for those who manage people; revoked ones too.
#[utoipa::path(
    get,
    path = "/api/v1/api-tokens",
    tag = "people",
    operation_id = "list_api_tokens",
    security(("admin" = []), ("session" = [])),
    params(TokensQuery),
    responses(
        Refused,
        BadQuery,
        (status = 200, description = "The tokens, newest first (never their secrets)", body = Vec<ApiToken>),
        (status = 404, description = "`not_found`: no such user reached", body = ErrorBody),
    )
)]
async fn list_tokens(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(query): ApiQuery<TokensQuery>,
) -> ApiResult<Json<Vec<ApiToken>>> {
    let owner = match query.user {
        Some(other) if Some(other) != caller.user_id() => {
            super::admin::managed_user(&state, &caller, other).await?;
            Some(other)
        }
        _ => caller.user_id(),
    };
    Ok(Json(tokens::list(&state.store, owner).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    name: String,
    /// The caller's role when absent; never higher than it.
    role: Option<Role>,
    /// Bind the token to one of the caller's tenants, by name.
    tenant: Option<String>,
    /// 90 when absent; 1 to 366.
    #[schema(minimum = 1, maximum = 366)]
    expires_in_days: Option<i64>,
}

/// A new token and, once only, its secret.
#[derive(Serialize, ToSchema)]
struct CreatedToken {
    token: ApiToken,
    /// Shown this once; only its hash is kept.
    secret: String,
}

/// Make a personal API token: a role no higher than the caller's, an expiry (at most a year),
/// optionally bound to one tenant. The secret is shown once.
#[utoipa::path(
    post,
    path = "/api/v1/api-tokens",
    tag = "people",
    operation_id = "create_api_token",
    security(("admin" = []), ("session" = [])),
    request_body = NewTokenBody,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created; the secret is in the body this once", body = CreatedToken),
        (status = 404, description = "`not_found`: no such tenant reached", body = ErrorBody),
    )
)]
async fn create_token(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(body): ApiJson<NewTokenBody>,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let owner = signed_in_user(&caller)?;
    let tenant = match body.tenant.as_deref() {
        Some(name) => Some(super::admin::target_tenant(&state, &caller, Some(name)).await?),
        None => caller.scope.single(),
    };
    let new = NewToken {
        name: body.name,
        role: Some(body.role.unwrap_or(caller.role)),
        tenant,
        expires_in_days: body.expires_in_days,
    };
    // A token made with a token is no higher than the token making it.
    if !caller.role.includes(new.role.unwrap_or(caller.role)) {
        return Err(ApiError::invalid(
            "a token's role is never higher than the role of the credential making it",
        ));
    }
    let (secret, token) = tokens::create(&state.store, owner, &new, now_ms()).await?;
    Ok((StatusCode::CREATED, Json(CreatedToken { token, secret })))
}

/// Revoke a token: one's own, or one of a person the caller manages.
#[utoipa::path(
    delete,
    path = "/api/v1/api-tokens/{id}",
    tag = "people",
    operation_id = "revoke_api_token",
    security(("admin" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The token's id")),
    responses(
        Refused,
        (status = 200, description = "Revoked", body = ApiToken),
        (status = 404, description = "`not_found`: no such token of the caller's (or of a person they manage)", body = ErrorBody),
    )
)]
async fn revoke_token(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<ApiToken>> {
    let not_found = || ApiError::not_found("API token");
    let token = tokens::get(&state.store, id).await.map_err(|e| match e {
        StoreError::NotFound => not_found(),
        other => other.into(),
    })?;
    let own = token.user_id.is_some() && token.user_id == caller.user_id();
    let allowed = own
        || match token.user_id {
            Some(owner) if caller.allows(Permission::ManagePeople) => {
                super::admin::managed_user(&state, &caller, owner)
                    .await
                    .is_ok()
            }
            // Ownerless admin tokens: only an MSP-wide admin revokes them.
            None => caller.role == Role::MspAdmin && caller.scope == TenantScope::All,
            Some(_) => false,
        };
    if !allowed {
        return Err(not_found());
    }
    Ok(Json(tokens::revoke(&state.store, id, now_ms()).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ResetRequest {
    email: String,
}

/// What a reset request answers, whoever the email belongs to.
#[derive(Serialize, ToSchema)]
struct ResetAccepted {
    message: String,
}

/// Ask for a password reset: if the email is a person's who can sign in, a link valid for an
/// hour is mailed to it. The answer is the same either way, so it tells nobody which accounts
/// exist; asking again within five minutes sends nothing more.
#[utoipa::path(
    post,
    path = "/api/v1/password-resets",
    tag = "people",
    operation_id = "ask_for_password_reset",
    request_body = ResetRequest,
    responses(
        ServerTrouble,
        BadBody,
        (status = 202, description = "Accepted (a link is mailed if the account exists)", body = ResetAccepted),
    )
)]
async fn ask_for_reset(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<ResetRequest>,
) -> ApiResult<(StatusCode, Json<ResetAccepted>)> {
    let now = now_ms();
    if let Some(row) = state.store.user_by_email(request.email.trim()).await? {
        let user = users::get(&state.store, row.id).await?;
        if user.can_sign_in() {
            let sent = password_links::send(
                &state.store,
                &user,
                password_links::Purpose::Reset,
                &state.config.public_url,
                None,
                now,
            )
            .await?;
            if sent {
                let caller = Caller::signed_in(user.clone(), 0, String::new());
                let asked = Audited {
                    tenant: user.tenant_id,
                    action: "user.password_reset_asked",
                    object_kind: "user",
                    object_id: user.id.to_string(),
                    before: None,
                    after: None,
                };
                audit_change(&state, &caller, asked).await?;
            }
        }
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(ResetAccepted {
            message: "if the address belongs to an account, a link to reset its password is on \
                      its way; it is valid for an hour"
                .into(),
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    /// At least 12 characters.
    password: String,
}

/// Set a password with a link from a reset or an invitation email. Every session of the
/// account ends; the link and any other of the person's links stop working.
#[utoipa::path(
    post,
    path = "/api/v1/password-resets/{token}",
    tag = "people",
    operation_id = "reset_password",
    params(("token" = String, Path, description = "The secret of the emailed link")),
    request_body = NewPassword,
    responses(
        ServerTrouble,
        BadBody,
        (status = 204, description = "The password is set; sign in with it"),
        (status = 404, description = "`not_found`: the link is unknown, used or expired", body = ErrorBody),
    )
)]
async fn reset_password(
    State(state): State<AppState>,
    ApiPath(token): ApiPath<String>,
    ApiJson(body): ApiJson<NewPassword>,
) -> ApiResult<StatusCode> {
    set_password_with_link(&state, &token, &body.password).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Redeem a password link (the API and the page alike), recorded in the audit log.
pub async fn set_password_with_link(
    state: &AppState,
    token: &str,
    new_password: &str,
) -> ApiResult<User> {
    match password_links::redeem(&state.store, token, new_password, now_ms()).await? {
        Ok(user) => {
            let caller = Caller::signed_in(user.clone(), 0, String::new());
            let set = Audited {
                tenant: user.tenant_id,
                action: "user.password_set_by_link",
                object_kind: "user",
                object_id: user.id.to_string(),
                before: None,
                after: None,
            };
            audit_change(state, &caller, set).await?;
            Ok(user)
        }
        Err(refusal) => Err(ApiError::NotFound(refusal.message().into())),
    }
}

/// A second factor being set up: add it to an authenticator app, then confirm with a code.
#[derive(Serialize, ToSchema)]
struct TotpSetup {
    /// Base32, for typing in.
    secret: String,
    /// `otpauth://totp/…`, for a QR code.
    otpauth_url: String,
}

/// Start setting up a second factor (TOTP): the secret to add to an authenticator app. It is
/// asked at sign-in once a first code confirms it.
#[utoipa::path(
    post,
    path = "/api/v1/me/totp",
    tag = "people",
    operation_id = "begin_totp",
    security(("admin" = []), ("session" = [])),
    responses(
        Refused,
        (status = 201, description = "The secret, until confirmed with a code", body = TotpSetup),
        (status = 409, description = "`conflict`: a second factor is set up already", body = ErrorBody),
    )
)]
async fn begin_totp(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
) -> ApiResult<(StatusCode, Json<TotpSetup>)> {
    let user = signed_in_user(&caller)?;
    let (secret, otpauth_url) = totp::begin(&state.store, user).await?;
    Ok((
        StatusCode::CREATED,
        Json(TotpSetup {
            secret,
            otpauth_url,
        }),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct TotpCode {
    /// The six digits the app shows now.
    code: String,
}

/// Confirm the second factor with the app's current code; from now on sign-in asks for one.
#[utoipa::path(
    post,
    path = "/api/v1/me/totp/confirm",
    tag = "people",
    operation_id = "confirm_totp",
    security(("admin" = []), ("session" = [])),
    request_body = TotpCode,
    responses(
        Refused,
        BadBody,
        (status = 204, description = "Confirmed"),
    )
)]
async fn confirm_totp(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(body): ApiJson<TotpCode>,
) -> ApiResult<StatusCode> {
    let user = signed_in_user(&caller)?;
    if user.totp_enabled {
        return Err(ApiError::Conflict(
            "the second factor is confirmed already".into(),
        ));
    }
    if !totp::check(&state.store, user.id, &body.code, now_ms()).await? {
        return Err(ApiError::invalid(
            "the code is wrong (or no second factor is being set up); codes change every 30 \
             seconds",
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Remove one's second factor (not while the policy requires one).
#[utoipa::path(
    delete,
    path = "/api/v1/me/totp",
    tag = "people",
    operation_id = "remove_totp",
    security(("admin" = []), ("session" = [])),
    responses(
        Refused,
        (status = 204, description = "Removed"),
        (status = 422, description = "`invalid`: the policy requires a second factor", body = ErrorBody),
    )
)]
async fn remove_totp(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
) -> ApiResult<StatusCode> {
    let user = signed_in_user(&caller)?;
    totp::remove(&state.store, user, false).await?;
    Ok(StatusCode::NO_CONTENT)
}
