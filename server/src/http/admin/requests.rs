//! `/api/v1/requests`: service requests, routine asks worked like incidents (see
//! [`super::tickets`]).

use super::ticket_routes::ticket_routes;
use super::tickets::Requests;

ticket_routes!(
    Requests,
    "/api/v1/requests",
    "request",
    "a request",
    "requests"
);
