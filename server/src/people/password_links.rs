//! One-time links that set a password, mailed through the outbox: a reset a person asks for
//! (valid an hour) and an invitation a new person gets (valid a week). The secret is in the
//! link only; the database keeps its hash. Using a link sets the password, ends the person's
//! sessions and voids their other links.

use serde_json::json;

use super::password;
use super::users::{self, User};
use crate::secrets;
use crate::store::password_links::{self as rows, PasswordLinkRow};
use crate::store::{outbox, to_time, Store, StoreError, StoreResult};

pub const SECRET_PREFIX: &str = "atp_";
pub const RESET_MS: i64 = 3_600_000;
pub const INVITATION_MS: i64 = 7 * 86_400_000;
/// A second reset asked within this long of the first sends nothing: the first is on its way,
/// and nobody can flood a mailbox through the form.
pub const RESET_REPEAT_MS: i64 = 5 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    Reset,
    Invitation,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Reset => "reset",
            Purpose::Invitation => "invitation",
        }
    }

    /// The outbox event (and built-in email) of the link.
    fn event(self) -> &'static str {
        match self {
            Purpose::Reset => "password_reset",
            Purpose::Invitation => "invitation",
        }
    }

    fn lifetime_ms(self) -> i64 {
        match self {
            Purpose::Reset => RESET_MS,
            Purpose::Invitation => INVITATION_MS,
        }
    }
}

/// The page a link opens: `{public_url}/password/{secret}`.
pub fn url(public_url: &str, secret: &str) -> String {
    format!("{}/password/{secret}", public_url.trim_end_matches('/'))
}

/// Mail `user` a link of `purpose`; `invited_by` names who invites. Returns whether one was
/// queued (a reset asked again within [`RESET_REPEAT_MS`] is not).
pub async fn send(
    store: &Store,
    user: &User,
    purpose: Purpose,
    public_url: &str,
    invited_by: Option<&str>,
    now: i64,
) -> StoreResult<bool> {
    if user.placeholder || !user.active {
        return Err(StoreError::Invalid(format!(
            "{} is deactivated (or a placeholder): no link is sent",
            user.email
        )));
    }
    let mut tx = store.begin().await?;
    if purpose == Purpose::Reset {
        if let Some(open) = rows::newest_open(&mut tx, user.id, now).await? {
            if now - open.created_at < RESET_REPEAT_MS {
                return Ok(false);
            }
        }
    }
    let secret = secrets::generate(SECRET_PREFIX);
    let expires_at = now + purpose.lifetime_ms();
    let link = rows::insert(
        &mut tx,
        &secrets::hash(&secret),
        user.id,
        purpose.as_str(),
        now,
        expires_at,
    )
    .await?;
    let payload = json!({
        "event": purpose.event(),
        "user": {"id": user.id, "email": user.email, "display_name": user.display_name,
                 "role": user.role.as_str()},
        "link": url(public_url, &secret),
        "expires_at": to_time(expires_at).format("%Y-%m-%d %H:%M UTC").to_string(),
        "invited_by": invited_by,
    });
    outbox::enqueue_personal(
        &mut tx,
        user.tenant_id,
        &user.email,
        purpose.event(),
        &format!("password-link:{}", link.id),
        &payload,
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// Why a link does not set a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Used,
    Expired,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Unknown => "this link is not known; ask for a new one",
            Refusal::Used => "this link was used already; ask for a new one",
            Refusal::Expired => "this link has expired; ask for a new one",
        }
    }
}

/// Whom a link is for, if it can still be used.
pub async fn check(store: &Store, secret: &str, now: i64) -> StoreResult<Result<User, Refusal>> {
    let mut tx = store.begin().await?;
    let found = rows::by_hash(&mut tx, &secrets::hash(secret)).await?;
    tx.commit().await?;
    match usable(found, now) {
        Ok(row) => Ok(Ok(users::get(store, row.user_id).await?)),
        Err(refusal) => Ok(Err(refusal)),
    }
}

fn usable(row: Option<PasswordLinkRow>, now: i64) -> Result<PasswordLinkRow, Refusal> {
    let row = row.ok_or(Refusal::Unknown)?;
    if row.used_at.is_some() {
        return Err(Refusal::Used);
    }
    if now >= row.expires_at {
        return Err(Refusal::Expired);
    }
    Ok(row)
}

/// Set the password the link is for (after the policy): the link and the person's other links
/// are used up, their sessions end.
pub async fn redeem(
    store: &Store,
    secret: &str,
    new_password: &str,
    now: i64,
) -> StoreResult<Result<User, Refusal>> {
    password::check_policy(new_password).map_err(StoreError::Invalid)?;
    let mut tx = store.begin().await?;
    let found = rows::by_hash(&mut tx, &secrets::hash(secret)).await?;
    let row = match usable(found, now) {
        Ok(row) => row,
        Err(refusal) => return Ok(Err(refusal)),
    };
    rows::use_all(&mut tx, row.user_id, now).await?;
    tx.commit().await?;
    users::set_password(store, row.user_id, new_password, now).await?;
    Ok(Ok(users::get(store, row.user_id).await?))
}
