//! Desk KPIs: service levels, volume, backlog, incidents per CI class and rule, satisfaction.
