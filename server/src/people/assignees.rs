//! Who a ticket may be given to, and whose tickets a list shows: named as `me`, by email or by
//! user id. A ticket goes to a person who can work its tenant — an active MSP admin, or a
//! technician who serves it — never to a customer's people, a placeholder or a deactivated user.

use super::caller::Caller;
use super::role::Role;
use super::users::{self, User};
use crate::store::tickets::AssigneeFilter;
use crate::store::{Store, StoreError, StoreResult, TenantId};

/// The user `named` stands for: `me` (the caller), a user id, or an email.
async fn named_user(store: &Store, caller: &Caller, named: &str) -> StoreResult<User> {
    let named = named.trim();
    if named.eq_ignore_ascii_case("me") {
        return caller.user.clone().ok_or_else(|| {
            StoreError::Invalid(
                "an ownerless admin token is nobody's: name the person by email instead of \"me\""
                    .into(),
            )
        });
    }
    if let Ok(id) = named.parse::<i64>() {
        return users::get(store, id).await.map_err(|e| match e {
            StoreError::NotFound => StoreError::Invalid(format!("there is no user #{id}")),
            other => other,
        });
    }
    let Some(row) = store.user_by_email(named).await? else {
        return Err(StoreError::Invalid(format!(
            "there is no user with the email {named:?}"
        )));
    };
    users::get(store, row.id).await
}

/// The person a ticket of `tenant` is given to.
pub async fn assignee(
    store: &Store,
    caller: &Caller,
    tenant: TenantId,
    named: &str,
) -> StoreResult<User> {
    let user = named_user(store, caller, named).await?;
    let serves = match user.role {
        Role::MspAdmin => true,
        Role::Technician => store.memberships(user.id).await?.contains(&tenant),
        Role::Auditor | Role::CustomerAdmin | Role::Requester => false,
    };
    if !user.can_sign_in() {
        return Err(StoreError::Invalid(format!(
            "{} is deactivated (or a placeholder) and cannot be given tickets",
            user.email
        )));
    }
    if !serves {
        return Err(StoreError::Invalid(format!(
            "{} ({}) does not work this tenant's tickets; make them a member of it first",
            user.email,
            user.role.as_str()
        )));
    }
    Ok(user)
}

/// Whose tickets `?assignee=` asks for: `me`, `none`, a user id or an email.
pub async fn filter(store: &Store, caller: &Caller, named: &str) -> StoreResult<AssigneeFilter> {
    if matches!(named.trim(), "none" | "nobody" | "unassigned") {
        return Ok(AssigneeFilter::Nobody);
    }
    Ok(AssigneeFilter::User(
        named_user(store, caller, named).await?.id,
    ))
}
