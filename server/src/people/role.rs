//! Roles and what each may do — the one table of permissions. A route names the [`Permission`]
//! it needs; a role has it or not ([`Role::allows`]). Which tenants a person reaches is the other
//! half: an MSP admin and an auditor reach every tenant, a technician the tenants they are a
//! member of, a customer admin and a requester their own.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The MSP's administrators: everything, every tenant.
    MspAdmin,
    /// The MSP's technicians (tier 1 or 2 through their assignment groups): the desk and the CMDB
    /// of the tenants they serve.
    Technician,
    /// Reads everything, changes nothing.
    Auditor,
    /// A customer's administrator: their own tenant's tickets, CMDB, reports, users and approvals.
    CustomerAdmin,
    /// A customer's end user: their own requests, through the portal.
    Requester,
}

/// Something a route or a command needs the caller to be allowed.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Read tickets, their timelines and the desk's reports.
    ReadDesk,
    /// Open, change, assign, comment on, escalate, resolve and reopen tickets; keep saved CMDB
    /// queries.
    WorkDesk,
    /// Support plans, assignment groups, notification templates and channels.
    ConfigureDesk,
    /// Read configuration items, their history and the fleet.
    ReadCmdb,
    /// Maintenance windows and silences.
    ManageSuppressions,
    /// Rules, CI administration, agent configs and enrollment tokens.
    ConfigureMonitoring,
    /// Create and change tenants.
    ManageTenants,
    /// Users, memberships and other people's API tokens, in the tenants reached.
    ManagePeople,
    /// Read the audit log of the tenants reached.
    ReadAudit,
    /// Open one's own requests, follow and answer them, rate them.
    OwnRequests,
}

impl Permission {
    /// What it allows, for the message of a refusal ("a technician may not …").
    pub fn describe(self) -> &'static str {
        match self {
            Permission::ReadDesk => "read tickets and the desk's reports",
            Permission::WorkDesk => "work tickets or save CMDB queries",
            Permission::ConfigureDesk => {
                "configure support plans, assignment groups or notifications"
            }
            Permission::ReadCmdb => "read the CMDB, its rules or the fleet",
            Permission::ManageSuppressions => "manage maintenance windows or silences",
            Permission::ConfigureMonitoring => "configure rules, CIs, agents or enrollment",
            Permission::ManageTenants => "create tenants",
            Permission::ManagePeople => "manage users",
            Permission::ReadAudit => "read the audit log",
            Permission::OwnRequests => "open requests of their own",
        }
    }

    pub const ALL: [Permission; 10] = [
        Permission::ReadDesk,
        Permission::WorkDesk,
        Permission::ConfigureDesk,
        Permission::ReadCmdb,
        Permission::ManageSuppressions,
        Permission::ConfigureMonitoring,
        Permission::ManageTenants,
        Permission::ManagePeople,
        Permission::ReadAudit,
        Permission::OwnRequests,
    ];
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::MspAdmin,
        Role::Technician,
        Role::Auditor,
        Role::CustomerAdmin,
        Role::Requester,
    ];

    /// The permission table.
    pub fn allows(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            Role::MspAdmin => true,
            Role::Technician => matches!(
                permission,
                ReadDesk | WorkDesk | ReadCmdb | ManageSuppressions | OwnRequests
            ),
            Role::Auditor => matches!(permission, ReadDesk | ReadCmdb | ReadAudit),
            Role::CustomerAdmin => matches!(
                permission,
                ReadDesk | ReadCmdb | ManagePeople | ReadAudit | OwnRequests
            ),
            Role::Requester => matches!(permission, OwnRequests),
        }
    }

    /// Whether everything `other` may do, this role may do too: a token's role must be one its
    /// owner includes, and a person may only give roles they include.
    pub fn includes(self, other: Role) -> bool {
        Permission::ALL
            .iter()
            .all(|p| !other.allows(*p) || self.allows(*p))
    }

    /// Whether the role belongs to one customer tenant (and must name it).
    pub fn is_customer(self) -> bool {
        matches!(self, Role::CustomerAdmin | Role::Requester)
    }

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::MspAdmin => "msp_admin",
            Role::Technician => "technician",
            Role::Auditor => "auditor",
            Role::CustomerAdmin => "customer_admin",
            Role::Requester => "requester",
        }
    }

    pub fn parse(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_names_round_trip_and_match_serde() {
        for role in Role::ALL {
            assert_eq!(Role::parse(role.as_str()), Some(role));
            assert_eq!(
                serde_json::to_value(role).expect("serialises"),
                serde_json::json!(role.as_str())
            );
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn only_an_msp_admin_includes_every_role() {
        for role in Role::ALL {
            assert!(Role::MspAdmin.includes(role));
            assert!(role.includes(role));
            assert!(role.includes(Role::Requester) || role == Role::Auditor);
        }
        assert!(!Role::Technician.includes(Role::MspAdmin));
        assert!(
            !Role::Technician.includes(Role::Auditor),
            "no audit log for technicians"
        );
        assert!(
            !Role::Auditor.includes(Role::Technician),
            "auditors change nothing"
        );
        assert!(!Role::CustomerAdmin.includes(Role::Technician));
        assert!(Role::CustomerAdmin.includes(Role::Requester));
    }

    #[test]
    fn readers_never_write() {
        for p in [
            Permission::WorkDesk,
            Permission::ConfigureDesk,
            Permission::ManageSuppressions,
            Permission::ConfigureMonitoring,
            Permission::ManageTenants,
            Permission::ManagePeople,
        ] {
            assert!(!Role::Auditor.allows(p), "{p:?}");
            assert!(!Role::Requester.allows(p), "{p:?}");
        }
    }
}
