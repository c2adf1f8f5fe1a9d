//! Who changes a ticket: a person (or the API token acting for one), a rule, the SLA sweep, the
//! auto-close job or a requester rating it. The timeline stores the name exactly as it always
//! has ("rule", "sla", "auto-close", "requester" or the person's name); the audit log also who
//! the person is (their user, or the ownerless token).

use crate::audit::AuditActor;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Actor {
    /// A person or token, by the name the timeline shows (an email address for a requester's
    /// reply relayed by staff), and who they are for the audit log when known.
    Person {
        name: String,
        identity: Option<AuditActor>,
    },
    /// The rule engine, including site-outage correlation.
    Rule,
    /// The SLA sweep (warnings, breaches, escalation on breach).
    Sla,
    /// Closing resolved tickets after the plan's `auto_close_days`.
    AutoClose,
    /// A requester through a satisfaction link.
    Requester,
}

impl Actor {
    pub fn person(name: impl Into<String>) -> Actor {
        Actor::Person {
            name: name.into(),
            identity: None,
        }
    }

    /// A person the server knows: their name for the timeline, their identity for the audit.
    pub fn identified(name: impl Into<String>, identity: AuditActor) -> Actor {
        Actor::Person {
            name: name.into(),
            identity: Some(identity),
        }
    }

    /// The name stored on the timeline.
    pub fn as_str(&self) -> &str {
        match self {
            Actor::Person { name, .. } => name,
            Actor::Rule => "rule",
            Actor::Sla => "sla",
            Actor::AutoClose => "auto-close",
            Actor::Requester => "requester",
        }
    }
}

impl From<&str> for Actor {
    fn from(name: &str) -> Actor {
        Actor::person(name)
    }
}

impl From<String> for Actor {
    fn from(name: String) -> Actor {
        Actor::person(name)
    }
}

impl From<&String> for Actor {
    fn from(name: &String) -> Actor {
        Actor::person(name.clone())
    }
}
