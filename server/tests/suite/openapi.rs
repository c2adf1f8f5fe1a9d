//! The API contract covers the API: every route the router serves is in the OpenAPI document
//! (both come from the same `routes!` lists in `server/src/http`, see `http::api`), and this
//! checks that against what is gathered independently — what `app()` answers for each
//! documented operation, and the source, where no route may be added beside those lists. The
//! document itself is checked for what a client (or a fuzzer) relies on: a success response
//! per operation, a security requirement unless public, unique operation ids, declared path
//! parameters, and `$ref`s that resolve. It is also written to
//! `$CARGO_TARGET_TMPDIR/openapi.json` for `openapi-spec-validator`.

use std::collections::{BTreeSet, HashSet};
use std::path::Path;

use atalaya_server::config::{Config, Overrides};
use atalaya_server::http::access::{access, Access};
use atalaya_server::http::{app, openapi_document, AppState};
use axum::http::StatusCode;
use serde_json::Value;

use crate::db::TestDb;
use crate::router::call_json;

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Operations that need no credential, by the access table.
fn public(method: &str, path: &str) -> bool {
    let method = axum::http::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
    access(&method, path) == Some(Access::Public)
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.push((method.clone(), path.clone(), op.clone()));
            }
        }
    }
    out
}

async fn served_document() -> (Value, axum::Router, TestDb, String, tempfile::TempDir) {
    let db = TestDb::sqlite().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let first = atalaya_server::bootstrap::first_start(&db.store, dir.path(), 60)
        .await
        .expect("bootstrap")
        .expect("first start");
    let config = Config::load(&Overrides::default()).expect("defaults");
    let app = app(AppState::new(db.store.clone(), config));
    let (status, doc) = call_json(&app, "GET", "/api/v1/openapi.json", "", None).await;
    assert_eq!(status, StatusCode::OK);
    (doc, app, db, first.admin_token, dir)
}

#[tokio::test]
async fn the_served_document_is_the_generated_one_and_is_written_for_the_validator() {
    let (doc, _app, db, _token, _dir) = served_document().await;
    let generated = serde_json::to_value(openapi_document()).expect("serialise");
    assert_eq!(doc, generated);
    assert!(
        doc["openapi"]
            .as_str()
            .is_some_and(|v| v.starts_with("3.1")),
        "{}",
        doc["openapi"]
    );
    let schemes = &doc["components"]["securitySchemes"];
    for name in ["admin", "agent"] {
        assert_eq!(schemes[name]["type"], "http", "{name}");
        assert_eq!(schemes[name]["scheme"], "bearer", "{name}");
    }
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join("openapi.json");
    std::fs::write(&out, serde_json::to_string_pretty(&doc).expect("json")).expect("write");
    eprintln!("OpenAPI document written to {}", out.display());
    db.cleanup().await;
}

/// Every documented operation reaches a handler: not the "no such endpoint" fallback, not 405.
/// Requests carry the admin token and no body, so none of them changes anything.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let (doc, app, db, token, _dir) = served_document().await;
    let ops = operations(&doc);
    assert!(ops.len() > 80, "only {} operations documented", ops.len());
    for (method, path, _) in &ops {
        let uri = fill_parameters(path);
        let (status, body) = call_json(&app, &method.to_uppercase(), &uri, &token, None).await;
        assert_ne!(
            status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path} is documented but not routed"
        );
        assert!(
            !(status == StatusCode::NOT_FOUND && body["error"]["message"] == "no such endpoint"),
            "{method} {path} is documented but not routed"
        );
    }
    db.cleanup().await;
}

/// A path parameter that does not parse answers the documented `invalid_path` JSON error.
#[tokio::test]
async fn a_path_parameter_that_does_not_parse_answers_the_json_error() {
    let (doc, app, db, token, _dir) = served_document().await;
    for uri in ["/api/v1/rules/abc", "/api/v1/incidents/9223372036854775808"] {
        let (status, body) = call_json(&app, "GET", uri, &token, None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
        assert_eq!(body["error"]["code"], "invalid_path", "{uri}: {body}");
    }
    let documented = &doc["paths"]["/api/v1/rules/{id}"]["get"]["responses"]["400"];
    assert!(
        documented["description"]
            .as_str()
            .is_some_and(|d| d.contains("invalid_path")),
        "{documented}"
    );
    db.cleanup().await;
}

/// `/api/v1/cis/{id}/locks/{field}` → `/api/v1/cis/1/locks/1`.
fn fill_parameters(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => in_param = true,
            '}' => {
                in_param = false;
                out.push('1');
            }
            _ if in_param => {}
            _ => out.push(c),
        }
    }
    out
}

/// Routes can only be added through the documented lists: `OpenApiRouter::routes(routes!(…))`.
/// A plain axum `.route(…)`, `.nest(…)` or `Router::new()` under `server/src/http` would serve
/// a path the document does not know. And every `#[utoipa::path]` there is one operation of the
/// document (those of the per-kind ticket macro once per kind), so none is left out of a list.
#[tokio::test]
async fn no_route_is_added_beside_the_documented_lists() {
    let http = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/http");
    let mut files = Vec::new();
    collect_rust_files(&http, &mut files);
    assert!(files.len() > 10, "{files:?}");
    let mut annotations = 0;
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read");
        // `OpenApiRouter::new()` is the documented router; a bare axum `Router::new()` is not.
        let bare_routers =
            text.matches("Router::new()").count() - text.matches("OpenApiRouter::new()").count();
        assert_eq!(
            bare_routers,
            0,
            "{} builds an axum Router: add the route with `routes!` and a #[utoipa::path] instead",
            file.display()
        );
        // Path parameters go through `ApiPath`, so a bad one answers the JSON error body the
        // document promises, not axum's plain text.
        let bare_paths = text.matches("Path<").count() - text.matches("ApiPath<").count();
        assert_eq!(
            bare_paths,
            0,
            "{} extracts axum's Path: use ApiPath",
            file.display()
        );
        for forbidden in [".route(", ".route_service(", ".nest(", ".nest_service("] {
            assert!(
                !text.contains(forbidden),
                "{} calls {forbidden}: add the route with `routes!` and a #[utoipa::path] instead",
                file.display()
            );
        }
        let here = text.matches("#[utoipa::path(").count();
        let per_kind = file.ends_with("admin/ticket_routes.rs");
        annotations += if per_kind {
            let kinds = files
                .iter()
                .filter_map(|f| std::fs::read_to_string(f).ok())
                .filter(|t| t.contains("\nticket_routes!("))
                .count();
            assert_eq!(kinds, 2, "incidents and requests");
            here * kinds
        } else {
            here
        };
    }
    let documented = operations(&serde_json::to_value(openapi_document()).expect("json")).len();
    assert_eq!(
        annotations, documented,
        "every #[utoipa::path] handler is registered in a routes! list, and only those"
    );
}

fn collect_rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_operation_is_complete() {
    let doc = serde_json::to_value(openapi_document()).expect("json");
    let mut ids = HashSet::new();
    for (method, path, op) in operations(&doc) {
        let what = format!("{method} {path}");
        let id = op["operationId"].as_str().expect("operationId");
        assert!(ids.insert(id.to_string()), "{what}: operationId {id} twice");
        let responses = op["responses"].as_object().expect("responses");
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{what}: no success response"
        );
        for (status, response) in responses {
            if !status.starts_with('2') {
                assert!(
                    response["content"]["application/json"]["schema"]["$ref"]
                        == "#/components/schemas/ErrorBody",
                    "{what}: {status} does not answer the JSON error body"
                );
            }
        }
        let public = public(&method, &path);
        let security = op["security"].as_array().map(Vec::len).unwrap_or(0);
        if public {
            assert_eq!(security, 0, "{what} is public but asks for a credential");
        } else {
            assert!(security > 0, "{what}: no security requirement");
            let scheme = op["security"][0].as_object().expect("requirement");
            assert!(
                scheme.contains_key("admin") || scheme.contains_key("agent"),
                "{what}: {scheme:?}"
            );
            assert!(responses.contains_key("401"), "{what}: no 401");
        }
        let declared: BTreeSet<&str> = op["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "path")
            .filter_map(|p| p["name"].as_str())
            .collect();
        let in_template: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split('}').next())
            .collect();
        assert_eq!(declared, in_template, "{what}: path parameters");
    }
}

#[test]
fn every_reference_resolves() {
    let doc = serde_json::to_value(openapi_document()).expect("json");
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for reference in refs {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("{reference} is not local"));
        assert!(
            doc.pointer(pointer).is_some(),
            "{reference} does not resolve"
        );
    }
}

fn collect_refs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match (key.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    _ => collect_refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}
