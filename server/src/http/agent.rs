//! Agent endpoints: enrollment, reports and the agent's config.

use atalaya_shared::{
    protocol_supported, AgentConfig, EnrollRequest, EnrollResponse, ErrorBody, ReportAck,
    ReportEnvelope, PROTOCOL_VERSION,
};
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::error::{ApiError, ApiResult, BadBody, Refused, ServerTrouble};
use super::extract::{AgentAuth, ApiJson};
use super::{AppState, Metrics};
use crate::enrollment::{self, EnrollError};
use crate::ingest;
use crate::store::tokens::EnrollmentRefusal;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(enroll))
        .routes(routes!(report))
        .routes(routes!(config))
}

/// The config this agent should run (its tenant's default under its own override). Every
/// report acknowledgement carries the same version as `config_version`; an agent whose applied
/// version differs fetches this and applies it without a restart.
#[utoipa::path(
    get,
    path = "/api/v1/agent/config",
    tag = "agent",
    operation_id = "agent_config",
    security(("agent" = [])),
    responses(
        Refused,
        (status = 200, description = "The effective agent config", body = AgentConfig),
    )
)]
async fn config(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
) -> ApiResult<Json<AgentConfig>> {
    let layers = state
        .store
        .agent_config_layers(agent.tenant, &agent.agent_id)
        .await?;
    Ok(Json(layers.resolve(state.config.report_interval_secs)))
}

fn check_protocol(version: u32) -> ApiResult<()> {
    if protocol_supported(version) {
        return Ok(());
    }
    Err(ApiError::BadRequest(
        "unsupported_protocol",
        format!(
            "protocol version {version} is not supported; this server speaks {}..={PROTOCOL_VERSION}. \
             Upgrade the agent or the server.",
            atalaya_shared::MIN_PROTOCOL_VERSION
        ),
    ))
}

/// Trade an enrollment token for an agent credential (shown once).
#[utoipa::path(
    post,
    path = "/api/v1/agent/enroll",
    tag = "agent",
    operation_id = "enroll_agent",
    request_body = EnrollRequest,
    responses(
        BadBody,
        ServerTrouble,
        (status = 201, description = "Enrolled: the agent's identity and credential", body = EnrollResponse),
        (status = 400, description = "`unsupported_protocol`, or a body that is not JSON", body = ErrorBody),
        (status = 401, description = "`invalid_token`, `token_revoked`, `token_expired` or `token_used_up`", body = ErrorBody),
    )
)]
async fn enroll(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<EnrollRequest>,
) -> ApiResult<(StatusCode, Json<EnrollResponse>)> {
    check_protocol(request.protocol)?;
    let result =
        enrollment::enroll(&state.store, &request, state.config.report_interval_secs).await;
    match result {
        Ok(mut response) => {
            // The interval the tenant's agent config asks for, so the new agent starts with it.
            if let Ok(tenant) = state
                .store
                .tenant_by_name(crate::store::TenantScope::All, &response.tenant)
                .await
            {
                if let Ok(layers) = state
                    .store
                    .agent_config_layers(tenant.id, &response.agent_id)
                    .await
                {
                    response.report_interval_secs = layers
                        .resolve(state.config.report_interval_secs)
                        .report_interval_secs;
                }
            }
            Metrics::add(&state.metrics.enrollments, 1);
            tracing::info!(agent_id = %response.agent_id, tenant = %response.tenant, hostname = %request.host.hostname, "agent enrolled");
            Ok((StatusCode::CREATED, Json(response)))
        }
        Err(EnrollError::Refused(refusal)) => {
            Metrics::add(&state.metrics.enrollments_refused, 1);
            tracing::warn!(?refusal, hostname = %request.host.hostname, "enrollment refused");
            let (code, message) = match refusal {
                EnrollmentRefusal::Unknown => {
                    ("invalid_token", "the enrollment token is not known")
                }
                EnrollmentRefusal::Revoked => {
                    ("token_revoked", "the enrollment token has been revoked")
                }
                EnrollmentRefusal::Expired => ("token_expired", "the enrollment token has expired"),
                EnrollmentRefusal::UsedUp => (
                    "token_used_up",
                    "the enrollment token has reached its use limit",
                ),
            };
            Err(ApiError::Unauthorized(code, message.into()))
        }
        Err(EnrollError::Invalid(message)) => Err(ApiError::invalid(message)),
        Err(EnrollError::Store(e)) => Err(e.into()),
    }
}

/// Submit one collection; acknowledged after commit; replays of a stored `seq` are no-ops.
#[utoipa::path(
    post,
    path = "/api/v1/agent/report",
    tag = "agent",
    operation_id = "submit_report",
    security(("agent" = [])),
    request_body = ReportEnvelope,
    responses(
        BadBody,
        Refused,
        (status = 200, description = "Committed (or already stored: `duplicate`)", body = ReportAck),
        (status = 400, description = "`unsupported_protocol`, or a body that is not JSON", body = ErrorBody),
        (status = 403, description = "`forbidden`: the report's agent_id is not the credential's", body = ErrorBody),
    )
)]
async fn report(
    State(state): State<AppState>,
    AgentAuth(agent): AgentAuth,
    ApiJson(incoming): ApiJson<ingest::IncomingReport>,
) -> ApiResult<Json<ReportAck>> {
    let report = &incoming.report;
    check_protocol(report.protocol)?;
    if report.agent_id != agent.agent_id {
        Metrics::add(&state.metrics.reports_rejected, 1);
        return Err(ApiError::Forbidden(
            "the report's agent_id does not match the credential".into(),
        ));
    }
    if let Err(message) = ingest::validate_incoming(&incoming) {
        Metrics::add(&state.metrics.reports_rejected, 1);
        tracing::warn!(agent_id = %agent.agent_id, seq = report.seq, %message, "report refused");
        return Err(ApiError::invalid(message));
    }
    let outcome = state.ingest.incoming(&agent, &incoming).await?;
    if outcome.duplicate {
        Metrics::add(&state.metrics.reports_duplicate, 1);
    } else {
        Metrics::add(&state.metrics.reports_stored, 1);
        Metrics::add(
            &state.metrics.incidents_opened,
            outcome.incidents_opened as u64,
        );
    }
    // The acknowledgement names the config the agent should run: as the report's transaction
    // read it, or (a replay) read now.
    let layers = match outcome.config {
        Some(layers) => layers,
        None => {
            state
                .store
                .agent_config_layers(agent.tenant, &agent.agent_id)
                .await?
        }
    };
    let config = layers.resolve(state.config.report_interval_secs);
    Ok(Json(ReportAck {
        protocol: PROTOCOL_VERSION,
        seq: report.seq,
        duplicate: outcome.duplicate,
        config_version: config.version,
        report_interval_secs: config.report_interval_secs,
    }))
}
