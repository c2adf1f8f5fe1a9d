//! Sends spooled reports to the server, oldest first, and decides what each answer means:
//! acknowledged (delete), refused for good (move aside), credential refused (stop, keep
//! everything), or "try again later" (exponential backoff with full jitter, `Retry-After`).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use anyhow::Result;
use atalaya_shared::protocol::{AgentConfig, ReportAck};
use rand::Rng;
use reqwest::{header, StatusCode};

use crate::client;
use crate::spool::Spool;
use crate::state::Credential;

/// One agent's connection to the report endpoint.
pub struct Uploader {
    http: reqwest::Client,
    report_url: String,
    config_url: String,
    agent_id: String,
    bearer: String,
}

/// Why a report was not acknowledged.
#[derive(Debug)]
pub enum SendError {
    /// A 4xx the same report will always get (bad request, unsupported protocol…).
    Rejected { status: u16, detail: String },
    /// 401/403: the credential is unknown or revoked. Nothing is deleted.
    Unauthorized { status: u16, detail: String },
    /// Connection failure, timeout, 5xx, 408, 429, or an answer we could not make sense of.
    Transient {
        detail: String,
        retry_after: Option<Duration>,
    },
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Rejected { status, detail } => {
                write!(f, "server rejected the report ({status}): {detail}")
            }
            SendError::Unauthorized { status, detail } => {
                write!(f, "server refused this agent's credential ({status}): {detail}; enroll the agent again")
            }
            SendError::Transient { detail, .. } => f.write_str(detail),
        }
    }
}

impl Uploader {
    pub fn new(credential: &Credential) -> Result<Uploader> {
        Ok(Uploader {
            http: client::build(credential.ca_cert.as_deref())?,
            report_url: format!("{}/api/v1/agent/report", credential.server_url),
            config_url: format!("{}/api/v1/agent/config", credential.server_url),
            agent_id: credential.agent_id.clone(),
            bearer: credential.credential.clone(),
        })
    }

    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// POSTs one report body and classifies the answer.
    pub async fn send(&self, body: Vec<u8>) -> Result<ReportAck, SendError> {
        let response = self
            .http
            .post(&self.report_url)
            .bearer_auth(&self.bearer)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| SendError::Transient {
                detail: format!(
                    "cannot reach {}: {}",
                    self.report_url,
                    client::error_chain(&e)
                ),
                retry_after: None,
            })?;
        let status = response.status();
        let retry_after = parse_retry_after(response.headers());
        let body = response.bytes().await.map_err(|e| SendError::Transient {
            detail: format!("reading the answer ({status}): {e}"),
            retry_after,
        })?;
        let detail = || client::describe_error_body(&body);
        match status {
            s if s.is_success() => {
                serde_json::from_slice(&body).map_err(|e| SendError::Transient {
                    detail: format!(
                        "the server's acknowledgement is not valid ({e}): {}",
                        detail()
                    ),
                    retry_after: None,
                })
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(SendError::Unauthorized {
                status: status.as_u16(),
                detail: detail(),
            }),
            StatusCode::REQUEST_TIMEOUT | StatusCode::TOO_MANY_REQUESTS => {
                Err(SendError::Transient {
                    detail: format!("server asked to retry later ({status}): {}", detail()),
                    retry_after,
                })
            }
            s if s.is_client_error() => Err(SendError::Rejected {
                status: s.as_u16(),
                detail: detail(),
            }),
            _ => Err(SendError::Transient {
                detail: format!("server failed ({status}): {}", detail()),
                retry_after,
            }),
        }
    }
}

impl Uploader {
    /// `GET /api/v1/agent/config`: the config the server wants this agent to run.
    pub async fn fetch_config(&self) -> Result<AgentConfig, SendError> {
        let transient = |detail: String| SendError::Transient {
            detail,
            retry_after: None,
        };
        let response = self
            .http
            .get(&self.config_url)
            .bearer_auth(&self.bearer)
            .send()
            .await
            .map_err(|e| {
                transient(format!(
                    "cannot reach {}: {}",
                    self.config_url,
                    client::error_chain(&e)
                ))
            })?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| transient(format!("reading the agent config ({status}): {e}")))?;
        match status {
            s if s.is_success() => serde_json::from_slice(&body).map_err(|e| {
                transient(format!(
                    "the agent config from the server is not valid ({e}): {}",
                    client::describe_error_body(&body)
                ))
            }),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(SendError::Unauthorized {
                status: status.as_u16(),
                detail: client::describe_error_body(&body),
            }),
            s => Err(transient(format!(
                "the server did not return the agent config ({s}): {}",
                client::describe_error_body(&body)
            ))),
        }
    }
}

/// `Retry-After` in seconds (the HTTP-date form is not used by Atalaya's server).
pub fn parse_retry_after(headers: &header::HeaderMap) -> Option<Duration> {
    let secs: u64 = headers
        .get(header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(secs))
}

/// Exponential backoff with full jitter: the n-th wait is uniform in [0, min(cap, base·2ⁿ)],
/// and never shorter than the server's `Retry-After` (itself bounded by `max_retry_after`).
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    max_retry_after: Duration,
    failures: u32,
}

impl Backoff {
    pub fn new(base: Duration, cap: Duration, max_retry_after: Duration) -> Self {
        Self {
            base,
            cap,
            max_retry_after,
            failures: 0,
        }
    }

    pub fn failures(&self) -> u32 {
        self.failures
    }

    pub fn reset(&mut self) {
        self.failures = 0;
    }

    pub fn next_delay(&mut self, retry_after: Option<Duration>) -> Duration {
        let exp = self
            .base
            .saturating_mul(2u32.saturating_pow(self.failures.min(30)))
            .min(self.cap);
        self.failures = self.failures.saturating_add(1);
        let jittered =
            Duration::from_millis(rand::thread_rng().gen_range(0..=exp.as_millis() as u64));
        jittered.max(retry_after.unwrap_or_default().min(self.max_retry_after))
    }
}

/// How a [`drain`] ended.
#[derive(Debug)]
pub enum Drained {
    /// The spool is empty; `rejected` reports were moved aside on the way.
    Empty { sent: u64, rejected: u64 },
    /// The credential was refused; everything is still spooled.
    Unauthorized(SendError),
    /// `give_up_after` consecutive failures; everything unsent is still spooled.
    GaveUp(SendError),
}

/// Sends spooled reports oldest first until the spool is empty, retrying transient failures
/// with `backoff` (forever when `give_up_after` is `None`). `on_ack` sees every acknowledgement.
pub async fn drain(
    spool: &Mutex<Spool>,
    uploader: &Uploader,
    backoff: &mut Backoff,
    give_up_after: Option<u32>,
    on_ack: &mut dyn FnMut(&ReportAck),
) -> Drained {
    let (mut sent, mut rejected) = (0, 0);
    loop {
        let taken = lock(spool).take_oldest();
        let (seq, bytes) = match taken {
            Ok(Some(item)) => item,
            Ok(None) => return Drained::Empty { sent, rejected },
            Err(e) => {
                // An unreadable spool file: treat like a failed send and retry later.
                let err = SendError::Transient {
                    detail: format!("{e:#}"),
                    retry_after: None,
                };
                if let Some(ended) = wait_or_give_up(backoff, give_up_after, err).await {
                    return ended;
                }
                continue;
            }
        };
        let Some(body) = body_for(&bytes, seq, uploader.agent_id()) else {
            tracing::error!(seq, "spooled report is not valid JSON; moved to rejected/");
            reject(spool, seq);
            rejected += 1;
            continue;
        };
        match uploader.send(body).await {
            Ok(ack) if ack.seq == seq => {
                if let Err(e) = lock(spool).acknowledge(seq) {
                    tracing::error!(seq, error = %format!("{e:#}"), "acknowledged report could not be removed from the spool; the server will ignore the replay");
                }
                tracing::debug!(seq, duplicate = ack.duplicate, "report acknowledged");
                backoff.reset();
                sent += 1;
                on_ack(&ack);
            }
            Ok(ack) => {
                lock(spool).release(seq);
                let err = SendError::Transient {
                    detail: format!(
                        "server acknowledged seq {} for report {seq}; keeping it",
                        ack.seq
                    ),
                    retry_after: None,
                };
                if let Some(ended) = wait_or_give_up(backoff, give_up_after, err).await {
                    return ended;
                }
            }
            Err(err @ SendError::Rejected { .. }) => {
                tracing::error!(seq, error = %err, "report moved to rejected/ so it does not block the queue");
                reject(spool, seq);
                rejected += 1;
            }
            Err(err @ SendError::Unauthorized { .. }) => {
                lock(spool).release(seq);
                return Drained::Unauthorized(err);
            }
            Err(err) => {
                lock(spool).release(seq);
                if let Some(ended) = wait_or_give_up(backoff, give_up_after, err).await {
                    return ended;
                }
            }
        }
    }
}

async fn wait_or_give_up(
    backoff: &mut Backoff,
    give_up_after: Option<u32>,
    err: SendError,
) -> Option<Drained> {
    if give_up_after.is_some_and(|n| backoff.failures() + 1 >= n) {
        return Some(Drained::GaveUp(err));
    }
    let retry_after = match &err {
        SendError::Transient { retry_after, .. } => *retry_after,
        _ => None,
    };
    let delay = backoff.next_delay(retry_after);
    tracing::warn!(error = %err, retry_in_ms = delay.as_millis() as u64, "upload failed; will retry");
    tokio::time::sleep(delay).await;
    None
}

/// The body to send: the spooled report with the current agent id (it changes when the
/// machine is re-enrolled while reports wait; the sequence number does not). Edited as plain
/// JSON so fields this build does not model are sent unchanged.
fn body_for(bytes: &[u8], seq: u64, agent_id: &str) -> Option<Vec<u8>> {
    let mut report: serde_json::Map<String, serde_json::Value> =
        serde_json::from_slice(bytes).ok()?;
    if report.get("seq")?.as_u64()? != seq {
        return None;
    }
    if report.get("agent_id")?.as_str()? == agent_id {
        return Some(bytes.to_vec());
    }
    report.insert("agent_id".into(), agent_id.into());
    serde_json::to_vec(&report).ok()
}

fn reject(spool: &Mutex<Spool>, seq: u64) {
    if let Err(e) = lock(spool).reject(seq) {
        tracing::error!(seq, error = %format!("{e:#}"), "could not move the report to rejected/");
    }
}

/// A panic elsewhere cannot leave the spool index half-updated in a way that matters (every
/// change is one file operation followed by one map update), so a poisoned lock is still usable.
pub fn lock(spool: &Mutex<Spool>) -> MutexGuard<'_, Spool> {
    spool.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests;
