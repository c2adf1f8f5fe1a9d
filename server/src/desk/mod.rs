//! The service desk: incidents and service requests, their life cycle and their priority.

pub mod kpis;
pub mod priority;
pub mod satisfaction;
pub mod state;
