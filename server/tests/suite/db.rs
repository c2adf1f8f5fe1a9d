//! Test databases: a fresh SQLite file per test, and a fresh PostgreSQL database per test when
//! `ATALAYA_TEST_DATABASE_URL` points at a server where we may create databases.

use std::io::Write;
use std::sync::Once;

use atalaya_server::store::{Store, TenantId};
use sqlx::{Connection, Executor};

pub struct TestDb {
    pub label: &'static str,
    pub store: Store,
    /// For a second `Store` on the same database: another replica.
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    drop_pg: Option<(String, String)>,
}

static SKIP_NOTICE: Once = Once::new();

/// Said loudly, once per run, and written straight to stderr so the test harness's output
/// capture does not swallow it.
fn announce_postgres_skipped() {
    SKIP_NOTICE.call_once(|| {
        let _ = writeln!(
            std::io::stderr(),
            "\n*** PostgreSQL store tests SKIPPED: set ATALAYA_TEST_DATABASE_URL=postgres://postgres@127.0.0.1/postgres to run them ***\n"
        );
    });
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
        let store = Store::connect(&url).await.expect("open sqlite");
        TestDb {
            label: "sqlite",
            store,
            url,
            _dir: Some(dir),
            drop_pg: None,
        }
    }

    pub async fn postgres() -> Option<TestDb> {
        let Ok(admin_url) = std::env::var("ATALAYA_TEST_DATABASE_URL") else {
            announce_postgres_skipped();
            return None;
        };
        sqlx::any::install_default_drivers();
        let name = format!("atalaya_t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = sqlx::AnyConnection::connect(&admin_url)
            .await
            .expect("connect to ATALAYA_TEST_DATABASE_URL");
        admin
            .execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = with_database(&admin_url, &name);
        let store = Store::connect(&url)
            .await
            .expect("open postgres test database");
        Some(TestDb {
            label: "postgres",
            store,
            url,
            _dir: None,
            drop_pg: Some((admin_url, name)),
        })
    }

    /// SQLite always, PostgreSQL when configured.
    pub async fn all() -> Vec<TestDb> {
        let mut dbs = vec![TestDb::sqlite().await];
        dbs.extend(TestDb::postgres().await);
        dbs
    }

    pub async fn cleanup(self) {
        self.store.close().await;
        if let Some((admin_url, name)) = self.drop_pg {
            if let Ok(mut admin) = sqlx::AnyConnection::connect(&admin_url).await {
                let _ = admin
                    .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await;
            }
        }
    }
}

/// The same server URL with another database name.
pub fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

/// A new tenant named `name` (also its display name).
pub async fn tenant(store: &Store, name: &str) -> TenantId {
    store
        .create_tenant(name, name)
        .await
        .expect("create tenant")
        .expect("new tenant")
        .id
}

/// Run a test body once per configured backend; the label says which failed.
#[macro_export]
macro_rules! on_every_backend {
    ($name:ident, |$store:ident| $body:block) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            for db in $crate::db::TestDb::all().await {
                eprintln!("{} on {}", stringify!($name), db.label);
                let $store = db.store.clone();
                $body
                db.cleanup().await;
            }
        }
    };
}

#[test]
fn database_names_are_swapped_in_urls() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1/postgres", "x"),
        "postgres://postgres@127.0.0.1/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h:5432/db?sslmode=disable", "x"),
        "postgres://u:p@h:5432/x?sslmode=disable"
    );
    assert_eq!(with_database("postgres://h", "x"), "postgres://h/x");
}
