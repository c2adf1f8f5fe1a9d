//! The desk's reporting side on every backend: tenant templates, satisfaction ratings, the daily
//! digest, auto-close and the KPIs; then the same through the HTTP API (422 on a broken
//! template, 403 on a forged satisfaction link, 409 on a second rating, CSV reports).

use std::str::FromStr;

use atalaya_server::config::{Config, Overrides};
use atalaya_server::desk::incidents::{open_for_rule, RuleIncident};
use atalaya_server::desk::kpis::{self, Period};
use atalaya_server::desk::satisfaction;
use atalaya_server::desk::state::{HoldReason, TicketState};
use atalaya_server::desk::{Comment, NewTicket};
use atalaya_server::http::{app, AppState};
use atalaya_server::notify::templates::Template;
use atalaya_server::notify::tenant_templates;
use atalaya_server::sla::plan::{Coverage, SupportPlan};
use atalaya_server::store::kpis::ReportRange;
use atalaya_server::store::outbox::ChannelKind;
use atalaya_server::store::rules::RuleSpec;
use atalaya_server::store::tickets::TicketKind;
use atalaya_server::store::{Store, StoreError, TenantId, TenantScope};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::on_every_backend;

/// 2026-11-27 08:00 UTC, a Friday.
const T0: i64 = 1_795_737_600_000 + 8 * HOUR;
const MINUTE: i64 = 60_000;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

async fn tenant(store: &Store, name: &str) -> TenantId {
    store
        .create_tenant(name, &name.to_uppercase())
        .await
        .expect("create tenant")
        .expect("new")
        .id
}

fn ticket(title: &str) -> NewTicket {
    NewTicket {
        title: title.into(),
        description: String::new(),
        impact: 1,
        urgency: 1,
        requester: Some("ana@customer.example".into()),
        ci_ids: vec![],
        group: None,
        assignee: None,
    }
}

async fn open(store: &Store, tenant: TenantId, title: &str, at: i64) -> i64 {
    atalaya_server::desk::tickets::create(
        store,
        TicketKind::Incident,
        tenant,
        &ticket(title),
        "tech",
        at,
    )
    .await
    .expect("create")
    .id
}

async fn move_to(store: &Store, id: i64, to: TicketState, hold: Option<HoldReason>, at: i64) {
    atalaya_server::desk::tickets::transition(
        store,
        TicketKind::Incident,
        TenantScope::All,
        id,
        to,
        hold,
        None,
        "tech",
        at,
    )
    .await
    .expect("transition");
}

async fn reply(store: &Store, id: i64, at: i64) {
    let comment = Comment {
        body: "On it.".into(),
        internal: false,
        from_requester: false,
    };
    atalaya_server::desk::tickets::comment(
        store,
        TicketKind::Incident,
        TenantScope::All,
        id,
        &comment,
        "tech",
        at,
    )
    .await
    .expect("comment");
}

fn all_hours() -> SupportPlan {
    SupportPlan {
        coverage: Coverage::AllHours,
        ..SupportPlan::default()
    }
}

on_every_backend!(templates_belong_to_a_tenant_and_an_event, |store| {
    let acme = tenant(&store, "acme").await;
    let globex = tenant(&store, "globex").await;
    let mine = Template {
        subject: "ACME {{ ticket.number }}".into(),
        body: "Hello from Acme: {{ ticket.title }}".into(),
    };
    tenant_templates::save(&store, acme, "opened", &mine, "admin", T0)
        .await
        .expect("save");
    assert_eq!(
        tenant_templates::custom(&store, acme, "opened")
            .await
            .expect("read")
            .as_ref(),
        Some(&mine)
    );
    assert_eq!(
        tenant_templates::custom(&store, globex, "opened")
            .await
            .expect("read"),
        None
    );
    assert_eq!(
        tenant_templates::custom(&store, acme, "resolved")
            .await
            .expect("read"),
        None
    );
    let listed = tenant_templates::in_force(&store, acme)
        .await
        .expect("list");
    assert_eq!(listed.len(), 6, "one per event");
    let custom: Vec<&str> = listed
        .iter()
        .filter(|t| t.custom)
        .map(|t| t.event.as_str())
        .collect();
    assert_eq!(custom, ["opened"]);
    // Saving again replaces.
    let changed = Template {
        subject: "ACME!".into(),
        ..mine.clone()
    };
    tenant_templates::save(&store, acme, "opened", &changed, "admin", T0 + 1)
        .await
        .expect("replace");
    assert_eq!(
        tenant_templates::custom(&store, acme, "opened")
            .await
            .expect("read"),
        Some(changed)
    );
    let broken = Template {
        subject: "{{ ticket.number".into(),
        body: "x".into(),
    };
    assert!(matches!(
        tenant_templates::save(&store, acme, "opened", &broken, "admin", T0).await,
        Err(StoreError::Invalid(_))
    ));
    tenant_templates::reset(&store, acme, "opened")
        .await
        .expect("delete");
    assert!(matches!(
        tenant_templates::reset(&store, acme, "opened").await,
        Err(StoreError::NotFound)
    ));
});

on_every_backend!(a_resolved_ticket_is_rated_once, |store| {
    let acme = tenant(&store, "acme").await;
    let id = open(&store, acme, "Printer jammed", T0).await;
    assert!(
        matches!(
            atalaya_server::desk::rating::rate(&store, TicketKind::Incident, id, 4, None, T0).await,
            Err(StoreError::Conflict(_))
        ),
        "not resolved yet"
    );
    move_to(&store, id, TicketState::Resolved, None, T0 + HOUR).await;
    assert!(matches!(
        atalaya_server::desk::rating::rate(&store, TicketKind::Incident, id, 6, None, T0).await,
        Err(StoreError::Invalid(_))
    ));
    let rating = atalaya_server::desk::rating::rate(
        &store,
        TicketKind::Incident,
        id,
        4,
        Some("  quick fix  "),
        T0 + 2 * HOUR,
    )
    .await
    .expect("rate");
    assert_eq!(
        (rating.score, rating.comment.as_deref()),
        (4, Some("quick fix"))
    );
    assert!(
        matches!(
            atalaya_server::desk::rating::rate(
                &store,
                TicketKind::Incident,
                id,
                1,
                None,
                T0 + 3 * HOUR
            )
            .await,
            Err(StoreError::Conflict(_))
        ),
        "once"
    );
    let target = store
        .rating_target(TicketKind::Incident, id)
        .await
        .expect("target");
    assert_eq!(target.rating.map(|r| r.score), Some(4));
    let read = atalaya_server::desk::tickets::get(
        &store,
        TicketKind::Incident,
        TenantScope::All,
        id,
        T0 + 3 * HOUR,
    )
    .await
    .expect("get");
    let timeline = atalaya_server::desk::tickets::timeline(&store, &read)
        .await
        .expect("timeline");
    let rated = timeline
        .iter()
        .find(|e| e.kind == "rated")
        .expect("rating on the timeline");
    assert_eq!(
        (rated.actor.as_str(), &rated.detail["score"]),
        ("requester", &json!(4))
    );

    let second = open(&store, acme, "Scanner offline", T0).await;
    move_to(&store, second, TicketState::Resolved, None, T0 + HOUR).await;
    atalaya_server::desk::rating::rate(
        &store,
        TicketKind::Incident,
        second,
        5,
        None,
        T0 + 2 * HOUR,
    )
    .await
    .expect("rate");
    let range = ReportRange {
        scope: TenantScope::Tenant(acme),
        from: T0,
        to: T0 + DAY,
    };
    let report = kpis::satisfaction(&store, &range).await.expect("report");
    assert_eq!(report.len(), 1);
    assert_eq!(
        (
            report[0].ratings,
            report[0].average,
            report[0].score_4,
            report[0].score_5
        ),
        (2, Some(4.5), 1, 1)
    );
});

on_every_backend!(
    the_daily_digest_is_queued_once_per_tenant_and_day,
    |store| {
        let acme = tenant(&store, "acme").await;
        let quiet = tenant(&store, "quiet").await;
        atalaya_server::desk::plans::save(&store, acme, &all_hours(), "admin", T0 - DAY)
            .await
            .expect("plan");
        let channel = store
            .create_channel(
                acme,
                ChannelKind::Email,
                "ops@acme.example",
                None,
                &["digest".to_string()],
                T0 - DAY,
            )
            .await
            .expect("channel");
        // Quiet has a channel, but not for digests.
        store
            .create_channel(
                quiet,
                ChannelKind::Email,
                "ops@quiet.example",
                None,
                &["opened".to_string()],
                T0 - DAY,
            )
            .await
            .expect("channel");
        // P1 (30 min to respond, 4 h to resolve): one opened 5 h ago (breached), one answered and
        // opened 3.5 h ago (warning), one resolved.
        open(&store, acme, "Breached", T0 - 5 * HOUR).await;
        let at_risk = open(&store, acme, "At risk", T0 - 7 * HOUR / 2).await;
        reply(&store, at_risk, T0 - 7 * HOUR / 2 + 10 * MINUTE).await;
        let done = open(&store, acme, "Done", T0 - 2 * HOUR).await;
        move_to(&store, done, TicketState::Resolved, None, T0 - HOUR).await;
        atalaya_server::desk::sla_sweep(&store, T0)
            .await
            .expect("sweep");

        let schedule = cron::Schedule::from_str("0 0 7 * * *").expect("cron");
        assert_eq!(
            atalaya_server::notify::digest::enqueue_digests(&store, &schedule, T0 - 2 * HOUR)
                .await
                .expect("digest"),
            1,
            "at 06:00 yesterday's digest is still due once"
        );
        // Two replicas at 08:00: today's digest is queued once.
        let (a, b) = tokio::join!(
            atalaya_server::notify::digest::enqueue_digests(&store, &schedule, T0),
            atalaya_server::notify::digest::enqueue_digests(&store, &schedule, T0 + 1)
        );
        let keys: Vec<String> = store
            .outbox(acme)
            .await
            .expect("outbox")
            .into_iter()
            .map(|e| e.idempotency_key)
            .collect();
        assert_eq!(a.expect("a") + b.expect("b"), 1, "{keys:?}");
        assert_eq!(
            atalaya_server::notify::digest::enqueue_digests(&store, &schedule, T0 + HOUR)
                .await
                .expect("again"),
            0
        );
        let outbox = store.outbox(acme).await.expect("outbox");
        let keys: Vec<&str> = outbox.iter().map(|e| e.idempotency_key.as_str()).collect();
        assert!(
            keys.contains(
                &format!("digest:tenant-{}:2026-11-27:channel-{}", acme.0, channel.id).as_str()
            ),
            "{keys:?}"
        );
        assert!(
            keys.contains(
                &format!("digest:tenant-{}:2026-11-26:channel-{}", acme.0, channel.id).as_str()
            ),
            "{keys:?}"
        );
        assert!(store.outbox(quiet).await.expect("outbox").is_empty());

        let (summary, at_risk) = store.digest_summary(acme, T0).await.expect("summary");
        assert_eq!(
            (
                summary.open,
                summary.at_risk,
                summary.breached,
                summary.opened_last_day,
                summary.resolved_last_day
            ),
            (2, 1, 1, 3, 1)
        );
        let listed: Vec<(&str, &str)> =
            at_risk.iter().map(|t| (t.title.as_str(), t.risk)).collect();
        assert_eq!(listed, [("Breached", "breached"), ("At risk", "warning")]);
        // Tomorrow brings tomorrow's digest.
        assert_eq!(
            atalaya_server::notify::digest::enqueue_digests(&store, &schedule, T0 + DAY)
                .await
                .expect("tomorrow"),
            1
        );
    }
);

on_every_backend!(a_requester_channel_mails_each_tickets_requester, |store| {
    let acme = tenant(&store, "acme").await;
    let events = vec!["resolved".to_string(), "digest".to_string()];
    store
        .create_channel(acme, ChannelKind::Email, "requester", None, &events, T0)
        .await
        .expect("requester channel");
    let with = open(&store, acme, "Has a requester", T0).await;
    let mut anonymous = ticket("Nobody asked");
    anonymous.requester = None;
    let without = atalaya_server::desk::tickets::create(
        &store,
        TicketKind::Incident,
        acme,
        &anonymous,
        "tech",
        T0,
    )
    .await
    .expect("create")
    .id;
    for id in [with, without] {
        move_to(&store, id, TicketState::Resolved, None, T0 + HOUR).await;
    }
    let schedule = cron::Schedule::from_str("0 0 7 * * *").expect("cron");
    assert_eq!(
        atalaya_server::notify::digest::enqueue_digests(&store, &schedule, T0)
            .await
            .expect("digest"),
        0,
        "no digest for requesters"
    );
    let claimed = store.claim_due(T0 + HOUR, MINUTE, 10).await.expect("claim");
    let targets: Vec<(&str, &str)> = claimed
        .iter()
        .map(|m| (m.event.as_str(), m.target.as_str()))
        .collect();
    assert_eq!(targets, [("resolved", "ana@customer.example")]);
    assert!(matches!(
        store
            .create_channel(acme, ChannelKind::Webhook, "requester", None, &[], T0)
            .await,
        Err(StoreError::Invalid(_))
    ));
});

on_every_backend!(
    resolved_tickets_close_after_the_plans_auto_close_days,
    |store| {
        let acme = tenant(&store, "acme").await;
        let plan = SupportPlan {
            auto_close_days: Some(3),
            ..all_hours()
        };
        atalaya_server::desk::plans::save(&store, acme, &plan, "admin", T0 - DAY)
            .await
            .expect("plan");
        let keep = tenant(&store, "keep").await;
        let id = open(&store, acme, "Old problem", T0).await;
        move_to(&store, id, TicketState::Resolved, None, T0 + HOUR).await;
        let other = open(&store, keep, "No auto-close here", T0).await;
        move_to(&store, other, TicketState::Resolved, None, T0 + HOUR).await;
        let still_open = open(&store, acme, "Still open", T0).await;

        assert_eq!(
            atalaya_server::desk::auto_close(&store, T0 + 2 * DAY)
                .await
                .expect("sweep"),
            0
        );
        assert_eq!(
            atalaya_server::desk::auto_close(&store, T0 + 3 * DAY + HOUR)
                .await
                .expect("sweep"),
            1
        );
        assert_eq!(
            atalaya_server::desk::auto_close(&store, T0 + 4 * DAY)
                .await
                .expect("sweep"),
            0,
            "once"
        );
        let read = |id| {
            atalaya_server::desk::tickets::get(
                &store,
                TicketKind::Incident,
                TenantScope::All,
                id,
                T0 + 4 * DAY,
            )
        };
        let closed = read(id).await.expect("get");
        assert_eq!(closed.state, "closed");
        assert_eq!(read(other).await.expect("get").state, "resolved");
        assert_eq!(read(still_open).await.expect("get").state, "new");
        let timeline = atalaya_server::desk::tickets::timeline(&store, &closed)
            .await
            .expect("timeline");
        let last = timeline.last().expect("entries");
        assert_eq!(
            (last.kind.as_str(), last.actor.as_str(), &last.detail["to"]),
            ("state_changed", "auto-close", &json!("closed"))
        );
        assert_eq!(
            last.detail["note"],
            "closed automatically 3 days after resolution"
        );
    }
);

on_every_backend!(service_levels_in_wall_and_business_time, |store| {
    let acme = tenant(&store, "acme").await;
    atalaya_server::desk::plans::save(&store, acme, &all_hours(), "admin", T0 - DAY)
        .await
        .expect("plan");
    // A: answered after 10 min, resolved after 60: within target, first contact.
    let a = open(&store, acme, "A", T0).await;
    reply(&store, a, T0 + 10 * MINUTE).await;
    move_to(&store, a, TicketState::Resolved, None, T0 + 60 * MINUTE).await;
    // B: answered after 20 min, an hour on hold, escalated, resolved after 330 min of wall time
    // (270 of business time: past the P1 target of 240).
    let b = open(&store, acme, "B", T0).await;
    reply(&store, b, T0 + 20 * MINUTE).await;
    move_to(
        &store,
        b,
        TicketState::OnHold,
        Some(HoldReason::AwaitingCustomer),
        T0 + 30 * MINUTE,
    )
    .await;
    move_to(&store, b, TicketState::InProgress, None, T0 + 90 * MINUTE).await;
    atalaya_server::desk::tickets::escalate(
        &store,
        TicketKind::Incident,
        TenantScope::All,
        b,
        None,
        None,
        "needs tier 2",
        "tech",
        T0 + 100 * MINUTE,
    )
    .await
    .expect("escalate");
    move_to(&store, b, TicketState::Resolved, None, T0 + 330 * MINUTE).await;
    // C: resolved, reopened by the requester, resolved again.
    let c = open(&store, acme, "C", T0).await;
    reply(&store, c, T0 + 5 * MINUTE).await;
    move_to(&store, c, TicketState::Resolved, None, T0 + 30 * MINUTE).await;
    move_to(&store, c, TicketState::InProgress, None, T0 + 40 * MINUTE).await;
    move_to(&store, c, TicketState::Resolved, None, T0 + 50 * MINUTE).await;
    // Another tenant's ticket never shows in acme's report.
    let other = tenant(&store, "other").await;
    open(&store, other, "Elsewhere", T0).await;

    let now = T0 + DAY;
    let range = ReportRange {
        scope: TenantScope::Tenant(acme),
        from: T0 - HOUR,
        to: T0 + HOUR,
    };
    let rows = kpis::service_levels(&store, &range, now)
        .await
        .expect("report");
    assert_eq!(rows.len(), 1, "{rows:?}");
    let r = &rows[0];
    assert_eq!(
        (
            r.tenant.as_str(),
            r.kind,
            r.priority,
            r.tickets,
            r.responded,
            r.resolved
        ),
        ("acme", "incident", 1, 3, 3, 3)
    );
    // (10 + 20 + 5) / 3 and (60 + 330 + 50) / 3 wall; business without B's hour on hold.
    assert_eq!(r.mtta_minutes, Some(11.7));
    assert_eq!(r.mtta_business_minutes, Some(11.7));
    assert_eq!(r.mttr_minutes, Some(146.7));
    // B: 330 − 60 on hold; C: the resolution clock stops while resolved, 30 + 10.
    assert_eq!(r.mttr_business_minutes, Some(123.3));
    assert_eq!((r.sla_measured, r.sla_met), (3, 2));
    assert_eq!(r.sla_compliance_percent, Some(66.7));
    assert_eq!(
        r.first_contact_resolution_percent,
        Some(33.3),
        "B escalated, C reopened"
    );
    assert_eq!(r.reopen_rate_percent, Some(33.3));

    let everyone = ReportRange {
        scope: TenantScope::All,
        ..range
    };
    let tenants: Vec<String> = kpis::service_levels(&store, &everyone, now)
        .await
        .expect("report")
        .into_iter()
        .map(|r| r.tenant)
        .collect();
    assert_eq!(tenants, ["acme", "other"]);

    let backlog = kpis::backlog(&store, TenantScope::All, T0 + 2 * DAY)
        .await
        .expect("backlog");
    assert_eq!(backlog.len(), 1, "{backlog:?}");
    assert_eq!(
        (
            backlog[0].tenant.as_str(),
            backlog[0].priority,
            backlog[0].age,
            backlog[0].incidents
        ),
        ("other", 1, "1-3d", 1)
    );
});

on_every_backend!(volume_ci_classes_and_rules, |store| {
    let acme = tenant(&store, "acme").await;
    let service = store
        .create_business_service(acme, "Acme payroll", &serde_json::Map::new(), "admin")
        .await
        .expect("service");
    let spec: RuleSpec = serde_json::from_value(
        json!({"name": "Payroll slow", "metric": "volume.used_percent", "critical_level": 90.0}),
    )
    .expect("rule spec");
    let rule = store.create_rule(Some(acme), &spec).await.expect("rule");
    let mut tx = store.begin().await.expect("tx");
    let evidence = json!({});
    let (auto, opened) = open_for_rule(
        &mut tx,
        &RuleIncident {
            tenant: acme,
            rule_id: rule.id,
            ci_id: service.id,
            computer_id: service.id,
            title: "Payroll slow",
            description: "",
            impact: 2,
            urgency: 2,
            severity: "critical",
            problem_started_at: T0,
            evidence: &evidence,
            previous: None,
            now: T0,
        },
    )
    .await
    .expect("rule incident");
    assert!(opened);
    let _ = auto; // linked to the service as "affected" by the desk
    tx.commit().await.expect("commit");
    open(&store, acme, "By hand", T0 + DAY).await;
    atalaya_server::desk::tickets::create(
        &store,
        TicketKind::ServiceRequest,
        acme,
        &ticket("New laptop"),
        "tech",
        T0 + DAY,
    )
    .await
    .expect("request");

    let range = ReportRange {
        scope: TenantScope::Tenant(acme),
        from: T0 - DAY,
        to: T0 + 2 * DAY,
    };
    let volume = kpis::volume(&store, &range, Period::Day)
        .await
        .expect("volume");
    let days: Vec<(&str, i64, i64, i64)> = volume
        .iter()
        .map(|v| {
            (
                v.period.as_str(),
                v.incidents_auto,
                v.incidents_manual,
                v.requests,
            )
        })
        .collect();
    assert_eq!(days, [("2026-11-27", 1, 0, 0), ("2026-11-28", 0, 1, 1)]);
    let months = kpis::volume(&store, &range, Period::Month)
        .await
        .expect("volume");
    assert_eq!((months.len(), months[0].period.as_str()), (1, "2026-11-01"));
    let classes = store.incidents_per_ci_class(&range).await.expect("classes");
    assert_eq!(classes.len(), 1);
    assert_eq!(
        (classes[0].class.as_str(), classes[0].incidents),
        ("business_service", 1)
    );
    let rules = store.incidents_per_rule(&range).await.expect("rules");
    assert_eq!(rules.len(), 1);
    assert_eq!(
        (
            rules[0].rule.as_str(),
            rules[0].incidents,
            rules[0].still_open
        ),
        ("Payroll slow", 1, 1)
    );
});

/// The app without a socket, with the first-start admin token.
struct Api {
    app: axum::Router,
    db: crate::db::TestDb,
    admin: String,
    _dir: tempfile::TempDir,
}

impl Api {
    async fn new() -> Api {
        let db = crate::db::TestDb::sqlite().await;
        let dir = tempfile::tempdir().expect("tempdir");
        let first = atalaya_server::bootstrap::first_start(&db.store, dir.path(), 60)
            .await
            .expect("bootstrap")
            .expect("first start");
        let config = Config::load(&Overrides::default()).expect("defaults");
        Api {
            app: app(AppState::new(db.store.clone(), config)),
            db,
            admin: first.admin_token,
            _dir: dir,
        }
    }

    async fn send(&self, request: Request<Body>) -> (StatusCode, String, String) {
        let response = self.app.clone().oneshot(request).await.expect("response");
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        (
            status,
            content_type,
            String::from_utf8_lossy(&bytes).into_owned(),
        )
    }

    async fn admin(&self, method: &str, uri: &str, body: Option<Value>) -> (StatusCode, Value) {
        let request = crate::router::json_request(method, uri, &self.admin, body);
        let (status, _, text) = self.send(request).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_through_the_api() {
    let api = Api::new().await;
    let uri = "/api/v1/tenants/default/notification-templates";
    let (status, list) = api.admin("GET", uri, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list.as_array().map(Vec::len), Some(6));
    let (status, body) = api
        .admin(
            "PUT",
            &format!("{uri}/resolved"),
            Some(json!({"subject": "Done: {{ ticket.title }}", "body": "{% for x in %}"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"]["code"], "invalid_template");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("body:")),
        "{body}"
    );
    let (status, body) = api
        .admin(
            "PUT",
            &format!("{uri}/resolved"),
            Some(json!({"subject": "Done: {{ ticket.title }}", "body": "Rate us: {{ satisfaction_url }}"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["custom"], true);
    let (status, body) = api.admin("GET", &format!("{uri}/resolved"), None).await;
    assert_eq!(
        (status, &body["subject"]),
        (StatusCode::OK, &json!("Done: {{ ticket.title }}"))
    );
    let (status, _) = api.admin("GET", &format!("{uri}/closed"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.admin("DELETE", &format!("{uri}/resolved"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.admin("DELETE", &format!("{uri}/resolved"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .admin("GET", "/api/v1/tenants/nobody/notification-templates", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn satisfaction_links_and_reports_through_the_api() {
    let api = Api::new().await;
    let store = api.db.store.clone();
    let default = store
        .tenant_by_name(TenantScope::All, "default")
        .await
        .expect("default")
        .id;
    let now = atalaya_server::store::now_ms();
    let id = open(&store, default, "VPN <down>", now - HOUR).await;
    let key = store
        .server_secret(satisfaction::KEY_NAME)
        .await
        .expect("key");
    let token = satisfaction::token(&key, TicketKind::Incident, id);
    let page = |method: &str, token: &str, form: Option<&str>| {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("/satisfaction/{token}"));
        let body = match form {
            Some(f) => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(f.to_string())
            }
            None => Body::empty(),
        };
        request.body(body).expect("request")
    };
    let (status, content_type, html) = api.send(page("GET", &token, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/html"), "{content_type}");
    assert!(html.contains("VPN &lt;down&gt;"), "escaped: {html}");
    assert!(html.contains("once it is resolved"), "{html}");
    let (status, _, body) = api.send(page("POST", &token, Some("score=5"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "not resolved yet: {body}");

    move_to(&store, id, TicketState::Resolved, None, now).await;
    let (status, _, html) = api.send(page("GET", &token, None)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains(r#"name="score""#), "a form: {html}");
    let forged = satisfaction::token("not the key", TicketKind::Incident, id);
    let (status, _, _) = api.send(page("GET", &forged, None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = api.send(page("POST", &forged, Some("score=1"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = api.send(page("GET", "garbage", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, _) = api.send(page("POST", &token, Some("score=9"))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _, html) = api
        .send(page(
            "POST",
            &token,
            Some("score=4&comment=fast+and+friendly"),
        ))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(
        html.contains("you rated this incident 4 out of 5"),
        "{html}"
    );
    let (status, _, _) = api.send(page("POST", &token, Some("score=2"))).await;
    assert_eq!(status, StatusCode::CONFLICT, "once");

    let (status, report) = api
        .admin("GET", "/api/v1/reports/satisfaction?tenant=default", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["report"], "satisfaction");
    assert_eq!(report["rows"][0]["average"], 4.0);
    let csv = Request::builder()
        .uri("/api/v1/reports/service-levels")
        .header(header::AUTHORIZATION, format!("Bearer {}", api.admin))
        .header(header::ACCEPT, "text/csv")
        .body(Body::empty())
        .expect("request");
    let (status, content_type, text) = api.send(csv).await;
    assert_eq!(status, StatusCode::OK);
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .is_some_and(|h| h.starts_with("tenant,kind,priority,tickets,")),
        "{text}"
    );
    assert!(
        lines
            .next()
            .is_some_and(|l| l.starts_with("default,incident,1,1,")),
        "{text}"
    );
    for report in [
        "volume?period=week",
        "backlog?format=csv",
        "first-contact-resolution",
        "incidents-per-ci-class?from=2026-01-01",
        "incidents-per-rule?from=2026-01-01T00:00:00Z&to=2099-01-01",
    ] {
        let (status, body) = api
            .admin("GET", &format!("/api/v1/reports/{report}"), None)
            .await;
        assert_eq!(status, StatusCode::OK, "{report}: {body}");
    }
    let (status, body) = api
        .admin("GET", "/api/v1/reports/volume?from=yesterday", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (status, _) = api
        .admin("GET", "/api/v1/reports/volume?tenant=nobody", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_desk_jobs_run_under_their_own_leases() {
    let db = crate::db::TestDb::sqlite().await;
    let config = Config::load(&Overrides::default()).expect("defaults");
    let ingest = atalaya_server::ingest::Ingest::new(db.store.clone());
    let jobs = atalaya_server::BackgroundJobs::spawn(&ingest, &config)
        .await
        .expect("spawn");
    let desk = [
        atalaya_server::NOTIFICATIONS,
        atalaya_server::AUTO_CLOSE,
        atalaya_server::DAILY_DIGEST,
    ];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let held: Vec<String> = db
            .store
            .list_leases()
            .await
            .expect("leases")
            .into_iter()
            .map(|(name, ..)| name)
            .collect();
        if desk.iter().all(|job| held.iter().any(|h| h == job)) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "desk jobs never took their leases: {held:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    jobs.stop(&db.store).await;
    let left = db.store.list_leases().await.expect("leases");
    assert!(left.is_empty(), "released on stop: {left:?}");
    db.cleanup().await;
}
