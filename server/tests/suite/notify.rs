//! Notifications through the outbox: webhooks against a real HTTP receiver (signature, retry,
//! attempt log), email against a real SMTP server process, delivery after a crash, and the SLA
//! sweep that records, notifies and escalates.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use atalaya_server::desk::NewTicket;
use atalaya_server::notify::Deliverer;
use atalaya_server::sla::plan::{Coverage, SupportPlan};
use atalaya_server::store::outbox::ChannelKind;
use atalaya_server::store::tickets::TicketKind;
use atalaya_server::store::{Store, TenantScope};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::db::tenant;
use crate::on_every_backend;

const T0: i64 = 1_795_000_000_000;
const MINUTE: i64 = 60_000;

/// What a receiver saw: headers and body of each request.
type Seen = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A real HTTP server on loopback that answers 500 to the first `failures` requests.
async fn receiver(failures: usize) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let log = seen.clone();
    let app = axum::Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let log = log.clone();
            async move {
                let mut log = log.lock().expect("lock");
                log.push((headers, body));
                if log.len() <= failures {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address: SocketAddr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{address}/hook"), seen)
}

fn ticket(title: &str, impact: i64, urgency: i64, group: Option<&str>) -> NewTicket {
    NewTicket {
        title: title.into(),
        description: String::new(),
        impact,
        urgency,
        requester: None,
        ci_ids: vec![],
        group: group.map(str::to_string),
        assignee: None,
    }
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

/// Check `t=…,v1=…` independently of the server's code.
fn signature_is_valid(secret: &str, value: &str, body: &str) -> bool {
    let Some((t, v1)) = value
        .strip_prefix("t=")
        .and_then(|rest| rest.split_once(",v1="))
    else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(format!("{t}.{body}").as_bytes());
    hex::decode(v1).is_ok_and(|sig| mac.verify_slice(&sig).is_ok())
}

on_every_backend!(webhooks_are_signed_retried_and_logged, |store| {
    let acme = tenant(&store, "acme").await;
    let (url, seen) = receiver(1).await;
    let events = vec!["opened".to_string(), "resolved".to_string()];
    store
        .create_channel(
            acme,
            ChannelKind::Webhook,
            &url,
            Some("s3cret"),
            &events,
            T0,
        )
        .await
        .expect("channel");
    let created = atalaya_server::desk::tickets::create(
        &store,
        TicketKind::Incident,
        acme,
        &ticket("Mail down", 1, 1, None),
        "tech",
        T0,
    )
    .await
    .expect("create");
    let deliverer = Deliverer::new(None).expect("deliverer");

    assert_eq!(deliverer.deliver_due(&store, T0).await.expect("deliver"), 1);
    let outbox = store.outbox(acme).await.expect("outbox");
    assert_eq!(outbox.len(), 1);
    assert_eq!(
        (outbox[0].state.as_str(), outbox[0].attempts),
        ("pending", 1)
    );
    assert_eq!(
        outbox[0].next_attempt_at.timestamp_millis(),
        T0 + 30_000,
        "backoff"
    );
    assert_eq!(outbox[0].last_error.as_deref(), Some("HTTP 500"));
    assert_eq!(
        deliverer
            .deliver_due(&store, T0 + 10_000)
            .await
            .expect("deliver"),
        0,
        "not due yet"
    );
    assert_eq!(
        deliverer
            .deliver_due(&store, T0 + 30_000)
            .await
            .expect("deliver"),
        1
    );
    assert_eq!(
        deliverer
            .deliver_due(&store, T0 + 60_000)
            .await
            .expect("deliver"),
        0
    );
    let outbox = store.outbox(acme).await.expect("outbox");
    assert_eq!((outbox[0].state.as_str(), outbox[0].attempts), ("sent", 2));
    let attempts = store.outbox_attempts(outbox[0].id).await.expect("attempts");
    let log: Vec<(bool, &str)> = attempts.iter().map(|a| (a.ok, a.detail.as_str())).collect();
    assert_eq!(log, [(false, "HTTP 500"), (true, "HTTP 200")]);

    let requests = seen.lock().expect("lock").clone();
    assert_eq!(requests.len(), 2);
    let (headers, body) = &requests[1];
    assert!(
        signature_is_valid("s3cret", header(headers, "x-atalaya-signature"), body),
        "{headers:?}"
    );
    assert!(!signature_is_valid(
        "wrong",
        header(headers, "x-atalaya-signature"),
        body
    ));
    assert_eq!(header(headers, "x-atalaya-event"), "opened");
    assert_eq!(
        header(&requests[0].0, "idempotency-key"),
        header(headers, "idempotency-key"),
        "a retry is the same message"
    );
    let payload: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(payload["ticket"]["number"], "INC-000001");
    assert_eq!(payload["event"], "opened");

    // Escalation is not wanted by this channel; resolution is.
    let scope = TenantScope::Tenant(acme);
    atalaya_server::desk::tickets::escalate(
        &store,
        TicketKind::Incident,
        scope,
        created.id,
        None,
        None,
        "needs tier 2",
        "tech",
        T0 + MINUTE,
    )
    .await
    .expect("escalate");
    atalaya_server::desk::tickets::transition(
        &store,
        TicketKind::Incident,
        scope,
        created.id,
        atalaya_server::desk::state::TicketState::Resolved,
        None,
        None,
        "tech",
        T0 + 2 * MINUTE,
    )
    .await
    .expect("resolve");
    let events: Vec<String> = store
        .outbox(acme)
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(events, ["opened", "resolved"]);
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn email_goes_through_a_real_smtp_server() {
    let Some(mut smtp) =
        crate::smtp::SmtpServer::start("email_goes_through_a_real_smtp_server").await
    else {
        return;
    };
    let db = crate::db::TestDb::sqlite().await;
    let store = db.store.clone();
    let acme = tenant(&store, "acme").await;
    store
        .create_channel(
            acme,
            ChannelKind::Email,
            "ops@customer.example",
            None,
            &[],
            T0,
        )
        .await
        .expect("channel");
    atalaya_server::desk::tickets::create(
        &store,
        TicketKind::ServiceRequest,
        acme,
        &ticket("New laptop for Ana", 3, 2, Some("service-desk")),
        "tech",
        T0,
    )
    .await
    .expect("create");
    let deliverer = Deliverer::new(Some(smtp.settings())).expect("deliverer");
    assert_eq!(deliverer.deliver_due(&store, T0).await.expect("deliver"), 1);
    let outbox = store.outbox(acme).await.expect("outbox");
    assert_eq!(outbox[0].state, "sent", "{outbox:?}");
    let attempts = store.outbox_attempts(outbox[0].id).await.expect("attempts");
    assert!(attempts[0].detail.starts_with("SMTP 250"), "{attempts:?}");

    // The debugging handler prints each message it received.
    let printed = smtp.messages(1).await;
    smtp.stop().await;
    assert!(
        printed.contains("Subject: [REQ-000001] Opened: New laptop for Ana"),
        "{printed}"
    );
    assert!(printed.contains("ops@customer.example"), "{printed}");
    assert!(
        printed.contains("@atalaya>"),
        "Message-ID from the key: {printed}"
    );
    assert!(printed.contains("Group: service-desk"), "{printed}");
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_before_a_crash_is_delivered_exactly_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("crash.db").display()
    );
    let (hook, seen) = receiver(0).await;

    // First life: the ticket and its notification commit, then the process dies before
    // sending — and a worker that had claimed the message dies holding its lease.
    let store = Store::connect(&url).await.expect("open");
    let acme = tenant(&store, "acme").await;
    store
        .create_channel(acme, ChannelKind::Webhook, &hook, None, &[], T0)
        .await
        .expect("channel");
    atalaya_server::desk::tickets::create(
        &store,
        TicketKind::Incident,
        acme,
        &ticket("UPS on battery", 1, 2, None),
        "rule",
        T0,
    )
    .await
    .expect("create");
    let claimed = store.claim_due(T0, 5 * MINUTE, 10).await.expect("claim");
    assert_eq!(claimed.len(), 1);
    store.close().await;
    drop(store);

    // Second life.
    let store = Store::connect(&url).await.expect("reopen");
    let deliverer = Deliverer::new(None).expect("deliverer");
    assert_eq!(
        deliverer
            .deliver_due(&store, T0 + MINUTE)
            .await
            .expect("deliver"),
        0,
        "the dead worker's lease still holds"
    );
    assert_eq!(
        deliverer
            .deliver_due(&store, T0 + 6 * MINUTE)
            .await
            .expect("deliver"),
        1
    );
    assert_eq!(
        deliverer
            .deliver_due(&store, T0 + 60 * MINUTE)
            .await
            .expect("deliver"),
        0
    );
    assert_eq!(seen.lock().expect("lock").len(), 1, "exactly one delivery");
    let outbox = store.outbox(acme).await.expect("outbox");
    assert_eq!((outbox.len(), outbox[0].state.as_str()), (1, "sent"));
    store.close().await;
}

on_every_backend!(the_sla_sweep_records_notifies_and_escalates_once, |store| {
    let acme = tenant(&store, "acme").await;
    let plan = SupportPlan {
        coverage: Coverage::AllHours,
        escalate_on_breach: true,
        ..SupportPlan::default()
    };
    atalaya_server::desk::plans::save(&store, acme, &plan, "tester", T0 - MINUTE)
        .await
        .expect("plan");
    let (url, _seen) = receiver(0).await;
    let events = vec!["sla_warning".to_string(), "sla_breach".to_string()];
    store
        .create_channel(acme, ChannelKind::Webhook, &url, None, &events, T0)
        .await
        .expect("channel");
    // P1: 30 minutes to respond.
    let t = atalaya_server::desk::tickets::create(
        &store,
        TicketKind::Incident,
        acme,
        &ticket("Site down", 1, 1, Some("service-desk")),
        "tech",
        T0,
    )
    .await
    .expect("create");
    assert_eq!(
        atalaya_server::desk::sla_sweep(&store, T0 + 10 * MINUTE)
            .await
            .expect("sweep"),
        0
    );
    assert_eq!(
        atalaya_server::desk::sla_sweep(&store, T0 + 25 * MINUTE)
            .await
            .expect("sweep"),
        1,
        "75 % of 30 min"
    );
    assert_eq!(
        atalaya_server::desk::sla_sweep(&store, T0 + 26 * MINUTE)
            .await
            .expect("sweep"),
        0,
        "once"
    );
    assert_eq!(
        atalaya_server::desk::sla_sweep(&store, T0 + 40 * MINUTE)
            .await
            .expect("sweep"),
        1,
        "breach"
    );
    assert_eq!(
        atalaya_server::desk::sla_sweep(&store, T0 + 41 * MINUTE)
            .await
            .expect("sweep"),
        0
    );

    let read = atalaya_server::desk::tickets::get(
        &store,
        TicketKind::Incident,
        TenantScope::All,
        t.id,
        T0 + 41 * MINUTE,
    )
    .await
    .expect("get");
    assert_eq!(
        read.assignment_group.as_deref(),
        Some("specialists"),
        "escalated on breach"
    );
    let timeline = atalaya_server::desk::tickets::timeline(&store, &read)
        .await
        .expect("timeline");
    let sla: Vec<(&str, &str)> = timeline
        .iter()
        .filter(|e| e.actor == "sla")
        .map(|e| (e.kind.as_str(), e.detail["metric"].as_str().unwrap_or("")))
        .collect();
    assert_eq!(
        sla,
        [
            ("sla_warning", "response"),
            ("sla_breach", "response"),
            ("escalated", "")
        ]
    );
    let queued: Vec<String> = store
        .outbox(acme)
        .await
        .expect("outbox")
        .into_iter()
        .map(|e| e.event)
        .collect();
    assert_eq!(queued, ["sla_warning", "sla_breach"]);
});
