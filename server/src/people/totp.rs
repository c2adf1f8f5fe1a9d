//! The second factor: time-based one-time codes (RFC 6238: SHA-1, 6 digits, 30 s, as every
//! authenticator app reads them), set up by the person and confirmed with a first code, asked
//! at sign-in, each code good once. An admin can require one for a tenant's people or for the
//! MSP's own; someone required to have one and without it can sign in only to set it up.

use totp_rs::{Algorithm, Secret, TOTP};

use super::users::User;
use crate::store::{Store, StoreError, StoreResult};

pub const ISSUER: &str = "Atalaya";
const STEP_SECS: u64 = 30;

fn totp(secret_base32: &str, account: &str) -> StoreResult<TOTP> {
    let bytes = Secret::Encoded(secret_base32.to_string())
        .to_bytes()
        .map_err(|e| {
            StoreError::Invalid(format!("the stored second factor is unreadable: {e:?}"))
        })?;
    TOTP::new(
        Algorithm::SHA1,
        6,
        1,
        STEP_SECS,
        bytes,
        Some(ISSUER.to_string()),
        account.to_string(),
    )
    .map_err(|e| StoreError::Invalid(format!("second factor: {e}")))
}

/// The time step `code` is right for, within one step of `now` (clocks drift), if any.
pub fn step_of(
    secret_base32: &str,
    account: &str,
    code: &str,
    now_ms: i64,
) -> StoreResult<Option<i64>> {
    let totp = totp(secret_base32, account)?;
    let code = code.trim().replace(' ', "");
    let now = u64::try_from(now_ms / 1000).unwrap_or(0);
    let step = now / STEP_SECS;
    for candidate in [step.saturating_sub(1), step, step + 1] {
        if totp.generate(candidate * STEP_SECS) == code {
            return Ok(i64::try_from(candidate).ok());
        }
    }
    Ok(None)
}

/// A new secret for `user` (pending until [`confirm`]): the base32 secret and the
/// `otpauth://` URL an authenticator app scans.
pub async fn begin(store: &Store, user: &User) -> StoreResult<(String, String)> {
    if user.totp_enabled {
        return Err(StoreError::Conflict(
            "a second factor is set up already; remove it first to set up another".into(),
        ));
    }
    let secret = match Secret::generate_secret().to_encoded() {
        Secret::Encoded(text) => text,
        Secret::Raw(_) => return Err(StoreError::Invalid("secret encoding".into())),
    };
    let url = totp(&secret, &user.email)?.get_url();
    store.set_totp_secret(user.id, Some(&secret)).await?;
    Ok((secret, url))
}

/// Whether `code` is right now for the user's secret (pending or set up) and not used before;
/// a right code also confirms a pending secret.
pub async fn check(store: &Store, user: i64, code: &str, now_ms: i64) -> StoreResult<bool> {
    let row = store.user(user).await?;
    let Some(secret) = row.totp_secret.as_deref() else {
        return Ok(false);
    };
    match step_of(secret, &row.email, code, now_ms)? {
        Some(step) => store.use_totp_step(user, step, now_ms).await,
        None => Ok(false),
    }
}

/// Remove the user's second factor (refused while the policy requires one, unless an admin
/// resets it for someone who lost their device: `by_admin`).
pub async fn remove(store: &Store, user: &User, by_admin: bool) -> StoreResult<()> {
    if user.totp_required && !by_admin {
        return Err(StoreError::Invalid(
            "the policy requires a second factor: set up another instead of removing it".into(),
        ));
    }
    store.set_totp_secret(user.id, None).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_of_the_step_and_its_neighbours_are_right_and_no_others() {
        let secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let totp = totp(secret, "ana@msp.example").expect("totp");
        let now_ms = 1_790_000_000_000i64;
        let step = (now_ms / 1000) as u64 / STEP_SECS;
        for (offset, expected) in [(-1i64, true), (0, true), (1, true), (-2, false), (2, false)] {
            let at = (step as i64 + offset) as u64 * STEP_SECS;
            let code = totp.generate(at);
            let found = step_of(secret, "ana@msp.example", &code, now_ms).expect("check");
            assert_eq!(found.is_some(), expected, "offset {offset}");
        }
        assert_eq!(
            step_of(secret, "x", "000000", now_ms)
                .expect("check")
                .is_some(),
            totp.generate(step * STEP_SECS) == "000000"
        );
        let url = totp.get_url();
        assert!(
            url.starts_with("otpauth://totp/Atalaya:ana%40msp.example?"),
            "{url}"
        );
    }
}
