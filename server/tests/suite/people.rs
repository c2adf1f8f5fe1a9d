//! People on every backend: users and their roles, passwords, sessions and their expiry, tenant
//! memberships, and the audit log the lifecycle core writes for every ticket change.

use atalaya_server::audit;
use atalaya_server::desk::NewTicket;
use atalaya_server::people::sessions::{self, Client, ABSOLUTE_MS, IDLE_MS};
use atalaya_server::people::{users, NewUser, Role};
use atalaya_server::sla::plan::{Coverage, SupportPlan};
use atalaya_server::store::audit_log::AuditFilter;
use atalaya_server::store::tickets::TicketKind;
use atalaya_server::store::{StoreError, TenantScope};

use crate::db::tenant;
use crate::on_every_backend;

const T0: i64 = 1_790_000_000_000;
const PASSWORD: &str = "correct horse battery";

fn person(email: &str, role: Role) -> NewUser {
    NewUser {
        email: email.into(),
        display_name: email.split('@').next().unwrap_or(email).into(),
        role,
        tenant: None,
        password: Some(PASSWORD.into()),
    }
}

on_every_backend!(users_have_one_role_and_a_unique_email, |store| {
    let acme = tenant(&store, "acme").await;
    let admin = users::create(&store, &person("Ana@MSP.example", Role::MspAdmin), T0)
        .await
        .expect("admin");
    assert_eq!(
        (admin.role, admin.email.as_str()),
        (Role::MspAdmin, "Ana@MSP.example")
    );
    assert!(admin.has_password && admin.active && !admin.placeholder);

    let taken = users::create(&store, &person("ana@msp.EXAMPLE", Role::Technician), T0).await;
    assert!(matches!(taken, Err(StoreError::Conflict(_))), "{taken:?}");

    let homeless = users::create(&store, &person("req@acme.example", Role::Requester), T0).await;
    assert!(matches!(&homeless, Err(StoreError::Invalid(m)) if m.contains("customer tenant")));
    let requester = users::create(
        &store,
        &NewUser {
            tenant: Some(acme),
            ..person("req@acme.example", Role::Requester)
        },
        T0,
    )
    .await
    .expect("requester of acme");
    assert_eq!(requester.tenant_id, Some(acme));
    let msp_with_tenant = users::create(
        &store,
        &NewUser {
            tenant: Some(acme),
            ..person("tech@msp.example", Role::Technician)
        },
        T0,
    )
    .await;
    assert!(matches!(&msp_with_tenant, Err(StoreError::Invalid(m)) if m.contains("memberships")));

    for (email, password, why) in [
        ("not-an-address", Some(PASSWORD), "not an email"),
        ("a b@x.example", Some(PASSWORD), "not an email"),
        ("weak@msp.example", Some("short"), "at least 12"),
    ] {
        let refused = users::create(
            &store,
            &NewUser {
                password: password.map(String::from),
                ..person(email, Role::Auditor)
            },
            T0,
        )
        .await;
        assert!(
            matches!(&refused, Err(StoreError::Invalid(m)) if m.contains(why)),
            "{email}: {refused:?}"
        );
    }
    // Nothing refused was stored.
    let all = store.list_users(None).await.expect("list");
    assert_eq!(all.len(), 2, "{all:?}");
    assert!(all.iter().all(|u| u
        .password_hash
        .as_deref()
        .is_some_and(|h| h.starts_with("$argon2id$"))));
});

on_every_backend!(sign_in_checks_the_password_and_the_account, |store| {
    let tech = users::create(&store, &person("tech@msp.example", Role::Technician), T0)
        .await
        .expect("tech");
    let signed_in = users::authenticate(&store, " TECH@msp.example ", PASSWORD)
        .await
        .expect("auth");
    assert_eq!(signed_in.map(|u| u.id), Some(tech.id));
    for (email, password) in [
        ("tech@msp.example", "correct horse battery!"),
        ("nobody@msp.example", PASSWORD),
        ("tech@msp.example", ""),
    ] {
        assert_eq!(
            users::authenticate(&store, email, password)
                .await
                .expect("auth"),
            None,
            "{email} / {password:?}"
        );
    }
    let invited = users::create(
        &store,
        &NewUser {
            password: None,
            ..person("invited@msp.example", Role::Auditor)
        },
        T0,
    )
    .await
    .expect("invited");
    assert!(!invited.has_password);
    assert_eq!(
        users::authenticate(&store, "invited@msp.example", "")
            .await
            .expect("auth"),
        None,
        "no password set: no sign-in"
    );

    users::set_active(&store, tech.id, false, T0)
        .await
        .expect("deactivate");
    assert_eq!(
        users::authenticate(&store, "tech@msp.example", PASSWORD)
            .await
            .expect("auth"),
        None,
        "a deactivated user cannot sign in"
    );
});

on_every_backend!(
    sessions_expire_when_idle_or_old_and_end_on_a_password_change,
    |store| {
        let tech = users::create(&store, &person("tech@msp.example", Role::Technician), T0)
            .await
            .expect("tech");
        let client = Client {
            address: Some("192.0.2.7".into()),
            user_agent: Some("Firefox".into()),
        };
        let (secret, session) = sessions::open(&store, &tech, &client, T0)
            .await
            .expect("open");
        assert!(secret.starts_with("ats_"), "{secret}");
        let resolved = sessions::resolve(&store, &secret, T0 + 1_000)
            .await
            .expect("resolve");
        assert_eq!(
            resolved.map(|(s, u)| (s.id, u.id)),
            Some((session.id, tech.id))
        );
        assert_eq!(
            sessions::resolve(&store, "ats_forged", T0)
                .await
                .expect("resolve"),
            None
        );
        assert_eq!(
            sessions::resolve(&store, "", T0).await.expect("resolve"),
            None
        );

        // Idle: used just before the idle limit, it lives on; unused for longer, it ends.
        let almost = T0 + IDLE_MS - 1;
        assert!(sessions::resolve(&store, &secret, almost)
            .await
            .expect("resolve")
            .is_some());
        let still = almost + IDLE_MS - 1;
        assert!(
            sessions::resolve(&store, &secret, still)
                .await
                .expect("resolve")
                .is_some(),
            "use moved the idle expiry"
        );
        assert!(
            sessions::resolve(&store, &secret, still + IDLE_MS)
                .await
                .expect("resolve")
                .is_none(),
            "idle too long"
        );

        // Absolute: however busy, a session ends a week after sign-in.
        let (busy, _) = sessions::open(&store, &tech, &client, T0)
            .await
            .expect("open");
        let mut now = T0;
        while now + IDLE_MS / 2 < T0 + ABSOLUTE_MS {
            now += IDLE_MS / 2;
            assert!(
                sessions::resolve(&store, &busy, now)
                    .await
                    .expect("resolve")
                    .is_some(),
                "at {now}"
            );
        }
        assert!(sessions::resolve(&store, &busy, T0 + ABSOLUTE_MS)
            .await
            .expect("resolve")
            .is_none());

        // Listed, revocable, and all ended by a new password.
        let (a, first) = sessions::open(&store, &tech, &client, T0 + 10)
            .await
            .expect("open");
        let (b, second) = sessions::open(&store, &tech, &Client::default(), T0 + 20)
            .await
            .expect("open");
        let listed = sessions::list(&store, tech.id, T0 + 30)
            .await
            .expect("list");
        assert_eq!(
            listed.iter().map(|s| s.id).take(2).collect::<Vec<_>>(),
            [second.id, first.id]
        );
        assert_eq!(listed[1].client_address.as_deref(), Some("192.0.2.7"));
        sessions::revoke(&store, tech.id, first.id, T0 + 40)
            .await
            .expect("revoke");
        assert!(sessions::resolve(&store, &a, T0 + 50)
            .await
            .expect("resolve")
            .is_none());
        assert!(matches!(
            sessions::revoke(&store, tech.id, first.id, T0 + 60).await,
            Err(StoreError::NotFound)
        ));
        let other = users::create(&store, &person("other@msp.example", Role::Technician), T0)
            .await
            .expect("other");
        assert!(
            matches!(
                sessions::revoke(&store, other.id, second.id, T0).await,
                Err(StoreError::NotFound)
            ),
            "nobody revokes another's session"
        );
        users::set_password(&store, tech.id, "a new and longer passphrase", T0 + 70)
            .await
            .expect("new password");
        assert!(sessions::resolve(&store, &b, T0 + 80)
            .await
            .expect("resolve")
            .is_none());
        assert!(users::authenticate(&store, "tech@msp.example", PASSWORD)
            .await
            .expect("auth")
            .is_none());
        assert!(
            users::authenticate(&store, "tech@msp.example", "a new and longer passphrase")
                .await
                .expect("auth")
                .is_some()
        );
    }
);

on_every_backend!(technicians_serve_the_tenants_they_are_members_of, |store| {
    let acme = tenant(&store, "acme").await;
    let globex = tenant(&store, "globex").await;
    let tech = users::create(&store, &person("tech@msp.example", Role::Technician), T0)
        .await
        .expect("tech");
    let admin = users::create(&store, &person("admin@msp.example", Role::MspAdmin), T0)
        .await
        .expect("admin");
    let customer = users::create(
        &store,
        &NewUser {
            tenant: Some(globex),
            ..person("boss@globex.example", Role::CustomerAdmin)
        },
        T0,
    )
    .await
    .expect("customer admin");
    users::add_membership(&store, tech.id, acme)
        .await
        .expect("member");
    users::add_membership(&store, tech.id, acme)
        .await
        .expect("twice is once");
    assert_eq!(store.memberships(tech.id).await.expect("read"), [acme]);
    for refused in [admin.id, customer.id] {
        let r = users::add_membership(&store, refused, acme).await;
        assert!(
            matches!(&r, Err(StoreError::Invalid(m)) if m.contains("only technicians")),
            "{r:?}"
        );
    }
    let ids = |rows: Vec<atalaya_server::store::users::UserRow>| {
        rows.into_iter().map(|u| u.id).collect::<Vec<_>>()
    };
    assert_eq!(
        ids(store.list_users(Some(acme)).await.expect("acme")),
        [tech.id]
    );
    assert_eq!(
        ids(store.list_users(Some(globex)).await.expect("globex")),
        [customer.id]
    );
    store.remove_membership(tech.id, acme).await.expect("leave");
    assert!(store.memberships(tech.id).await.expect("read").is_empty());
    assert!(matches!(
        store.remove_membership(tech.id, acme).await,
        Err(StoreError::NotFound)
    ));
});

on_every_backend!(every_ticket_change_is_in_the_audit_log, |store| {
    let acme = tenant(&store, "acme").await;
    let globex = tenant(&store, "globex").await;
    let new = NewTicket {
        title: "printer jam".into(),
        description: String::new(),
        impact: 2,
        urgency: 2,
        requester: None,
        ci_ids: vec![],
        group: None,
        assignee: None,
    };
    let kind = TicketKind::Incident;
    let bob = users::create(&store, &person("bob@msp.example", Role::Technician), T0)
        .await
        .expect("bob");
    let bob = atalaya_server::desk::Assignee {
        user_id: bob.id,
        name: bob.display_name,
    };
    let t = atalaya_server::desk::tickets::create(&store, kind, acme, &new, "ana", T0)
        .await
        .expect("create");
    atalaya_server::desk::tickets::assign(
        &store,
        kind,
        TenantScope::Tenant(acme),
        t.id,
        Some("service-desk"),
        Some(&bob),
        "ana",
        T0 + 1_000,
    )
    .await
    .expect("assign");
    atalaya_server::desk::tickets::create(&store, kind, globex, &new, "gus", T0 + 2_000)
        .await
        .expect("another tenant's");

    let filter = AuditFilter {
        limit: 100,
        ..AuditFilter::default()
    };
    let entries = audit::entries(&store, TenantScope::Tenant(acme), &filter)
        .await
        .expect("read");
    let seen: Vec<(&str, &str, &str)> = entries
        .iter()
        .map(|e| (e.action.as_str(), e.actor.as_str(), e.actor_kind.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("incident.state_changed", "ana", "token"),
            ("incident.assigned", "ana", "token"),
            ("incident.opened", "ana", "token")
        ],
        "newest first, only acme's; assigning a new ticket also moves it to assigned"
    );
    let assigned = &entries[1];
    assert_eq!(
        (assigned.object_kind.as_str(), assigned.object_id.clone()),
        ("incident", t.id.to_string())
    );
    assert_eq!(assigned.tenant_id, Some(acme.0));
    assert_eq!(assigned.at.timestamp_millis(), T0 + 1_000);
    let detail = assigned.after.as_ref().expect("what changed").to_string();
    assert!(detail.contains("bob"), "{detail}");

    let all = audit::entries(&store, TenantScope::All, &filter)
        .await
        .expect("read");
    assert_eq!(all.len(), 4);
    let by_gus = audit::entries(
        &store,
        TenantScope::All,
        &AuditFilter {
            actor_name: Some("gus".into()),
            ..filter.clone()
        },
    )
    .await
    .expect("read");
    assert_eq!(by_gus.len(), 1);
    let page = audit::entries(
        &store,
        TenantScope::All,
        &AuditFilter {
            before_id: Some(all[0].id),
            limit: 1,
            ..filter.clone()
        },
    )
    .await
    .expect("read");
    assert_eq!(page.iter().map(|e| e.id).collect::<Vec<_>>(), [all[1].id]);
    let window = audit::entries(
        &store,
        TenantScope::All,
        &AuditFilter {
            from: Some(T0 + 500),
            to: Some(T0 + 1_500),
            ..filter
        },
    )
    .await
    .expect("read");
    assert_eq!(
        window.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        ["incident.state_changed", "incident.assigned"]
    );

    // A job's change is in the log as the system's: the SLA sweep's breach of a P1 left alone.
    let plan = SupportPlan {
        coverage: Coverage::AllHours,
        ..SupportPlan::default()
    };
    atalaya_server::desk::plans::save(&store, globex, &plan, "gus", T0)
        .await
        .expect("plan");
    let urgent = NewTicket {
        title: "site down".into(),
        description: String::new(),
        impact: 1,
        urgency: 1,
        requester: None,
        ci_ids: vec![],
        group: None,
        assignee: None,
    };
    let p1 = atalaya_server::desk::tickets::create(&store, kind, globex, &urgent, "gus", T0)
        .await
        .expect("P1");
    let swept = atalaya_server::desk::sla_sweep(&store, T0 + 86_400_000)
        .await
        .expect("sweep");
    assert!(swept >= 1, "{swept}");
    let by_jobs = audit::entries(
        &store,
        TenantScope::Tenant(globex),
        &AuditFilter {
            object_id: Some(p1.id.to_string()),
            actor_name: Some("sla".into()),
            limit: 100,
            ..AuditFilter::default()
        },
    )
    .await
    .expect("read");
    assert!(!by_jobs.is_empty(), "the sweep's changes are audited");
    assert!(
        by_jobs
            .iter()
            .all(|e| e.actor_kind == "system" && e.action.starts_with("incident.sla_")),
        "{by_jobs:?}"
    );
});

/// A database migrated up to `version` only, as an installation of before would be.
async fn migrated_up_to(url: &str, backend: &str, version: i64) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(backend);
    let mut migrator = sqlx::migrate::Migrator::new(dir).await.expect("migrations");
    let older: Vec<_> = migrator
        .migrations
        .iter()
        .filter(|m| m.version <= version)
        .cloned()
        .collect();
    migrator.migrations = older.into();
    let pool = sqlx::AnyPool::connect(url).await.expect("connect");
    migrator.run(&pool).await.expect("older migrations");
    pool
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_text_assignees_become_placeholder_users_and_nothing_is_lost() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut targets = vec![(
        "sqlite",
        format!("sqlite://{}?mode=rwc", dir.path().join("old.db").display()),
        None,
    )];
    if let Ok(admin_url) = std::env::var("ATALAYA_TEST_DATABASE_URL") {
        let name = format!("atalaya_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .expect("admin");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .await
            .expect("create");
        targets.push((
            "postgres",
            crate::db::with_database(&admin_url, &name),
            Some((admin_url, name)),
        ));
    }
    for (backend, url, drop) in targets {
        eprintln!("placeholder migration on {backend}");
        let old = migrated_up_to(&url, backend, 21).await;
        sqlx::query("INSERT INTO tenants (id, name, display_name, created_at) VALUES (1, 'acme', 'Acme', 0)")
            .execute(&old)
            .await
            .expect("tenant");
        for (id, table, assignee) in [
            (1, "incidents", Some("luis")),
            (2, "incidents", Some("luis")),
            (3, "incidents", None),
            (1, "service_requests", Some("Marta Ruiz")),
        ] {
            sqlx::query(&format!(
                "INSERT INTO {table} (id, tenant_id, number, title, description, state, impact,
                                      urgency, priority, source, assignee, opened_at, updated_at)
                 VALUES ($1, 1, $1, 'old', '', 'assigned', 2, 2, 3, 'manual', $2, 0, 0)"
            ))
            .bind(id)
            .bind(assignee)
            .execute(&old)
            .await
            .expect("old ticket");
        }
        old.close().await;

        let store = atalaya_server::store::Store::connect(&url)
            .await
            .expect("migrate the rest");
        let placeholders: Vec<(i64, String, i64, i64, Option<String>)> = sqlx::query_as(
            "SELECT id, display_name, active, placeholder, password_hash FROM users ORDER BY display_name",
        )
        .fetch_all(store.pool())
        .await
        .expect("users");
        let names: Vec<&str> = placeholders.iter().map(|p| p.1.as_str()).collect();
        assert_eq!(names, ["Marta Ruiz", "luis"], "{backend}: one per name");
        assert!(placeholders
            .iter()
            .all(|p| p.2 == 0 && p.3 == 1 && p.4.is_none()));
        let luis = placeholders.iter().find(|p| p.1 == "luis").expect("luis").0;
        let tickets: Vec<(i64, Option<i64>, Option<String>)> =
            sqlx::query_as("SELECT id, assignee_id, assignee FROM incidents ORDER BY id")
                .fetch_all(store.pool())
                .await
                .expect("incidents");
        assert_eq!(
            tickets,
            [
                (1, Some(luis), Some("luis".into())),
                (2, Some(luis), Some("luis".into())),
                (3, None, None)
            ],
            "{backend}"
        );
        let user = users::get(&store, luis).await.expect("placeholder");
        assert!(user.placeholder && !user.can_sign_in());
        store.close().await;
        if let Some((admin_url, name)) = drop {
            let mut admin = <sqlx::AnyConnection as sqlx::Connection>::connect(&admin_url)
                .await
                .expect("admin");
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin)
                .await
                .ok();
        }
    }
}
