//! Signing in with a password: the credentials checked, a session opened — or refused, and
//! throttled when an account or an address has failed too often lately (guessing a password
//! takes a lifetime at five tries per quarter of an hour). Failures are counted in the database,
//! so the limit holds across replicas; an unknown email is throttled like a known one, so the
//! answers do not tell which accounts exist.

use super::sessions::{self, Client, Session};
use super::totp;
use super::users::{self, User};
use crate::store::sign_in_failures::FailureCount;
use crate::store::{Store, StoreResult};

/// Failures of one account within [`WINDOW_MS`] before it is throttled.
pub const ACCOUNT_LIMIT: i64 = 5;
/// Failures from one client address (any accounts) within the window before it is throttled.
pub const ADDRESS_LIMIT: i64 = 30;
pub const WINDOW_MS: i64 = 15 * 60_000;

#[derive(Debug)]
pub enum Outcome {
    SignedIn(Box<SignedIn>),
    /// Wrong email or password (the same answer for both).
    Refused,
    /// The password is right; the account has a second factor, and no code came with it.
    CodeNeeded,
    /// The second factor's code is wrong (or was used already).
    WrongCode,
    /// Too many failures lately; try again in this many seconds.
    Throttled {
        retry_after_secs: i64,
    },
}

/// A new session: the secret for the cookie, the session and who signed in.
#[derive(Debug)]
pub struct SignedIn {
    pub secret: String,
    pub session: Session,
    pub user: User,
}

pub async fn sign_in(
    store: &Store,
    email: &str,
    password: &str,
    code: Option<&str>,
    client: &Client,
    now: i64,
) -> StoreResult<Outcome> {
    let account = email.trim().to_lowercase();
    let address = client.address.as_deref();
    let (by_account, by_address) = store
        .sign_in_failures_since(&account, address, now - WINDOW_MS)
        .await?;
    let over = |count: FailureCount, limit| {
        (count.count >= limit).then(|| count.oldest.unwrap_or(now) + WINDOW_MS)
    };
    let free_at = [
        over(by_account, ACCOUNT_LIMIT),
        address.and(over(by_address, ADDRESS_LIMIT)),
    ]
    .into_iter()
    .flatten()
    .max();
    if let Some(free_at) = free_at {
        return Ok(Outcome::Throttled {
            retry_after_secs: ((free_at - now) / 1000).max(1),
        });
    }
    match users::authenticate(store, &account, password).await? {
        Some(user) if user.totp_enabled => match code {
            None => Ok(Outcome::CodeNeeded),
            Some(code) if totp::check(store, user.id, code, now).await? => {
                signed_in(store, &account, user, client, now).await
            }
            Some(_) => {
                store.insert_sign_in_failure(&account, address, now).await?;
                Ok(Outcome::WrongCode)
            }
        },
        Some(user) => signed_in(store, &account, user, client, now).await,
        None => {
            store.insert_sign_in_failure(&account, address, now).await?;
            Ok(Outcome::Refused)
        }
    }
}

async fn signed_in(
    store: &Store,
    account: &str,
    user: User,
    client: &Client,
    now: i64,
) -> StoreResult<Outcome> {
    store
        .clear_sign_in_failures(account, now - WINDOW_MS)
        .await?;
    let (secret, session) = sessions::open(store, &user, client, now).await?;
    Ok(Outcome::SignedIn(Box::new(SignedIn {
        secret,
        session,
        user,
    })))
}
