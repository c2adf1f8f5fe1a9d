//! The CMDB on every backend: inventory reconciliation, retirement, field locks, history and
//! past states, clash reviews, and the asset query language.

use atalaya_server::cmdb::query::{self, Sort};
use atalaya_server::ingest::Ingest;
use atalaya_server::store::agents::AgentIdentity;
use atalaya_server::store::ci_query::CiQuery;
use atalaya_server::store::cis::ConfigurationItem;
use atalaya_server::store::{Store, TenantId, TenantScope};
use atalaya_shared::{Inventory, PhysicalDisk, Report, ServiceUnit, SmartHealth, SoftwarePackage};
use serde_json::{json, Map};

use crate::db::tenant;
use crate::ingest::{as_authenticated, enroll, host, report};
use crate::on_every_backend;

pub fn disk(name: &str, serial: &str) -> PhysicalDisk {
    PhysicalDisk {
        name: name.into(),
        model: Some("Samsung SSD 870".into()),
        serial_number: Some(serial.into()),
        size_bytes: 500 << 30,
        kind: "ssd".into(),
        removable: false,
        smart: SmartHealth {
            available: true,
            passed: Some(true),
            ..SmartHealth::default()
        },
    }
}

fn package(name: &str, version: &str) -> SoftwarePackage {
    SoftwarePackage {
        name: name.into(),
        version: version.into(),
        architecture: Some("amd64".into()),
        source: "dpkg".into(),
    }
}

pub fn service(name: &str) -> ServiceUnit {
    ServiceUnit {
        name: name.into(),
        active_state: Some("active".into()),
        ..ServiceUnit::default()
    }
}

pub fn inventory(
    hash: &str,
    disks: Vec<PhysicalDisk>,
    software: Vec<SoftwarePackage>,
    services: Vec<ServiceUnit>,
) -> Inventory {
    Inventory {
        hash: hash.into(),
        disks,
        software,
        services,
        ..Inventory::default()
    }
}

async fn query(store: &Store, scope: TenantScope, text: &str) -> Vec<ConfigurationItem> {
    let filter = query::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let request = CiQuery {
        filter: Some(filter),
        limit: 1000,
        ..CiQuery::default()
    };
    store
        .query_cis(scope, &request)
        .await
        .unwrap_or_else(|e| panic!("{text}: {e}"))
}

async fn names(store: &Store, scope: TenantScope, text: &str) -> Vec<String> {
    let mut names: Vec<String> = query(store, scope, text)
        .await
        .into_iter()
        .map(|c| c.name)
        .collect();
    names.sort();
    names
}

async fn send(ingest: &Ingest, agent: &AgentIdentity, r: &Report, inv: Option<&Inventory>) {
    ingest
        .report_with_inventory(agent, r, inv)
        .await
        .expect("ingest");
}

async fn computer_of(store: &Store, name: &str) -> ConfigurationItem {
    query(
        store,
        TenantScope::All,
        &format!("class = computer and name = \"{name}\""),
    )
    .await
    .remove(0)
}

on_every_backend!(inventory_components_are_reconciled_and_retired, |store| {
    let ingest = Ingest::new(store.clone());
    let t = tenant(&store, "acme").await;
    let agent = enroll(&store, t, "db01").await;
    let first = inventory(
        "h1",
        vec![disk("sda", "S1"), disk("sdb", "S2")],
        vec![package("openssl", "3.0.9"), package("curl", "7.88.1")],
        vec![service("ssh.service"), service("cron.service")],
    );
    send(
        &ingest,
        &agent,
        &report(&agent, 1, host("db01", "m", None), 10.0),
        Some(&first),
    )
    .await;
    let computer = computer_of(&store, "db01").await;
    assert_eq!(
        names(&store, TenantScope::All, "class = physical_disk").await,
        ["sda", "sdb"]
    );
    assert_eq!(
        names(&store, TenantScope::All, "class = service").await,
        ["cron.service", "ssh.service"]
    );
    let software = store.installed_software(&computer).await.expect("software");
    assert_eq!(software.len(), 2);

    // Disk swap: sdb now has another serial; cron removed; openssl upgraded, curl uninstalled.
    let second = inventory(
        "h2",
        vec![disk("sda", "S1"), disk("sdb", "S3")],
        vec![package("openssl", "3.0.10")],
        vec![service("ssh.service")],
    );
    send(
        &ingest,
        &agent,
        &report(&agent, 2, host("db01", "m", None), 10.0),
        Some(&second),
    )
    .await;
    let disks = query(
        &store,
        TenantScope::All,
        "class = physical_disk and status = retired",
    )
    .await;
    assert_eq!(
        disks.len(),
        1,
        "the swapped-out disk is retired, not deleted"
    );
    assert_eq!(disks[0].attributes["serial_number"], "S2");
    assert!(disks[0].retired_at.is_some());
    assert_eq!(
        names(&store, TenantScope::All, "class = physical_disk").await,
        ["sda", "sdb"],
        "the new sdb is active"
    );
    assert_eq!(
        names(&store, TenantScope::All, "class = service").await,
        ["ssh.service"]
    );
    let software = store.installed_software(&computer).await.expect("software");
    assert_eq!(
        software
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect::<Vec<_>>(),
        [("openssl", "3.0.10")]
    );
    let history = store
        .ci_history(TenantScope::All, computer.id)
        .await
        .expect("history");
    let openssl = history
        .iter()
        .rfind(|h| h.field == "software.openssl")
        .expect("openssl change recorded");
    assert_eq!(openssl.old_value, Some(json!("3.0.9")));
    assert_eq!(openssl.new_value, Some(json!("3.0.10")));
    assert!(history
        .iter()
        .any(|h| h.field == "software.curl" && h.new_value.is_none()));

    // The same inventory again (same hash) changes nothing: no new history.
    let before = store
        .ci_history(TenantScope::All, computer.id)
        .await
        .expect("history")
        .len();
    send(
        &ingest,
        &agent,
        &report(&agent, 3, host("db01", "m", None), 10.0),
        Some(&second),
    )
    .await;
    assert_eq!(
        store
            .ci_history(TenantScope::All, computer.id)
            .await
            .expect("history")
            .len(),
        before
    );

    // A section the agent could not read is not taken as "everything was removed".
    let mut blind = inventory("h3", vec![], vec![], vec![]);
    blind
        .unavailable
        .insert("services".into(), "systemd is not running".into());
    blind
        .unavailable
        .insert("disks".into(), "no /sys/block".into());
    blind
        .unavailable
        .insert("software".into(), "no package database".into());
    send(
        &ingest,
        &agent,
        &report(&agent, 4, host("db01", "m", None), 10.0),
        Some(&blind),
    )
    .await;
    assert_eq!(
        names(&store, TenantScope::All, "class = service").await,
        ["ssh.service"]
    );
    assert_eq!(
        store
            .installed_software(&computer)
            .await
            .expect("software")
            .len(),
        1
    );
});

on_every_backend!(
    locked_fields_survive_agent_updates_until_unlocked,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        let agent = enroll(&store, t, "web01").await;
        let mut facts = host("web01", "m", None);
        facts.os_name = Some("Debian".into());
        send(
            &ingest,
            &agent,
            &report(&agent, 1, facts.clone(), 10.0),
            None,
        )
        .await;
        let computer = computer_of(&store, "web01").await;

        let mut edits = Map::new();
        edits.insert("os_name".into(), json!("Debian (customer image)"));
        edits.insert("owner".into(), json!("Finance"));
        store
            .edit_ci(TenantScope::All, computer.id, &edits, "api_token:1")
            .await
            .expect("edit");

        facts.os_name = Some("Debian GNU/Linux".into());
        send(
            &ingest,
            &agent,
            &report(&agent, 2, facts.clone(), 10.0),
            None,
        )
        .await;
        let now = store
            .get_ci(TenantScope::All, computer.id)
            .await
            .expect("get");
        assert_eq!(
            now.attributes["os_name"], "Debian (customer image)",
            "locked against the agent"
        );
        assert_eq!(now.attributes["owner"], "Finance");
        let locks = store.ci_locks(computer.id).await.expect("locks");
        let os_lock = locks
            .iter()
            .find(|l| l.field == "attributes.os_name")
            .expect("lock");
        assert_eq!(
            os_lock.agent_value,
            Some(json!("Debian GNU/Linux")),
            "the agent's value is kept beside it"
        );

        let unlocked = store
            .unlock_field(TenantScope::All, computer.id, "os_name", "api_token:1")
            .await
            .expect("unlock");
        assert_eq!(unlocked.attributes["os_name"], "Debian GNU/Linux");
        facts.os_name = Some("Debian 13".into());
        send(&ingest, &agent, &report(&agent, 3, facts, 10.0), None).await;
        let now = store
            .get_ci(TenantScope::All, computer.id)
            .await
            .expect("get");
        assert_eq!(
            now.attributes["os_name"], "Debian 13",
            "agent updates apply again"
        );
        assert!(matches!(
            store
                .edit_ci(
                    TenantScope::All,
                    computer.id,
                    &[("bad name".to_string(), json!(1))].into_iter().collect(),
                    "x"
                )
                .await,
            Err(atalaya_server::store::StoreError::Invalid(_))
        ));
    }
);

on_every_backend!(history_and_past_states, |store| {
    let ingest = Ingest::new(store.clone());
    let t = tenant(&store, "acme").await;
    let agent = enroll(&store, t, "old-name").await;
    let mut facts = host("old-name", "m", None);
    facts.memory_total_bytes = Some(4 << 30);
    send(
        &ingest,
        &agent,
        &report(&agent, 1, facts.clone(), 10.0),
        None,
    )
    .await;
    facts.hostname = "new-name".into();
    facts.memory_total_bytes = Some(16 << 30);
    send(&ingest, &agent, &report(&agent, 5, facts, 10.0), None).await;
    let computer = computer_of(&store, "new-name").await;
    let history = store
        .ci_history(TenantScope::All, computer.id)
        .await
        .expect("history");
    let memory = history
        .iter()
        .find(|h| h.field == "attributes.memory_total_bytes" && h.old_value.is_some())
        .expect("memory change");
    assert_eq!(memory.old_value, Some(json!(4u64 << 30)));
    assert_eq!(memory.new_value, Some(json!(16u64 << 30)));
    assert_eq!(memory.source, "agent");
    assert!(history
        .iter()
        .any(|h| h.field == "name" && h.new_value == Some(json!("new-name"))));

    // Report 1 was collected at 1_800_000_060 s, report 5 at 1_800_000_300 s.
    let then = store
        .ci_as_of(TenantScope::All, computer.id, 1_800_000_100_000)
        .await
        .expect("as of");
    assert_eq!(then.name, "old-name");
    assert_eq!(then.attributes["memory_total_bytes"], json!(4u64 << 30));
    assert!(
        store
            .ci_as_of(TenantScope::All, computer.id, 1_700_000_000_000)
            .await
            .is_err(),
        "did not exist yet"
    );
});

on_every_backend!(cloned_machines_are_flagged_for_review, |store| {
    let ingest = Ingest::new(store.clone());
    let t = tenant(&store, "acme").await;
    let a = enroll(&store, t, "vm-a").await;
    let b = enroll(&store, t, "vm-b").await;
    send(
        &ingest,
        &a,
        &report(&a, 1, host("vm-a", "same-mid", Some("uuid-a")), 10.0),
        None,
    )
    .await;
    send(
        &ingest,
        &b,
        &report(&b, 1, host("vm-b", "same-mid", Some("uuid-b")), 10.0),
        None,
    )
    .await;
    let reviews = store
        .list_reviews(TenantScope::All, true)
        .await
        .expect("reviews");
    assert_eq!(reviews.len(), 1, "{reviews:?}");
    assert_eq!(reviews[0].kind, "identifier_clash");
    assert!(
        reviews[0].detail.contains("machine_id"),
        "{}",
        reviews[0].detail
    );
    store
        .resolve_review(TenantScope::All, reviews[0].id)
        .await
        .expect("resolve");
    assert!(store
        .list_reviews(TenantScope::All, true)
        .await
        .expect("reviews")
        .is_empty());
});

async fn fleet(ingest: &Ingest, t: TenantId) {
    let store = ingest.store();
    // web1: 4 GiB, openssl 3.0.9, / 95 % used; web2: 16 GiB, openssl 3.0.10, 40 %; db1: 8 GiB, no openssl, 85 %.
    for (i, (name, gib, openssl, used)) in [
        ("web1", 4u64, Some("3.0.9"), 95.0),
        ("web2", 16, Some("3.0.10"), 40.0),
        ("db1", 8, None, 85.0),
    ]
    .into_iter()
    .enumerate()
    {
        let agent = enroll(store, t, name).await;
        let mut facts = host(name, &format!("mid-{name}"), None);
        facts.memory_total_bytes = Some(gib << 30);
        facts.os_name = Some(
            if name == "db1" {
                "Rocky Linux"
            } else {
                "Debian GNU/Linux"
            }
            .into(),
        );
        let mut software = vec![package("curl", "7.88.1")];
        software.extend(openssl.map(|v| package("openssl", v)));
        let inv = inventory(
            &format!("h{i}"),
            vec![],
            software,
            vec![service("nginx.service"), service("postgresql.service")],
        );
        send(ingest, &agent, &report(&agent, 1, facts, used), Some(&inv)).await;
    }
}

on_every_backend!(asset_queries_answer_the_questions_msps_ask, |store| {
    let ingest = Ingest::new(store.clone());
    let t = tenant(&store, "acme").await;
    fleet(&ingest, t).await;
    let all = TenantScope::All;
    assert_eq!(
        names(&store, all, "class = computer and memory < 8GB").await,
        ["web1"]
    );
    assert_eq!(
        names(&store, all, "class = computer and memory <= 8GB").await,
        ["db1", "web1"]
    );
    assert_eq!(
        names(&store, all, "class = computer and os ~ debian").await,
        ["web1", "web2"]
    );
    assert_eq!(
        names(&store, all, "class = computer and not os ~ debian").await,
        ["db1"]
    );
    assert_eq!(
        names(&store, all, "class = computer and name ~ 'w*1'").await,
        ["web1"]
    );
    assert_eq!(
        names(
            &store,
            all,
            "class = computer and software(name = openssl and version < 3.0.10)"
        )
        .await,
        ["web1"],
        "3.0.10 sorts after 3.0.9"
    );
    assert_eq!(
        names(
            &store,
            all,
            "class = computer and not software(name = openssl)"
        )
        .await,
        ["db1"]
    );
    assert_eq!(
        names(
            &store,
            all,
            "class = computer and volume(used_percent > 90)"
        )
        .await,
        ["web1"]
    );
    assert_eq!(
        names(&store, all, "class = volume and free < 10%").await,
        ["/"]
    );
    assert_eq!(
        names(
            &store,
            all,
            "class = computer and (memory > 10GB or volume(used > 80)) and os != rocky*"
        )
        .await
        .len(),
        3
    );
    assert_eq!(
        names(
            &store,
            all,
            "class = computer and (memory > 10GB or volume(used > 80)) and not os ~ rocky"
        )
        .await,
        ["web1", "web2"]
    );

    // A business service depending on web2's nginx: services of business service "payroll".
    let payroll = store
        .create_business_service(t, "Acme payroll", &Map::new(), "api_token:1")
        .await
        .expect("create");
    let web2 = computer_of(&store, "web2").await;
    let nginx = query(
        &store,
        all,
        &format!(
            "class = service and name = nginx.service and computer_id = {}",
            web2.id
        ),
    )
    .await;
    store
        .add_relation(all, payroll.id, "depends_on", nginx[0].id, "api_token:1")
        .await
        .expect("relate");
    store
        .add_relation(all, payroll.id, "depends_on", web2.id, "api_token:1")
        .await
        .expect("relate");
    assert_eq!(
        names(
            &store,
            all,
            "class = service and business_service(name = 'acme payroll')"
        )
        .await,
        ["nginx.service"]
    );
    assert_eq!(
        names(
            &store,
            all,
            "class = computer and business_service(name ~ payroll)"
        )
        .await,
        ["web2"]
    );
    assert!(
        store
            .add_relation(all, payroll.id, "owns", web2.id, "x")
            .await
            .is_err(),
        "unknown relation kind"
    );

    // Sorting by a numeric attribute, descending.
    let request = CiQuery {
        filter: Some(query::parse("class = computer").expect("parses")),
        sort: Sort::parse("-memory").expect("sort"),
        limit: 10,
        ..CiQuery::default()
    };
    let sorted: Vec<String> = store
        .query_cis(all, &request)
        .await
        .expect("query")
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(sorted, ["web2", "db1", "web1"]);

    // Another tenant sees none of it.
    let other = tenant(&store, "other").await;
    assert!(
        query(&store, TenantScope::Tenant(other), "class = computer")
            .await
            .is_empty()
    );
    assert_eq!(
        query(&store, TenantScope::Tenant(t), "class = computer")
            .await
            .len(),
        3
    );

    // Retired CIs are hidden unless asked for.
    store
        .retire_ci(all, web2.id, "api_token:1")
        .await
        .expect("retire");
    assert_eq!(
        names(&store, all, "class = computer").await,
        ["db1", "web1"]
    );
    assert_eq!(
        names(&store, all, "class = computer and status = retired").await,
        ["web2"]
    );
});

/// A property test: for random attribute filters over a random fleet, the SQL answer equals a
/// direct in-memory evaluation of the same filter.
mod property {
    use proptest::prelude::*;
    use proptest::strategy::ValueTree;
    use proptest::test_runner::{Config, TestRunner};

    use super::*;

    #[derive(Debug, Clone)]
    enum Filter {
        Memory(&'static str, u64),
        Cores(&'static str, u32),
        OsContains(&'static str),
        NameIs(String),
        Not(Box<Filter>),
        And(Box<Filter>, Box<Filter>),
        Or(Box<Filter>, Box<Filter>),
    }

    struct Machine {
        name: String,
        memory_gib: u64,
        cores: u32,
        os: &'static str,
    }

    const OSES: [&str; 3] = ["Debian GNU/Linux", "Ubuntu", "Rocky Linux"];
    const OPS: [&str; 6] = ["=", "!=", "<", "<=", ">", ">="];

    fn compare<T: PartialOrd>(a: T, op: &str, b: T) -> bool {
        match op {
            "=" => a == b,
            "!=" => a != b,
            "<" => a < b,
            "<=" => a <= b,
            ">" => a > b,
            _ => a >= b,
        }
    }

    impl Filter {
        fn text(&self) -> String {
            match self {
                Filter::Memory(op, gib) => format!("memory {op} {gib}GB"),
                Filter::Cores(op, n) => format!("cores {op} {n}"),
                Filter::OsContains(s) => format!("os ~ \"{s}\""),
                Filter::NameIs(n) => format!("name = {n}"),
                Filter::Not(f) => format!("not ({})", f.text()),
                Filter::And(a, b) => format!("({} and {})", a.text(), b.text()),
                Filter::Or(a, b) => format!("({} or {})", a.text(), b.text()),
            }
        }

        fn matches(&self, m: &Machine) -> bool {
            match self {
                Filter::Memory(op, gib) => compare(m.memory_gib, op, *gib),
                Filter::Cores(op, n) => compare(m.cores, op, *n),
                Filter::OsContains(s) => m.os.to_lowercase().contains(&s.to_lowercase()),
                Filter::NameIs(n) => m.name.eq_ignore_ascii_case(n),
                Filter::Not(f) => !f.matches(m),
                Filter::And(a, b) => a.matches(m) && b.matches(m),
                Filter::Or(a, b) => a.matches(m) || b.matches(m),
            }
        }
    }

    fn filter() -> impl Strategy<Value = Filter> {
        let leaf = prop_oneof![
            (0..6usize, 1..33u64).prop_map(|(o, g)| Filter::Memory(OPS[o], g)),
            (0..6usize, 1..17u32).prop_map(|(o, n)| Filter::Cores(OPS[o], n)),
            prop_oneof![Just("debian"), Just("linux"), Just("UBU"), Just("rocky")]
                .prop_map(Filter::OsContains),
            (0..8u32).prop_map(|i| Filter::NameIs(format!("host{i}"))),
        ];
        leaf.prop_recursive(3, 12, 2, |inner| {
            prop_oneof![
                inner.clone().prop_map(|f| Filter::Not(Box::new(f))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner).prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
            ]
        })
    }

    on_every_backend!(sql_results_equal_an_in_memory_filter, |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        let mut machines = Vec::new();
        for i in 0..8u32 {
            let m = Machine {
                name: format!("host{i}"),
                memory_gib: [2, 4, 8, 8, 16, 32, 4, 12][i as usize],
                cores: [1, 2, 4, 8, 16, 2, 4, 8][i as usize],
                os: OSES[i as usize % 3],
            };
            let agent = enroll(&store, t, &m.name).await;
            let mut facts = host(&m.name, &format!("mid{i}"), None);
            facts.memory_total_bytes = Some(m.memory_gib << 30);
            facts.cpu_cores = Some(m.cores);
            facts.os_name = Some(m.os.into());
            send(&ingest, &agent, &report(&agent, 1, facts, 10.0), None).await;
            machines.push(m);
        }
        // Deterministic seed: a failure names the query text, which reproduces it.
        let mut runner = TestRunner::new_with_rng(
            Config::default(),
            proptest::test_runner::TestRng::deterministic_rng(
                proptest::test_runner::RngAlgorithm::ChaCha,
            ),
        );
        let strategy = filter();
        for _ in 0..60 {
            let f = strategy.new_tree(&mut runner).expect("generate").current();
            let text = format!("class = computer and {}", f.text());
            let got = names(&store, TenantScope::All, &text).await;
            let mut want: Vec<String> = machines
                .iter()
                .filter(|m| f.matches(m))
                .map(|m| m.name.clone())
                .collect();
            want.sort();
            assert_eq!(got, want, "{text}");
        }
    });
}

// A first inventory records every package in the computer's history, several hundred per
// statement: 1,201 packages span three statements, the last one partly filled.
on_every_backend!(
    a_large_first_inventory_records_every_package_in_the_history,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        let agent = enroll(&store, t, "big01").await;
        let software: Vec<SoftwarePackage> = (0..1201)
            .map(|n| package(&format!("pkg{n:04}"), &format!("2.{}", n % 5)))
            .collect();
        let inv = inventory("big", vec![], software, vec![]);
        let r = report(&agent, 1, host("big01", "m-big01", None), 10.0);
        send(&ingest, &agent, &r, Some(&inv)).await;
        let computer = computer_of(&store, "big01").await;
        let entries: Vec<_> = store
            .ci_history(TenantScope::All, computer.id)
            .await
            .expect("history")
            .into_iter()
            .filter(|h| h.field.starts_with("software."))
            .collect();
        assert_eq!(entries.len(), 1201);
        for n in [0, 499, 500, 1000, 1200] {
            let field = format!("software.pkg{n:04}");
            let entry = entries
                .iter()
                .find(|h| h.field == field)
                .unwrap_or_else(|| panic!("{field} recorded"));
            assert_eq!(entry.old_value, None, "{field}");
            assert_eq!(
                entry.new_value,
                Some(json!(format!("2.{}", n % 5))),
                "{field}"
            );
            assert_eq!(entry.source, "agent", "{field}");
        }
    }
);

on_every_backend!(concurrent_first_inventories_share_the_catalogue, |store| {
    let ingest = Ingest::new(store.clone());
    // Twelve machines report their first inventory at once, naming the same new packages in
    // different orders: the shared catalogue row of each package is raced for by every report.
    // Every report must commit (no deadlock reaches the agent), and each package is catalogued
    // once.
    let t = tenant(&store, "racers").await;
    let mut agents = Vec::new();
    for i in 0..12 {
        agents.push(enroll(&store, t, &format!("racer{i}")).await);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for (i, agent) in agents.into_iter().enumerate() {
        let ingest = ingest.clone();
        tasks.spawn(async move {
            let mut software: Vec<SoftwarePackage> = (0..300)
                .map(|n| package(&format!("lib{n}"), &format!("1.{}", n % 7)))
                .collect();
            software.rotate_left(i * 25);
            if i % 2 == 1 {
                software.reverse();
            }
            let inv = inventory(&format!("race{i}"), vec![], software, vec![]);
            let name = format!("racer{i}");
            let r = report(&agent, 1, host(&name, &format!("mid-{name}"), None), 10.0);
            ingest.report_with_inventory(&agent, &r, Some(&inv)).await
        });
    }
    while let Some(outcome) = tasks.join_next().await {
        outcome.expect("task").expect("every report commits");
    }
    let (packages,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM software_packages")
        .fetch_one(store.pool())
        .await
        .expect("count");
    assert_eq!(packages, 300);
    for i in 0..12 {
        let computer = computer_of(&store, &format!("racer{i}")).await;
        let software = store.installed_software(&computer).await.expect("software");
        assert_eq!(software.len(), 300, "racer{i}");
    }
});

/// The history's entries for one field of a CI.
async fn history_of(store: &Store, ci_id: i64, field: &str) -> Vec<serde_json::Value> {
    store
        .ci_history(TenantScope::All, ci_id)
        .await
        .expect("history")
        .into_iter()
        .filter(|h| h.field == field)
        .map(|h| json!([h.old_value, h.new_value]))
        .collect()
}

/// How many CIs a query finds.
async fn count(store: &Store, text: &str) -> usize {
    query(store, TenantScope::All, text).await.len()
}

// On PostgreSQL `used_percent` is indexed by its whole-number band (migration 0019) and a
// comparison reads the band, then the exact value: every comparison at and around a band's edges
// must find exactly what the exact value says, before and after a refresh that moves the volume
// into the next band, and for a value an administrator set below zero.
on_every_backend!(
    used_percent_comparisons_are_exact_at_the_edges_of_its_band,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        let agent = enroll(&store, t, "db01").await;
        let facts = host("db01", "m-db01", None);
        send(
            &ingest,
            &agent,
            &report(&agent, 1, facts.clone(), 42.5),
            None,
        )
        .await;
        let expected = [
            ("used_percent > 42.4", 1),
            ("used_percent > 42.5", 0),
            ("used_percent >= 42.5", 1),
            ("used_percent >= 42.6", 0),
            ("used_percent < 42.6", 1),
            ("used_percent < 42.5", 0),
            ("used_percent <= 42.5", 1),
            ("used_percent <= 42.4", 0),
            ("used_percent = 42.5", 1),
            ("used_percent = 42", 0),
            ("used_percent != 42.5", 0),
            ("used_percent != 42", 1),
            ("used_percent > 41.99", 1),
            ("used_percent < 43", 1),
            ("used > 42%", 1),
            ("used > 43%", 0),
        ];
        for (filter, n) in expected {
            assert_eq!(
                count(&store, &format!("class = volume and {filter}")).await,
                n,
                "{filter}"
            );
        }
        assert_eq!(
            count(&store, "class = computer and volume(used_percent > 42.4)").await,
            1
        );
        assert_eq!(
            count(&store, "class = computer and volume(used_percent > 42.6)").await,
            0
        );

        // Refreshed into the next band: found by it, not by the old one.
        let agent = as_authenticated(&store, agent).await;
        send(&ingest, &agent, &report(&agent, 2, facts, 43.0), None).await;
        for (filter, n) in [
            ("used_percent >= 43", 1),
            ("used_percent > 42.9", 1),
            ("used_percent < 43", 0),
            ("used_percent = 43", 1),
            ("used_percent <= 42.99", 0),
        ] {
            assert_eq!(
                count(&store, &format!("class = volume and {filter}")).await,
                n,
                "{filter}"
            );
        }

        // An attribute wins over the measurement, also below zero (floor, not truncation).
        let volume = query(&store, TenantScope::All, "class = volume")
            .await
            .remove(0);
        sqlx::query("UPDATE configuration_items SET attributes = $1 WHERE id = $2")
            .bind(json!({"used_percent": -0.5}).to_string())
            .bind(volume.id)
            .execute(store.pool())
            .await
            .expect("attributes");
        for (filter, n) in [
            ("used_percent < -0.2", 1),
            ("used_percent <= -0.5", 1),
            ("used_percent < -0.6", 0),
            ("used_percent > -1", 1),
            ("used_percent >= 0", 0),
        ] {
            assert_eq!(
                count(&store, &format!("class = volume and {filter}")).await,
                n,
                "{filter}"
            );
        }
    }
);

on_every_backend!(
    an_unchanged_report_refreshes_measurements_and_every_change_still_lands,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        let agent = enroll(&store, t, "app01").await;
        let mut facts = host("app01", "m-app01", None);
        facts.kernel_version = Some("6.1.0".into());
        send(
            &ingest,
            &agent,
            &report(&agent, 1, facts.clone(), 10.0),
            None,
        )
        .await;
        let computer = computer_of(&store, "app01").await;
        let volume = query(&store, TenantScope::All, "class = volume")
            .await
            .remove(0);
        // From now on as the report endpoint knows the agent: with its computer, so that the
        // volumes are refreshed with the computer (one statement on PostgreSQL).
        let agent = as_authenticated(&store, agent).await;
        assert_eq!(
            agent.recorded.as_ref().and_then(|r| r.computer_id),
            Some(computer.id)
        );
        let created = store
            .ci_history(TenantScope::All, volume.id)
            .await
            .expect("h");

        // The same facts again, new measurements: stored, and nothing in the history.
        send(
            &ingest,
            &agent,
            &report(&agent, 2, facts.clone(), 42.0),
            None,
        )
        .await;
        let after = store
            .get_ci(TenantScope::All, computer.id)
            .await
            .expect("get");
        assert!(after.last_seen_at > computer.last_seen_at, "seen again");
        assert_eq!(after.updated_at, computer.updated_at, "nothing changed");
        let vol = store
            .get_ci(TenantScope::All, volume.id)
            .await
            .expect("get");
        assert_eq!(vol.metrics["used_percent"], json!(42.0));
        assert!(vol.last_seen_at > volume.last_seen_at);
        // The asset-query columns follow the refreshed measurement (on PostgreSQL they are kept
        // by a trigger, not recomputed by the database on read).
        assert_eq!(
            query(
                &store,
                TenantScope::All,
                "class = volume and used_percent > 40"
            )
            .await
            .len(),
            1
        );
        assert!(query(
            &store,
            TenantScope::All,
            "class = volume and used_percent < 20"
        )
        .await
        .is_empty());
        let entries = store
            .ci_history(TenantScope::All, volume.id)
            .await
            .expect("h");
        assert_eq!(
            entries.len(),
            created.len(),
            "only the creation: {entries:?}"
        );

        // A changed fact after unchanged reports is recorded.
        facts.kernel_version = Some("6.1.1".into());
        send(
            &ingest,
            &agent,
            &report(&agent, 3, facts.clone(), 42.0),
            None,
        )
        .await;
        assert_eq!(
            history_of(&store, computer.id, "attributes.kernel_version").await,
            [json!(["6.1.0", "6.1.1"])]
        );
        // ...and so do the query columns derived from attributes.
        assert!(names(
            &store,
            TenantScope::All,
            "class = computer and memory >= 16GB"
        )
        .await
        .is_empty());
        facts.memory_total_bytes = Some(32 << 30);
        send(
            &ingest,
            &agent,
            &report(&agent, 4, facts.clone(), 42.0),
            None,
        )
        .await;
        assert_eq!(
            names(
                &store,
                TenantScope::All,
                "class = computer and memory >= 16GB"
            )
            .await,
            ["app01"]
        );

        // Retired by a person, reported again unchanged: back, with history.
        store
            .retire_ci(TenantScope::All, volume.id, "api_token:1")
            .await
            .expect("retire");
        send(
            &ingest,
            &agent,
            &report(&agent, 5, facts.clone(), 43.0),
            None,
        )
        .await;
        let vol = store
            .get_ci(TenantScope::All, volume.id)
            .await
            .expect("get");
        assert_eq!(vol.status, "active");
        // (The person's change is stamped with the wall clock, the reports with their time.)
        let mut status = history_of(&store, volume.id, "status").await;
        status.sort_by_key(|v| v.to_string());
        assert_eq!(
            status,
            [
                json!(["active", "retired"]),
                json!(["retired", "active"]),
                json!([null, "active"])
            ]
        );

        // Stale (not reported for a while), then reported unchanged: active again.
        store.mark_stale(i64::MAX).await.expect("stale");
        send(
            &ingest,
            &agent,
            &report(&agent, 6, facts.clone(), 43.0),
            None,
        )
        .await;
        let now = store
            .get_ci(TenantScope::All, computer.id)
            .await
            .expect("get");
        assert_eq!(now.status, "active");
        assert_eq!(
            history_of(&store, computer.id, "status").await.last(),
            Some(&json!(["stale", "active"]))
        );

        // A person's value stays under unchanged reports; unlocking brings the agent's back and
        // unchanged reports keep it.
        let edits: Map<String, serde_json::Value> =
            [("kernel_version".to_string(), json!("custom"))]
                .into_iter()
                .collect();
        store
            .edit_ci(TenantScope::All, computer.id, &edits, "api_token:1")
            .await
            .expect("edit");
        send(
            &ingest,
            &agent,
            &report(&agent, 7, facts.clone(), 43.0),
            None,
        )
        .await;
        let now = store
            .get_ci(TenantScope::All, computer.id)
            .await
            .expect("get");
        assert_eq!(now.attributes["kernel_version"], "custom");
        store
            .unlock_field(
                TenantScope::All,
                computer.id,
                "kernel_version",
                "api_token:1",
            )
            .await
            .expect("unlock");
        send(
            &ingest,
            &agent,
            &report(&agent, 8, facts.clone(), 43.0),
            None,
        )
        .await;
        let now = store
            .get_ci(TenantScope::All, computer.id)
            .await
            .expect("get");
        assert_eq!(now.attributes["kernel_version"], "6.1.1");

        // A volume added, then the first one gone, while the computer stays unchanged: the new
        // one is created beside the refreshed one, then the missing one retired.
        let mut two = report(&agent, 9, facts.clone(), 44.0);
        let mut data = two.volumes[0].clone();
        data.mount_point = "/data".into();
        data.device = Some("/dev/vdb1".into());
        two.volumes.push(data);
        send(&ingest, &agent, &two, None).await;
        let vol = store
            .get_ci(TenantScope::All, volume.id)
            .await
            .expect("get");
        assert_eq!(vol.metrics["used_percent"], json!(44.0));
        assert_eq!(
            names(&store, TenantScope::All, "class = volume").await,
            ["/", "/data"]
        );
        let mut only_data = report(&agent, 10, facts.clone(), 45.0);
        only_data.volumes[0].mount_point = "/data".into();
        only_data.volumes[0].device = Some("/dev/vdb1".into());
        send(&ingest, &agent, &only_data, None).await;
        let vol = store
            .get_ci(TenantScope::All, volume.id)
            .await
            .expect("get");
        assert_eq!(vol.status, "retired", "the missing volume is retired");
        assert_eq!(
            names(
                &store,
                TenantScope::All,
                "class = volume and used_percent > 44"
            )
            .await,
            ["/data"]
        );
    }
);

on_every_backend!(
    a_serial_number_read_from_dmi_survives_reports_without_inventory,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        let agent = enroll(&store, t, "nas01").await;
        // Without root the host facts carry no serial; the inventory read it from DMI.
        let facts = host("nas01", "m-nas01", None);
        let mut inv = inventory("h1", vec![], vec![], vec![]);
        inv.hardware = Some(atalaya_shared::Hardware {
            serial_number: Some("SN-4711".into()),
            ..Default::default()
        });
        send(
            &ingest,
            &agent,
            &report(&agent, 1, facts.clone(), 10.0),
            Some(&inv),
        )
        .await;
        for seq in 2..4 {
            send(
                &ingest,
                &agent,
                &report(&agent, seq, facts.clone(), 10.0),
                None,
            )
            .await;
        }
        let computer = computer_of(&store, "nas01").await;
        assert_eq!(computer.attributes["serial_number"], "SN-4711");
        assert_eq!(
            history_of(&store, computer.id, "attributes.serial_number").await,
            [] as [serde_json::Value; 0],
            "never erased and set again"
        );
    }
);

on_every_backend!(
    an_inventory_this_process_remembers_is_still_checked_against_the_database,
    |store| {
        let ingest = Ingest::new(store.clone());
        let t = tenant(&store, "acme").await;
        let agent = enroll(&store, t, "web07").await;
        let facts = host("web07", "m-web07", None);
        let inv = inventory("h1", vec![], vec![package("openssl", "3.0.9")], vec![]);
        send(
            &ingest,
            &agent,
            &report(&agent, 1, facts.clone(), 10.0),
            Some(&inv),
        )
        .await;
        let computer = computer_of(&store, "web07").await;
        // Another replica stored a newer inventory of the machine meanwhile (this process
        // still remembers h1 as the machine's inventory).
        sqlx::query("UPDATE configuration_items SET inventory_hash = 'h2' WHERE id = $1")
            .bind(computer.id)
            .execute(store.pool())
            .await
            .expect("update");
        send(
            &ingest,
            &agent,
            &report(&agent, 2, facts.clone(), 10.0),
            Some(&inv),
        )
        .await;
        let (hash,): (Option<String>,) =
            sqlx::query_as("SELECT inventory_hash FROM configuration_items WHERE id = $1")
                .bind(computer.id)
                .fetch_one(store.pool())
                .await
                .expect("hash");
        assert_eq!(hash.as_deref(), Some("h1"), "h1 applied again, not skipped");
    }
);
