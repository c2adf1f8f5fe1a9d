//! The server's HTTP API as the simulator uses it: the admin calls (an enrollment token, the
//! incident list) and the agent calls (enroll, report), with failures sorted into kinds.

use std::time::Duration;

use anyhow::{bail, Context};
use atalaya_shared::{EnrollRequest, EnrollResponse, HostFacts, ReportAck, PROTOCOL_VERSION};
use serde::Deserialize;
use serde_json::json;

/// Why a request failed, in the words the summary counts errors by.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Failure {
    Connect,
    Timeout,
    /// The server answered with this status.
    Status(u16),
    /// The answer was not what the protocol promises.
    Body,
    Other,
}

impl Failure {
    pub fn kind(&self) -> String {
        match self {
            Failure::Connect => "connect".into(),
            Failure::Timeout => "timeout".into(),
            Failure::Status(code) => format!("http_{code}"),
            Failure::Body => "bad_answer".into(),
            Failure::Other => "other".into(),
        }
    }

    fn from_reqwest(e: &reqwest::Error) -> Self {
        if e.is_timeout() {
            Failure::Timeout
        } else if e.is_connect() {
            Failure::Connect
        } else if e.is_decode() || e.is_body() {
            Failure::Body
        } else {
            Failure::Other
        }
    }
}

/// One HTTP client for the whole fleet: keep-alive connections, at most `connections` idle.
pub fn client(connections: usize, timeout: Duration) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .pool_idle_timeout(Duration::from_secs(90))
        .tcp_nodelay(true)
        .timeout(timeout)
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("atalaya-fleet-sim/", env!("CARGO_PKG_VERSION")))
        .build()?)
}

/// The admin side of the API.
pub struct Admin {
    client: reqwest::Client,
    base: String,
    token: String,
}

/// The part of an incident the simulator reads.
#[derive(Debug, Clone, Deserialize)]
pub struct IncidentBrief {
    pub id: i64,
    pub title: String,
}

impl IncidentBrief {
    /// The host name in a rule incident's title, whose subject comes before the first `: `:
    /// `Volume / on HOST: Volume nearly full is 97.0% (critical)`.
    pub fn hostname(&self) -> Option<&str> {
        let (subject, _) = self.title.split_once(": ")?;
        subject.rsplit_once(" on ").map(|(_, host)| host)
    }
}

impl Admin {
    pub fn new(client: reqwest::Client, base: &str, token: &str) -> Self {
        Admin {
            client,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
        }
    }

    /// Create an enrollment token for `uses` enrollments; returns its secret.
    pub async fn create_enrollment_token(
        &self,
        tenant: &str,
        name: &str,
        uses: usize,
    ) -> anyhow::Result<String> {
        let response = self
            .client
            .post(format!("{}/api/v1/enrollment-tokens", self.base))
            .bearer_auth(&self.token)
            .json(&json!({"tenant": tenant, "name": name, "max_uses": uses}))
            .send()
            .await
            .context("creating an enrollment token")?;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap_or_default();
        if !status.is_success() {
            bail!("creating an enrollment token: {status} {body}");
        }
        body["secret"]
            .as_str()
            .map(str::to_string)
            .context("the enrollment token answer has no secret")
    }

    /// Newest incidents first.
    pub async fn incidents(&self, limit: u32, offset: u64) -> anyhow::Result<Vec<IncidentBrief>> {
        let response = self
            .client
            .get(format!(
                "{}/api/v1/incidents?limit={limit}&offset={offset}",
                self.base
            ))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!("listing incidents: {status}");
        }
        Ok(response.json().await?)
    }
}

/// `POST /api/v1/agent/enroll`.
pub async fn enroll(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    host: &HostFacts,
) -> Result<EnrollResponse, Failure> {
    let request = EnrollRequest {
        protocol: PROTOCOL_VERSION,
        token: token.to_string(),
        agent_version: "0.1.0".into(),
        host: host.clone(),
    };
    let response = client
        .post(format!("{base}/api/v1/agent/enroll"))
        .json(&request)
        .send()
        .await
        .map_err(|e| Failure::from_reqwest(&e))?;
    if response.status().as_u16() != 201 {
        return Err(Failure::Status(response.status().as_u16()));
    }
    response.json().await.map_err(|_| Failure::Body)
}

/// `POST /api/v1/agent/report` with a ready JSON body.
pub async fn report(
    client: &reqwest::Client,
    base: &str,
    credential: &str,
    body: Vec<u8>,
) -> Result<ReportAck, Failure> {
    let response = client
        .post(format!("{base}/api/v1/agent/report"))
        .bearer_auth(credential)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body)
        .send()
        .await
        .map_err(|e| Failure::from_reqwest(&e))?;
    if !response.status().is_success() {
        return Err(Failure::Status(response.status().as_u16()));
    }
    response.json().await.map_err(|_| Failure::Body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_from_rule_incident_title() {
        let i = IncidentBrief {
            id: 1,
            title: "Volume /home on acme-ws-000042: Volume nearly full is 97.1% (critical)".into(),
        };
        assert_eq!(i.hostname(), Some("acme-ws-000042"));
        let other = IncidentBrief {
            id: 2,
            title: "Printer jammed".into(),
        };
        assert_eq!(other.hostname(), None);
    }
}
