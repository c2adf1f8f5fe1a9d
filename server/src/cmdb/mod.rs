//! The CMDB: recognising configuration items in what agents report, keeping them current with
//! their history, and answering questions about them.

pub mod identify;
pub mod inventory;
pub mod reconcile;
pub mod software;

pub use crate::ci::{class, query, relation, version};
