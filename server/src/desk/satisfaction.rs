//! Satisfaction links: `/satisfaction/{token}`, where the token names a ticket and carries an
//! HMAC-SHA256 of it under a key only the server knows, so a requester can rate their own
//! ticket without an account and nobody can forge a link to rate another.

use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::store::tickets::TicketKind;

/// The `server_secrets` name of the signing key.
pub const KEY_NAME: &str = "satisfaction-link";

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the link is malformed")]
    Malformed,
    #[error("the link's signature is not valid")]
    BadSignature,
}

fn mac(key: &str, kind: TicketKind, id: i64) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("atalaya-satisfaction:{}:{id}", kind_code(kind)).as_bytes());
    mac
}

fn kind_code(kind: TicketKind) -> &'static str {
    match kind {
        TicketKind::Incident => "i",
        TicketKind::ServiceRequest => "r",
    }
}

/// `i42.<signature>` for incident 42, `r7.<signature>` for service request 7.
pub fn token(key: &str, kind: TicketKind, id: i64) -> String {
    let signature = mac(key, kind, id).finalize().into_bytes();
    format!(
        "{}{id}.{}",
        kind_code(kind),
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(signature)
    )
}

/// The ticket a token names, if its signature holds (compared in constant time).
pub fn verify(key: &str, token: &str) -> Result<(TicketKind, i64), TokenError> {
    let (name, signature) = token.split_once('.').ok_or(TokenError::Malformed)?;
    let kind = match name.get(..1) {
        Some("i") => TicketKind::Incident,
        Some("r") => TicketKind::ServiceRequest,
        _ => return Err(TokenError::Malformed),
    };
    let id: i64 = name[1..].parse().map_err(|_| TokenError::Malformed)?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| TokenError::Malformed)?;
    mac(key, kind, id)
        .verify_slice(&signature)
        .map_err(|_| TokenError::BadSignature)?;
    Ok((kind, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_under_their_key_and_for_their_ticket() {
        let t = token("k1", TicketKind::Incident, 42);
        assert!(t.starts_with("i42."), "{t}");
        assert_eq!(verify("k1", &t), Ok((TicketKind::Incident, 42)));
        assert_eq!(verify("k2", &t), Err(TokenError::BadSignature));
        let r = token("k1", TicketKind::ServiceRequest, 7);
        assert_eq!(verify("k1", &r), Ok((TicketKind::ServiceRequest, 7)));
        // Someone else's ticket with this ticket's signature.
        let forged = t.replacen("i42", "i43", 1);
        assert_eq!(verify("k1", &forged), Err(TokenError::BadSignature));
        let swapped = t.replacen('i', "r", 1);
        assert_eq!(verify("k1", &swapped), Err(TokenError::BadSignature));
        for bad in ["", "i42", "x42.abc", "i.abc", "i42.!!", "i-1x.abc"] {
            assert_eq!(verify("k1", bad), Err(TokenError::Malformed), "{bad}");
        }
    }
}
