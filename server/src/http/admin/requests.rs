//! `/api/v1/requests`: service requests, routine asks worked like incidents (see
//! [`super::tickets`]).

use axum::Router;

use super::super::AppState;
use super::tickets::{routes, Requests};

pub fn router() -> Router<AppState> {
    routes::<Requests>("/api/v1/requests")
}
