//! The service desk on every backend: numbering, the life cycle and its refusals, assignment
//! and escalation, requester replies, support plans and SLA clocks replayed from the timeline.

use atalaya_server::config::{Config, Overrides};
use atalaya_server::desk::state::{HoldReason, TicketState};
use atalaya_server::desk::{Comment, NewTicket, TicketEdit};
use atalaya_server::http::{app, AppState};
use atalaya_server::sla::clock::Status;
use atalaya_server::sla::plan::{Coverage, SupportPlan};
use atalaya_server::store::tickets::{SlaRisk, TicketFilter, TicketKind};
use atalaya_server::store::TenantScope;
use axum::http::StatusCode;
use axum::Router;
use chrono::TimeZone;
use serde_json::{json, Value};

use crate::db::tenant;
use crate::db::TestDb;
use crate::on_every_backend;

const HOUR: i64 = 3_600_000;
const DAY: i64 = 24 * HOUR;
const INC: TicketKind = TicketKind::Incident;
const REQ: TicketKind = TicketKind::ServiceRequest;

/// Madrid wall time in November 2026 (Monday the 23rd is a working day).
fn madrid(day: u32, hour: u32, minute: u32) -> i64 {
    chrono_tz::Europe::Madrid
        .with_ymd_and_hms(2026, 11, day, hour, minute, 0)
        .earliest()
        .expect("valid time")
        .timestamp_millis()
}

fn ticket(title: &str, impact: i64, urgency: i64) -> NewTicket {
    NewTicket {
        title: title.into(),
        description: String::new(),
        impact,
        urgency,
        requester: Some("ana@customer.example".into()),
        ci_ids: vec![],
        group: None,
        assignee: None,
    }
}

fn madrid_5x8() -> SupportPlan {
    SupportPlan {
        coverage: Coverage::MondayToFriday,
        time_zone: "Europe/Madrid".into(),
        ..SupportPlan::default()
    }
}

on_every_backend!(tickets_are_numbered_per_tenant_and_kind, |store| {
    let acme = tenant(&store, "acme").await;
    let globex = tenant(&store, "globex").await;
    let now = madrid(23, 10, 0);
    let mut numbers = Vec::new();
    for (kind, tenant) in [(INC, acme), (INC, acme), (REQ, acme), (INC, globex)] {
        let t = atalaya_server::desk::tickets::create(
            &store,
            kind,
            tenant,
            &ticket("printer", 2, 2),
            "tester",
            now,
        )
        .await
        .expect("create");
        numbers.push(t.number);
    }
    assert_eq!(
        numbers,
        ["INC-000001", "INC-000002", "REQ-000001", "INC-000001"]
    );
    let acme_incidents = atalaya_server::desk::tickets::list(
        &store,
        INC,
        TenantScope::Tenant(acme),
        &TicketFilter {
            limit: 10,
            ..Default::default()
        },
        now,
    )
    .await
    .expect("list");
    assert_eq!(acme_incidents.len(), 2);
    assert_eq!(
        acme_incidents[0].sla.as_ref().map(|c| c.worst()),
        Some(Status::NoSla),
        "no plan yet: on demand"
    );
});

on_every_backend!(
    sla_clocks_replay_pauses_plan_changes_and_priority,
    |store| {
        let acme = tenant(&store, "acme").await;
        atalaya_server::desk::plans::save(&store, acme, &madrid_5x8(), "tester", madrid(1, 0, 0))
            .await
            .expect("plan");
        // Monday 10:00, P3: 4 h to respond, 24 business hours to resolve.
        let t = atalaya_server::desk::tickets::create(
            &store,
            INC,
            acme,
            &ticket("VPN down", 2, 2),
            "tester",
            madrid(23, 10, 0),
        )
        .await
        .expect("create");
        let scope = TenantScope::Tenant(acme);
        let go = |to, hold, at| {
            let store = store.clone();
            async move {
                atalaya_server::desk::tickets::transition(
                    &store, INC, scope, t.id, to, hold, None, "tech", at,
                )
                .await
                .expect("transition")
            }
        };
        go(
            TicketState::OnHold,
            Some(HoldReason::AwaitingCustomer),
            madrid(23, 12, 0),
        )
        .await;
        go(TicketState::InProgress, None, madrid(24, 12, 0)).await;
        let now = madrid(24, 17, 0);
        let read = atalaya_server::desk::tickets::get(&store, INC, scope, t.id, now)
            .await
            .expect("get");
        let sla = read.sla.expect("clocks");
        assert_eq!(sla.resolution.elapsed_ms, 7 * HOUR, "Mon 10–12, Tue 12–17");
        assert_eq!(sla.resolution.paused_ms, 8 * HOUR);
        assert_eq!(sla.resolution.due_at, Some(madrid(27, 10, 0)));
        assert_eq!(
            sla.response.stopped_at,
            Some(madrid(24, 12, 0)),
            "starting work answered"
        );
        assert_eq!(sla.response.status, Status::Met, "2 h of the 4 h allowed");
        // The same answer whenever it is computed: read again a week later.
        let later = atalaya_server::desk::tickets::get(&store, INC, scope, t.id, now + 7 * DAY)
            .await
            .expect("get");
        assert_eq!(
            later.sla.as_ref().map(|c| c.response.clone()),
            Some(sla.response.clone())
        );

        // A new plan (7x24) from Tuesday 17:00: the remaining 17 h run around the clock.
        atalaya_server::desk::plans::save(
            &store,
            acme,
            &SupportPlan {
                coverage: Coverage::AllHours,
                ..madrid_5x8()
            },
            "tester",
            now,
        )
        .await
        .expect("plan");
        let swapped = atalaya_server::desk::tickets::get(&store, INC, scope, t.id, now)
            .await
            .expect("get");
        assert_eq!(
            swapped.sla.as_ref().and_then(|c| c.resolution.due_at),
            Some(madrid(25, 10, 0))
        );

        // Raised to P1 (4 h) with 7 h elapsed: breached at once, and the risk filter sees it.
        let raised = atalaya_server::desk::tickets::edit(
            &store,
            INC,
            scope,
            t.id,
            &TicketEdit {
                impact: Some(1),
                urgency: Some(1),
                ..Default::default()
            },
            "tech",
            now + HOUR,
        )
        .await
        .expect("edit");
        assert_eq!(raised.priority, 1);
        let clocks = raised.sla.expect("clocks");
        assert_eq!(clocks.resolution.status, Status::Breached);
        assert_eq!(clocks.resolution.due_at, Some(now + HOUR));
        let risky = |sla| {
            let store = store.clone();
            async move {
                atalaya_server::desk::tickets::list(
                    &store,
                    INC,
                    scope,
                    &TicketFilter {
                        sla: Some(sla),
                        limit: 10,
                        ..Default::default()
                    },
                    now + 2 * HOUR,
                )
                .await
                .expect("list")
                .len()
            }
        };
        assert_eq!(risky(SlaRisk::Breached).await, 1);
        assert_eq!(risky(SlaRisk::AtRisk).await, 1);
        assert_eq!(risky(SlaRisk::Ok).await, 0);

        // A second ticket, fresh: on track until 75 % of its 4 h response target.
        let fresh = atalaya_server::desk::tickets::create(
            &store,
            INC,
            acme,
            &ticket("slow disk", 2, 2),
            "tester",
            now + 2 * HOUR,
        )
        .await
        .expect("create");
        assert_eq!(risky(SlaRisk::Ok).await, 1);
        let warned = atalaya_server::desk::tickets::list(
            &store,
            INC,
            scope,
            &TicketFilter {
                sla: Some(SlaRisk::Warning),
                limit: 10,
                ..Default::default()
            },
            now + 5 * HOUR,
        )
        .await
        .expect("list");
        assert_eq!(warned.iter().map(|t| t.id).collect::<Vec<_>>(), [fresh.id]);
    }
);

on_every_backend!(a_requester_reply_reopens_within_the_period, |store| {
    let acme = tenant(&store, "acme").await;
    atalaya_server::desk::plans::save(
        &store,
        acme,
        &SupportPlan {
            reopen_days: 2,
            ..madrid_5x8()
        },
        "tester",
        madrid(1, 0, 0),
    )
    .await
    .expect("plan");
    let scope = TenantScope::Tenant(acme);
    let t = atalaya_server::desk::tickets::create(
        &store,
        REQ,
        acme,
        &ticket("new laptop", 3, 3),
        "tester",
        madrid(23, 9, 0),
    )
    .await
    .expect("create");
    let resolve = |at| {
        let store = store.clone();
        async move {
            atalaya_server::desk::tickets::transition(
                &store,
                REQ,
                scope,
                t.id,
                TicketState::Resolved,
                None,
                Some("done"),
                "tech",
                at,
            )
            .await
            .expect("resolve")
        }
    };
    let reply = |at| {
        let store = store.clone();
        async move {
            let comment = Comment {
                body: "it still does not boot".into(),
                internal: false,
                from_requester: true,
            };
            atalaya_server::desk::tickets::comment(
                &store,
                REQ,
                scope,
                t.id,
                &comment,
                "ana@customer.example",
                at,
            )
            .await
            .expect("reply")
        }
    };
    resolve(madrid(23, 11, 0)).await;
    let reopened = reply(madrid(24, 11, 0)).await;
    assert_eq!(reopened.state, "in_progress");
    assert_eq!(reopened.reopen_count, 1);
    assert!(reopened.resolved_at.is_none());
    let kinds: Vec<String> = atalaya_server::desk::tickets::timeline(&store, &reopened)
        .await
        .expect("timeline")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        ["opened", "state_changed", "comment", "reopened"],
        "every change is on the timeline"
    );

    resolve(madrid(24, 12, 0)).await;
    let late = reply(madrid(27, 12, 0)).await;
    assert_eq!(
        late.state, "resolved",
        "three days later is past the 2-day period"
    );
    assert_eq!(late.reopen_count, 1);
});

/// The app on a test database, with the first-start admin token.
struct DeskApi {
    app: Router,
    admin: String,
    _dir: tempfile::TempDir,
}

impl DeskApi {
    async fn on(db: &TestDb) -> DeskApi {
        let dir = tempfile::tempdir().expect("tempdir");
        let first = atalaya_server::bootstrap::first_start(&db.store, dir.path(), 60)
            .await
            .expect("bootstrap")
            .expect("first start");
        let config = Config::load(&Overrides::default()).expect("defaults");
        // The technicians tickets are given to, serving `default`.
        let default = db
            .store
            .tenant_by_name(TenantScope::All, "default")
            .await
            .expect("default")
            .id;
        for name in ["luis", "marta"] {
            let tech = atalaya_server::people::users::create(
                &db.store,
                &atalaya_server::people::NewUser {
                    email: format!("{name}@msp.example"),
                    display_name: name.into(),
                    role: atalaya_server::people::Role::Technician,
                    tenant: None,
                    password: None,
                },
                0,
            )
            .await
            .expect("technician");
            atalaya_server::people::users::add_membership(&db.store, tech.id, default)
                .await
                .expect("member");
        }
        DeskApi {
            app: app(AppState::new(db.store.clone(), config)),
            admin: first.admin_token,
            _dir: dir,
        }
    }

    async fn call(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        crate::router::call_json(&self.app, method, uri, &self.admin, body).await
    }

    async fn ok(&self, method: &str, uri: &str, body: Option<Value>) -> Value {
        let (status, value) = self.call(method, uri, body).await;
        assert!(status.is_success(), "{method} {uri}: {status} {value}");
        value
    }
}

fn error_message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_life_cycle_over_http_refuses_bad_moves_with_409() {
    for db in TestDb::all().await {
        eprintln!("life cycle on {}", db.label);
        let api = DeskApi::on(&db).await;
        let created = api
            .ok(
                "POST",
                "/api/v1/incidents",
                Some(json!({"tenant": "default", "title": "Mail is down", "impact": 1, "urgency": 2})),
            )
            .await;
        assert_eq!(created["number"], "INC-000001");
        assert_eq!(created["state"], "new");
        assert_eq!(created["priority"], 2);
        assert_eq!(created["source"], "manual");
        assert_eq!(created["sla"]["resolution"]["status"], "no_sla");
        let base = format!("/api/v1/incidents/{}", created["id"]);
        let to = |state: &str| json!({"to": state});

        let (status, body) = api
            .call("POST", &format!("{base}/transitions"), Some(to("closed")))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(
            error_message(&body).contains("from new to closed"),
            "{body}"
        );
        let (status, body) = api
            .call("POST", &format!("{base}/transitions"), Some(to("assigned")))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert!(error_message(&body).contains("assign"), "{body}");
        let (status, body) = api
            .call("POST", &format!("{base}/transitions"), Some(to("on_hold")))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(error_message(&body).contains("hold_reason"), "{body}");
        let (status, _) = api
            .call("POST", &format!("{base}/transitions"), Some(to("sleeping")))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let assigned = api
            .ok(
                "POST",
                &format!("{base}/assign"),
                Some(json!({"group": "service-desk", "assignee": "luis@msp.example"})),
            )
            .await;
        assert_eq!(assigned["state"], "assigned");
        assert_eq!(assigned["assignment_group"], "service-desk");
        assert_eq!(assigned["tier"], 1);
        api.ok(
            "POST",
            &format!("{base}/transitions"),
            Some(to("in_progress")),
        )
        .await;
        let held = api
            .ok(
                "POST",
                &format!("{base}/transitions"),
                Some(json!({"to": "on_hold", "hold_reason": "awaiting_vendor"})),
            )
            .await;
        assert_eq!(held["hold_reason"], "awaiting_vendor");
        assert_eq!(held["sla"]["resolution"]["state"], "paused");
        api.ok(
            "POST",
            &format!("{base}/transitions"),
            Some(to("in_progress")),
        )
        .await;
        api.ok(
            "POST",
            &format!("{base}/comments"),
            Some(json!({"body": "vendor patched the relay", "visibility": "internal"})),
        )
        .await;
        api.ok(
            "POST",
            &format!("{base}/comments"),
            Some(json!({"body": "fixed, please check"})),
        )
        .await;
        let resolved = api
            .ok("POST", &format!("{base}/transitions"), Some(to("resolved")))
            .await;
        assert!(resolved["resolved_at"].is_string());
        let closed = api
            .ok("POST", &format!("{base}/transitions"), Some(to("closed")))
            .await;
        assert!(closed["closed_at"].is_string());
        let (status, body) = api
            .call(
                "POST",
                &format!("{base}/transitions"),
                Some(to("in_progress")),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(error_message(&body).contains("no longer"), "{body}");
        let (status, _) = api.call("PATCH", &base, Some(json!({"title": "x"}))).await;
        assert_eq!(status, StatusCode::CONFLICT);

        let timeline: Vec<(String, String)> = closed["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .map(|e| {
                (
                    e["kind"].as_str().unwrap_or_default().to_string(),
                    e["actor"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        let kinds: Vec<&str> = timeline.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            kinds,
            [
                "opened",
                "assigned",
                "state_changed",
                "state_changed",
                "state_changed",
                "state_changed",
                "work_note",
                "comment",
                "state_changed",
                "state_changed"
            ]
        );
        assert!(timeline.iter().all(|(_, actor)| !actor.is_empty()));
        assert!(closed["first_response_at"].is_string());

        let (status, body) = api.call("GET", "/api/v1/incidents/99999", None).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(error_message(&body).contains("incident"), "{body}");
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn escalation_hands_ownership_to_tier_two_and_is_recorded() {
    for db in TestDb::all().await {
        eprintln!("escalation on {}", db.label);
        let api = DeskApi::on(&db).await;
        let created = api
            .ok(
                "POST",
                "/api/v1/requests",
                Some(
                    json!({"tenant": "default", "title": "Open port 443 on the firewall",
                            "group": "service-desk", "assignee": "luis@msp.example"}),
                ),
            )
            .await;
        assert_eq!(created["number"], "REQ-000001");
        assert_eq!(created["kind"], "service_request");
        assert_eq!(created["state"], "assigned");
        let base = format!("/api/v1/requests/{}", created["id"]);
        api.ok(
            "POST",
            &format!("{base}/transitions"),
            Some(json!({"to": "in_progress"})),
        )
        .await;
        let (status, _) = api
            .call(
                "POST",
                &format!("{base}/escalate"),
                Some(json!({"reason": " "})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let escalated = api
            .ok(
                "POST",
                &format!("{base}/escalate"),
                Some(json!({"reason": "needs firewall admin"})),
            )
            .await;
        assert_eq!(escalated["assignment_group"], "specialists");
        assert_eq!(escalated["tier"], 2);
        assert_eq!(
            escalated["assignee"],
            Value::Null,
            "ownership moved to the queue"
        );
        assert_eq!(escalated["state"], "assigned");
        let entry = escalated["timeline"]
            .as_array()
            .expect("timeline")
            .iter()
            .find(|e| e["kind"] == "escalated")
            .expect("escalation recorded")
            .clone();
        assert_eq!(entry["detail"]["from_group"], "service-desk");
        assert_eq!(entry["detail"]["from_assignee"], "luis");
        assert_eq!(entry["detail"]["to_group"], "specialists");
        assert_eq!(entry["detail"]["reason"], "needs firewall admin");
        let (status, body) = api
            .call(
                "POST",
                &format!("{base}/escalate"),
                Some(json!({"reason": "again"})),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert!(error_message(&body).contains("tier 2"), "{body}");

        // The request is not an incident.
        let (status, _) = api
            .call("GET", &format!("/api/v1/incidents/{}", created["id"]), None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let groups = api.ok("GET", "/api/v1/assignment-groups", None).await;
        assert_eq!(groups.as_array().map(Vec::len), Some(2));
        db.cleanup().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn support_plans_set_the_matrix_and_the_clocks_and_lists_filter() {
    for db in TestDb::all().await {
        eprintln!("plans and filters on {}", db.label);
        let api = DeskApi::on(&db).await;
        let plan_uri = "/api/v1/tenants/default/support-plan";
        let default = api.ok("GET", plan_uri, None).await;
        assert_eq!(default["coverage"], "on_demand");
        assert_eq!(default["version"], Value::Null);
        let (status, body) = api
            .call(
                "PUT",
                plan_uri,
                Some(json!({"coverage": "5x8", "time_zone": "Mars/Olympus"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(error_message(&body).contains("time_zone"), "{body}");
        let (status, _) = api
            .call(
                "PUT",
                plan_uri,
                Some(json!({"coverage": "5x8", "hours": 3})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let saved = api
            .ok(
                "PUT",
                plan_uri,
                Some(json!({"coverage": "7x24", "time_zone": "Europe/Madrid",
                            "priority_matrix": [[1, 1, 2], [1, 2, 3], [2, 3, 4]],
                            "holidays": ["2026-12-25"]})),
            )
            .await;
        assert_eq!(saved["coverage"], "7x24");
        assert!(saved["version"].is_i64());
        api.ok(
            "PUT",
            plan_uri,
            Some(json!({"coverage": "7x24", "priority_matrix": [[1, 1, 2], [1, 2, 3], [2, 3, 4]]})),
        )
        .await;
        let history = api.ok("GET", &format!("{plan_uri}/history"), None).await;
        assert_eq!(history.as_array().map(Vec::len), Some(2));
        let (status, _) = api
            .call("GET", "/api/v1/tenants/nobody/support-plan", None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);

        // Recipients: a webhook needs a URL; every ticket opened from now on is queued.
        let channels = "/api/v1/tenants/default/notification-channels";
        let (status, body) = api
            .call(
                "POST",
                channels,
                Some(json!({"kind": "webhook", "target": "not a url"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, _) = api
            .call(
                "POST",
                channels,
                Some(json!({"kind": "email", "target": "ops@x.example", "events": ["bogus"]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        let channel = api
            .ok(
                "POST",
                channels,
                Some(
                    json!({"kind": "webhook", "target": "http://127.0.0.1:9/hook",
                                                "secret": "s", "events": ["opened"]}),
                ),
            )
            .await;
        assert_eq!(channel["signed"], true);
        assert!(channel.get("secret").is_none(), "secrets are never shown");
        assert_eq!(
            api.ok("GET", channels, None).await.as_array().map(Vec::len),
            Some(1)
        );

        // The tenant's matrix: impact 2 × urgency 1 is P1 here.
        let urgent = api
            .ok(
                "POST",
                "/api/v1/incidents",
                Some(json!({"tenant": "default", "title": "Outage", "impact": 2, "urgency": 1})),
            )
            .await;
        assert_eq!(urgent["priority"], 1);
        assert_eq!(urgent["sla"]["resolution"]["status"], "ok");
        assert_eq!(urgent["sla"]["resolution"]["target_minutes"], 240);
        assert!(urgent["sla"]["resolution"]["due_at"].is_string());
        let low = api
            .ok(
                "POST",
                "/api/v1/incidents",
                Some(json!({"tenant": "default", "title": "Typo", "impact": 3, "urgency": 3})),
            )
            .await;
        assert_eq!(low["priority"], 4);
        api.ok(
            "POST",
            &format!("/api/v1/incidents/{}/assign", low["id"]),
            Some(json!({"assignee": "marta@msp.example"})),
        )
        .await;

        // A CI of the tenant, linked afterwards; a CI id that does not exist is refused.
        let (tenant_id,): (i64,) = sqlx::query_as("SELECT id FROM tenants WHERE name = 'default'")
            .fetch_one(db.store.pool())
            .await
            .expect("tenant");
        let (ci,): (i64,) = sqlx::query_as(
            "INSERT INTO configuration_items (tenant_id, class, name, first_seen_at, last_seen_at, updated_at)
             VALUES ($1, 'computer', 'mail01', 0, 0, 0) RETURNING id",
        )
        .bind(tenant_id)
        .fetch_one(db.store.pool())
        .await
        .expect("ci");
        let linked = api
            .ok(
                "POST",
                &format!("/api/v1/incidents/{}/cis", urgent["id"]),
                Some(json!({"ci_ids": [ci]})),
            )
            .await;
        assert_eq!(linked["cis"][0]["name"], "mail01");
        let (status, _) = api
            .call(
                "POST",
                &format!("/api/v1/incidents/{}/cis", urgent["id"]),
                Some(json!({"ci_ids": [ci + 1000]})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

        let count = |query: &'static str| {
            let api = &api;
            async move {
                api.ok("GET", &format!("/api/v1/incidents?{query}"), None)
                    .await
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(0)
            }
        };
        assert_eq!(count("").await, 2);
        assert_eq!(count("priority=1").await, 1);
        assert_eq!(count("assignee=marta@msp.example").await, 1);
        assert_eq!(count("assignee=none").await, 1);
        assert_eq!(count("state=assigned").await, 1);
        assert_eq!(count("ci=0").await, 0);
        assert_eq!(count("tenant=default&limit=1").await, 1);
        assert_eq!(count("limit=1&offset=1").await, 1);
        assert_eq!(count("sla=ok").await, 2);
        assert_eq!(count("sla=breached").await, 0);
        let by_ci = api
            .ok("GET", &format!("/api/v1/incidents?ci={ci}"), None)
            .await;
        assert_eq!(by_ci[0]["id"], urgent["id"]);
        let outbox = api.ok("GET", "/api/v1/tenants/default/outbox", None).await;
        let queued: Vec<&str> = outbox
            .as_array()
            .expect("outbox")
            .iter()
            .map(|e| e["event"].as_str().unwrap_or_default())
            .collect();
        assert_eq!(queued, ["opened", "opened"]);
        assert_eq!(outbox[0]["state"], "pending");
        assert_eq!(outbox[0]["attempts"].as_array().map(Vec::len), Some(0));
        let (status, _) = api.call("GET", "/api/v1/incidents?sla=doomed", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = api.call("GET", "/api/v1/incidents?priority=7", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let (status, _) = api.call("GET", "/api/v1/requests?state=open", None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        db.cleanup().await;
    }
}
