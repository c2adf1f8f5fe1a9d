//! Agent config set on the server (tenant default, per-agent override) through the HTTP API, the
//! version in report acknowledgements, and what agents report every interval: service states
//! (watched services included in the default rule's scope) and inode use. On every backend.

use atalaya_server::config::{Config, Overrides};
use atalaya_server::http::{app, AppState};
use atalaya_server::store::Store;
use axum::http::StatusCode;
use axum::Router;
use serde_json::{json, Value};

use crate::on_every_backend;

pub(crate) struct Api {
    app: Router,
    admin: String,
    enrollment: String,
    _dir: tempfile::TempDir,
}

impl Api {
    pub(crate) async fn new(store: &Store) -> Api {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = atalaya_server::bootstrap::first_start(store, dir.path(), 60)
            .await
            .expect("bootstrap")
            .expect("first start");
        let config = Config::load(&Overrides::default()).expect("defaults");
        Api {
            app: app(AppState::new(store.clone(), config)),
            admin: first.admin_token,
            enrollment: first.enrollment_token,
            _dir: dir,
        }
    }

    pub(crate) async fn call(
        &self,
        method: &str,
        uri: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        crate::router::call_json(&self.app, method, uri, token, body).await
    }

    pub(crate) async fn enroll(&self) -> (String, String) {
        let body = json!({"protocol": 1, "token": self.enrollment, "agent_version": "0.1.0",
                          "host": {"hostname": "web01"}});
        let (status, body) = self
            .call("POST", "/api/v1/agent/enroll", "none", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        (
            body["agent_id"].as_str().expect("id").into(),
            body["credential"].as_str().expect("credential").into(),
        )
    }

    /// Posts a report and returns the acknowledgement.
    pub(crate) async fn report(&self, credential: &str, body: Value) -> Value {
        let (status, ack) = self
            .call("POST", "/api/v1/agent/report", credential, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{ack}");
        ack
    }
}

pub(crate) fn report(agent_id: &str, seq: u64, minute: u32, extra: Value) -> Value {
    let mut body = json!({
        "protocol": 1, "agent_id": agent_id, "seq": seq, "agent_version": "0.1.0",
        "collected_at": format!("2026-11-22T10:{minute:02}:00Z"),
        "host": {"hostname": "web01", "machine_id": "m-agent-config"},
        "volumes": [{"mount_point": "/", "total_bytes": 100_000_000_000u64, "available_bytes": 60_000_000_000u64}]
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    body
}

fn assert_invalid(body: &Value, fragment: &str) {
    assert_eq!(body["error"]["code"], "invalid_agent_config", "{body}");
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
}

on_every_backend!(
    agent_config_layers_are_versioned_and_reach_the_agent,
    |store| {
        let api = Api::new(&store).await;
        let (agent_id, credential) = api.enroll().await;

        // Nothing set: the built-in defaults, version 0, in the config and in the acknowledgement.
        let (status, config) = api
            .call("GET", "/api/v1/agent/config", &credential, None)
            .await;
        assert_eq!(status, StatusCode::OK, "{config}");
        assert_eq!(config["version"], 0);
        assert_eq!(config["report_interval_secs"], 60);
        assert_eq!(config["inventory_schedule"], "0 0 3 * * *");
        assert_eq!(config["spool_max_bytes"], 64 << 20);
        assert_eq!(config["watched_services"], json!([]));
        let ack = api
            .report(&credential, report(&agent_id, 1, 0, json!({})))
            .await;
        assert_eq!(ack["config_version"], 0);

        // The tenant default.
        let tenant_url = "/api/v1/tenants/default/agent-config";
        let (status, body) = api
        .call(
            "PUT",
            tenant_url,
            &api.admin,
            Some(json!({"report_interval_secs": 30, "watched_services": ["nginx", "cron.service"]})),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["version"], 1);
        assert_eq!(body["effective"]["report_interval_secs"], 30);
        assert_eq!(
            body["effective"]["watched_services"],
            json!(["cron.service", "nginx.service"])
        );
        let ack = api
            .report(&credential, report(&agent_id, 2, 1, json!({})))
            .await;
        assert_eq!(ack["config_version"], 1);
        assert_eq!(ack["report_interval_secs"], 30);
        // A machine enrolled now starts at the tenant's interval.
        let body = json!({"protocol": 1, "token": api.enrollment, "agent_version": "0.1.0",
                          "host": {"hostname": "web02"}});
        let (status, enrolled) = api
            .call("POST", "/api/v1/agent/enroll", "none", Some(body))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{enrolled}");
        assert_eq!(enrolled["report_interval_secs"], 30);

        // Refused changes say why and change nothing.
        for (bad, fragment) in [
            (json!({"inventory_schedule": "every night"}), "cron"),
            (json!({"report_interval_secs": 0}), "out of range"),
            (json!({"report_interval_secs": 999_999}), "out of range"),
            (json!({"spool_max_bytes": 1000}), "too small"),
            (json!({"spool_max_bytes": -1}), "spool_max_bytes"),
            (json!({"report_interval": 30}), "unknown field"),
            (
                json!({"watched_services": ["two words"]}),
                "not a service unit name",
            ),
        ] {
            let (status, body) = api.call("PUT", tenant_url, &api.admin, Some(bad)).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_invalid(&body, fragment);
        }
        let (_, body) = api.call("GET", tenant_url, &api.admin, None).await;
        assert_eq!(body["version"], 1, "{body}");
        assert_eq!(body["settings"]["report_interval_secs"], 30);

        // One agent's override: its fields win, the rest comes from the tenant.
        let agent_url = format!("/api/v1/agents/{agent_id}/agent-config");
        let (status, body) = api
            .call(
                "PUT",
                &agent_url,
                &api.admin,
                Some(json!({"report_interval_secs": 10, "spool_max_bytes": 2_097_152})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["effective"]["version"], 2);
        assert_eq!(body["effective"]["report_interval_secs"], 10);
        assert_eq!(body["effective"]["spool_max_bytes"], 2_097_152);
        assert_eq!(
            body["effective"]["watched_services"]
                .as_array()
                .map(Vec::len),
            Some(2)
        );
        assert_eq!(body["override"]["report_interval_secs"], 10);
        assert_eq!(body["tenant_default"]["report_interval_secs"], 30);
        let (_, config) = api
            .call("GET", "/api/v1/agent/config", &credential, None)
            .await;
        assert_eq!(config["version"], 2);
        assert_eq!(config["report_interval_secs"], 10);

        // Removing the override moves the version forward, never back.
        let (status, _) = api.call("DELETE", &agent_url, &api.admin, None).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (_, body) = api.call("GET", &agent_url, &api.admin, None).await;
        assert_eq!(body["override"], Value::Null, "{body}");
        assert_eq!(body["effective"]["version"], 3);
        assert_eq!(body["effective"]["report_interval_secs"], 30);
        let ack = api
            .report(&credential, report(&agent_id, 3, 2, json!({})))
            .await;
        assert_eq!(ack["config_version"], 3);
        let (status, body) = api.call("DELETE", &agent_url, &api.admin, None).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

        // Unknown names, and callers without the right credential.
        let (status, _) = api
            .call("GET", "/api/v1/tenants/nope/agent-config", &api.admin, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = api
            .call("GET", "/api/v1/agents/nope/agent-config", &api.admin, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = api.call("GET", tenant_url, &credential, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        let (status, _) = api
            .call("GET", "/api/v1/agent/config", &api.admin, None)
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
);

on_every_backend!(
    service_states_and_inodes_open_incidents_every_interval,
    |store| {
        let api = Api::new(&store).await;
        let (agent_id, credential) = api.enroll().await;
        let service = |name: &str, enabled: &str, watched: bool| {
            json!({"name": name, "load_state": "loaded", "active_state": "active", "sub_state": "running",
               "enabled_state": enabled, "watched": watched})
        };
        let inventory = json!({"inventory": {"hash": "inv-1", "services": [
            service("backup.service", "disabled", true),
            service("cups.service", "disabled", false),
            service("ssh.service", "enabled", false),
        ]}});
        api.report(&credential, report(&agent_id, 1, 0, inventory))
            .await;

        // Later collections carry only the states: the watched, disabled service failed and the
        // unwatched disabled one stopped; the inodes of / are nearly used up.
        let states = |minute: u32, seq: u64| {
            report(
                &agent_id,
                seq,
                minute,
                json!({
                    "service_states": [
                        {"name": "backup.service", "active_state": "failed", "sub_state": "failed", "watched": true},
                        {"name": "cups.service", "active_state": "inactive", "sub_state": "dead"},
                        {"name": "ssh.service", "active_state": "active", "sub_state": "running"},
                        {"name": "new.service", "active_state": "failed", "sub_state": "failed"},
                    ],
                    "volume_inodes": [{"mount_point": "/", "inodes_total": 1000, "inodes_free": 20}],
                }),
            )
        };
        api.report(&credential, states(1, 2)).await;
        // The rule waits two minutes before it fires.
        api.report(&credential, states(4, 3)).await;

        let titles: Vec<(String,)> = sqlx::query_as("SELECT title FROM incidents ORDER BY title")
            .fetch_all(store.pool())
            .await
            .expect("incidents");
        let titles: Vec<&str> = titles.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(titles.len(), 2, "{titles:?}");
        assert!(
            titles
                .iter()
                .any(|t| t.contains("Enabled service stopped") && t.contains("backup.service")),
            "{titles:?}"
        );
        assert!(
            titles.iter().any(|t| t.contains("Volume out of inodes")),
            "{titles:?}"
        );
        // The CMDB shows each service's current state.
        let (metrics,): (String,) = sqlx::query_as(
        "SELECT metrics FROM configuration_items WHERE class = 'service' AND name = 'cups.service'",
    )
    .fetch_one(store.pool())
    .await
    .expect("cups CI");
        let metrics: Value = serde_json::from_str(&metrics).expect("json");
        assert_eq!(metrics["active_state"], "inactive");

        // The service comes back: the incident resolves on the next states.
        let recovered = report(
            &agent_id,
            4,
            5,
            json!({"service_states": [{"name": "backup.service", "active_state": "active", "sub_state": "running", "watched": true}]}),
        );
        api.report(&credential, recovered).await;
        let (open,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM incidents WHERE title LIKE '%backup.service%' AND resolved_at IS NULL",
    )
    .fetch_one(store.pool())
    .await
    .expect("count");
        assert_eq!(open, 0, "the watched service recovered");
    }
);

// Migration 0012 on an installation made before it: the service rule's scope widens and the
// inode rule appears, once. (Run here by replaying its statements on a pre-0012 rule pack.)
on_every_backend!(migration_0012_updates_an_existing_rule_pack, |store| {
    let _api = Api::new(&store).await;
    sqlx::query("DELETE FROM rules WHERE name = 'Volume out of inodes'")
        .execute(store.pool())
        .await
        .expect("delete");
    sqlx::query("UPDATE rules SET scope_query = 'enabled_state = enabled' WHERE name = 'Enabled service stopped'")
        .execute(store.pool())
        .await
        .expect("old scope");
    let sql = match store.backend() {
        atalaya_server::store::Backend::Sqlite => {
            include_str!("../../../migrations/sqlite/0012_agent_config.sql")
        }
        atalaya_server::store::Backend::Postgres => {
            include_str!("../../../migrations/postgres/0012_agent_config.sql")
        }
    };
    let statements: Vec<String> = sql
        .split(';')
        .map(|s| {
            s.lines()
                .filter(|l| !l.trim_start().starts_with("--"))
                .collect::<Vec<_>>()
                .join("\n")
        })
        .filter(|s| s.contains("UPDATE rules") || s.contains("INSERT INTO rules"))
        .collect();
    assert_eq!(statements.len(), 2);
    for _ in 0..2 {
        for s in &statements {
            sqlx::query(s).execute(store.pool()).await.expect(s);
        }
    }
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT name, scope_query FROM rules
         WHERE tenant_id IS NULL AND name IN ('Volume out of inodes', 'Enabled service stopped') ORDER BY name",
    )
    .fetch_all(store.pool())
    .await
    .expect("rules");
    assert_eq!(
        rows,
        vec![
            (
                "Enabled service stopped".to_owned(),
                Some("enabled_state = enabled or watched = true".to_owned())
            ),
            ("Volume out of inodes".to_owned(), None),
        ]
    );
});
