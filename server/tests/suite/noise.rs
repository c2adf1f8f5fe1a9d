//! Noise control on every backend: one site incident for a site outage (and several sweeps
//! racing on PostgreSQL), notifications held while an incident flaps, and "parent down".

use atalaya_server::alerting::offline_sweep;
use atalaya_server::desk::incidents::{Incident, IncidentFilter};
use atalaya_server::ingest::Ingest;
use atalaya_server::rules::Direction;
use atalaya_server::store::agents::{AgentIdentity, NewAgent};
use atalaya_server::store::outbox::ChannelKind;
use atalaya_server::store::rules::RuleSpec;
use atalaya_server::store::tickets::TicketKind;
use atalaya_server::store::tokens::NewEnrollmentToken;
use atalaya_server::store::{now_ms, Backend, Store, TenantId, TenantScope};
use chrono::{Duration, Utc};

use crate::ingest::{arrived_at, enroll, host, report};
use crate::on_every_backend;

async fn tenant(store: &Store) -> TenantId {
    store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new")
        .id
}

async fn incidents(store: &Store) -> Vec<Incident> {
    let filter = IncidentFilter {
        limit: 100,
        ..Default::default()
    };
    atalaya_server::desk::incidents::list(store, TenantScope::All, &filter)
        .await
        .expect("list")
}

/// An agent enrolled with a token of `site`, as `atalaya-agent enroll` would.
async fn enroll_at(store: &Store, tenant: TenantId, site: i64, hostname: &str) -> AgentIdentity {
    let (token, _) = store
        .create_enrollment_token(
            tenant,
            &NewEnrollmentToken {
                name: "site".into(),
                site_id: Some(site),
                ..Default::default()
            },
        )
        .await
        .expect("token");
    let mut tx = store.begin().await.expect("tx");
    let (agent_id, _) = Store::create_agent(
        &mut tx,
        &NewAgent {
            tenant,
            site_id: Some(site),
            enrollment_token_id: token.id,
            hostname,
            agent_version: "1",
        },
    )
    .await
    .expect("agent");
    tx.commit().await.expect("commit");
    AgentIdentity {
        agent_id,
        tenant,
        site_id: Some(site),
        recorded: None,
    }
}

/// Report from `agent` as collected, and received, `ago` before now.
async fn report_at(ingest: &Ingest, agent: &AgentIdentity, seq: u64, name: &str, ago: Duration) {
    let mut r = report(agent, seq, host(name, name, None), 10.0);
    r.collected_at = Utc::now() - ago;
    ingest.report(agent, &r).await.expect("ingest");
    arrived_at(ingest.store(), agent, r.collected_at).await;
}

async fn offline_rule(store: &Store, t: TenantId) {
    store
        .create_rule(
            Some(t),
            &RuleSpec::new(
                "Agent offline",
                "computer.offline_seconds",
                Direction::Above,
                180.0,
            ),
        )
        .await
        .expect("rule");
}

on_every_backend!(
    a_site_outage_opens_one_incident_and_holds_the_computers_alerts,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store).await;
        offline_rule(&store, t).await;
        let hq = store.ensure_site(t, "HQ").await.expect("site");
        let branch = store.ensure_site(t, "Branch").await.expect("site");
        let mut hq_agents = Vec::new();
        for i in 0..6 {
            let name = format!("hq{i}");
            hq_agents.push((enroll_at(&store, t, hq, &name).await, name));
        }
        let shop = enroll_at(&store, t, branch, "shop0").await;
        let till = enroll_at(&store, t, branch, "shop1").await;
        // Five of HQ's six went silent within a minute of each other ten minutes ago.
        for (i, (agent, name)) in hq_agents.iter().enumerate() {
            let ago = if i < 5 {
                Duration::minutes(10) + Duration::seconds(i as i64 * 10)
            } else {
                Duration::seconds(5)
            };
            report_at(&ingest, agent, 1, name, ago).await;
        }
        // At the branch one of two is offline: that is one computer's problem.
        report_at(&ingest, &shop, 1, "shop0", Duration::minutes(10)).await;
        report_at(&ingest, &till, 1, "shop1", Duration::seconds(5)).await;

        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 2);
        let open = incidents(&store).await;
        assert_eq!(
            open.len(),
            2,
            "{:?}",
            open.iter().map(|i| &i.title).collect::<Vec<_>>()
        );
        let site_incident = open
            .iter()
            .find(|i| i.title.starts_with("Site HQ"))
            .expect("site incident")
            .clone();
        assert!(
            site_incident.title.contains("5 of 6 computers offline"),
            "{}",
            site_incident.title
        );
        assert!(open.iter().any(|i| i.title.contains("shop0")));
        let linked = atalaya_server::desk::tickets::cis(&store, &site_incident)
            .await
            .expect("cis");
        assert_eq!(linked.len(), 5, "the five silent computers are attached");

        // The computers' own offline alerts are suppressed, linked to the site incident.
        let suppressions = store
            .list_suppressions(TenantScope::All)
            .await
            .expect("list");
        let outage = suppressions
            .iter()
            .find(|s| s.kind == "site_outage")
            .expect("site outage suppression");
        assert_eq!(outage.incident_id, Some(site_incident.id));
        assert!(
            outage.reason.starts_with("site outage"),
            "{}",
            outage.reason
        );
        assert!(outage.ends_at.is_some(), "it expires unless renewed");
        assert!(outage.cancelled_at.is_none());
        let (suppressed,): (i64,) = sqlx::query_as(
            "SELECT COUNT(*) FROM alert_states WHERE state = 'firing' AND suppressed_by = $1",
        )
        .bind(format!("site_outage:{}", outage.id))
        .fetch_one(store.pool())
        .await
        .expect("count");
        assert_eq!(suppressed, 5);

        // Sweeping again changes nothing.
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 0);
        assert_eq!(incidents(&store).await.len(), 2);

        // Four come back; hq4 stays dark. The site is back, the site incident resolves and hq4
        // gets its own incident.
        for (agent, name) in &hq_agents[..4] {
            report_at(&ingest, agent, 2, name, Duration::seconds(1)).await;
        }
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 1);
        let site_incident =
            atalaya_server::desk::incidents::get(&store, TenantScope::All, site_incident.id)
                .await
                .expect("get");
        assert_eq!(site_incident.state, "resolved");
        let kinds: Vec<String> = atalaya_server::desk::tickets::timeline(&store, &site_incident)
            .await
            .expect("timeline")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(kinds.contains(&"site_recovered".to_string()), "{kinds:?}");
        let all = incidents(&store).await;
        let own: Vec<&Incident> = all.iter().filter(|i| i.title.contains("hq4")).collect();
        assert_eq!(own.len(), 1, "still offline after the site recovered");
        assert!(own[0].title.contains("Agent offline"), "{}", own[0].title);
        assert!(
            !all.iter().any(|i| i.title.contains("hq0")),
            "the ones that came back never had an incident of their own"
        );
        let ended = store
            .list_suppressions(TenantScope::All)
            .await
            .expect("list");
        assert!(ended
            .iter()
            .find(|s| s.kind == "site_outage")
            .is_some_and(|s| s.cancelled_at.is_some()));
    }
);

/// An offline rule (180 s) and two computers at two sites: `early` silent for ten minutes,
/// `late` (returned) seen 5 s ago.
async fn early_silent_late_reporting(ingest: &Ingest) -> AgentIdentity {
    let store = ingest.store();
    let t = tenant(store).await;
    offline_rule(store, t).await;
    let north = store.ensure_site(t, "North").await.expect("site");
    let south = store.ensure_site(t, "South").await.expect("site");
    let early = enroll_at(store, t, north, "early").await;
    let late = enroll_at(store, t, south, "late").await;
    report_at(ingest, &early, 1, "early", Duration::minutes(10)).await;
    report_at(ingest, &late, 1, "late", Duration::seconds(5)).await;
    late
}

on_every_backend!(
    a_server_behind_on_reports_declares_no_one_offline,
    |store| {
        let ingest = Ingest::new(store.clone());
        let late = early_silent_late_reporting(&ingest).await;
        let behind_after = atalaya_server::lag::BEHIND_AFTER;

        // Reports queued here ten minutes ago, before the rule's 180 s window: the verdict
        // stands.
        let long_ago = now_ms() - 600_000;
        ingest.lag().waited("a test", behind_after, long_ago);
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 1);

        // `late` went silent too, but reports waited here 30 s ago: its silence may be ours.
        arrived_at(&store, &late, Utc::now() - Duration::minutes(10)).await;
        ingest
            .lag()
            .waited("a test", behind_after, now_ms() - 30_000);
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 0);
        let titles: Vec<String> = incidents(&store)
            .await
            .into_iter()
            .map(|i| i.title)
            .collect();
        assert_eq!(titles.len(), 1, "{titles:?}");
        assert!(titles[0].contains("early"), "{titles:?}");
    }
);

/// The sweep runs on one replica; another one behind on reports holds its verdicts back too,
/// once it has told the others through the database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_behind_on_reports_holds_back_the_sweep_of_another() {
    for db in crate::db::TestDb::all().await {
        eprintln!(
            "a_replica_behind_on_reports_holds_back_the_sweep_of_another on {}",
            db.label
        );
        let store = db.store.clone();
        let ingest = Ingest::new(store.clone());
        let other = Ingest::new(Store::connect(&db.url).await.expect("a second replica"));
        let late = early_silent_late_reporting(&ingest).await;
        let behind_after = atalaya_server::lag::BEHIND_AFTER;

        // The other replica fell behind 30 s ago but has not said so yet: the verdict stands.
        other
            .lag()
            .waited("a test", behind_after, now_ms() - 30_000);
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 1);

        // It has now; `late` went silent meanwhile, and is not declared offline.
        atalaya_server::lag::publish(other.store(), other.lag(), "replica-b")
            .await
            .expect("publish");
        arrived_at(&store, &late, Utc::now() - Duration::minutes(10)).await;
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 0);
        assert_eq!(incidents(&store).await.len(), 1);
        other.store().close().await;
        db.cleanup().await;
    }
}

/// An outage in force is kept up while the server is behind, but a computer that went silent
/// meanwhile joins it only once nothing is queued: its silence may be the queue.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_behind_on_reports_attaches_no_one_to_an_outage_in_force() {
    for db in crate::db::TestDb::all().await {
        eprintln!(
            "a_server_behind_on_reports_attaches_no_one_to_an_outage_in_force on {}",
            db.label
        );
        let store = db.store.clone();
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store).await;
        offline_rule(&store, t).await;
        let hq = store.ensure_site(t, "HQ").await.expect("site");
        let mut agents = Vec::new();
        for i in 0..6 {
            let name = format!("hq{i}");
            let agent = enroll_at(&store, t, hq, &name).await;
            // Five went silent ten minutes ago; hq5 reported just now.
            let ago = match i {
                5 => Duration::seconds(5),
                _ => Duration::minutes(10) + Duration::seconds(i * 10),
            };
            report_at(&ingest, &agent, 1, &name, ago).await;
            agents.push(agent);
        }
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 1);
        let site_incident = incidents(&store).await.remove(0);
        let attached = |store: Store| {
            let site_incident = site_incident.clone();
            async move {
                atalaya_server::desk::tickets::cis(&store, &site_incident)
                    .await
                    .expect("cis")
                    .len()
            }
        };
        assert_eq!(attached(store.clone()).await, 5);

        // hq5 has been silent for four minutes, and this server was behind 30 s ago.
        arrived_at(&store, &agents[5], Utc::now() - Duration::minutes(4)).await;
        let behind_after = atalaya_server::lag::BEHIND_AFTER;
        ingest
            .lag()
            .waited("a test", behind_after, now_ms() - 30_000);
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 0);
        assert_eq!(
            attached(store.clone()).await,
            5,
            "the outage is kept, not grown"
        );
        let site = atalaya_server::desk::incidents::get(&store, TenantScope::All, site_incident.id)
            .await
            .expect("get");
        assert_ne!(site.state, "resolved", "the outage is still in force");

        // A replica that is not behind (it does not share this one's unpublished mark) sweeps:
        // hq5 joins the outage.
        let replica = Ingest::new(Store::connect(&db.url).await.expect("a second replica"));
        let other = replica.store().clone();
        assert_eq!(
            offline_sweep(&other, replica.lag()).await.expect("sweep"),
            0
        );
        assert_eq!(attached(other.clone()).await, 6);
        other.close().await;
        db.cleanup().await;
    }
}

on_every_backend!(
    peers_going_silent_wait_for_the_site_check_and_replicas_agree,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store).await;
        offline_rule(&store, t).await;
        let hq = store.ensure_site(t, "HQ").await.expect("site");
        let mut agents = Vec::new();
        for i in 0..4 {
            let name = format!("pc{i}");
            agents.push((enroll_at(&store, t, hq, &name).await, name));
        }
        // Two just crossed the offline threshold; the other two still report.
        for (i, (agent, name)) in agents.iter().enumerate() {
            let ago = if i < 2 {
                Duration::seconds(200)
            } else {
                Duration::seconds(1)
            };
            report_at(&ingest, agent, 1, name, ago).await;
        }
        assert_eq!(
            offline_sweep(&store, ingest.lag()).await.expect("sweep"),
            0,
            "two silent peers: wait for the site check instead of paging twice"
        );
        // A third goes silent: a site outage (3 of 4). Several replicas sweep at once.
        // (Time passes: pc2 has not reported for 190 s.)
        arrived_at(&store, &agents[2].0, Utc::now() - Duration::seconds(190)).await;
        let opened = if store.backend() == Backend::Postgres {
            let (a, b, c) = tokio::join!(
                offline_sweep(&store, ingest.lag()),
                offline_sweep(&store, ingest.lag()),
                offline_sweep(&store, ingest.lag())
            );
            a.expect("sweep a") + b.expect("sweep b") + c.expect("sweep c")
        } else {
            offline_sweep(&store, ingest.lag()).await.expect("sweep")
                + offline_sweep(&store, ingest.lag()).await.expect("sweep")
        };
        assert_eq!(opened, 1);
        let all = incidents(&store).await;
        assert_eq!(
            all.len(),
            1,
            "{:?}",
            all.iter().map(|i| &i.title).collect::<Vec<_>>()
        );
        assert!(all[0].title.contains("3 of 4"), "{}", all[0].title);
    }
);

on_every_backend!(notifications_are_held_while_an_incident_flaps, |store| {
    let ingest = Ingest::new(store.clone());
    let t = tenant(&store).await;
    store
        .create_channel(
            t,
            ChannelKind::Webhook,
            "https://example.test/hook",
            None,
            &[],
            now_ms(),
        )
        .await
        .expect("channel");
    store
        .create_rule(
            Some(t),
            &RuleSpec::new("Full", "volume.used_percent", Direction::Above, 90.0),
        )
        .await
        .expect("rule");
    let agent = enroll(&store, t, "web").await;
    // A worker delivers everything due after each report.
    let deliver = |store: Store| async move {
        let far = i64::MAX / 4;
        for message in store.claim_due(far, 60_000, 100).await.expect("claim") {
            store
                .finish_attempt(message.id, far, Ok("200".into()))
                .await
                .expect("finish");
        }
    };
    let mut seq = 0;
    let mut flapping = false;
    while !flapping {
        seq += 1;
        assert!(seq < 40, "never started flapping");
        let used = if seq % 2 == 0 { 95.0 } else { 50.0 };
        ingest
            .report(&agent, &report(&agent, seq, host("web", "m", None), used))
            .await
            .expect("ingest");
        flapping = match incidents(&store).await.first() {
            Some(i) => is_flapping(&store, i.id).await,
            None => false,
        };
        if !flapping {
            deliver(store.clone()).await;
        }
    }
    let incident = incidents(&store).await.remove(0);
    let outbox = store.outbox(t).await.expect("outbox");
    let sent_before = outbox.iter().filter(|m| m.state == "sent").count();
    assert!(
        outbox
            .iter()
            .any(|m| m.event == "opened" && m.idempotency_key.contains("reopened")),
        "a reopened incident is notified again: {outbox:?}"
    );
    // While it flaps, what is queued for it is held; a worker delivers nothing.
    for _ in 0..6 {
        seq += 1;
        let used = if seq % 2 == 0 { 95.0 } else { 50.0 };
        ingest
            .report(&agent, &report(&agent, seq, host("web", "m", None), used))
            .await
            .expect("ingest");
    }
    atalaya_server::desk::tickets::escalate(
        &store,
        TicketKind::Incident,
        TenantScope::All,
        incident.id,
        None,
        None,
        "flapping for a while",
        "tech",
        now_ms(),
    )
    .await
    .expect("escalate");
    deliver(store.clone()).await;
    let outbox = store.outbox(t).await.expect("outbox");
    assert_eq!(
        outbox.iter().filter(|m| m.state == "sent").count(),
        sent_before
    );
    assert!(
        outbox
            .iter()
            .any(|m| m.event == "escalated" && m.state == "held"),
        "{outbox:?}"
    );
    assert!(!outbox.iter().any(|m| m.state == "pending"), "{outbox:?}");

    // It settles: the incident resolves and the held messages are released with it.
    for _ in 0..30 {
        seq += 1;
        ingest
            .report(&agent, &report(&agent, seq, host("web", "m", None), 40.0))
            .await
            .expect("ingest");
    }
    let incident = atalaya_server::desk::incidents::get(&store, TenantScope::All, incident.id)
        .await
        .expect("get");
    assert_eq!(incident.state, "resolved");
    let outbox = store.outbox(t).await.expect("outbox");
    assert!(!outbox.iter().any(|m| m.state == "held"), "{outbox:?}");
    let pending: Vec<&str> = outbox
        .iter()
        .filter(|m| m.state == "pending")
        .map(|m| m.event.as_str())
        .collect();
    assert!(pending.contains(&"escalated"), "{pending:?}");
    assert_eq!(pending.last(), Some(&"resolved"), "{pending:?}");
});

/// Whether the incident is marked flapping.
async fn is_flapping(store: &Store, id: i64) -> bool {
    let (flag,): (i64,) = sqlx::query_as("SELECT flapping FROM incidents WHERE id = $1")
        .bind(id)
        .fetch_one(store.pool())
        .await
        .expect("flag");
    flag == 1
}

on_every_backend!(
    parts_of_an_offline_computer_are_suppressed_as_parent_down,
    |store| {
        let ingest = Ingest::new(store.clone());
        use atalaya_server::alerting::engine::{Engine, Subject};
        let t = tenant(&store).await;
        offline_rule(&store, t).await;
        store
            .create_rule(
                Some(t),
                &RuleSpec::new("Full", "volume.used_percent", Direction::Above, 90.0),
            )
            .await
            .expect("rule");
        let agent = enroll(&store, t, "nas").await;
        let mut r = report(&agent, 1, host("nas", "m", None), 10.0);
        r.collected_at = Utc::now() - Duration::hours(1);
        let computer = ingest
            .report(&agent, &r)
            .await
            .expect("ingest")
            .computer_id
            .expect("computer");
        arrived_at(&store, &agent, r.collected_at).await;
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 1);
        let (volume,): (i64,) = sqlx::query_as(
            "SELECT id FROM configuration_items WHERE computer_id = $1 AND class = 'volume'",
        )
        .bind(computer)
        .fetch_one(store.pool())
        .await
        .expect("volume");
        // A late sample for the volume, evaluated while the computer is still offline.
        let mut tx = store.begin().await.expect("tx");
        let mut engine = Engine::load(&mut tx, store.backend(), t, computer, now_ms())
            .await
            .expect("engine");
        let subject = Subject {
            tenant: t,
            ci_id: volume,
            computer_id: computer,
            description: "Volume / on nas".into(),
        };
        engine
            .observe(&mut tx, &subject, "volume.used_percent", 99.0, now_ms())
            .await
            .expect("observe");
        tx.commit().await.expect("commit");
        assert_eq!(
            incidents(&store).await.len(),
            1,
            "only the offline incident"
        );
        let (suppressed_by,): (Option<String>,) =
            sqlx::query_as("SELECT suppressed_by FROM alert_states WHERE ci_id = $1")
                .bind(volume)
                .fetch_one(store.pool())
                .await
                .expect("state");
        assert_eq!(suppressed_by.as_deref(), Some("parent_down"));
    }
);
