//! Bearer secrets: generation and the hash under which they are stored.
//!
//! Every secret Atalaya issues is 256 random bits, so a single SHA-256 is enough to store it
//! safely (there is nothing to brute-force); a slow password hash such as argon2 would only cost
//! CPU on every agent report. The server never stores or logs the secret itself.

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Prefixes tell an operator what a leaked string is at a glance.
pub const ADMIN_TOKEN_PREFIX: &str = "atl_";
pub const ENROLLMENT_TOKEN_PREFIX: &str = "ate_";
pub const AGENT_CREDENTIAL_PREFIX: &str = "ata_";

/// A new random secret with the given prefix.
pub fn generate(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!(
        "{prefix}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    )
}

/// The stored form of a secret.
pub fn hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_unique_prefixed_and_hash_stably() {
        let a = generate(ADMIN_TOKEN_PREFIX);
        let b = generate(ADMIN_TOKEN_PREFIX);
        assert_ne!(a, b);
        assert!(a.starts_with("atl_"));
        assert_eq!(a.len(), 4 + 43);
        assert_eq!(hash(&a), hash(&a));
        assert_ne!(hash(&a), hash(&b));
        assert_eq!(hash(&a).len(), 64);
    }
}
