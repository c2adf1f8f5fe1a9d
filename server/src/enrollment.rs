//! Enrollment: an agent trades a tenant's enrollment token for its own credential.

use atalaya_shared::{EnrollRequest, EnrollResponse, PROTOCOL_VERSION};

use crate::store::agents::NewAgent;
use crate::store::tokens::EnrollmentRefusal;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("enrollment token refused: {0:?}")]
    Refused(EnrollmentRefusal),
    #[error("invalid enrollment request: {0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Consume one use of the token and register the agent, atomically: a refused or failed
/// enrollment changes nothing.
pub async fn enroll(
    store: &Store,
    request: &EnrollRequest,
    report_interval_secs: u64,
) -> Result<EnrollResponse, EnrollError> {
    let hostname = request.host.hostname.trim();
    if hostname.is_empty() || hostname.len() > 255 {
        return Err(EnrollError::Invalid(
            "host.hostname must be 1-255 characters".into(),
        ));
    }
    if request.agent_version.is_empty() || request.agent_version.len() > 64 {
        return Err(EnrollError::Invalid(
            "agent_version must be 1-64 characters".into(),
        ));
    }
    let mut tx = store.begin().await?;
    let token = match Store::consume_enrollment_token(&mut tx, &request.token).await? {
        Ok(token) => token,
        Err(refusal) => {
            tx.rollback().await.map_err(StoreError::from)?;
            return Err(EnrollError::Refused(refusal));
        }
    };
    let (agent_id, credential) = Store::create_agent(
        &mut tx,
        &NewAgent {
            tenant: token.tenant_id,
            site_id: token.site_id,
            enrollment_token_id: token.id,
            hostname,
            agent_version: &request.agent_version,
        },
    )
    .await?;
    tx.commit().await.map_err(StoreError::from)?;
    let tenant = store.tenant_by_id(token.tenant_id).await?;
    Ok(EnrollResponse {
        protocol: PROTOCOL_VERSION,
        agent_id,
        credential,
        tenant: tenant.name,
        report_interval_secs,
    })
}
