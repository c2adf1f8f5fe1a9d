//! `atalaya-agent enroll`: trade an enrollment token for this agent's credential.

use anyhow::{Context, Result};
use atalaya_shared::protocol::{EnrollRequest, EnrollResponse, PROTOCOL_VERSION};
use chrono::Utc;

use crate::cli::EnrollArgs;
use crate::client;
use crate::collect::{Collector, AGENT_VERSION};
use crate::error::AgentError;
use crate::state::{Credential, SeqCounter, StateDir};

pub async fn command(dir: &StateDir, args: EnrollArgs) -> Result<()> {
    let server = client::normalize_server_url(&args.server)?;
    let ca_cert = match &args.ca_cert {
        // Stored absolute: `run` may start from another working directory.
        Some(p) => Some(
            std::fs::canonicalize(p).with_context(|| format!("CA certificate {}", p.display()))?,
        ),
        None => None,
    };
    let http = client::build(ca_cert.as_deref())?;
    // Fail before talking to the server if the credential could not be saved anyway.
    dir.ensure()?;

    let host = Collector::new().collect().await.host;
    let request = EnrollRequest {
        protocol: PROTOCOL_VERSION,
        token: args.token,
        agent_version: AGENT_VERSION.to_owned(),
        host,
    };
    let url = format!("{server}/api/v1/agent/enroll");
    let response = http.post(&url).json(&request).send().await.map_err(|e| {
        AgentError::Unavailable(format!("cannot reach {url}: {}", client::error_chain(&e)))
    })?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| AgentError::Unavailable(format!("reading the answer of {url}: {e}")))?;
    if status.is_client_error() {
        return Err(AgentError::Rejected(format!(
            "the server refused the enrollment ({status}): {}",
            client::describe_error_body(&body)
        ))
        .into());
    }
    if !status.is_success() {
        return Err(AgentError::Unavailable(format!(
            "the server failed to enroll this agent ({status}): {}",
            client::describe_error_body(&body)
        ))
        .into());
    }
    let enrolled: EnrollResponse = serde_json::from_slice(&body).with_context(|| {
        format!(
            "the server's enrollment answer is not valid: {}",
            client::describe_error_body(&body)
        )
    })?;

    let credential = Credential {
        server_url: server,
        agent_id: enrolled.agent_id,
        credential: enrolled.credential,
        tenant: enrolled.tenant,
        report_interval_secs: enrolled.report_interval_secs,
        ca_cert,
        enrolled_at: Utc::now(),
    };
    credential.save(dir)?;
    // A new machine starts counting at 1; a re-enrolled one keeps its counter.
    SeqCounter::create_if_missing(dir)?;
    tracing::info!(agent_id = %credential.agent_id, tenant = %credential.tenant, "enrolled");
    println!(
        "enrolled as agent {} in tenant {}; credential saved to {}",
        credential.agent_id,
        credential.tenant,
        dir.credential_path().display()
    );
    Ok(())
}
