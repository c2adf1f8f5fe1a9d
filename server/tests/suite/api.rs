//! The HTTP API through `app()` and `tower::ServiceExt::oneshot`: status codes, error bodies and
//! that refused requests change nothing.

use atalaya_server::config::{Config, Overrides};
use atalaya_server::http::{app, AppState};
use atalaya_server::store::TenantScope;
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::db::TestDb;

struct Api {
    app: Router,
    db: TestDb,
    admin: String,
    enrollment: String,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Api {
        let db = TestDb::sqlite().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let first = atalaya_server::bootstrap::first_start(&db.store, dir.path(), 60)
            .await
            .expect("bootstrap")
            .expect("first start");
        let mut config = Config::load(&Overrides::default()).expect("defaults");
        config.max_request_bytes = 64 * 1024;
        let app = app(AppState::new(db.store.clone(), config));
        Api {
            app,
            db,
            admin: first.admin_token,
            enrollment: first.enrollment_token,
            _dir: dir,
        }
    }

    async fn call(
        &self,
        method: &str,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder().method(method).uri(uri);
        if let Some(token) = token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                request = request.header(header::CONTENT_TYPE, "application/json");
                Body::from(v.to_string())
            }
            None => Body::empty(),
        };
        self.send(request.body(body).expect("request")).await
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, Value) {
        let response = self.app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, value)
    }

    async fn enroll(&self) -> (String, String) {
        let (status, body) = self
            .call(
                "POST",
                "/api/v1/agent/enroll",
                None,
                Some(enroll_body(&self.enrollment, 1)),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["agent_id"].as_str().expect("id").into(),
            body["credential"].as_str().expect("cred").into(),
        )
    }

    async fn report_count(&self) -> i64 {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM reports")
            .fetch_one(self.db.store.pool())
            .await
            .expect("count");
        n
    }
}

fn enroll_body(token: &str, protocol: u32) -> Value {
    json!({"protocol": protocol, "token": token, "agent_version": "0.1.0", "host": {"hostname": "web01"}})
}

fn report_body(agent_id: &str, seq: u64, protocol: u32) -> Value {
    json!({
        "protocol": protocol, "agent_id": agent_id, "seq": seq, "agent_version": "0.1.0",
        "collected_at": "2026-11-22T00:00:00Z",
        "host": {"hostname": "web01", "machine_id": "m1"},
        "volumes": [{"mount_point": "/", "total_bytes": 1000, "available_bytes": 400}]
    })
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn health_and_readiness() {
    let api = Api::new().await;
    assert_eq!(
        api.call("GET", "/healthz", None, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        api.call("GET", "/readyz", None, None).await.0,
        StatusCode::OK
    );
    let (status, doc) = api.call("GET", "/api/v1/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc["paths"]["/api/v1/agent/report"].is_object());
    let (status, body) = api.call("GET", "/nope", None, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    api.db.cleanup().await;
}

#[tokio::test]
async fn admin_endpoints_need_a_valid_token() {
    let api = Api::new().await;
    let (status, body) = api.call("GET", "/api/v1/cis", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "missing_token");
    let (status, body) = api
        .call("GET", "/api/v1/cis", Some("atl_forged"), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "invalid_token");
    let (status, _) = api.call("GET", "/api/v1/cis", Some(&api.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = api
        .call("GET", "/api/v1/cis?limit=0", Some(&api.admin), None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "invalid_query");
    let (status, _) = api
        .call("GET", "/api/v1/cis?tenant=nobody", Some(&api.admin), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.db.cleanup().await;
}

#[tokio::test]
async fn enrollment_refusals_are_clear_and_change_nothing() {
    let api = Api::new().await;
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/agent/enroll",
            None,
            Some(enroll_body("ate_wrong", 1)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "invalid_token");
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/agent/enroll",
            None,
            Some(enroll_body(&api.enrollment, 99)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "unsupported_protocol");
    assert!(api
        .db
        .store
        .list_agents(TenantScope::All)
        .await
        .expect("agents")
        .is_empty());

    // A single-use token through the API, then its second use is refused.
    let (status, token) = api
        .call(
            "POST",
            "/api/v1/enrollment-tokens",
            Some(&api.admin),
            Some(json!({"tenant": "default", "name": "once", "max_uses": 1})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{token}");
    let secret = token["secret"].as_str().expect("secret");
    assert_eq!(
        api.call(
            "POST",
            "/api/v1/agent/enroll",
            None,
            Some(enroll_body(secret, 1))
        )
        .await
        .0,
        StatusCode::CREATED
    );
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/agent/enroll",
            None,
            Some(enroll_body(secret, 1)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "token_used_up");

    // Revoked through the API.
    let id = api
        .call("GET", "/api/v1/enrollment-tokens", Some(&api.admin), None)
        .await
        .1[0]["id"]
        .as_i64()
        .expect("id");
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/enrollment-tokens/{id}"),
            Some(&api.admin),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    let (status, body) = api
        .call(
            "POST",
            "/api/v1/agent/enroll",
            None,
            Some(enroll_body(&api.enrollment, 1)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "token_revoked");
    assert_eq!(
        api.db
            .store
            .list_agents(TenantScope::All)
            .await
            .expect("agents")
            .len(),
        1
    );
    api.db.cleanup().await;
}

#[tokio::test]
async fn bad_reports_get_the_right_status_and_store_nothing() {
    let api = Api::new().await;
    let (agent_id, credential) = api.enroll().await;
    let cred = Some(credential.as_str());

    let (status, body) = api
        .call(
            "POST",
            "/api/v1/agent/report",
            cred,
            Some(report_body(&agent_id, 1, 99)),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "unsupported_protocol");

    let (status, body) = api
        .call(
            "POST",
            "/api/v1/agent/report",
            Some("ata_forged"),
            Some(report_body(&agent_id, 1, 1)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_error(&body, "invalid_credential");

    let (status, body) = api
        .call(
            "POST",
            "/api/v1/agent/report",
            cred,
            Some(report_body("someone-else", 1, 1)),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_error(&body, "forbidden");

    let mut missing = report_body(&agent_id, 1, 1);
    missing.as_object_mut().expect("object").remove("host");
    let (status, body) = api
        .call("POST", "/api/v1/agent/report", cred, Some(missing))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid_body");

    let mut impossible = report_body(&agent_id, 1, 1);
    impossible["volumes"][0]["available_bytes"] = json!(5000);
    let (status, body) = api
        .call("POST", "/api/v1/agent/report", cred, Some(impossible))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid");

    let request = |content_type: &str, body: String| {
        Request::builder()
            .method("POST")
            .uri("/api/v1/agent/report")
            .header(header::AUTHORIZATION, format!("Bearer {credential}"))
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .expect("request")
    };
    let (status, body) = api
        .send(request("application/json", "{\"protocol\": 1,".into()))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&body, "malformed_json");
    let (status, body) = api
        .send(request(
            "text/plain",
            report_body(&agent_id, 1, 1).to_string(),
        ))
        .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&body, "unsupported_media_type");
    let mut huge = report_body(&agent_id, 1, 1);
    huge["padding"] = json!("x".repeat(100 * 1024));
    let (status, body) = api
        .send(request("application/json", huge.to_string()))
        .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&body, "payload_too_large");

    assert_eq!(api.report_count().await, 0, "nothing refused was stored");
    let (status, ack) = api
        .call(
            "POST",
            "/api/v1/agent/report",
            cred,
            Some(report_body(&agent_id, 1, 1)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
    assert_eq!(ack["duplicate"], false);
    let (_, ack) = api
        .call(
            "POST",
            "/api/v1/agent/report",
            cred,
            Some(report_body(&agent_id, 1, 1)),
        )
        .await;
    assert_eq!(ack["duplicate"], true);
    assert_eq!(api.report_count().await, 1);

    // A revoked agent is refused.
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/v1/agents/{agent_id}"),
            Some(&api.admin),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/agent/report",
            cred,
            Some(report_body(&agent_id, 2, 1)),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(api.report_count().await, 1);
    api.db.cleanup().await;
}

#[tokio::test]
async fn rules_api_validates_and_drives_incidents() {
    let api = Api::new().await;
    let admin = Some(api.admin.as_str());
    let (status, body) = api
        .call("POST", "/api/v1/rules?tenant=default", admin, Some(json!({"name": "Tight", "metric": "volume.used_percent", "critical_level": 50.0, "warning_level": 70.0})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "invalid");
    let (status, body) = api
        .call("POST", "/api/v1/rules?tenant=default", admin, Some(json!({"name": "Tight", "metric": "volume.used_percent", "critical_level": 50.0, "bogus": 1})))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, rule) = api
        .call(
            "POST",
            "/api/v1/rules?tenant=default",
            admin,
            Some(json!({"name": "Tight", "metric": "volume.used_percent", "critical_level": 50.0})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{rule}");
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/rules?tenant=default",
            admin,
            Some(json!({"name": "Tight", "metric": "volume.used_percent", "critical_level": 50.0})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (agent_id, credential) = api.enroll().await;
    api.call(
        "POST",
        "/api/v1/agent/report",
        Some(&credential),
        Some(report_body(&agent_id, 1, 1)),
    )
    .await;
    let (_, incidents) = api.call("GET", "/api/v1/incidents", admin, None).await;
    let incidents = incidents.as_array().expect("list");
    assert_eq!(incidents.len(), 1, "60% used crosses the 50% rule");
    let id = incidents[0]["id"].as_i64().expect("id");
    let (_, detail) = api
        .call("GET", &format!("/api/v1/incidents/{id}"), admin, None)
        .await;
    assert_eq!(detail["cis"].as_array().expect("cis").len(), 2);
    assert_eq!(detail["timeline"][0]["kind"], "opened");
    let (status, _) = api
        .call("GET", "/api/v1/incidents?state=bogus", admin, None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, cis) = api
        .call("GET", "/api/v1/cis?class=volume", admin, None)
        .await;
    let volume_id = cis[0]["id"].as_i64().expect("id");
    let (_, volume) = api
        .call("GET", &format!("/api/v1/cis/{volume_id}"), admin, None)
        .await;
    assert_eq!(volume["relations"][0]["kind"], "contained_in");
    assert_eq!(volume["metrics"]["used_percent"], 60.0);
    let (_, by_ci) = api
        .call(
            "GET",
            &format!("/api/v1/incidents?ci={volume_id}"),
            admin,
            None,
        )
        .await;
    assert_eq!(by_ci.as_array().expect("list").len(), 1);
    api.db.cleanup().await;
}

#[tokio::test]
async fn tenant_scoped_tokens_see_only_their_tenant() {
    let api = Api::new().await;
    let admin = Some(api.admin.as_str());
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/tenants",
            admin,
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/tenants",
            admin,
            Some(json!({"name": "acme"})),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/tenants",
            admin,
            Some(json!({"name": "Not Valid"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let acme = api
        .db
        .store
        .tenant_by_name(TenantScope::All, "acme")
        .await
        .expect("acme");
    let tech = api
        .db
        .store
        .create_api_token(Some(acme.id), "acme tech")
        .await
        .expect("token");
    let (_, tenants) = api.call("GET", "/api/v1/tenants", Some(&tech), None).await;
    assert_eq!(tenants.as_array().expect("list").len(), 1);
    let (status, _) = api
        .call("GET", "/api/v1/cis?tenant=default", Some(&tech), None)
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another tenant is invisible, not forbidden"
    );
    let (status, _) = api
        .call(
            "POST",
            "/api/v1/tenants",
            Some(&tech),
            Some(json!({"name": "mine"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    api.db.cleanup().await;
}

async fn agent_row(api: &Api) -> Value {
    let (status, agents) = api
        .call("GET", "/api/v1/agents", Some(&api.admin), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{agents}");
    agents[0].clone()
}

async fn send_report(api: &Api, credential: &str, body: Value) {
    let (status, ack) = api
        .call("POST", "/api/v1/agent/report", Some(credential), Some(body))
        .await;
    assert_eq!(status, StatusCode::OK, "{ack}");
}

#[tokio::test]
async fn the_agent_row_follows_its_reports_and_a_replay_moves_nothing_back() {
    let api = Api::new().await;
    let (agent_id, credential) = api.enroll().await;
    send_report(&api, &credential, report_body(&agent_id, 1, 1)).await;
    let first = agent_row(&api).await;
    assert_eq!(first["last_seq"], 1);
    assert!(first["computer_id"].is_i64(), "{first}");

    // Unchanged host: liveness still moves.
    send_report(&api, &credential, report_body(&agent_id, 2, 1)).await;
    let second = agent_row(&api).await;
    assert_eq!(second["last_seq"], 2);
    assert!(second["last_seen_at"].as_str() >= first["last_seen_at"].as_str());

    // Renamed host and upgraded agent: the row follows.
    let mut renamed = report_body(&agent_id, 3, 1);
    renamed["host"]["hostname"] = json!("web01-renamed");
    renamed["agent_version"] = json!("0.2.0");
    send_report(&api, &credential, renamed).await;
    let third = agent_row(&api).await;
    assert_eq!(third["hostname"], "web01-renamed");
    assert_eq!(third["agent_version"], "0.2.0");
    assert_eq!(third["computer_id"], first["computer_id"], "same computer");

    // A replay of an old report: acknowledged, nothing moves back.
    send_report(&api, &credential, report_body(&agent_id, 1, 1)).await;
    let fourth = agent_row(&api).await;
    assert_eq!(fourth["last_seq"], 3);
    assert_eq!(fourth["hostname"], "web01-renamed");
}
