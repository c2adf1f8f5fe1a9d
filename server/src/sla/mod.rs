//! Service levels: business calendars, support plans and the SLA clocks replayed from a
//! ticket's event log. Everything here is pure; the store feeds it and keeps no counters.

pub mod calendar;
pub mod clock;
pub mod history;
pub mod plan;
pub mod priority;
