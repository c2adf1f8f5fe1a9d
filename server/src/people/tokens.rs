//! API tokens: a person's personal tokens (a role no higher than theirs, an expiry, shown once,
//! stored as a hash, listed with their last use, revocable) and the ownerless admin tokens first
//! start and `create-admin-token` make for scripts. Authenticating one is a hash and one indexed
//! read — the password hash is paid at sign-in only.

use serde::Serialize;

use super::caller::{scope_of, Caller, Credential};
use super::role::Role;
use super::users::User;
use crate::secrets;
use crate::store::tokens::{ApiTokenRow, NewApiTokenRow};
use crate::store::{to_time, to_time_opt, Store, StoreError, StoreResult, TenantId, TenantScope};

/// A personal token lives this long unless its owner asks otherwise.
pub const DEFAULT_DAYS: i64 = 90;
/// And at most this long: a token that never expires is an ownerless admin token.
pub const MAX_DAYS: i64 = 366;
const DAY_MS: i64 = 86_400_000;
/// Use is written back at most this often.
const TOUCH_EVERY_MS: i64 = 60_000;
pub const MAX_NAME: usize = 200;

/// A token as its owner (and the people managing them) see it; never its secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub role: Role,
    /// The person it belongs to; absent for an ownerless admin token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<i64>,
    /// The one tenant it is bound to, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<i64>)]
    pub tenant_id: Option<TenantId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub last_used_at: Option<chrono::DateTime<chrono::Utc>>,
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub revoked_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ApiToken {
    fn from_row(row: &ApiTokenRow) -> ApiToken {
        ApiToken {
            id: row.id,
            name: row.name.clone(),
            role: stored_role(row),
            user_id: row.user_id,
            tenant_id: row.tenant_id.map(TenantId),
            created_at: to_time(row.created_at),
            last_used_at: to_time_opt(row.last_used_at),
            expires_at: to_time_opt(row.expires_at),
            revoked_at: to_time_opt(row.revoked_at),
        }
    }
}

/// An ownerless token from before people (or from `create-admin-token`) is an MSP admin's; a
/// role name this build does not know gives the least role, never more.
fn stored_role(row: &ApiTokenRow) -> Role {
    match &row.role {
        None => Role::MspAdmin,
        Some(name) => Role::parse(name).unwrap_or(Role::Requester),
    }
}

/// What a person asks for when making a token.
#[derive(Debug, Clone, Default)]
pub struct NewToken {
    pub name: String,
    /// The owner's role when absent; never one the owner's role does not include.
    pub role: Option<Role>,
    /// Bind it to one of the tenants the owner reaches.
    pub tenant: Option<TenantId>,
    /// [`DEFAULT_DAYS`] when absent; 1 to [`MAX_DAYS`].
    pub expires_in_days: Option<i64>,
}

/// Make a personal token for `owner`; returns the secret (shown once) and the token. `tenant`
/// must already be one the owner reaches (the HTTP layer resolves it in the owner's scope).
pub async fn create(
    store: &Store,
    owner: &User,
    new: &NewToken,
    now: i64,
) -> StoreResult<(String, ApiToken)> {
    let name = new.name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(StoreError::Invalid(format!(
            "a token's name needs 1 to {MAX_NAME} characters"
        )));
    }
    if !owner.can_sign_in() {
        return Err(StoreError::Invalid(
            "a deactivated or placeholder user cannot own tokens".into(),
        ));
    }
    let role = new.role.unwrap_or(owner.role);
    if !owner.role.includes(role) {
        return Err(StoreError::Invalid(format!(
            "a {} cannot make a token with the role {}: a token's role is never higher than its \
             owner's",
            owner.role.as_str(),
            role.as_str()
        )));
    }
    let days = new.expires_in_days.unwrap_or(DEFAULT_DAYS);
    if !(1..=MAX_DAYS).contains(&days) {
        return Err(StoreError::Invalid(format!(
            "expires_in_days must be between 1 and {MAX_DAYS}"
        )));
    }
    // A customer's person reaches one tenant: their token is bound to it, named or not.
    let tenant = match scope_of(owner) {
        TenantScope::Tenant(own) => Some(own),
        _ => new.tenant,
    };
    let secret = secrets::generate(secrets::ADMIN_TOKEN_PREFIX);
    let row = store
        .insert_api_token(
            &NewApiTokenRow {
                token_hash: &secrets::hash(&secret),
                user_id: owner.id,
                role: role.as_str(),
                tenant,
                name,
                expires_at: Some(now + days * DAY_MS),
            },
            now,
        )
        .await?;
    Ok((secret, ApiToken::from_row(&row)))
}

/// Why a presented token does not authenticate; each says what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Revoked,
    Expired,
    /// Its owner is deactivated (or was never able to sign in).
    OwnerInactive,
    /// Its owner's role was lowered below the token's.
    AboveOwner,
    /// A technician's token bound to a tenant they no longer serve.
    TenantLeft,
}

impl Refusal {
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Unknown => "the token is unknown or revoked",
            Refusal::Revoked => "the token is unknown or revoked",
            Refusal::Expired => "the token has expired; make a new one",
            Refusal::OwnerInactive => "the token's owner is deactivated",
            Refusal::AboveOwner => {
                "the token's role is higher than its owner's role now; make a new one"
            }
            Refusal::TenantLeft => "the token's owner no longer serves the tenant it is bound to",
        }
    }
}

/// The caller a presented token stands for.
pub async fn authenticate(
    store: &Store,
    secret: &str,
    now: i64,
) -> StoreResult<Result<Caller, Refusal>> {
    let Some((row, owner_row)) = store.api_token_and_owner(&secrets::hash(secret)).await? else {
        return Ok(Err(Refusal::Unknown));
    };
    if row.revoked_at.is_some() {
        return Ok(Err(Refusal::Revoked));
    }
    if row.expires_at.is_some_and(|at| now >= at) {
        return Ok(Err(Refusal::Expired));
    }
    let role = stored_role(&row);
    let tenant = row.tenant_id.map(TenantId);
    let caller = match row.user_id {
        None => Caller {
            role,
            scope: tenant.map_or(TenantScope::All, TenantScope::Tenant),
            user: None,
            credential: Credential::Token { id: row.id },
            name: row.name.clone(),
        },
        Some(_) => {
            let owner = match &owner_row {
                Some(row) => User::from_row(row)?,
                None => return Ok(Err(Refusal::OwnerInactive)),
            };
            if !owner.can_sign_in() {
                return Ok(Err(Refusal::OwnerInactive));
            }
            if !owner.role.includes(role) {
                return Ok(Err(Refusal::AboveOwner));
            }
            let scope = match (scope_of(&owner), tenant) {
                (scope, None) => scope,
                (TenantScope::Members(user), Some(t)) => {
                    if !store.memberships(user).await?.contains(&t) {
                        return Ok(Err(Refusal::TenantLeft));
                    }
                    TenantScope::Tenant(t)
                }
                (_, Some(t)) => TenantScope::Tenant(t),
            };
            Caller {
                role,
                scope,
                name: owner.display_name.clone(),
                user: Some(owner),
                credential: Credential::Token { id: row.id },
            }
        }
    };
    if row.last_used_at.is_none_or(|at| now - at >= TOUCH_EVERY_MS) {
        store.touch_api_token(row.id, now).await?;
    }
    Ok(Ok(caller))
}

/// A person's tokens (or the ownerless ones, `None`), newest first, revoked ones included.
pub async fn list(store: &Store, owner: Option<i64>) -> StoreResult<Vec<ApiToken>> {
    Ok(store
        .api_tokens_of(owner)
        .await?
        .iter()
        .map(ApiToken::from_row)
        .collect())
}

pub async fn get(store: &Store, id: i64) -> StoreResult<ApiToken> {
    Ok(ApiToken::from_row(&store.api_token(id).await?))
}

pub async fn revoke(store: &Store, id: i64, now: i64) -> StoreResult<ApiToken> {
    Ok(ApiToken::from_row(&store.revoke_api_token(id, now).await?))
}
