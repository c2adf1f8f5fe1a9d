//! Users: who may be created with which role, signing in with a password, changing it.

use serde::Serialize;

use super::password;
use super::role::Role;
use crate::store::users::{NewUserRow, UserRow};
use crate::store::{to_time, Store, StoreError, StoreResult, TenantId};

/// A person, as the rest of the server (and the API) sees them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// The customer tenant of a customer admin or requester.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant_id: Option<TenantId>,
    pub active: bool,
    /// Made from a free-text name on an old ticket; cannot sign in.
    pub placeholder: bool,
    pub has_password: bool,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// A confirmed second factor: sign-in asks for a code.
    pub totp_enabled: bool,
    /// The policy (MSP-wide, or their tenant's) requires one.
    pub totp_required: bool,
}

impl User {
    pub(crate) fn from_row(row: &UserRow) -> StoreResult<User> {
        let role = Role::parse(&row.role).ok_or_else(|| {
            StoreError::Invalid(format!(
                "user {} has an unknown role {:?}",
                row.id, row.role
            ))
        })?;
        Ok(User {
            id: row.id,
            email: row.email.clone(),
            display_name: row.display_name.clone(),
            role,
            tenant_id: row.tenant_id.map(TenantId),
            active: row.active != 0,
            placeholder: row.placeholder != 0,
            has_password: row.password_hash.is_some(),
            created_at: to_time(row.created_at),
            totp_enabled: row.totp_secret.is_some() && row.totp_confirmed_at.is_some(),
            totp_required: row.totp_required != 0,
        })
    }

    /// Signed in, but everything except setting up the second factor waits until they have.
    pub fn must_set_up_totp(&self) -> bool {
        self.totp_required && !self.totp_enabled
    }

    /// Whether the user may sign in at all.
    pub fn can_sign_in(&self) -> bool {
        self.active && !self.placeholder
    }
}

/// What creating a user takes.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub role: Role,
    /// Required for a customer admin or requester, refused for the MSP's own roles.
    pub tenant: Option<TenantId>,
    /// None: the user signs in once a password is set (an invitation, a reset).
    pub password: Option<String>,
}

pub const MAX_EMAIL: usize = 254;
pub const MAX_NAME: usize = 200;

/// The address trimmed, if it looks like one (one `@` with something on each side, no spaces).
pub fn normalise_email(email: &str) -> Result<String, String> {
    let email = email.trim();
    let valid = email.len() <= MAX_EMAIL
        && !email.chars().any(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@')
        });
    if valid {
        Ok(email.to_string())
    } else {
        Err(format!("{email:?} is not an email address"))
    }
}

fn display_name(name: &str) -> StoreResult<&str> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(StoreError::Invalid(format!(
            "a display name needs 1 to {MAX_NAME} characters"
        )));
    }
    Ok(name)
}

pub async fn create(store: &Store, new: &NewUser, now: i64) -> StoreResult<User> {
    let email = normalise_email(&new.email).map_err(StoreError::Invalid)?;
    let display_name = display_name(&new.display_name)?;
    match (new.role.is_customer(), new.tenant) {
        (true, None) => {
            return Err(StoreError::Invalid(format!(
                "a {} belongs to one customer tenant: name it",
                new.role.as_str()
            )))
        }
        (false, Some(_)) => {
            return Err(StoreError::Invalid(format!(
                "a {} is the MSP's and reaches tenants through memberships, not a tenant of \
                 its own",
                new.role.as_str()
            )))
        }
        _ => {}
    }
    let hash = match &new.password {
        Some(p) => {
            password::check_policy(p).map_err(StoreError::Invalid)?;
            Some(password::hash(p).map_err(StoreError::Invalid)?)
        }
        None => None,
    };
    let row = store
        .insert_user(
            &NewUserRow {
                email: &email,
                display_name,
                role: new.role.as_str(),
                tenant: new.tenant,
                password_hash: hash.as_deref(),
                placeholder: false,
            },
            now,
        )
        .await?;
    User::from_row(&row)
}

/// Rename a user or give them another role of the same side: the MSP's roles (admin,
/// technician, auditor) or a customer's (customer admin, requester) — a customer's person
/// belongs to their tenant, the MSP's people to none. A technician who becomes an admin or an
/// auditor keeps their memberships for the day they are a technician again.
pub async fn update(
    store: &Store,
    id: i64,
    new_name: Option<&str>,
    new_role: Option<Role>,
) -> StoreResult<User> {
    let user = get(store, id).await?;
    let name = display_name(new_name.unwrap_or(&user.display_name))?.to_string();
    let role = new_role.unwrap_or(user.role);
    if role.is_customer() != user.role.is_customer() {
        return Err(StoreError::Invalid(format!(
            "a {} cannot become a {}: a customer's people and the MSP's are different accounts",
            user.role.as_str(),
            role.as_str()
        )));
    }
    if user.placeholder {
        return Err(StoreError::Invalid(
            "a placeholder keeps an old ticket's name; it cannot be changed".into(),
        ));
    }
    User::from_row(&store.update_user(id, &name, role.as_str()).await?)
}

pub async fn get(store: &Store, id: i64) -> StoreResult<User> {
    User::from_row(&store.user(id).await?)
}

/// The user these credentials belong to, if they are right and the user may sign in. A wrong
/// password and an unknown email look the same, and take as long.
pub async fn authenticate(store: &Store, email: &str, password: &str) -> StoreResult<Option<User>> {
    let Some(row) = store.user_by_email(email.trim()).await? else {
        password::verify_nothing(password);
        return Ok(None);
    };
    let Some(stored) = row.password_hash.as_deref() else {
        password::verify_nothing(password);
        return Ok(None);
    };
    if !password::verify(password, stored) {
        return Ok(None);
    }
    let user = User::from_row(&row)?;
    Ok(user.can_sign_in().then_some(user))
}

/// Set a new password (after the policy) and end every session of the user: whoever held one
/// with the old password is signed out.
pub async fn set_password(store: &Store, user: i64, new: &str, now: i64) -> StoreResult<()> {
    password::check_policy(new).map_err(StoreError::Invalid)?;
    let hash = password::hash(new).map_err(StoreError::Invalid)?;
    store.update_password_hash(user, &hash, now).await?;
    store.revoke_user_sessions(user, now).await?;
    Ok(())
}

/// Deactivate (signed out everywhere, cannot sign in) or reactivate a user.
pub async fn set_active(store: &Store, user: i64, active: bool, now: i64) -> StoreResult<()> {
    store.set_user_active(user, active).await?;
    if !active {
        store.revoke_user_sessions(user, now).await?;
    }
    Ok(())
}

/// The tenants a technician serves. Refused for other roles: the MSP admin and the auditor reach
/// every tenant, a customer's people their own.
pub async fn add_membership(store: &Store, user: i64, tenant: TenantId) -> StoreResult<()> {
    let target = get(store, user).await?;
    if target.role != Role::Technician {
        return Err(StoreError::Invalid(format!(
            "only technicians are members of tenants; a {} reaches {}",
            target.role.as_str(),
            if target.role.is_customer() {
                "their own tenant"
            } else {
                "every tenant"
            }
        )));
    }
    store.add_membership(user, tenant).await
}

/// Users in id order: everybody, or a customer tenant's people and the technicians serving it.
pub async fn list(store: &Store, tenant: Option<TenantId>) -> StoreResult<Vec<User>> {
    store
        .list_users(tenant)
        .await?
        .iter()
        .map(User::from_row)
        .collect()
}
