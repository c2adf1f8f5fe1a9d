//! Signing in with a password: the credentials checked, a session opened — or refused, and
//! throttled when an account or an address has failed too often lately (guessing a password
//! takes a lifetime at five tries per quarter of an hour). Failures are counted in the database,
//! so the limit holds across replicas; an unknown email is throttled like a known one, so the
//! answers do not tell which accounts exist.

use super::sessions::{self, Client, Session};
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
    /// The secret for the cookie, the session and who signed in.
    SignedIn(String, Session, User),
    /// Wrong email or password (the same answer for both).
    Refused,
    /// Too many failures lately; try again in this many seconds.
    Throttled { retry_after_secs: i64 },
}

pub async fn sign_in(
    store: &Store,
    email: &str,
    password: &str,
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
        Some(user) => {
            store
                .clear_sign_in_failures(&account, now - WINDOW_MS)
                .await?;
            let (secret, session) = sessions::open(store, &user, client, now).await?;
            Ok(Outcome::SignedIn(secret, session, user))
        }
        None => {
            store.insert_sign_in_failure(&account, address, now).await?;
            Ok(Outcome::Refused)
        }
    }
}
