//! `/api/v1/assignment-groups/{name}/members`: the people who work a group's queue (tier 1 or
//! tier 2). A technician's groups are what "my groups" means in ticket lists
//! (`?group=mine`). Groups are the MSP's, so an MSP-wide admin decides who is in them.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, Refused};
use super::super::extract::{ApiPath, Authorized};
use super::super::people::Person;
use super::super::AppState;
use super::{audit_change, managed_user, Audited};
use crate::people::{users, Caller, Role};
use crate::store::{StoreError, TenantScope};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(members))
        .routes(routes!(add_member, remove_member))
}

async fn group_id(state: &AppState, name: &str) -> ApiResult<i64> {
    match state.store.assignment_group_by_name(name).await {
        Ok(group) => Ok(group.id),
        Err(StoreError::NotFound) => Err(ApiError::not_found("assignment group")),
        Err(other) => Err(other.into()),
    }
}

/// Who works the group's queue.
#[utoipa::path(
    get,
    path = "/api/v1/assignment-groups/{name}/members",
    tag = "assignment-groups",
    operation_id = "list_group_members",
    security(("admin" = []), ("session" = [])),
    params(("name" = String, Path, description = "The group's name")),
    responses(
        Refused,
        (status = 200, description = "The members, in id order", body = Vec<Person>),
        (status = 404, description = "`not_found`: no such group", body = ErrorBody),
    )
)]
async fn members(
    State(state): State<AppState>,
    Authorized(_caller): Authorized,
    ApiPath(name): ApiPath<String>,
) -> ApiResult<Json<Vec<Person>>> {
    let group = group_id(&state, &name).await?;
    let mut people = Vec::new();
    for id in state.store.group_members(group).await? {
        people.push(Person::from(&users::get(&state.store, id).await?));
    }
    Ok(Json(people))
}

async fn member_parts(
    state: &AppState,
    caller: &Caller,
    name: &str,
    user: i64,
) -> ApiResult<(i64, i64)> {
    if caller.scope != TenantScope::All {
        return Err(ApiError::Forbidden(
            "assignment groups are the MSP's: an MSP-wide admin decides who is in them".into(),
        ));
    }
    let group = group_id(state, name).await?;
    let person = managed_user(state, caller, user).await?;
    if !matches!(person.role, Role::Technician | Role::MspAdmin) {
        return Err(ApiError::invalid(format!(
            "a {} works no queue; only technicians and MSP admins are in groups",
            person.role.as_str()
        )));
    }
    Ok((group, person.id))
}

/// Put a technician (or MSP admin) in the group.
#[utoipa::path(
    put,
    path = "/api/v1/assignment-groups/{name}/members/{id}",
    tag = "assignment-groups",
    operation_id = "add_group_member",
    security(("admin" = []), ("session" = [])),
    params(
        ("name" = String, Path, description = "The group's name"),
        ("id" = i64, Path, description = "The user's id"),
    ),
    responses(
        Refused,
        (status = 204, description = "In the group (also when they were)"),
        (status = 404, description = "`not_found`: no such group or user", body = ErrorBody),
        (status = 422, description = "`invalid`: not a technician or MSP admin", body = ErrorBody),
    )
)]
async fn add_member(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((name, id)): ApiPath<(String, i64)>,
) -> ApiResult<StatusCode> {
    let (group, user) = member_parts(&state, &caller, &name, id).await?;
    state.store.add_group_member(group, user).await?;
    let change = Audited {
        tenant: None,
        action: "assignment_group.member_added",
        object_kind: "assignment_group",
        object_id: name,
        before: None,
        after: Some(serde_json::json!({"user_id": user})),
    };
    audit_change(&state, &caller, change).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Take someone out of the group.
#[utoipa::path(
    delete,
    path = "/api/v1/assignment-groups/{name}/members/{id}",
    tag = "assignment-groups",
    operation_id = "remove_group_member",
    security(("admin" = []), ("session" = [])),
    params(
        ("name" = String, Path, description = "The group's name"),
        ("id" = i64, Path, description = "The user's id"),
    ),
    responses(
        Refused,
        (status = 204, description = "Out of the group"),
        (status = 404, description = "`not_found`: no such group, user or membership", body = ErrorBody),
    )
)]
async fn remove_member(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((name, id)): ApiPath<(String, i64)>,
) -> ApiResult<StatusCode> {
    let (group, user) = member_parts(&state, &caller, &name, id).await?;
    state
        .store
        .remove_group_member(group, user)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("group membership"),
            other => other.into(),
        })?;
    let change = Audited {
        tenant: None,
        action: "assignment_group.member_removed",
        object_kind: "assignment_group",
        object_id: name,
        before: Some(serde_json::json!({"user_id": user})),
        after: None,
    };
    audit_change(&state, &caller, change).await?;
    Ok(StatusCode::NO_CONTENT)
}
