//! Who is making a request: a signed-in person (a session) or an API token, with the role that
//! decides what they may do and the tenants they reach. Built once per request by the HTTP
//! layer's access check; handlers, the lifecycle core and the audit log read it.

use super::role::{Permission, Role};
use super::users::User;
use crate::audit::{ActorKind, AuditActor};
use crate::store::TenantScope;

/// How the caller proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A browser session; `csrf` is the token its unsafe requests must carry.
    Session {
        id: i64,
        csrf: String,
    },
    Token {
        id: i64,
    },
}

#[derive(Debug, Clone)]
pub struct Caller {
    pub role: Role,
    pub scope: TenantScope,
    /// The person; `None` for an ownerless admin token (first start, `create-admin-token`).
    pub user: Option<User>,
    pub credential: Credential,
    /// Shown on timelines and in the audit log: the person's name, or the ownerless token's.
    pub name: String,
}

/// The tenants a person reaches by their role: every tenant for the MSP's admins and auditors,
/// their memberships for a technician, their own for a customer's people.
pub fn scope_of(user: &User) -> TenantScope {
    match (user.role, user.tenant_id) {
        (Role::MspAdmin | Role::Auditor, _) => TenantScope::All,
        (Role::Technician, _) => TenantScope::Members(user.id),
        (Role::CustomerAdmin | Role::Requester, Some(tenant)) => TenantScope::Tenant(tenant),
        // The schema requires a customer's person to have a tenant; reach nothing otherwise.
        (Role::CustomerAdmin | Role::Requester, None) => TenantScope::Members(user.id),
    }
}

impl Caller {
    pub fn signed_in(user: User, session: i64, csrf: String) -> Caller {
        Caller {
            role: user.role,
            scope: scope_of(&user),
            name: user.display_name.clone(),
            user: Some(user),
            credential: Credential::Session { id: session, csrf },
        }
    }

    pub fn allows(&self, permission: Permission) -> bool {
        self.role.allows(permission)
    }

    pub fn user_id(&self) -> Option<i64> {
        self.user.as_ref().map(|u| u.id)
    }

    pub fn token_id(&self) -> Option<i64> {
        match self.credential {
            Credential::Token { id } => Some(id),
            Credential::Session { .. } => None,
        }
    }

    /// Who made a change, as CI history and suppressions record it: `user:ID`, or
    /// `api_token:ID` for an ownerless token.
    pub fn author(&self) -> String {
        match (&self.user, &self.credential) {
            (Some(user), _) => format!("user:{}", user.id),
            (None, Credential::Token { id }) => format!("api_token:{id}"),
            (None, Credential::Session { id, .. }) => format!("session:{id}"),
        }
    }

    /// How the audit log names the caller: the person, or the ownerless token.
    pub fn audit_actor(&self) -> AuditActor {
        match (&self.user, &self.credential) {
            (Some(user), _) => AuditActor {
                kind: ActorKind::User,
                id: Some(user.id),
                name: user.email.clone(),
            },
            (None, Credential::Token { id }) => AuditActor {
                kind: ActorKind::Token,
                id: Some(*id),
                name: self.name.clone(),
            },
            (None, Credential::Session { id, .. }) => AuditActor {
                kind: ActorKind::User,
                id: None,
                name: format!("session #{id}"),
            },
        }
    }
}
