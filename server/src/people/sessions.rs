//! Browser sessions: opened at sign-in, carried in a cookie as a random secret (only its hash is
//! stored, so replicas share sessions through the database), ended by sign-out, revocation, a
//! password change, deactivation, or expiry — idle (no request for a while) or absolute.

use serde::Serialize;

use super::users::User;
use crate::secrets;
use crate::store::sessions::{NewSessionRow, SessionRow};
use crate::store::{to_time, Store, StoreResult};

pub const SECRET_PREFIX: &str = "ats_";
/// No request for this long ends a session.
pub const IDLE_MS: i64 = 8 * 3_600_000;
/// A session ends this long after sign-in whatever happens.
pub const ABSOLUTE_MS: i64 = 7 * 86_400_000;
/// Use is written back at most this often (a read per request, a write per minute).
const TOUCH_EVERY_MS: i64 = 60_000;

/// The name of the cookie that carries a session's secret.
pub const COOKIE: &str = "atalaya_session";

/// The token a session's unsafe requests (POST, PUT, PATCH, DELETE) must carry in the
/// `X-CSRF-Token` header or a form's `csrf_token` field: derived from the session's secret, which
/// another site's page cannot read, so it cannot forge it either.
pub fn csrf_token(secret: &str) -> String {
    secrets::hash(&format!("csrf:{secret}"))
}

/// A session as its owner sees it in their list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Session {
    pub id: i64,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_seen_at: chrono::DateTime<chrono::Utc>,
    pub expires_at: chrono::DateTime<chrono::Utc>,
    pub client_address: Option<String>,
    pub user_agent: Option<String>,
}

impl From<&SessionRow> for Session {
    fn from(row: &SessionRow) -> Self {
        Session {
            id: row.id,
            created_at: to_time(row.created_at),
            last_seen_at: to_time(row.last_seen_at),
            expires_at: to_time(row.idle_expires_at.min(row.absolute_expires_at)),
            client_address: row.client_address.clone(),
            user_agent: row.user_agent.clone(),
        }
    }
}

/// Where a sign-in came from, kept with the session so its owner recognises it.
#[derive(Debug, Clone, Default)]
pub struct Client {
    pub address: Option<String>,
    pub user_agent: Option<String>,
}

/// A new session for `user`: the secret for the cookie (shown once) and the session.
pub async fn open(
    store: &Store,
    user: &User,
    client: &Client,
    now: i64,
) -> StoreResult<(String, Session)> {
    let secret = secrets::generate(SECRET_PREFIX);
    let user_agent = client
        .user_agent
        .as_deref()
        .map(|ua| ua.chars().take(256).collect::<String>());
    let row = store
        .insert_session(
            &NewSessionRow {
                token_hash: &secrets::hash(&secret),
                user_id: user.id,
                idle_expires_at: now + IDLE_MS,
                absolute_expires_at: now + ABSOLUTE_MS,
                client_address: client.address.as_deref(),
                user_agent: user_agent.as_deref(),
            },
            now,
        )
        .await?;
    Ok((secret, Session::from(&row)))
}

/// Who a cookie's secret signs in, if its session is live and its user may still sign in; the
/// session's idle expiry moves on with use.
pub async fn resolve(
    store: &Store,
    secret: &str,
    now: i64,
) -> StoreResult<Option<(Session, User)>> {
    if !secret.starts_with(SECRET_PREFIX) {
        return Ok(None);
    }
    let Some((row, user)) = store.session_and_user(&secrets::hash(secret)).await? else {
        return Ok(None);
    };
    if row.revoked_at.is_some() || now >= row.idle_expires_at || now >= row.absolute_expires_at {
        return Ok(None);
    }
    let user = User::from_row(&user)?;
    if !user.can_sign_in() {
        return Ok(None);
    }
    let mut row = row;
    if now - row.last_seen_at >= TOUCH_EVERY_MS {
        row.last_seen_at = now;
        row.idle_expires_at = now + IDLE_MS;
        store
            .touch_session(row.id, now, row.idle_expires_at)
            .await?;
    }
    Ok(Some((Session::from(&row), user)))
}

/// The user's live sessions, newest first.
pub async fn list(store: &Store, user: i64, now: i64) -> StoreResult<Vec<Session>> {
    Ok(store
        .user_sessions(user)
        .await?
        .iter()
        .filter(|s| now < s.idle_expires_at && now < s.absolute_expires_at)
        .map(Session::from)
        .collect())
}

/// End one of the user's sessions (sign-out, or revoking a forgotten one).
pub async fn revoke(store: &Store, user: i64, session: i64, now: i64) -> StoreResult<()> {
    store.revoke_session(user, session, now).await
}
