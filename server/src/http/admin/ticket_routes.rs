//! The documented routes of one kind of ticket. The handlers in [`super::tickets`] are generic
//! over the kind; OpenAPI needs a literal path per operation, so this macro writes, per kind, a
//! thin annotated function for each that calls the generic handler (no handler body twice).

/// `ticket_routes!(Kind, "/api/v1/base", "noun", "a noun", "plural")` defines `router()` for
/// that kind.
macro_rules! ticket_routes {
    ($desk:ty, $base:literal, $noun:literal, $a_noun:literal, $plural:literal) => {
        use axum::extract::State;
        use axum::http::StatusCode;
        use axum::Json;
        use utoipa_axum::router::OpenApiRouter;
        use utoipa_axum::routes;

        use super::super::error::{ApiResult, BadBody, BadQuery, Refused};
        use super::super::extract::{Authorized, ApiJson, ApiPath, ApiQuery};
        use super::super::AppState;
        use super::ticket_views::{Ticket, TicketDetail};
        use super::tickets::{self, AssignBody, CommentBody, CreateBody, EditBody};
        use super::tickets::{EscalateBody, LinkBody, ListQuery, TransitionBody};
        use atalaya_shared::ErrorBody;

        pub fn router() -> OpenApiRouter<AppState> {
            OpenApiRouter::new()
                .routes(routes!(list, create))
                .routes(routes!(show, edit))
                .routes(routes!(transition))
                .routes(routes!(comment))
                .routes(routes!(assign))
                .routes(routes!(escalate))
                .routes(routes!(link_cis))
        }

        #[utoipa::path(
            get,
            path = $base,
            tag = $plural,
            operation_id = concat!("list_", $plural),
            summary = concat!("List ", $noun, "s with their SLA clocks"),
            security(("admin" = [])),
            params(ListQuery),
            responses(
                Refused,
                BadQuery,
                (status = 200, description = "The tickets, newest first", body = Vec<Ticket>),
                (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
            )
        )]
        async fn list(
            state: State<AppState>,
            auth: Authorized,
            query: ApiQuery<ListQuery>,
        ) -> ApiResult<Json<Vec<Ticket>>> {
            tickets::list::<$desk>(state, auth, query).await
        }

        #[utoipa::path(
            post,
            path = $base,
            tag = $plural,
            operation_id = concat!("open_", $noun),
            summary = concat!("Open ", $a_noun, " by hand; priority from the tenant's matrix"),
            security(("admin" = [])),
            request_body = CreateBody,
            responses(
                Refused,
                BadBody,
                (status = 201, description = "Opened", body = TicketDetail),
                (status = 404, description = "`not_found`: no such tenant", body = ErrorBody),
            )
        )]
        async fn create(
            state: State<AppState>,
            auth: Authorized,
            body: ApiJson<CreateBody>,
        ) -> ApiResult<(StatusCode, Json<TicketDetail>)> {
            tickets::create::<$desk>(state, auth, body).await
        }

        #[utoipa::path(
            get,
            path = concat!($base, "/{id}"),
            tag = $plural,
            operation_id = concat!("show_", $noun),
            summary = concat!("One ", $noun, " with its CIs, timeline and SLA clocks"),
            security(("admin" = [])),
            params(("id" = i64, Path, description = "The ticket's id")),
            responses(
                Refused,
                (status = 200, description = "The ticket", body = TicketDetail),
                (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
            )
        )]
        async fn show(
            state: State<AppState>,
            auth: Authorized,
            id: ApiPath<i64>,
        ) -> ApiResult<Json<TicketDetail>> {
            tickets::show::<$desk>(state, auth, id).await
        }

        #[utoipa::path(
            patch,
            path = concat!($base, "/{id}"),
            tag = $plural,
            operation_id = concat!("edit_", $noun),
            summary = concat!("Edit ", $a_noun, "'s title, description, requester, impact or urgency"),
            security(("admin" = [])),
            params(("id" = i64, Path, description = "The ticket's id")),
            request_body = EditBody,
            responses(
                Refused,
                BadBody,
                (status = 200, description = "The ticket as edited", body = TicketDetail),
                (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
                (status = 409, description = "`conflict`: the ticket is closed or cancelled and can no longer change", body = ErrorBody),
            )
        )]
        async fn edit(
            state: State<AppState>,
            auth: Authorized,
            id: ApiPath<i64>,
            body: ApiJson<EditBody>,
        ) -> ApiResult<Json<TicketDetail>> {
            tickets::edit::<$desk>(state, auth, id, body).await
        }

        #[utoipa::path(
            post,
            path = concat!($base, "/{id}/transitions"),
            tag = $plural,
            operation_id = concat!("transition_", $noun),
            summary = concat!("Move ", $a_noun, " through its life cycle"),
            security(("admin" = [])),
            params(("id" = i64, Path, description = "The ticket's id")),
            request_body = TransitionBody,
            responses(
                Refused,
                BadBody,
                (status = 200, description = "The ticket in its new state", body = TicketDetail),
                (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
                (status = 409, description = "`conflict`: not allowed from this state; names the allowed moves", body = ErrorBody),
            )
        )]
        async fn transition(
            state: State<AppState>,
            auth: Authorized,
            id: ApiPath<i64>,
            body: ApiJson<TransitionBody>,
        ) -> ApiResult<Json<TicketDetail>> {
            tickets::transition::<$desk>(state, auth, id, body).await
        }

        #[utoipa::path(
            post,
            path = concat!($base, "/{id}/comments"),
            tag = $plural,
            operation_id = concat!("comment_on_", $noun),
            summary = concat!("A public comment or internal work note on ", $a_noun),
            description = "A requester's reply reopens a recently resolved ticket.",
            security(("admin" = [])),
            params(("id" = i64, Path, description = "The ticket's id")),
            request_body = CommentBody,
            responses(
                Refused,
                BadBody,
                (status = 201, description = "Commented", body = TicketDetail),
                (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
                (status = 409, description = "`conflict`: the ticket takes no comments in its state", body = ErrorBody),
            )
        )]
        async fn comment(
            state: State<AppState>,
            auth: Authorized,
            id: ApiPath<i64>,
            body: ApiJson<CommentBody>,
        ) -> ApiResult<(StatusCode, Json<TicketDetail>)> {
            tickets::comment::<$desk>(state, auth, id, body).await
        }

        #[utoipa::path(
            post,
            path = concat!($base, "/{id}/assign"),
            tag = $plural,
            operation_id = concat!("assign_", $noun),
            summary = concat!("Assign ", $a_noun, " to a group and/or a person"),
            security(("admin" = [])),
            params(("id" = i64, Path, description = "The ticket's id")),
            request_body = AssignBody,
            responses(
                Refused,
                BadBody,
                (status = 200, description = "The ticket as assigned", body = TicketDetail),
                (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
                (status = 409, description = "`conflict`: the ticket cannot be assigned in its state", body = ErrorBody),
            )
        )]
        async fn assign(
            state: State<AppState>,
            auth: Authorized,
            id: ApiPath<i64>,
            body: ApiJson<AssignBody>,
        ) -> ApiResult<Json<TicketDetail>> {
            tickets::assign::<$desk>(state, auth, id, body).await
        }

        #[utoipa::path(
            post,
            path = concat!($base, "/{id}/escalate"),
            tag = $plural,
            operation_id = concat!("escalate_", $noun),
            summary = concat!("Escalate ", $a_noun, " to the next tier"),
            security(("admin" = [])),
            params(("id" = i64, Path, description = "The ticket's id")),
            request_body = EscalateBody,
            responses(
                Refused,
                BadBody,
                (status = 200, description = "The ticket as escalated", body = TicketDetail),
                (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
                (status = 409, description = "`conflict`: there is no next tier, or the ticket is closed", body = ErrorBody),
            )
        )]
        async fn escalate(
            state: State<AppState>,
            auth: Authorized,
            id: ApiPath<i64>,
            body: ApiJson<EscalateBody>,
        ) -> ApiResult<Json<TicketDetail>> {
            tickets::escalate::<$desk>(state, auth, id, body).await
        }

        #[utoipa::path(
            post,
            path = concat!($base, "/{id}/cis"),
            tag = $plural,
            operation_id = concat!("link_cis_to_", $noun),
            summary = concat!("Link more CIs of the tenant to ", $a_noun),
            security(("admin" = [])),
            params(("id" = i64, Path, description = "The ticket's id")),
            request_body = LinkBody,
            responses(
                Refused,
                BadBody,
                (status = 200, description = "The ticket with its CIs", body = TicketDetail),
                (status = 404, description = "`not_found`: no such ticket", body = ErrorBody),
                (status = 409, description = "`conflict`: the ticket is closed or cancelled and can no longer change", body = ErrorBody),
            )
        )]
        async fn link_cis(
            state: State<AppState>,
            auth: Authorized,
            id: ApiPath<i64>,
            body: ApiJson<LinkBody>,
        ) -> ApiResult<Json<TicketDetail>> {
            tickets::link_cis::<$desk>(state, auth, id, body).await
        }
    };
}

pub(super) use ticket_routes;
