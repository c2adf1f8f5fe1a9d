//! Ingest end to end on the store: replays, CI identification, the volume rule and incidents.

use atalaya_server::desk::incidents::IncidentFilter;
use atalaya_server::ingest::Ingest;
use atalaya_server::store::agents::{AgentIdentity, AgentRecord, NewAgent};
use atalaya_server::store::cis::CiFilter;
use atalaya_server::store::tokens::NewEnrollmentToken;
use atalaya_server::store::{reports, Store, TenantId, TenantScope};
use atalaya_shared::{HostFacts, Report, Volume, PROTOCOL_VERSION};
use chrono::{TimeZone, Utc};

use crate::on_every_backend;
use crate::store::rule;

pub async fn enroll(store: &Store, tenant: TenantId, hostname: &str) -> AgentIdentity {
    let (token, _) = store
        .create_enrollment_token(
            tenant,
            &NewEnrollmentToken {
                name: "t".into(),
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
            site_id: None,
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
        site_id: None,
        recorded: None,
    }
}

/// The agent as the report endpoint sees it (`Store::authenticate_agent`): with the computer,
/// host name and version its last report recorded.
pub async fn as_authenticated(store: &Store, agent: AgentIdentity) -> AgentIdentity {
    let (computer_id, hostname, agent_version): (Option<i64>, String, String) =
        sqlx::query_as("SELECT computer_id, hostname, agent_version FROM agents WHERE id = $1")
            .bind(&agent.agent_id)
            .fetch_one(store.pool())
            .await
            .expect("the agent's row");
    AgentIdentity {
        recorded: Some(AgentRecord {
            computer_id,
            hostname,
            agent_version,
        }),
        ..agent
    }
}

/// Make the agent's last report look as if it had arrived at `at` (the offline sweep goes by
/// arrival, not sample time): how these tests let time pass.
pub async fn arrived_at(store: &Store, agent: &AgentIdentity, at: chrono::DateTime<Utc>) {
    sqlx::query("UPDATE agents SET last_seen_at = $1 WHERE id = $2")
        .bind(at.timestamp_millis())
        .bind(&agent.agent_id)
        .execute(store.pool())
        .await
        .expect("backdate the agent's last report");
}

pub fn host(hostname: &str, machine_id: &str, uuid: Option<&str>) -> HostFacts {
    HostFacts {
        hostname: hostname.into(),
        machine_id: Some(machine_id.into()),
        hardware_uuid: uuid.map(Into::into),
        memory_total_bytes: Some(8 << 30),
        ..HostFacts::default()
    }
}

pub fn report(agent: &AgentIdentity, seq: u64, host: HostFacts, used_percent: f64) -> Report {
    Report {
        protocol: PROTOCOL_VERSION,
        agent_id: agent.agent_id.clone(),
        seq,
        agent_version: "1".into(),
        collected_at: Utc
            .timestamp_opt(1_800_000_000 + seq as i64 * 60, 0)
            .single()
            .expect("valid time"),
        host,
        metrics: vec![],
        volumes: vec![Volume {
            mount_point: "/".into(),
            device: Some("/dev/vda1".into()),
            filesystem: Some("ext4".into()),
            total_bytes: 1000,
            available_bytes: 1000 - (used_percent * 10.0) as u64,
            read_only: false,
        }],
        dropped_since_last: 0,
    }
}

async fn computers(
    store: &Store,
    scope: TenantScope,
) -> Vec<atalaya_server::store::cis::ConfigurationItem> {
    let filter = CiFilter {
        class: Some("computer".into()),
        limit: 100,
        ..Default::default()
    };
    store.list_cis(scope, &filter).await.expect("list")
}

on_every_backend!(a_replayed_sequence_number_changes_nothing, |store| {
    let ingest = Ingest::new(store.clone());
    let t = store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new")
        .id;
    let agent = enroll(&store, t, "web01").await;
    let first = ingest
        .report(&agent, &report(&agent, 1, host("web01", "m1", None), 10.0))
        .await
        .expect("ingest");
    assert!(!first.duplicate);
    let again = ingest
        .report(
            &agent,
            &report(&agent, 1, host("web01-renamed", "m1", None), 99.0),
        )
        .await
        .expect("replay");
    assert!(again.duplicate);
    assert_eq!(
        reports::count_for_agent(&store, &agent.agent_id)
            .await
            .expect("count"),
        1
    );
    let cis = computers(&store, TenantScope::All).await;
    assert_eq!(cis.len(), 1);
    assert_eq!(
        cis[0].name, "web01",
        "the replay must not have applied its content"
    );
    assert!(atalaya_server::desk::incidents::list(
        &store,
        TenantScope::All,
        &IncidentFilter {
            limit: 10,
            ..Default::default()
        }
    )
    .await
    .expect("list")
    .is_empty());
});

on_every_backend!(reenrolling_and_renaming_keep_one_computer, |store| {
    let ingest = Ingest::new(store.clone());
    let t = store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new")
        .id;
    let first = enroll(&store, t, "web01").await;
    ingest
        .report(
            &first,
            &report(&first, 1, host("web01", "m1", Some("uuid-1")), 10.0),
        )
        .await
        .expect("ingest");
    // Agent reinstalled: a new enrollment, its sequence starting again.
    let second = enroll(&store, t, "web01").await;
    ingest
        .report(
            &second,
            &report(&second, 1, host("web01", "m1", Some("uuid-1")), 10.0),
        )
        .await
        .expect("ingest");
    // Host renamed.
    ingest
        .report(
            &second,
            &report(&second, 2, host("web01-new", "m1", Some("uuid-1")), 10.0),
        )
        .await
        .expect("ingest");
    let cis = computers(&store, TenantScope::All).await;
    assert_eq!(cis.len(), 1, "{cis:?}");
    assert_eq!(cis[0].name, "web01-new");
    let volumes = store
        .list_cis(
            TenantScope::All,
            &CiFilter {
                class: Some("volume".into()),
                limit: 100,
                ..Default::default()
            },
        )
        .await
        .expect("list");
    assert_eq!(volumes.len(), 1);
    assert_eq!(volumes[0].computer_id, Some(cis[0].id));
    let relations = store
        .ci_relations(t, volumes[0].id)
        .await
        .expect("relations");
    assert_eq!(relations.len(), 1);
    assert_eq!(relations[0].kind, "contained_in");
    assert_eq!(relations[0].ci_id, cis[0].id);
    // A new machine later taking the old host name is a new computer.
    let third = enroll(&store, t, "web01").await;
    ingest
        .report(
            &third,
            &report(&third, 1, host("web01", "m2", Some("uuid-2")), 10.0),
        )
        .await
        .expect("ingest");
    assert_eq!(computers(&store, TenantScope::All).await.len(), 2);
});

on_every_backend!(
    cloned_vms_with_a_shared_machine_id_stay_two_computers,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = store
            .create_tenant("acme", "Acme")
            .await
            .expect("create")
            .expect("new")
            .id;
        let a = enroll(&store, t, "vm-a").await;
        let b = enroll(&store, t, "vm-b").await;
        ingest
            .report(
                &a,
                &report(&a, 1, host("vm-a", "same-mid", Some("uuid-a")), 10.0),
            )
            .await
            .expect("ingest");
        ingest
            .report(
                &b,
                &report(&b, 1, host("vm-b", "same-mid", Some("uuid-b")), 10.0),
            )
            .await
            .expect("ingest");
        // And each keeps being recognised afterwards.
        ingest
            .report(
                &a,
                &report(&a, 2, host("vm-a", "same-mid", Some("uuid-a")), 10.0),
            )
            .await
            .expect("ingest");
        ingest
            .report(
                &b,
                &report(&b, 2, host("vm-b", "same-mid", Some("uuid-b")), 10.0),
            )
            .await
            .expect("ingest");
        let mut names: Vec<String> = computers(&store, TenantScope::All)
            .await
            .into_iter()
            .map(|c| c.name)
            .collect();
        names.sort();
        assert_eq!(names, ["vm-a", "vm-b"]);
    }
);

on_every_backend!(junk_serials_never_merge_machines, |store| {
    let ingest = Ingest::new(store.clone());
    let t = store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new")
        .id;
    let a = enroll(&store, t, "a").await;
    let b = enroll(&store, t, "b").await;
    let mut ha = host("a", "mid-a", None);
    ha.serial_number = Some("To be filled by O.E.M.".into());
    let mut hb = host("b", "mid-b", None);
    hb.serial_number = Some("To be filled by O.E.M.".into());
    ingest
        .report(&a, &report(&a, 1, ha, 10.0))
        .await
        .expect("ingest");
    ingest
        .report(&b, &report(&b, 1, hb, 10.0))
        .await
        .expect("ingest");
    assert_eq!(computers(&store, TenantScope::All).await.len(), 2);
});

on_every_backend!(the_same_hostname_in_two_tenants_is_two_computers, |store| {
    let ingest = Ingest::new(store.clone());
    let acme = store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new")
        .id;
    let globex = store
        .create_tenant("globex", "Globex")
        .await
        .expect("create")
        .expect("new")
        .id;
    let a = enroll(&store, acme, "server").await;
    let g = enroll(&store, globex, "server").await;
    ingest
        .report(&a, &report(&a, 1, host("server", "mid", None), 10.0))
        .await
        .expect("ingest");
    ingest
        .report(&g, &report(&g, 1, host("server", "mid", None), 10.0))
        .await
        .expect("ingest");
    assert_eq!(computers(&store, TenantScope::All).await.len(), 2);
    let acme_cis = computers(&store, TenantScope::Tenant(acme)).await;
    assert_eq!(acme_cis.len(), 1);
    assert!(
        store
            .get_ci(TenantScope::Tenant(globex), acme_cis[0].id)
            .await
            .is_err(),
        "cross-tenant read"
    );
});

on_every_backend!(
    a_full_volume_opens_one_incident_that_recovery_resolves,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = store
            .create_tenant("acme", "Acme")
            .await
            .expect("create")
            .expect("new")
            .id;
        let mut spec = rule("Volume full", 90.0);
        spec.warning_level = Some(80.0);
        spec.recovery_level = Some(70.0);
        let created = store.create_rule(Some(t), &spec).await.expect("rule");
        let agent = enroll(&store, t, "db01").await;
        let all = IncidentFilter {
            limit: 100,
            ..Default::default()
        };

        for (seq, used) in [(1, 50.0), (2, 85.0), (3, 86.0), (4, 95.0), (5, 75.0)] {
            ingest
                .report(&agent, &report(&agent, seq, host("db01", "m", None), used))
                .await
                .expect("ingest");
        }
        let incidents = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all)
            .await
            .expect("list");
        assert_eq!(
            incidents.len(),
            1,
            "stays one incident while high: {incidents:?}"
        );
        let incident = &incidents[0];
        assert_eq!(incident.state, "new");
        assert_eq!(
            incident.severity.as_deref(),
            Some("critical"),
            "escalated from warning"
        );
        assert_eq!(incident.priority, 3);
        assert_eq!(incident.number, "INC-000001");
        assert_eq!(
            incident.problem_started_at.map(|t| t.timestamp()),
            Some(1_800_000_000 + 2 * 60),
            "started at the first breaching sample"
        );
        let cis = atalaya_server::desk::tickets::cis(&store, incident)
            .await
            .expect("cis");
        let mut classes: Vec<&str> = cis.iter().map(|c| c.class.as_str()).collect();
        classes.sort();
        assert_eq!(classes, ["computer", "volume"]);
        let kinds: Vec<String> = atalaya_server::desk::tickets::timeline(&store, incident)
            .await
            .expect("timeline")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(kinds, ["opened", "severity_changed"]);

        // 75 is below warning but above recovery: still open. 60 recovers and resolves.
        ingest
            .report(&agent, &report(&agent, 6, host("db01", "m", None), 60.0))
            .await
            .expect("ingest");
        let resolved = atalaya_server::desk::incidents::get(&store, TenantScope::All, incident.id)
            .await
            .expect("get");
        assert_eq!(resolved.state, "resolved");
        assert!(resolved.resolved_at.is_some());

        // Back within the reopen window (an hour by default): the same incident reopens.
        let send = |seq: u64, used: f64| {
            let (ingest, agent) = (ingest.clone(), agent.clone());
            async move {
                ingest
                    .report(&agent, &report(&agent, seq, host("db01", "m", None), used))
                    .await
                    .expect("ingest")
            }
        };
        send(7, 99.0).await;
        let incidents = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all)
            .await
            .expect("list");
        assert_eq!(incidents.len(), 1, "reopened, not duplicated");
        assert_eq!(incidents[0].state, "new");
        let kinds: Vec<String> = atalaya_server::desk::tickets::timeline(&store, &incidents[0])
            .await
            .expect("timeline")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(kinds.contains(&"reopened".to_string()), "{kinds:?}");

        // With no reopen window, a later breach is a new incident that points at the old one.
        send(8, 10.0).await;
        spec.reopen_window_secs = 0;
        store
            .update_rule(TenantScope::All, created.id, &spec)
            .await
            .expect("update");
        send(9, 99.0).await;
        let incidents = atalaya_server::desk::incidents::list(&store, TenantScope::All, &all)
            .await
            .expect("list");
        assert_eq!(incidents.len(), 2);
        assert_eq!(incidents[0].number, "INC-000002");
        let kinds: Vec<String> = atalaya_server::desk::tickets::timeline(&store, &incidents[0])
            .await
            .expect("timeline")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert!(kinds.contains(&"follows".to_string()), "{kinds:?}");
        let open = IncidentFilter {
            state: Some("new".into()),
            limit: 100,
            ..Default::default()
        };
        assert_eq!(
            atalaya_server::desk::incidents::list(&store, TenantScope::All, &open)
                .await
                .expect("list")
                .len(),
            1
        );
    }
);

on_every_backend!(concurrent_breaches_open_exactly_one_incident, |store| {
    let ingest = Ingest::new(store.clone());
    let t = store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new")
        .id;
    store
        .create_rule(Some(t), &rule("Volume full", 90.0))
        .await
        .expect("rule");
    // Two agents of one machine (a reinstall that left the old one running) report at once.
    let a = enroll(&store, t, "h").await;
    let b = enroll(&store, t, "h").await;
    ingest
        .report(&a, &report(&a, 1, host("h", "m", None), 10.0))
        .await
        .expect("ingest");
    let mut tasks = Vec::new();
    for (agent, seq) in [
        (a.clone(), 2),
        (b.clone(), 1),
        (a.clone(), 3),
        (b.clone(), 2),
    ] {
        let ingest = ingest.clone();
        tasks.push(tokio::spawn(async move {
            let r = report(&agent, seq, host("h", "m", None), 97.0);
            // SQLite may report "busy" under contention; the agent retries, and so do we.
            for _ in 0..20 {
                if ingest.report(&agent, &r).await.is_ok() {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            panic!("ingest kept failing");
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let all = IncidentFilter {
        limit: 100,
        ..Default::default()
    };
    assert_eq!(
        atalaya_server::desk::incidents::list(&store, TenantScope::All, &all)
            .await
            .expect("list")
            .len(),
        1
    );
});
