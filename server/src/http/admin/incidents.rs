//! `/api/v1/incidents`: incidents opened by rules or by people (see [`super::tickets`]).

use super::ticket_routes::ticket_routes;
use super::tickets::Incidents;

ticket_routes!(
    Incidents,
    "/api/v1/incidents",
    "incident",
    "an incident",
    "incidents"
);
