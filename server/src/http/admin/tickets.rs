//! The ticket API shared by `/api/v1/incidents` and `/api/v1/requests`: list with filters,
//! open, show (with CIs, timeline and SLA clocks), edit, move through the life cycle, comment,
//! assign, escalate and link CIs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use super::super::error::{ApiError, ApiResult};
use super::super::extract::{ApiJson, ApiPath, ApiQuery, Authorized};
use super::super::AppState;
use super::ticket_views::{Ticket, TicketDetail};
use super::{scope, target_tenant, Paging};
use crate::desk::state::{HoldReason, TicketState, ALL_STATES};
use crate::desk::tickets as desk;
use crate::desk::{Actor, Assignee, Comment, NewTicket, TicketEdit};
use crate::people::assignees;
use crate::people::Caller;
use crate::store::tickets::{AssigneeFilter, SlaRisk, TicketFilter, TicketKind};
use crate::store::{now_ms, StoreError, TenantId};

/// Which kind of ticket a router serves.
pub trait Desk: Send + Sync + 'static {
    const KIND: TicketKind;
}

pub struct Incidents;
impl Desk for Incidents {
    const KIND: TicketKind = TicketKind::Incident;
}

pub struct Requests;
impl Desk for Requests {
    const KIND: TicketKind = TicketKind::ServiceRequest;
}

// The routes of each kind, documented, are in `super::ticket_routes`.

/// SLA risk of a list filter (for the document: [`SlaRisk`] parses it).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub(super) enum SlaRiskName {
    /// Neither warned nor breached (or no SLA).
    Ok,
    /// Past 75 % of a target, not yet breached.
    Warning,
    Breached,
    /// Warning or breached.
    AtRisk,
}

/// A missing ticket says which kind was missing; other store errors map as usual.
fn ticket_error<D: Desk>(err: StoreError) -> ApiError {
    match err {
        StoreError::NotFound => ApiError::not_found(D::KIND.noun()),
        other => other.into(),
    }
}

/// The caller as the lifecycle core records them: their name on the timeline, who they are in
/// the audit log.
fn actor(caller: &Caller) -> Actor {
    Actor::identified(caller.name.clone(), caller.audit_actor())
}

/// The person `named` (`me`, an email or a user id), if they may work `tenant`'s tickets.
async fn assignee_of(
    state: &AppState,
    caller: &Caller,
    tenant: TenantId,
    named: &str,
) -> ApiResult<Assignee> {
    let user = assignees::assignee(&state.store, caller, tenant, named).await?;
    Ok(Assignee {
        user_id: user.id,
        name: user.display_name,
    })
}

/// The assignee named for ticket `id` (of the caller's scope), if any.
async fn ticket_assignee<D: Desk>(
    state: &AppState,
    caller: &Caller,
    id: i64,
    named: Option<&str>,
) -> ApiResult<Option<Assignee>> {
    let Some(named) = named else {
        return Ok(None);
    };
    let ticket = desk::get(&state.store, D::KIND, caller.scope, id, now_ms())
        .await
        .map_err(ticket_error::<D>)?;
    Ok(Some(
        assignee_of(state, caller, ticket.tenant_id, named).await?,
    ))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ListQuery {
    /// A tenant's name; the caller's own tenants when absent.
    tenant: Option<String>,
    #[param(value_type = Option<TicketState>, inline)]
    state: Option<String>,
    #[param(minimum = 1, maximum = 5)]
    priority: Option<i64>,
    /// `me`, `none` (nobody), a user's email or id.
    assignee: Option<String>,
    /// An assignment group's name, or `mine` (the groups the caller is in).
    group: Option<String>,
    /// Only tickets linked to this CI.
    ci: Option<i64>,
    #[param(value_type = Option<SlaRiskName>, inline)]
    sla: Option<SlaRisk>,
    #[param(minimum = 1, maximum = 1000, default = 100)]
    limit: Option<i64>,
    #[param(minimum = 0, default = 0)]
    offset: Option<i64>,
}

pub(super) async fn list<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> ApiResult<Json<Vec<Ticket>>> {
    let scope = scope(&state, &caller, q.tenant.as_deref()).await?;
    if let Some(s) = q.state.as_deref() {
        if TicketState::parse(s).is_none() {
            let names: Vec<&str> = ALL_STATES.iter().map(|s| s.as_str()).collect();
            return Err(ApiError::BadRequest(
                "invalid_query",
                format!("state must be one of {}", names.join(", ")),
            ));
        }
    }
    if q.priority.is_some_and(|p| !(1..=5).contains(&p)) {
        return Err(ApiError::BadRequest(
            "invalid_query",
            "priority must be 1 to 5".into(),
        ));
    }
    let (limit, offset) = Paging {
        limit: q.limit,
        offset: q.offset,
    }
    .resolve()?;
    let assignee = match q.assignee.as_deref() {
        None => AssigneeFilter::Anyone,
        Some(named) => assignees::filter(&state.store, &caller, named)
            .await
            .map_err(|e| match e {
                StoreError::Invalid(m) => ApiError::BadRequest("invalid_query", m),
                other => other.into(),
            })?,
    };
    let (group, groups_of) = match q.group {
        Some(name) if name == "mine" => {
            let me = caller.user_id().ok_or_else(|| {
                ApiError::BadRequest(
                    "invalid_query",
                    "an ownerless admin token is in no group: name the group".into(),
                )
            })?;
            (None, Some(me))
        }
        other => (other, None),
    };
    let filter = TicketFilter {
        state: q.state,
        priority: q.priority,
        assignee,
        group,
        groups_of,
        ci_id: q.ci,
        sla: q.sla,
        limit,
        offset,
    };
    let tickets = desk::list(&state.store, D::KIND, scope, &filter, now_ms()).await?;
    Ok(Json(tickets.into_iter().map(Ticket::from).collect()))
}

async fn detail<D: Desk>(
    state: &AppState,
    ticket: crate::desk::Ticket,
) -> ApiResult<Json<TicketDetail>> {
    let cis = desk::cis(&state.store, &ticket).await?;
    let timeline = desk::timeline(&state.store, &ticket).await?;
    Ok(Json(TicketDetail {
        ticket: ticket.into(),
        cis: cis.into_iter().map(Into::into).collect(),
        timeline: timeline.into_iter().map(Into::into).collect(),
    }))
}

pub(super) async fn show<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<TicketDetail>> {
    let ticket = desk::get(&state.store, D::KIND, caller.scope, id, now_ms())
        .await
        .map_err(ticket_error::<D>)?;
    detail::<D>(&state, ticket).await
}

fn default_level() -> i64 {
    2
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CreateBody {
    tenant: Option<String>,
    title: String,
    #[serde(default)]
    description: String,
    #[serde(default = "default_level")]
    #[schema(minimum = 1, maximum = 3, default = 2)]
    impact: i64,
    #[serde(default = "default_level")]
    #[schema(minimum = 1, maximum = 3, default = 2)]
    urgency: i64,
    requester: Option<String>,
    #[serde(default)]
    ci_ids: Vec<i64>,
    group: Option<String>,
    /// Who works it: `me`, a user's email or id (an MSP admin, or a technician serving the tenant).
    assignee: Option<String>,
}

pub(super) async fn create<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(body): ApiJson<CreateBody>,
) -> ApiResult<(StatusCode, Json<TicketDetail>)> {
    let tenant = target_tenant(&state, &caller, body.tenant.as_deref()).await?;
    let actor = actor(&caller);
    let assignee = match body.assignee.as_deref() {
        Some(named) => Some(assignee_of(&state, &caller, tenant, named).await?),
        None => None,
    };
    let new = NewTicket {
        title: body.title,
        description: body.description,
        impact: body.impact,
        urgency: body.urgency,
        requester: body.requester,
        ci_ids: body.ci_ids,
        group: body.group,
        assignee,
    };
    let ticket = desk::create(&state.store, D::KIND, tenant, &new, actor, now_ms()).await?;
    Ok((StatusCode::CREATED, detail::<D>(&state, ticket).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EditBody {
    title: Option<String>,
    description: Option<String>,
    #[schema(minimum = 1, maximum = 3)]
    impact: Option<i64>,
    #[schema(minimum = 1, maximum = 3)]
    urgency: Option<i64>,
    requester: Option<String>,
}

pub(super) async fn edit<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<EditBody>,
) -> ApiResult<Json<TicketDetail>> {
    let actor = actor(&caller);
    let edit = TicketEdit {
        title: body.title,
        description: body.description,
        impact: body.impact,
        urgency: body.urgency,
        requester: body.requester,
    };
    let ticket = desk::edit(
        &state.store,
        D::KIND,
        caller.scope,
        id,
        &edit,
        actor,
        now_ms(),
    )
    .await
    .map_err(ticket_error::<D>)?;
    detail::<D>(&state, ticket).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct TransitionBody {
    to: TicketState,
    hold_reason: Option<HoldReason>,
    note: Option<String>,
}

pub(super) async fn transition<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<TransitionBody>,
) -> ApiResult<Json<TicketDetail>> {
    let actor = actor(&caller);
    let ticket = desk::transition(
        &state.store,
        D::KIND,
        caller.scope,
        id,
        body.to,
        body.hold_reason,
        body.note.as_deref(),
        actor,
        now_ms(),
    )
    .await
    .map_err(ticket_error::<D>)?;
    detail::<D>(&state, ticket).await
}

#[derive(Deserialize, ToSchema, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
enum Visibility {
    #[default]
    Public,
    Internal,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct CommentBody {
    #[schema(pattern = r"\S")]
    body: String,
    #[serde(default)]
    visibility: Visibility,
}

pub(super) async fn comment<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<CommentBody>,
) -> ApiResult<(StatusCode, Json<TicketDetail>)> {
    // The caller wrote it: a comment "from the requester" is one the requester writes
    // themselves (the portal, email in), never one staff put in their name.
    let actor = actor(&caller);
    let comment = Comment {
        body: body.body,
        internal: body.visibility == Visibility::Internal,
        from_requester: false,
    };
    let ticket = desk::comment(
        &state.store,
        D::KIND,
        caller.scope,
        id,
        &comment,
        actor,
        now_ms(),
    )
    .await
    .map_err(ticket_error::<D>)?;
    Ok((StatusCode::CREATED, detail::<D>(&state, ticket).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AssignBody {
    group: Option<String>,
    /// Who works it: `me`, a user's email or id (an MSP admin, or a technician serving the tenant).
    assignee: Option<String>,
}

pub(super) async fn assign<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<AssignBody>,
) -> ApiResult<Json<TicketDetail>> {
    let actor = actor(&caller);
    let assignee = ticket_assignee::<D>(&state, &caller, id, body.assignee.as_deref()).await?;
    let ticket = desk::assign(
        &state.store,
        D::KIND,
        caller.scope,
        id,
        body.group.as_deref(),
        assignee.as_ref(),
        actor,
        now_ms(),
    )
    .await
    .map_err(ticket_error::<D>)?;
    detail::<D>(&state, ticket).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct EscalateBody {
    group: Option<String>,
    /// Who works it: `me`, a user's email or id (an MSP admin, or a technician serving the tenant).
    assignee: Option<String>,
    /// Why the ticket goes to the next tier.
    #[schema(pattern = r"\S")]
    reason: String,
}

pub(super) async fn escalate<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<EscalateBody>,
) -> ApiResult<Json<TicketDetail>> {
    if body.reason.trim().is_empty() {
        return Err(ApiError::invalid(
            "say why the ticket is escalated (reason)",
        ));
    }
    let actor = actor(&caller);
    let assignee = ticket_assignee::<D>(&state, &caller, id, body.assignee.as_deref()).await?;
    let ticket = desk::escalate(
        &state.store,
        D::KIND,
        caller.scope,
        id,
        body.group.as_deref(),
        assignee.as_ref(),
        &body.reason,
        actor,
        now_ms(),
    )
    .await
    .map_err(ticket_error::<D>)?;
    detail::<D>(&state, ticket).await
}

fn affected() -> String {
    "affected".into()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct LinkBody {
    #[schema(min_items = 1)]
    ci_ids: Vec<i64>,
    #[serde(default = "affected")]
    role: String,
}

pub(super) async fn link_cis<D: Desk>(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<LinkBody>,
) -> ApiResult<Json<TicketDetail>> {
    let actor = actor(&caller);
    let ticket = desk::link_cis(
        &state.store,
        D::KIND,
        caller.scope,
        id,
        &body.ci_ids,
        &body.role,
        actor,
        now_ms(),
    )
    .await
    .map_err(ticket_error::<D>)?;
    detail::<D>(&state, ticket).await
}
