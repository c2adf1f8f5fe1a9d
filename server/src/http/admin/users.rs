//! `/api/v1/users`: people and their tenant memberships, for MSP admins (everybody) and customer
//! admins (their own tenant's people, with roles no higher than theirs). Every change is in the
//! audit log.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::super::error::{ApiError, ApiResult, BadBody, Refused};
use super::super::extract::{ApiJson, ApiPath, ApiQuery, Authorized};
use super::super::people::Person;
use super::super::AppState;
use super::{audit_change, managed_user, target_tenant, Audited, TenantQuery};
use crate::people::{password_links, users, Caller, NewUser, Role};
use crate::store::{now_ms, StoreError, TenantScope};
use atalaya_shared::ErrorBody;

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(get, edit))
        .routes(routes!(add_membership, remove_membership))
        .routes(routes!(invite))
}

/// The people the caller manages: everybody for an MSP-wide admin; a tenant's people (and the
/// technicians serving it) for a customer admin or a tenant-bound token, or with `?tenant=`.
#[utoipa::path(
    get,
    path = "/api/v1/users",
    tag = "people",
    operation_id = "list_users",
    security(("admin" = []), ("session" = [])),
    params(TenantQuery),
    responses(
        Refused,
        (status = 200, description = "The users, in id order", body = Vec<Person>),
        (status = 404, description = "`not_found`: no such tenant reached", body = ErrorBody),
    )
)]
async fn list(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiQuery(query): ApiQuery<TenantQuery>,
) -> ApiResult<Json<Vec<Person>>> {
    let tenant = match super::scope(&state, &caller, query.tenant.as_deref()).await? {
        TenantScope::All => None,
        TenantScope::Tenant(t) => Some(t),
        TenantScope::Members(_) => return Err(ApiError::invalid("name the tenant")),
    };
    let people = users::list(&state.store, tenant).await?;
    Ok(Json(people.iter().map(Person::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct NewPerson {
    email: String,
    display_name: String,
    role: Role,
    /// The customer tenant, by name: required for a customer admin or requester (a customer
    /// admin's own when absent), refused for the MSP's roles.
    tenant: Option<String>,
    /// At least 12 characters; absent: the person is mailed an invitation (a link, valid a
    /// week, to choose their password).
    password: Option<String>,
}

/// Create a person. A customer admin creates their own tenant's people, with roles no higher
/// than theirs.
#[utoipa::path(
    post,
    path = "/api/v1/users",
    tag = "people",
    operation_id = "create_user",
    security(("admin" = []), ("session" = [])),
    request_body = NewPerson,
    responses(
        Refused,
        BadBody,
        (status = 201, description = "Created", body = Person),
        (status = 404, description = "`not_found`: no such tenant reached", body = ErrorBody),
        (status = 409, description = "`conflict`: a user with that email exists", body = ErrorBody),
    )
)]
async fn create(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiJson(body): ApiJson<NewPerson>,
) -> ApiResult<(StatusCode, Json<Person>)> {
    may_give(&caller, body.role)?;
    let tenant = if body.role.is_customer() {
        Some(target_tenant(&state, &caller, body.tenant.as_deref()).await?)
    } else {
        if caller.scope != TenantScope::All {
            return Err(ApiError::Forbidden(
                "only an MSP-wide admin creates the MSP's own people".into(),
            ));
        }
        if body.tenant.is_some() {
            return Err(ApiError::invalid(format!(
                "a {} is the MSP's and reaches tenants through memberships, not a tenant of its own",
                body.role.as_str()
            )));
        }
        None
    };
    let new = NewUser {
        email: body.email,
        display_name: body.display_name,
        role: body.role,
        tenant,
        password: body.password,
    };
    let now = now_ms();
    let user = users::create(&state.store, &new, now).await?;
    if !user.has_password {
        send_invitation(&state, &caller, &user).await?;
    }
    let person = Person::from(&user);
    audit_change(
        &state,
        &caller,
        Audited {
            tenant: user.tenant_id,
            action: "user.created",
            object_kind: "user",
            object_id: user.id.to_string(),
            before: None,
            after: Some(json!(person)),
        },
    )
    .await?;
    Ok((StatusCode::CREATED, Json(person)))
}

/// A role the caller may give: one their own role includes.
fn may_give(caller: &Caller, role: Role) -> ApiResult<()> {
    if caller.role.includes(role) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!(
            "a {} may not give the role {}",
            caller.role.as_str(),
            role.as_str()
        )))
    }
}

#[utoipa::path(
    get,
    path = "/api/v1/users/{id}",
    tag = "people",
    operation_id = "get_user",
    security(("admin" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        Refused,
        (status = 200, description = "The user", body = Person),
        (status = 404, description = "`not_found`: no such user the caller manages", body = ErrorBody),
    )
)]
async fn get(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<Json<Person>> {
    let user = managed_user(&state, &caller, id).await?;
    Ok(Json(Person::from(&user)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PersonEdit {
    display_name: Option<String>,
    /// Another role of the same side (the MSP's, or a customer's), no higher than the caller's.
    role: Option<Role>,
    /// `false` signs them out everywhere and stops their tokens; `true` lets them back in.
    active: Option<bool>,
    /// Set a new password for them (at least 12 characters); their sessions end.
    password: Option<String>,
    /// `true`: remove their second factor (a lost phone); they set up a new one.
    reset_totp: Option<bool>,
}

/// Rename, change the role of, deactivate or reactivate a person, or set their password.
#[utoipa::path(
    patch,
    path = "/api/v1/users/{id}",
    tag = "people",
    operation_id = "edit_user",
    security(("admin" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    request_body = PersonEdit,
    responses(
        Refused,
        BadBody,
        (status = 200, description = "The user as changed", body = Person),
        (status = 404, description = "`not_found`: no such user the caller manages", body = ErrorBody),
    )
)]
async fn edit(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PersonEdit>,
) -> ApiResult<Json<Person>> {
    let before = managed_user(&state, &caller, id).await?;
    may_give(&caller, before.role)?;
    if let Some(role) = body.role {
        may_give(&caller, role)?;
    }
    let yourself = caller.user_id() == Some(id);
    if yourself && (body.active == Some(false) || body.role.is_some_and(|r| r != before.role)) {
        return Err(ApiError::invalid(
            "you cannot deactivate yourself or change your own role; ask another admin",
        ));
    }
    let now = now_ms();
    let store = &state.store;
    if body.display_name.is_some() || body.role.is_some() {
        users::update(store, id, body.display_name.as_deref(), body.role).await?;
    }
    if let Some(password) = &body.password {
        users::set_password(store, id, password, now).await?;
    }
    if let Some(active) = body.active {
        users::set_active(store, id, active, now).await?;
    }
    if body.reset_totp == Some(true) {
        crate::people::totp::remove(store, &before, true).await?;
    }
    let after = users::get(store, id).await?;
    let (before, after) = (Person::from(&before), Person::from(&after));
    let mut changed = json!(after);
    if body.password.is_some() {
        changed["password"] = json!("changed");
    }
    if body.reset_totp == Some(true) {
        changed["totp"] = json!("reset");
    }
    audit_change(
        &state,
        &caller,
        Audited {
            tenant: after.tenant_id.map(crate::store::TenantId),
            action: "user.updated",
            object_kind: "user",
            object_id: id.to_string(),
            before: Some(json!(before)),
            after: Some(changed),
        },
    )
    .await?;
    Ok(Json(after))
}

/// Make a technician a member of a tenant: they see and work its tickets and CMDB.
#[utoipa::path(
    put,
    path = "/api/v1/users/{id}/memberships/{tenant}",
    tag = "people",
    operation_id = "add_membership",
    security(("admin" = []), ("session" = [])),
    params(
        ("id" = i64, Path, description = "The technician's id"),
        ("tenant" = String, Path, description = "The tenant's name"),
    ),
    responses(
        Refused,
        (status = 204, description = "A member (also when they already were)"),
        (status = 404, description = "`not_found`: no such user or tenant the caller manages", body = ErrorBody),
        (status = 422, description = "`invalid`: only technicians are members of tenants", body = ErrorBody),
    )
)]
async fn add_membership(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((id, tenant)): ApiPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    let (user, tenant) = membership_parts(&state, &caller, id, &tenant).await?;
    users::add_membership(&state.store, user, tenant).await?;
    audit_change(
        &state,
        &caller,
        Audited {
            tenant: Some(tenant),
            action: "user.membership_added",
            object_kind: "user",
            object_id: user.to_string(),
            before: None,
            after: Some(json!({"tenant_id": tenant})),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// End a technician's membership of a tenant.
#[utoipa::path(
    delete,
    path = "/api/v1/users/{id}/memberships/{tenant}",
    tag = "people",
    operation_id = "remove_membership",
    security(("admin" = []), ("session" = [])),
    params(
        ("id" = i64, Path, description = "The technician's id"),
        ("tenant" = String, Path, description = "The tenant's name"),
    ),
    responses(
        Refused,
        (status = 204, description = "No longer a member"),
        (status = 404, description = "`not_found`: no such user, tenant or membership", body = ErrorBody),
    )
)]
async fn remove_membership(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath((id, tenant)): ApiPath<(i64, String)>,
) -> ApiResult<StatusCode> {
    let (user, tenant) = membership_parts(&state, &caller, id, &tenant).await?;
    state
        .store
        .remove_membership(user, tenant)
        .await
        .map_err(|e| match e {
            StoreError::NotFound => ApiError::not_found("membership"),
            other => other.into(),
        })?;
    audit_change(
        &state,
        &caller,
        Audited {
            tenant: Some(tenant),
            action: "user.membership_removed",
            object_kind: "user",
            object_id: user.to_string(),
            before: Some(json!({"tenant_id": tenant})),
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Memberships are the MSP's business: an MSP-wide admin gives them.
async fn membership_parts(
    state: &AppState,
    caller: &Caller,
    id: i64,
    tenant: &str,
) -> ApiResult<(i64, crate::store::TenantId)> {
    if caller.scope != TenantScope::All {
        return Err(ApiError::Forbidden(
            "only an MSP-wide admin decides which tenants a technician serves".into(),
        ));
    }
    let user = managed_user(state, caller, id).await?;
    let tenant = target_tenant(state, caller, Some(tenant)).await?;
    Ok((user.id, tenant))
}

async fn send_invitation(state: &AppState, caller: &Caller, user: &users::User) -> ApiResult<()> {
    password_links::send(
        &state.store,
        user,
        password_links::Purpose::Invitation,
        &state.config.public_url,
        Some(&caller.name),
        now_ms(),
    )
    .await?;
    Ok(())
}

/// Mail the person a new invitation (a link, valid a week, to choose their password); earlier
/// links keep working until one is used.
#[utoipa::path(
    post,
    path = "/api/v1/users/{id}/invitation",
    tag = "people",
    operation_id = "invite_user",
    security(("admin" = []), ("session" = [])),
    params(("id" = i64, Path, description = "The user's id")),
    responses(
        Refused,
        (status = 202, description = "The invitation is queued for mailing"),
        (status = 404, description = "`not_found`: no such user the caller manages", body = ErrorBody),
        (status = 422, description = "`invalid`: the user is deactivated or a placeholder", body = ErrorBody),
    )
)]
async fn invite(
    State(state): State<AppState>,
    Authorized(caller): Authorized,
    ApiPath(id): ApiPath<i64>,
) -> ApiResult<StatusCode> {
    let user = managed_user(&state, &caller, id).await?;
    send_invitation(&state, &caller, &user).await?;
    audit_change(
        &state,
        &caller,
        Audited {
            tenant: user.tenant_id,
            action: "user.invited",
            object_kind: "user",
            object_id: id.to_string(),
            before: None,
            after: None,
        },
    )
    .await?;
    Ok(StatusCode::ACCEPTED)
}
