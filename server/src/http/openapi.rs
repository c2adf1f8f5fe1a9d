//! The OpenAPI document: its frame (title, security schemes, shared schemas) here, every path
//! from the handlers' `#[utoipa::path]` annotations, gathered where the routers are built
//! ([`super::api`]).

use std::sync::Arc;

use atalaya_shared::{ErrorBody, ErrorDetail};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// Names of the two security schemes, as the annotations' `security(...)` use them.
pub const ADMIN: &str = "admin";
pub const AGENT: &str = "agent";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Atalaya API",
        version = "1",
        description = "Agent ingest, CMDB and service desk of Atalaya. Every failure answers \
                       `{\"error\": {\"code\", \"message\"}}` with its status."
    ),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&SecuritySchemes)
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            ADMIN,
            bearer("An admin API token (`Authorization: Bearer <token>`)"),
        );
        components.add_security_scheme(
            AGENT,
            bearer("An enrolled agent's credential (`ata_…`), from `POST /api/v1/agent/enroll`"),
        );
    }
}

/// The document as served, serialised once when the app is built.
#[derive(Clone)]
pub struct Served(pub Arc<String>);

impl Served {
    pub fn new(document: &utoipa::openapi::OpenApi) -> Self {
        // Serialising a document of plain maps and strings cannot fail.
        let json = serde_json::to_string(document).unwrap_or_else(|e| {
            tracing::error!(error = %e, "the OpenAPI document did not serialise");
            "{}".into()
        });
        Served(Arc::new(json))
    }
}
