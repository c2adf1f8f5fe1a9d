//! Storage, written once for SQLite and PostgreSQL.
//!
//! Every query goes through `sqlx::Any` with `$N` placeholders, which both backends accept, so
//! there is one copy of each query. Values are limited to what `Any` carries on both sides:
//! `i64`, `f64`, `String` (JSON documents are stored as text) — times are UTC milliseconds.
//!
//! Tenant-owned data is only reachable through functions that take a [`TenantScope`] or a
//! [`TenantId`]: a handler cannot forget the tenant filter because it cannot call without one.

pub mod agent_configs;
pub mod agents;
pub mod alerts;
pub mod assignment_groups;
pub mod audit_log;
pub mod ci_admin;
pub mod ci_query;
pub mod cis;
pub mod digests;
pub mod incidents;
pub mod kpis;
pub mod leases;
pub mod notification_templates;
pub mod outbox;
pub mod password_links;
pub mod reports;
pub mod rules;
pub mod samples;
pub mod satisfaction;
pub mod server_secrets;
pub mod sessions;
pub mod sign_in_failures;
pub mod site_outages;
pub mod steady_reports;
pub mod support_plans;
pub mod tenants;
pub mod tickets;
pub mod tokens;
pub mod users;

use std::str::FromStr;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};

pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Any>;

/// An optional `f64` to bind: use it for every nullable floating-point column.
///
/// sqlx 0.8's `Any` driver declares a NULL `Option<f64>` to PostgreSQL as `float4` (its NULL
/// mapping swaps `Real` and `Double`). A statement PostgreSQL prepared with that NULL then
/// rejects the next non-NULL value bound on the same connection ("incorrect binary data format
/// in bind parameter N"), so a rule without a warning level could break the next rule saved.
/// A NULL declared as `f32` reaches PostgreSQL as `float8`, matching the non-NULL case.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NullableFloat(pub Option<f64>);

impl sqlx::Type<sqlx::Any> for NullableFloat {
    fn type_info() -> sqlx::any::AnyTypeInfo {
        <f64 as sqlx::Type<sqlx::Any>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Any> for NullableFloat {
    fn encode_by_ref(
        &self,
        buf: &mut <sqlx::Any as sqlx::Database>::ArgumentBuffer<'q>,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        match self.0 {
            Some(value) => <f64 as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&value, buf),
            None => <Option<f32> as sqlx::Encode<'q, sqlx::Any>>::encode_by_ref(&None, buf),
        }
    }
}

/// Which database engine sits behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The SQL dialect the asset query language compiles to for this backend.
    pub fn dialect(self) -> crate::ci::query::Dialect {
        match self {
            Backend::Sqlite => crate::ci::query::Dialect::Sqlite,
            Backend::Postgres => crate::ci::query::Dialect::Postgres,
        }
    }
}

impl Backend {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::Invalid(
                "database URL must start with sqlite:// or postgres://".into(),
            ))
        }
    }
}

/// A tenant's primary key. Only the store and the authentication extractors create these.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(transparent)]
pub struct TenantId(pub i64);

/// What a caller may see: every tenant (the MSP's administrators and auditors), exactly one (a
/// customer's people, a tenant-bound token), or the tenants a technician is a member of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TenantScope {
    All,
    Tenant(TenantId),
    /// The tenants in the user's `tenant_memberships`, read by the query itself, so a membership
    /// given or taken away applies to the next request.
    Members(i64),
}

impl TenantScope {
    /// The value to bind for an [`in_scope`] clause: no tenant for all, the tenant's id for one,
    /// the user's id negated for a technician's memberships (ids are positive, so the two never
    /// meet).
    pub fn filter(self) -> Option<i64> {
        match self {
            TenantScope::All => None,
            TenantScope::Tenant(t) => Some(t.0),
            TenantScope::Members(user) => Some(-user),
        }
    }

    /// The one tenant of the scope, if it is exactly one.
    pub fn single(self) -> Option<TenantId> {
        match self {
            TenantScope::Tenant(t) => Some(t),
            TenantScope::All | TenantScope::Members(_) => None,
        }
    }
}

/// The SQL condition "`column` is a tenant of the scope bound as `$n`" ([`TenantScope::filter`]):
/// every query that reads or writes tenant-owned rows for a caller says it with this, so the
/// three kinds of scope mean the same everywhere.
pub fn in_scope(column: &str, n: u8) -> String {
    format!(
        "(CAST(${n} AS BIGINT) IS NULL OR {column} = ${n} OR {column} IN \
         (SELECT m.tenant_id FROM tenant_memberships m WHERE m.user_id = -${n}))"
    )
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("invalid: {0}")]
    Invalid(String),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

impl StoreError {
    /// Turn a unique-constraint violation into [`StoreError::Conflict`] with `what` as message.
    pub fn conflict_on_unique(err: sqlx::Error, what: &str) -> Self {
        match &err {
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                StoreError::Conflict(what.to_string())
            }
            _ => StoreError::Database(err),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The handle every part of the server uses to reach the database: the pool and which backend
/// is behind it, nothing else (what ingest keeps between reports is in `ingest::Ingest`).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
}

impl Store {
    /// Connect, configure the connection (WAL, foreign keys and a busy timeout on SQLite; a
    /// 32 MiB page cache and reads through a 256 MiB memory map instead of a `pread` per page)
    /// and apply the backend's migrations.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = AnyConnectOptions::from_str(url)?;
        let max_connections = match backend {
            // SQLite has one writer; a few readers beside it is all that helps.
            Backend::Sqlite => 4,
            Backend::Postgres => 16,
        };
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        conn.execute(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                             PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000; \
                             PRAGMA cache_size = -32768; PRAGMA mmap_size = 268435456;",
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        let store = Store { pool, backend };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> StoreResult<()> {
        match self.backend {
            Backend::Sqlite => {
                sqlx::migrate!("../migrations/sqlite")
                    .run(&self.pool)
                    .await?
            }
            Backend::Postgres => {
                sqlx::migrate!("../migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A write transaction. Most read before they write, and must not fail for that: on SQLite
    /// such a transaction fails with `SQLITE_BUSY_SNAPSHOT` (517) — which the busy timeout does
    /// not wait out — whenever another writer (a report) commits between its first read and
    /// its first write; `BEGIN IMMEDIATE` takes the write lock at once, so it waits its turn
    /// instead. On PostgreSQL it is an ordinary transaction. (Reads go to the pool directly.)
    pub async fn begin(&self) -> StoreResult<Tx<'static>> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// A cheap round trip for `/readyz`.
    pub async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Now, in the stored representation (UTC milliseconds).
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Stored milliseconds back to a UTC time for the API.
pub fn to_time(ms: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub fn to_time_opt(ms: Option<i64>) -> Option<chrono::DateTime<chrono::Utc>> {
    ms.map(to_time)
}

/// `($1, $2), ($3, $4)`: `rows` tuples of `width` numbered placeholders, for a multi-row
/// `VALUES` list (both backends).
pub fn placeholders(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|row| {
            let cells: Vec<String> = (1..=width)
                .map(|c| format!("${}", row * width + c))
                .collect();
            format!("({})", cells.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}
