//! The HTTPS client both `enroll` and the uploader use: rustls, timeouts, our user agent, an
//! optional extra trusted CA, and a readable rendering of the server's error bodies.

use std::path::Path;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use atalaya_shared::ErrorBody;

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn build(ca_cert: Option<&Path>) -> Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .user_agent(concat!("atalaya-agent/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        // One idle connection is all an agent needs; do not keep more sockets open.
        .pool_max_idle_per_host(1);
    if let Some(path) = ca_cert {
        let pem = std::fs::read(path)
            .with_context(|| format!("reading CA certificate {}", path.display()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .with_context(|| format!("{} is not a PEM certificate", path.display()))?;
        if certs.is_empty() {
            bail!("{} contains no PEM certificate", path.display());
        }
        for cert in certs {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().context("building the HTTPS client")
}

/// Checks the server URL and strips trailing slashes so paths can be appended.
pub fn normalize_server_url(url: &str) -> Result<String> {
    let parsed = reqwest::Url::parse(url).with_context(|| format!("invalid server URL {url:?}"))?;
    match parsed.scheme() {
        "https" => {}
        "http" => {
            let loopback = matches!(parsed.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
            if !loopback {
                tracing::warn!(%url, "the server URL is plain http: the credential will cross the network unencrypted");
            }
        }
        other => bail!("server URL must be http:// or https://, not {other}://"),
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        bail!("server URL must not have a query or fragment: {url:?}");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// Renders a failed response body: `code: message` from an [`ErrorBody`], else the first
/// 300 characters of whatever the server sent.
pub fn describe_error_body(body: &[u8]) -> String {
    if let Ok(e) = serde_json::from_slice::<ErrorBody>(body) {
        return format!("{}: {}", e.error.code, e.error.message);
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty response body)".into();
    }
    text.chars().take(300).collect()
}

/// reqwest's top-level message is often just "error sending request"; the cause says why.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    if text.contains("certificate") {
        text.push_str(" (if the server uses a private or self-signed certificate, pass its PEM with --ca-cert)");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_checked_and_normalised() {
        assert_eq!(
            normalize_server_url("https://a.example/").unwrap(),
            "https://a.example"
        );
        assert_eq!(
            normalize_server_url("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize_server_url("ftp://a.example").is_err());
        assert!(normalize_server_url("not a url").is_err());
    }

    #[test]
    fn error_bodies_are_rendered() {
        let body = br#"{"error":{"code":"invalid_token","message":"enrollment token expired"}}"#;
        assert_eq!(
            describe_error_body(body),
            "invalid_token: enrollment token expired"
        );
        assert_eq!(describe_error_body(b"  "), "(empty response body)");
        assert_eq!(describe_error_body(b"Bad Gateway"), "Bad Gateway");
    }

    #[test]
    fn bad_ca_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let err = build(Some(&path)).unwrap_err();
        assert!(format!("{err:#}").contains("ca.pem"), "{err:#}");
    }
}
