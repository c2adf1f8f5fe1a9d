//! Webhooks: the payload as JSON, signed so the receiver can trust it.
//!
//! `X-Atalaya-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` with the
//! channel's secret — the timestamp inside the signed text lets receivers refuse replays.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::outbox::Pending;

pub const SIGNATURE_HEADER: &str = "x-atalaya-signature";

/// The signature header value for `body` sent at `timestamp` (unix seconds).
pub fn signature(secret: &str, timestamp: i64, body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this cannot fail.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

pub async fn post(client: &reqwest::Client, message: &Pending, now: i64) -> Result<String, String> {
    let body = message.payload.to_string();
    let mut request = client
        .post(&message.target)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("idempotency-key", &message.idempotency_key)
        .header("x-atalaya-event", &message.event);
    if let Some(secret) = &message.secret {
        request = request.header(
            SIGNATURE_HEADER,
            signature(secret, now / 1000, body.as_bytes()),
        );
    }
    let response = request
        .body(body)
        .send()
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = response.status();
    if status.is_success() {
        Ok(format!("HTTP {}", status.as_u16()))
    } else {
        Err(format!("HTTP {}", status.as_u16()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_depend_on_secret_time_and_body() {
        let a = signature("s3cret", 1_800_000_000, b"{}");
        assert!(a.starts_with("t=1800000000,v1="));
        assert_eq!(a.len(), "t=1800000000,v1=".len() + 64);
        assert_ne!(a, signature("other", 1_800_000_000, b"{}"));
        assert_ne!(a, signature("s3cret", 1_800_000_001, b"{}"));
        assert_ne!(a, signature("s3cret", 1_800_000_000, b"[]"));
    }
}
