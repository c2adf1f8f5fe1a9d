//! Passwords: the policy a new one must meet, and Argon2id (the `argon2` crate's defaults, OWASP's
//! recommended parameters) to store and check it. A hash is paid at sign-in and on a change only.

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

pub const MIN_LENGTH: usize = 12;
/// Longer input only costs the hash time; nobody types more.
pub const MAX_LENGTH: usize = 1024;

/// Why a password is refused, in words for the person choosing it.
pub fn check_policy(password: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(format!(
            "a password needs at least {MIN_LENGTH} characters (this one has {length})"
        ));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("a password may have at most {MAX_LENGTH} bytes"));
    }
    if password.trim().is_empty() {
        return Err("a password cannot be only spaces".into());
    }
    Ok(())
}

/// The PHC string to store for `password`.
pub fn hash(password: &str) -> Result<String, String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("hashing the password: {e}"))
}

/// Whether `password` is the one `stored` was made from; a malformed `stored` matches nothing.
pub fn verify(password: &str, stored: &str) -> bool {
    if password.len() > MAX_LENGTH {
        return false;
    }
    PasswordHash::new(stored)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spend what a real check spends, for an account that does not exist, so the time a sign-in
/// takes does not tell whether an email is registered.
pub fn verify_nothing(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("not anybody's password").unwrap_or_default());
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let stored = hash("correct horse battery").expect("hash");
        assert!(stored.starts_with("$argon2id$"), "{stored}");
        assert!(verify("correct horse battery", &stored));
        assert!(!verify("correct horse battery!", &stored));
        assert!(!verify("correct horse battery", "not a phc string"));
        assert_ne!(
            stored,
            hash("correct horse battery").expect("hash"),
            "salted"
        );
    }

    #[test]
    fn the_policy_says_what_is_wrong() {
        assert!(check_policy("short")
            .expect_err("refused")
            .contains("at least 12"));
        assert!(check_policy(&" ".repeat(20))
            .expect_err("refused")
            .contains("spaces"));
        assert!(check_policy(&"x".repeat(MAX_LENGTH + 1))
            .expect_err("refused")
            .contains("at most"));
        assert!(check_policy("twelve chars").is_ok());
    }
}
