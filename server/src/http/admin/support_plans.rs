//! `/api/v1/tenants/{name}/support-plan` (and its history) and `/api/v1/assignment-groups`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, Refused};
use super::super::extract::{ApiJson, ApiPath, Authorized};
use super::super::AppState;
use crate::desk::plans::SavedPlan as SavedPlanRow;
use crate::people::Caller;
use crate::sla::plan::SupportPlan;
use crate::store::assignment_groups::AssignmentGroup as GroupRow;
use crate::store::{now_ms, TenantId, TenantScope};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(show, replace))
        .routes(routes!(history))
        .routes(routes!(groups, create_group))
}

/// A version of a tenant's support plan.
#[derive(Serialize)]
struct SavedPlan {
    version: Option<i64>,
    effective_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
    #[serde(flatten)]
    plan: SupportPlan,
}

impl From<SavedPlanRow> for SavedPlan {
    fn from(p: SavedPlanRow) -> Self {
        SavedPlan {
            version: p.version,
            effective_at: p.effective_at,
            created_by: p.created_by,
            plan: p.plan,
        }
    }
}

// The support plan is the SLA domain's own type ([`SupportPlan`]) and parses itself; these
// describe its JSON for the document.

/// A saved version of a tenant's support plan.
#[derive(Serialize, ToSchema)]
#[schema(as = SavedPlan)]
#[allow(dead_code)]
struct SavedPlanDoc {
    /// `null` for a tenant that never had a plan (the default: on demand, no SLA).
    version: Option<i64>,
    effective_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
    #[serde(flatten)]
    plan: SupportPlanDoc,
}

/// What the MSP promised a tenant, plus the desk terms that go with the contract.
// Not `deny_unknown_fields` here, though the plan refuses unknown fields: the saved version
// flattens this schema beside its own fields (`allOf`), which `additionalProperties: false`
// would forbid.
#[derive(Serialize, ToSchema)]
#[schema(as = SupportPlan)]
#[allow(dead_code)]
struct SupportPlanDoc {
    coverage: Coverage,
    /// An IANA zone name such as `Europe/Madrid`.
    #[serde(default)]
    #[schema(default = "UTC")]
    time_zone: String,
    #[serde(default)]
    office_hours: OfficeHours,
    /// Local dates on which office-hours plans do not run.
    #[serde(default)]
    holidays: Vec<NaiveDate>,
    #[serde(default)]
    targets: Targets,
    /// `priority_matrix[impact - 1][urgency - 1]` is the priority (1-5).
    #[serde(default)]
    #[schema(value_type = Vec<Vec<i64>>)]
    priority_matrix: [[i64; 3]; 3],
    /// A resolved ticket reopens when its requester replies within this many days.
    #[serde(default)]
    #[schema(default = 7)]
    reopen_days: i64,
    /// Hand a ticket to the next tier when one of its SLA targets is breached.
    #[serde(default)]
    escalate_on_breach: bool,
    /// Close a resolved ticket this many days after its resolution; never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    auto_close_days: Option<i64>,
}

#[derive(Serialize, ToSchema)]
#[allow(dead_code)]
enum Coverage {
    /// Around the clock, every day.
    #[serde(rename = "7x24")]
    AllHours,
    /// Office hours Monday to Saturday.
    #[serde(rename = "6x8")]
    MondayToSaturday,
    /// Office hours Monday to Friday.
    #[serde(rename = "5x8")]
    MondayToFriday,
    /// Work when asked, no SLA.
    #[serde(rename = "on_demand")]
    OnDemand,
}

/// Office hours as local wall times, `"09:00"` to `"17:00"`; `"24:00"` means midnight at the end.
#[derive(Default, Serialize, ToSchema)]
#[allow(dead_code)]
struct OfficeHours {
    start: String,
    end: String,
}

/// Business minutes allowed for the first response and for resolution.
#[derive(Default, Serialize, ToSchema)]
#[allow(dead_code)]
struct Target {
    response_minutes: i64,
    resolution_minutes: i64,
}

/// Targets for P1 … P5.
#[derive(Default, Serialize, ToSchema)]
#[allow(dead_code)]
struct Targets {
    p1: Target,
    p2: Target,
    p3: Target,
    p4: Target,
    p5: Target,
}

/// An MSP queue and its tier.
#[derive(Serialize, ToSchema)]
struct AssignmentGroup {
    id: i64,
    name: String,
    tier: i64,
}

impl From<GroupRow> for AssignmentGroup {
    fn from(g: GroupRow) -> Self {
        AssignmentGroup {
            id: g.id,
            name: g.name,
            tier: g.tier,
        }
    }
}

const TENANT: &str = "The tenant's name";

pub(super) async fn tenant(state: &AppState, caller: &Caller, name: &str) -> ApiResult<TenantId> {
    state
        .store
        .tenant_by_name(caller.scope, name)
        .await
        .map(|t| t.id)
        .map_err(|_| ApiError::NotFound(format!("tenant {name:?} not found")))
}

/// The tenant's support plan in force (on demand when none was set).
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{name}/support-plan",
    tag = "support-plans",
    operation_id = "show_support_plan",
    security(("admin" = [])),
    params(("name" = String, Path, description = TENANT)),
    responses(
        Refused,
        (status = 200, description = "The plan in force", body = SavedPlanDoc),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn show(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<SavedPlan>> {
    let tenant = tenant(&state, &caller, &name).await?;
    Ok(Json(
        crate::desk::plans::current(&state.store, tenant)
            .await?
            .into(),
    ))
}

/// Every version of the tenant's support plan, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/tenants/{name}/support-plan/history",
    tag = "support-plans",
    operation_id = "support_plan_history",
    security(("admin" = [])),
    params(("name" = String, Path, description = TENANT)),
    responses(
        Refused,
        (status = 200, description = "The versions", body = Vec<SavedPlanDoc>),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn history(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<SavedPlan>>> {
    let tenant = tenant(&state, &caller, &name).await?;
    let versions = crate::desk::plans::history(&state.store, tenant).await?;
    Ok(Json(versions.into_iter().map(SavedPlan::from).collect()))
}

/// Save a new version of the plan, effective now; the old ones stay for the clocks of older
/// tickets.
#[utoipa::path(
    put,
    path = "/api/v1/tenants/{name}/support-plan",
    tag = "support-plans",
    operation_id = "replace_support_plan",
    security(("admin" = [])),
    params(("name" = String, Path, description = TENANT)),
    request_body = SupportPlanDoc,
    responses(
        Refused,
        BadBody,
        (status = 200, description = "The version saved", body = SavedPlanDoc),
        (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
    )
)]
async fn replace(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(name): ApiPath<String>,
    ApiJson(plan): ApiJson<SupportPlan>,
) -> ApiResult<Json<SavedPlan>> {
    let tenant = tenant(&state, &caller, &name).await?;
    plan.validate().map_err(ApiError::invalid)?;
    let actor = caller.name.clone();
    Ok(Json(
        crate::desk::plans::save(&state.store, tenant, &plan, &actor, now_ms())
            .await?
            .into(),
    ))
}

/// Assignment groups and their tiers.
#[utoipa::path(
    get,
    path = "/api/v1/assignment-groups",
    tag = "assignment-groups",
    operation_id = "list_assignment_groups",
    security(("admin" = [])),
    responses(
        Refused,
        (status = 200, description = "The groups", body = Vec<AssignmentGroup>),
    )
)]
async fn groups(
    State(state): State<AppState>,
    Authorized(_principal): Authorized,
) -> ApiResult<Json<Vec<AssignmentGroup>>> {
    let groups = state.store.list_assignment_groups().await?;
    Ok(Json(
        groups.into_iter().map(AssignmentGroup::from).collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct GroupBody {
    #[schema(pattern = r"\S")]
    name: String,
    #[schema(minimum = 1, maximum = 3)]
    tier: i64,
}

/// Create an assignment group (MSP-wide administrators only).
///
/// Groups are the MSP's own queues, so only the MSP-wide administrator creates them.
#[utoipa::path(
    post,
    path = "/api/v1/assignment-groups",
    tag = "assignment-groups",
    operation_id = "create_assignment_group",
    security(("admin" = [])),
    request_body = GroupBody,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created", body = AssignmentGroup),
        (status = 403, description = "`forbidden`: not an MSP-wide token", body = ErrorBody),
        (status = 409, description = "`conflict`: the name is taken", body = ErrorBody),
    )
)]
async fn create_group(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(body): ApiJson<GroupBody>,
) -> ApiResult<(StatusCode, Json<AssignmentGroup>)> {
    if caller.scope != TenantScope::All {
        return Err(ApiError::Forbidden(
            "only the MSP-wide administrator creates assignment groups".into(),
        ));
    }
    let group = state
        .store
        .create_assignment_group(&body.name, body.tier, now_ms())
        .await?;
    Ok((StatusCode::CREATED, Json(group.into())))
}
