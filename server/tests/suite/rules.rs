//! The rule engine on every backend: directions and absolute units, scopes, flapping,
//! maintenance windows and silences, offline agents, business-service links, alert history.

use atalaya_server::alerting::offline_sweep;
use atalaya_server::desk::incidents::IncidentFilter;
use atalaya_server::ingest::Ingest;
use atalaya_server::rules::Direction;
use atalaya_server::store::alerts::NewSuppression;
use atalaya_server::store::rules::RuleSpec;
use atalaya_server::store::{Store, TenantId, TenantScope};
use atalaya_shared::{Report, Volume};
use chrono::{Duration, Utc};
use serde_json::Map;

use crate::ingest::{arrived_at, enroll, host, report};
use crate::on_every_backend;

const GIB: u64 = 1 << 30;

fn all() -> IncidentFilter {
    IncidentFilter {
        limit: 100,
        ..Default::default()
    }
}

async fn count(store: &Store) -> usize {
    atalaya_server::desk::incidents::list(store, TenantScope::All, &all())
        .await
        .expect("list")
        .len()
}

async fn tenant(store: &Store) -> TenantId {
    store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new")
        .id
}

fn with_volumes(mut r: Report, volumes: &[(&str, u64, u64)]) -> Report {
    r.volumes = volumes
        .iter()
        .map(|(mount, total, free)| Volume {
            mount_point: (*mount).into(),
            device: None,
            filesystem: Some("ext4".into()),
            total_bytes: *total,
            available_bytes: *free,
            read_only: false,
        })
        .collect();
    r
}

on_every_backend!(absolute_free_space_rule_with_a_scope, |store| {
    let ingest = Ingest::new(store.clone());
    let t = tenant(&store).await;
    let mut spec = RuleSpec::new(
        "Low free space",
        "volume.free_bytes",
        Direction::Below,
        10.0 * GIB as f64,
    );
    spec.scope_query = Some("mount_point = /data".into());
    store.create_rule(Some(t), &spec).await.expect("rule");
    let agent = enroll(&store, t, "nas").await;
    // Both volumes have 5 GiB free; only /data is in the rule's scope.
    let r = with_volumes(
        report(&agent, 1, host("nas", "m", None), 0.0),
        &[("/", 20 * GIB, 5 * GIB), ("/data", 4000 * GIB, 5 * GIB)],
    );
    ingest.report(&agent, &r).await.expect("ingest");
    let incidents = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all())
        .await
        .expect("list");
    assert_eq!(incidents.len(), 1, "{incidents:?}");
    assert!(
        incidents[0].title.contains("/data"),
        "{}",
        incidents[0].title
    );
    assert!(
        incidents[0].title.contains("5.0 GiB"),
        "{}",
        incidents[0].title
    );
    // Below-direction validation: warning must not be lower (worse) than critical.
    let mut bad = RuleSpec::new("Bad", "volume.free_bytes", Direction::Below, 10.0);
    bad.warning_level = Some(5.0);
    assert!(store.create_rule(Some(t), &bad).await.is_err());
    let mut bad = RuleSpec::new("Bad scope", "volume.free_bytes", Direction::Below, 10.0);
    bad.scope_query = Some("mount_point = ".into());
    assert!(
        store.create_rule(Some(t), &bad).await.is_err(),
        "scope queries are parsed when saved"
    );
});

on_every_backend!(flapping_holds_one_incident_open_and_marks_it, |store| {
    let ingest = Ingest::new(store.clone());
    let t = tenant(&store).await;
    store
        .create_rule(
            Some(t),
            &RuleSpec::new("Full", "volume.used_percent", Direction::Above, 90.0),
        )
        .await
        .expect("rule");
    let agent = enroll(&store, t, "web").await;
    for seq in 1..=16u64 {
        let used = if seq % 2 == 0 { 95.0 } else { 50.0 };
        ingest
            .report(&agent, &report(&agent, seq, host("web", "m", None), used))
            .await
            .expect("ingest");
    }
    let incidents = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all())
        .await
        .expect("list");
    assert_eq!(
        incidents.len(),
        1,
        "one incident for the whole flapping episode"
    );
    let incident = &incidents[0];
    let kinds: Vec<String> = atalaya_server::desk::tickets::timeline(&store, incident)
        .await
        .expect("timeline")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert!(kinds.contains(&"flapping_started".to_string()), "{kinds:?}");
    assert_eq!(
        incident.state, "new",
        "held open while flapping, not resolved on every dip"
    );
    let (flapping,): (i64,) = sqlx::query_as("SELECT flapping FROM incidents WHERE id = $1")
        .bind(incident.id)
        .fetch_one(store.pool())
        .await
        .expect("flag");
    assert_eq!(flapping, 1);

    // It settles: a long healthy run stops the flapping and resolves the incident.
    for seq in 17..=40u64 {
        ingest
            .report(&agent, &report(&agent, seq, host("web", "m", None), 40.0))
            .await
            .expect("ingest");
    }
    let incident = atalaya_server::desk::incidents::get(&store, TenantScope::All, incident.id)
        .await
        .expect("get");
    assert_eq!(incident.state, "resolved");
    let volume = store
        .query_cis(
            TenantScope::All,
            &atalaya_server::store::ci_query::CiQuery {
                filter: Some(atalaya_server::cmdb::query::parse("class = volume").expect("q")),
                limit: 10,
                ..Default::default()
            },
        )
        .await
        .expect("volume");
    let history = store
        .alert_history(TenantScope::All, volume[0].id)
        .await
        .expect("history");
    assert!(history.iter().any(|h| h
        .note
        .as_deref()
        .is_some_and(|n| n.contains("flapping stopped"))));
    assert!(history
        .iter()
        .any(|h| h.to == "firing" && h.value == Some(95.0)));
});

on_every_backend!(maintenance_windows_and_silences_hold_alerts, |store| {
    let ingest = Ingest::new(store.clone());
    let t = tenant(&store).await;
    store
        .create_rule(
            Some(t),
            &RuleSpec::new("Full", "volume.used_percent", Direction::Above, 90.0),
        )
        .await
        .expect("rule");
    let agent = enroll(&store, t, "db").await;
    // The reports' sample times are in January 2027; a window covering them:
    let window = NewSuppression {
        tenant: None,
        kind: "maintenance".into(),
        reason: "disk migration".into(),
        scope_query: Some("class = computer and name = db".into()),
        rule_id: None,
        starts_at: Some(Utc::now()),
        ends_at: Some(Utc::now() + Duration::days(3650)),
        cron: None,
        duration_secs: None,
    };
    let w = store
        .create_suppression(t, &window, "api_token:1")
        .await
        .expect("window");
    ingest
        .report(&agent, &report(&agent, 1, host("db", "m", None), 97.0))
        .await
        .expect("ingest");
    assert_eq!(
        count(&store).await,
        0,
        "suppressed by the window on its computer"
    );
    // Recovering during maintenance: nobody was told, nobody is told now.
    ingest
        .report(&agent, &report(&agent, 2, host("db", "m", None), 20.0))
        .await
        .expect("ingest");
    assert_eq!(count(&store).await, 0);
    // Breach again, then the window ends while it is still firing: the next sample opens it.
    ingest
        .report(&agent, &report(&agent, 3, host("db", "m", None), 97.0))
        .await
        .expect("ingest");
    assert_eq!(count(&store).await, 0);
    store
        .cancel_suppression(TenantScope::All, w.id)
        .await
        .expect("cancel");
    ingest
        .report(&agent, &report(&agent, 4, host("db", "m", None), 97.0))
        .await
        .expect("ingest");
    assert_eq!(count(&store).await, 1);
    assert!(store
        .list_suppressions(TenantScope::All)
        .await
        .expect("list")[0]
        .cancelled_at
        .is_some());

    // Bad suppressions are refused with a reason.
    let mut bad = window.clone();
    bad.reason = " ".into();
    assert!(
        store.create_suppression(t, &bad, "x").await.is_err(),
        "reason required"
    );
    let mut bad = window.clone();
    bad.kind = "silence".into();
    bad.ends_at = None;
    assert!(
        store.create_suppression(t, &bad, "x").await.is_err(),
        "silences expire"
    );
    let mut bad = window.clone();
    bad.ends_at = None;
    bad.starts_at = None;
    bad.cron = Some("every saturday".into());
    bad.duration_secs = Some(3600);
    assert!(
        store.create_suppression(t, &bad, "x").await.is_err(),
        "bad cron"
    );
});

on_every_backend!(
    offline_agents_open_an_incident_that_their_next_report_resolves,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store).await;
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
        let agent = enroll(&store, t, "laptop").await;
        let mut r = report(&agent, 1, host("laptop", "m", None), 10.0);
        // Collected an hour ago and only now received (a clock behind, or a spool replayed):
        // the agent is reporting, so it is not offline.
        r.collected_at = Utc::now() - Duration::hours(1);
        ingest.report(&agent, &r).await.expect("ingest");
        assert_eq!(
            offline_sweep(&store, ingest.lag()).await.expect("sweep"),
            0,
            "offline goes by when reports arrive, not by their sample times"
        );
        // An hour without a report: offline.
        arrived_at(&store, &agent, r.collected_at).await;
        assert_eq!(offline_sweep(&store, ingest.lag()).await.expect("sweep"), 1);
        assert_eq!(
            offline_sweep(&store, ingest.lag()).await.expect("sweep"),
            0,
            "still one incident"
        );
        let incidents = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all())
            .await
            .expect("list");
        assert_eq!(incidents.len(), 1);
        assert!(
            incidents[0].title.contains("laptop"),
            "{}",
            incidents[0].title
        );
        let mut r = report(&agent, 2, host("laptop", "m", None), 10.0);
        r.collected_at = Utc::now();
        ingest.report(&agent, &r).await.expect("ingest");
        let incident =
            atalaya_server::desk::incidents::get(&store, TenantScope::All, incidents[0].id)
                .await
                .expect("get");
        assert_eq!(incident.state, "resolved", "the report is proof of life");
    }
);

on_every_backend!(
    incidents_link_the_business_services_that_depend_on_the_ci,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store).await;
        store
            .create_rule(
                Some(t),
                &RuleSpec::new("Full", "volume.used_percent", Direction::Above, 90.0),
            )
            .await
            .expect("rule");
        let agent = enroll(&store, t, "erp").await;
        ingest
            .report(&agent, &report(&agent, 1, host("erp", "m", None), 10.0))
            .await
            .expect("ingest");
        let computer = store
            .query_cis(
                TenantScope::All,
                &atalaya_server::store::ci_query::CiQuery {
                    filter: Some(
                        atalaya_server::cmdb::query::parse("class = computer").expect("q"),
                    ),
                    limit: 10,
                    ..Default::default()
                },
            )
            .await
            .expect("computer")
            .remove(0);
        let payroll = store
            .create_business_service(t, "Payroll", &Map::new(), "api_token:1")
            .await
            .expect("bs");
        store
            .add_relation(
                TenantScope::All,
                payroll.id,
                "depends_on",
                computer.id,
                "api_token:1",
            )
            .await
            .expect("relate");
        ingest
            .report(&agent, &report(&agent, 2, host("erp", "m", None), 99.0))
            .await
            .expect("ingest");
        let incident = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all())
            .await
            .expect("list")
            .remove(0);
        let linked = atalaya_server::desk::tickets::cis(&store, &incident)
            .await
            .expect("cis");
        let roles: Vec<(&str, i64)> = linked.iter().map(|l| (l.role.as_str(), l.ci_id)).collect();
        assert!(
            roles.contains(&("business_service", payroll.id)),
            "{roles:?}"
        );
        assert!(roles.contains(&("computer", computer.id)), "{roles:?}");
    }
);

/// "Full within 24 h": a volume's forecast below 24 hours, recovering above 48.
async fn full_within_a_day_rule(store: &Store, t: TenantId) {
    let mut spec = RuleSpec::new(
        "Full within 24 h",
        "volume.hours_to_full",
        Direction::Below,
        24.0,
    );
    spec.recovery_level = Some(48.0);
    store.create_rule(Some(t), &spec).await.expect("rule");
}

on_every_backend!(
    a_volume_filling_fast_is_forecast_full_within_a_day,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store).await;
        full_within_a_day_rule(&store, t).await;
        let agent = enroll(&store, t, "logs").await;
        // One point per minute, growing a point per minute from 60 %: full in about half an hour.
        for seq in 1..=12u64 {
            let used = 59.0 + seq as f64;
            ingest
                .report(&agent, &report(&agent, seq, host("logs", "m", None), used))
                .await
                .expect("ingest");
        }
        let incidents = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all())
            .await
            .expect("list");
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        assert!(
            incidents[0].title.contains("Full within 24 h"),
            "{}",
            incidents[0].title
        );
        // A steady volume is never forecast full.
        let other = enroll(&store, t, "steady").await;
        for seq in 1..=12u64 {
            ingest
                .report(
                    &other,
                    &report(&other, seq, host("steady", "m2", None), 70.0),
                )
                .await
                .expect("ingest");
        }
        assert_eq!(count(&store).await, 1);
    }
);

on_every_backend!(
    a_volume_is_forecast_at_most_every_five_minutes_of_its_samples,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store).await;
        full_within_a_day_rule(&store, t).await;
        let agent = enroll(&store, t, "logs").await;
        let send = |seq: u64, used: f64| {
            let r = report(&agent, seq, host("logs", "m", None), used);
            let ingest = ingest.clone();
            let agent = agent.clone();
            async move { ingest.report(&agent, &r).await.expect("ingest") }
        };
        // A sample a minute: flat at 70 % for ten minutes (forecast at minutes 1, 6 and 11:
        // not growing), then a point a minute more — full within the hour. The forecast after
        // minute 11 is due at minute 16; minutes 12 to 15 leave it as it stands.
        for seq in 1..=11u64 {
            send(seq, 70.0).await;
        }
        for seq in 12..=15u64 {
            send(seq, 70.0 + (seq - 11) as f64).await;
        }
        assert_eq!(
            count(&store).await,
            0,
            "not worked out again before minute 16"
        );
        send(16, 75.0).await;
        let incidents = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all())
            .await
            .expect("list");
        assert_eq!(incidents.len(), 1, "{incidents:?}");
        assert!(incidents[0].title.contains("Full within 24 h"));
    }
);

on_every_backend!(optional_levels_can_be_saved_in_any_order, |store| {
    // A rule without a warning level, then one with it, on the same pooled connection: the NULL
    // must not fix the parameter's type for the next save (PostgreSQL refused the second with
    // "incorrect binary data format in bind parameter 4").
    let t = tenant(&store).await;
    for i in 0..6 {
        let mut spec = RuleSpec::new(
            &format!("Used {i}"),
            "volume.used_percent",
            Direction::Above,
            95.0,
        );
        if i % 2 == 1 {
            spec.warning_level = Some(85.0);
            spec.recovery_level = Some(80.0);
        }
        let rule = store.create_rule(Some(t), &spec).await.expect("create");
        assert_eq!(rule.warning_level, spec.warning_level);
        spec.warning_level = if i % 2 == 1 { None } else { Some(90.0) };
        let rule = store
            .update_rule(TenantScope::Tenant(t), rule.id, &spec)
            .await
            .expect("update");
        assert_eq!(rule.warning_level, spec.warning_level);
    }
});

on_every_backend!(
    a_rule_changed_by_any_means_applies_to_the_next_report,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store).await;
        let spec = RuleSpec::new("Volume full", "volume.used_percent", Direction::Above, 90.0);
        store.create_rule(Some(t), &spec).await.expect("rule");
        let agent = enroll(&store, t, "db01").await;
        let facts = host("db01", "m-db01", None);
        // 60 % used: below the rule's level.
        ingest
            .report(&agent, &report(&agent, 1, facts.clone(), 60.0))
            .await
            .expect("ingest");
        ingest
            .report(&agent, &report(&agent, 2, facts.clone(), 60.0))
            .await
            .expect("ingest");
        assert_eq!(count(&store).await, 0);
        // Changed straight in the database (another replica, or an operator's SQL): the rules
        // the server keeps between reports must not hide it.
        sqlx::query("UPDATE rules SET critical_level = 50 WHERE name = 'Volume full'")
            .execute(store.pool())
            .await
            .expect("update");
        for seq in 3..6 {
            ingest
                .report(&agent, &report(&agent, seq, facts.clone(), 60.0))
                .await
                .expect("ingest");
        }
        assert_eq!(count(&store).await, 1, "the new level opened an incident");
    }
);
