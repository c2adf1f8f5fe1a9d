//! The OpenAPI document: its frame (title, security schemes, shared schemas) here, every path
//! from the handlers' `#[utoipa::path]` annotations, gathered where the routers are built
//! ([`super::api`]).

use std::collections::btree_map::Entry;
use std::sync::Arc;

use atalaya_shared::{ErrorBody, ErrorDetail};
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi};

/// Names of the two security schemes, as the annotations' `security(...)` use them.
pub const ADMIN: &str = "admin";
pub const AGENT: &str = "agent";
pub const SESSION: &str = "session";

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
            bearer("An API token (`Authorization: Bearer <token>`): a person's, or an admin token"),
        );
        components.add_security_scheme(
            SESSION,
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::people::sessions::COOKIE,
                "A signed-in person's session (`POST /api/v1/sessions`); its changes also carry \
                 `X-CSRF-Token`",
            ))),
        );
        components.add_security_scheme(
            AGENT,
            bearer("An enrolled agent's credential (`ata_…`), from `POST /api/v1/agent/enroll`"),
        );
    }
}

const INVALID_PATH: &str =
    "`invalid_path`: a path parameter does not parse (a word where an id belongs, an id beyond 64 bits)";

/// Every operation with path parameters can answer `invalid_path` (the
/// [`ApiPath`](super::extract::ApiPath) extractor); said here once for all of them, after the
/// routers have gathered their operations, instead of in every annotation.
pub fn describe_path_rejections(document: &mut utoipa::openapi::OpenApi) {
    for item in document.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            if has_path_parameters(operation) {
                add_invalid_path(operation);
            }
        }
    }
}

fn has_path_parameters(operation: &Operation) -> bool {
    operation
        .parameters
        .iter()
        .flatten()
        .any(|p| p.parameter_in == ParameterIn::Path)
}

fn add_invalid_path(operation: &mut Operation) {
    match operation.responses.responses.entry("400".into()) {
        Entry::Vacant(slot) => {
            let body = ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("ErrorBody")))
                .build();
            slot.insert(RefOr::T(
                ResponseBuilder::new()
                    .description(INVALID_PATH)
                    .content("application/json", body)
                    .build(),
            ));
        }
        Entry::Occupied(mut slot) => {
            if let RefOr::T(response) = slot.get_mut() {
                response.description = format!("{}; or {INVALID_PATH}", response.description);
            }
        }
    }
}

/// A string that is one of `names`, for fields whose allowed values live in a table of the
/// domain (rule metrics, relation kinds) rather than in a Rust enum.
pub fn one_of<'a>(description: &str, names: impl IntoIterator<Item = &'a str>) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .enum_values(Some(names))
        .build()
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
