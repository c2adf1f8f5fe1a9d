//! People (issue 17): users and their roles, what each role may do, passwords and browser
//! sessions. The store keeps the rows ([`crate::store::users`], [`crate::store::sessions`]); the
//! rules are here. The audit log of what people (and jobs) changed is [`crate::audit`].

pub mod assignees;
pub mod caller;
pub mod password;
pub mod password_links;
pub mod role;
pub mod sessions;
pub mod sign_in;
pub mod tokens;
pub mod totp;
pub mod users;

pub use caller::{Caller, Credential};
pub use role::{Permission, Role};
pub use users::{NewUser, User};
