//! `/api/v1/incidents`: incidents opened by rules or by people (see [`super::tickets`]).

use axum::Router;

use super::super::AppState;
use super::tickets::{routes, Incidents};

pub fn router() -> Router<AppState> {
    routes::<Incidents>("/api/v1/incidents")
}
