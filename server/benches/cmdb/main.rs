//! CMDB benchmark (issue 4, "Performance"): a fleet of computers with 1,000 installed packages,
//! 4 volumes and 50 services each, on SQLite or PostgreSQL; the cost of ingesting a changed,
//! an unchanged and no inventory through the real ingest path; and the example asset queries
//! through `Store::query_cis`, as percentiles over repeated runs.
//!
//! ```text
//! cargo bench -p atalaya-server --bench cmdb -- --backend sqlite
//! cargo bench -p atalaya-server --bench cmdb -- --backend postgres --keep
//! cargo bench -p atalaya-server --bench cmdb -- --database-url <kept database> --explain
//! ```
//!
//! The first computers (`--ingested`) go through ingest, the rest are bulk-written (see
//! `seed.rs`). A database that already holds the fleet (`--database-url`) is queried as it is.

mod cpu;
mod fleet;
mod ingest;
mod seed;

use std::time::{Duration, Instant};

use anyhow::Context;
use atalaya_server::cmdb::query;
use atalaya_server::store::ci_query::CiQuery;
use atalaya_server::store::{Backend, Store, TenantId, TenantScope};
use clap::Parser;
use serde_json::Map;
use sqlx::{Connection, Executor, Row};

const TENANT: &str = "acme";

/// The example queries of issue 4.
const QUERIES: [&str; 6] = [
    "class = computer and memory < 8GB",
    "class = computer and software(name = openssl and version < 3.0.7)",
    "class = computer and volume(used_percent > 90)",
    "class = volume and free < 10%",
    "class = service and business_service(name = \"payroll\")",
    "class = computer and os ~ debian and memory >= 16GB",
];

#[derive(Parser)]
struct Args {
    /// sqlite (a file in a temporary directory) or postgres (a fresh database).
    #[arg(long, default_value = "sqlite")]
    backend: String,
    /// Where PostgreSQL databases may be created.
    #[arg(
        long,
        env = "ATALAYA_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1/postgres"
    )]
    postgres_admin_url: String,
    /// Use this database instead (seeded if empty, queried as it is otherwise).
    #[arg(long)]
    database_url: Option<String>,
    #[arg(long, default_value_t = 10_000)]
    computers: u64,
    /// How many of the computers report through the real ingest path.
    #[arg(long, default_value_t = 200)]
    ingested: u64,
    /// Timed runs per query.
    #[arg(long, default_value_t = 30)]
    runs: usize,
    /// Print each query's plan.
    #[arg(long)]
    explain: bool,
    /// Keep the database (printed at the end) for --database-url.
    #[arg(long)]
    keep: bool,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// Percentiles of a set of timings.
pub struct Stats {
    n: usize,
    mean: Duration,
    p50: Duration,
    p95: Duration,
    max: Duration,
}

impl Stats {
    pub fn of(mut times: Vec<Duration>) -> Stats {
        times.sort_unstable();
        let n = times.len().max(1);
        let at = |p: f64| times[((p * n as f64).ceil() as usize).clamp(1, n) - 1];
        Stats {
            n: times.len(),
            mean: times.iter().sum::<Duration>() / n as u32,
            p50: at(0.50),
            p95: at(0.95),
            max: at(1.0),
        }
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The database to use, and what to drop afterwards (PostgreSQL: admin URL and name).
async fn open(args: &Args) -> anyhow::Result<(String, Option<tempfile::TempDir>)> {
    if let Some(url) = &args.database_url {
        return Ok((url.clone(), None));
    }
    match args.backend.as_str() {
        "sqlite" => {
            let dir = tempfile::tempdir()?;
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("cmdb.db").display());
            Ok((url, Some(dir)))
        }
        "postgres" => {
            sqlx::any::install_default_drivers();
            let name = format!(
                "atalaya_bench_{}",
                chrono::Utc::now().format("%Y%m%d%H%M%S")
            );
            let mut admin = sqlx::AnyConnection::connect(&args.postgres_admin_url).await?;
            admin
                .execute(format!("CREATE DATABASE {name}").as_str())
                .await?;
            admin.close().await?;
            let base = args
                .postgres_admin_url
                .rsplit_once('/')
                .map(|(b, _)| b)
                .context("admin URL has no database")?;
            Ok((format!("{base}/{name}"), None))
        }
        other => anyhow::bail!("unknown backend {other:?}: sqlite or postgres"),
    }
}

async fn tenant_id(store: &Store) -> anyhow::Result<Option<TenantId>> {
    let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM tenants WHERE name = $1")
        .bind(TENANT)
        .fetch_optional(store.pool())
        .await?;
    Ok(row.map(|(id,)| TenantId(id)))
}

/// Seed the fleet and measure ingest; the ingest figures.
async fn populate(
    args: &Args,
    store: &Store,
    url: &str,
) -> anyhow::Result<Vec<(Stats, ingest::Cpu)>> {
    let tenant = store
        .create_tenant(TENANT, "Acme")
        .await?
        .context("new tenant")?
        .id;
    let started = Instant::now();
    let mut conn = seed::connect(url, store.backend()).await?;
    let bulk = args.computers.saturating_sub(args.ingested);
    let seeded = seed::bulk(&mut conn, store.backend(), tenant, args.ingested, bulk).await?;
    let payroll = store
        .create_business_service(tenant, "payroll", &Map::new(), "bench")
        .await?;
    for service in &seeded.payroll_services {
        store
            .add_relation(
                TenantScope::Tenant(tenant),
                payroll.id,
                "depends_on",
                *service,
                "bench",
            )
            .await?;
    }
    if store.backend() == Backend::Postgres {
        // What autovacuum would have done by the time anyone queries (it also vacuums after
        // inserts, which sets the visibility map that index-only scans need).
        conn.execute("VACUUM (ANALYZE)").await?;
        // The seed's gigabytes of WAL would otherwise set off checkpoints during the timed
        // phases (each first write of a page after one logs the whole page), billing whichever
        // phase they land in for the seeding.
        conn.execute("CHECKPOINT").await?;
    }
    conn.close().await?;
    eprintln!(
        "seeded {bulk} computers in {:.0} s; ingesting {} (load {})",
        started.elapsed().as_secs_f64(),
        args.ingested,
        load()
    );
    let started = Instant::now();
    let stats = ingest::measure(store, tenant, args.ingested).await?;
    eprintln!(
        "ingest measured in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    if store.backend() == Backend::Postgres {
        store.pool().execute("VACUUM (ANALYZE)").await?;
    }
    Ok(stats)
}

struct QueryFigures {
    text: &'static str,
    limited: Stats,
    rows_limited: usize,
    full: Stats,
    rows_full: usize,
}

async fn time_query(
    store: &Store,
    scope: TenantScope,
    text: &str,
    limit: i64,
    runs: usize,
) -> anyhow::Result<(Stats, usize)> {
    let request = CiQuery {
        filter: Some(query::parse(text)?),
        limit,
        ..CiQuery::default()
    };
    let mut rows = 0;
    for _ in 0..3 {
        rows = store.query_cis(scope, &request).await?.len();
    }
    let mut times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        rows = store.query_cis(scope, &request).await?.len();
        times.push(started.elapsed());
    }
    Ok((Stats::of(times), rows))
}

/// The plan of the statement `query_cis` runs, with `c.id` as the only column.
async fn explain(store: &Store, tenant: TenantId, text: &str) -> anyhow::Result<Vec<String>> {
    let backend = store.backend();
    let request = CiQuery {
        filter: Some(query::parse(text)?),
        limit: 100,
        ..CiQuery::default()
    };
    let (sql, binds) = store
        .ci_query_statement(TenantScope::Tenant(tenant), &request, "c.id")
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let prefix = match backend {
        Backend::Sqlite => "EXPLAIN QUERY PLAN ",
        Backend::Postgres => "EXPLAIN (ANALYZE, BUFFERS) ",
    };
    let sql = format!("{prefix}{sql}");
    let mut q = sqlx::query(&sql);
    for bind in binds {
        q = match bind {
            query::Bind::Int(i) => q.bind(i),
            query::Bind::Float(f) => q.bind(f),
            query::Bind::Text(t) => q.bind(t),
        };
    }
    let rows = q.fetch_all(store.pool()).await?;
    let mut plan = vec![format!("-- {text}"), sql];
    for row in rows {
        plan.push(match backend {
            Backend::Sqlite => row.try_get::<String, _>(3)?,
            Backend::Postgres => row.try_get::<String, _>(0)?,
        });
    }
    Ok(plan)
}

fn print_ingest(stats: &[(Stats, ingest::Cpu)]) {
    println!(
        "\n| report (through ingest_with_inventory) | n | mean ms | p50 ms | p95 ms | max ms | CPU ms: bench | CPU ms: PostgreSQL |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for (phase, (s, cpu)) in ingest::PHASES.iter().zip(stats) {
        println!(
            "| {phase} | {} | {} | {} | {} | {} | {:.2} | {:.2} |",
            s.n,
            ms(s.mean),
            ms(s.p50),
            ms(s.p95),
            ms(s.max),
            cpu.own_ms,
            cpu.postgres_ms
        );
    }
    if let [_, (changed, changed_cpu), (unchanged, unchanged_cpu), _] = stats {
        println!(
            "\nunchanged / changed inventory: mean {:.3}, p95 {:.3}, CPU {:.3} (target < 0.1)",
            unchanged.mean.as_secs_f64() / changed.mean.as_secs_f64(),
            unchanged.p95.as_secs_f64() / changed.p95.as_secs_f64(),
            unchanged_cpu.total_ms() / changed_cpu.total_ms()
        );
    }
}

fn print_queries(figures: &[QueryFigures], runs: usize) {
    println!(
        "\n| query | rows (limit 100) | p50 ms | p95 ms | max ms | rows (all) | all: p50 ms | all: max ms |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    for f in figures {
        println!(
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |",
            f.text,
            f.rows_limited,
            ms(f.limited.p50),
            ms(f.limited.p95),
            ms(f.limited.max),
            f.rows_full,
            ms(f.full.p50),
            ms(f.full.max)
        );
    }
    println!("\n({runs} timed runs per query at limit 100 after 3 untimed; 5 at limit 1,000,000)");
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (url, dir) = open(&args).await?;
    let store = Store::connect(&url).await?;
    let backend = store.backend();
    let ingest_stats = match tenant_id(&store).await? {
        Some(_) => {
            eprintln!("{url} already holds the fleet: querying it as it is");
            None
        }
        None => Some(populate(&args, &store, &url).await?),
    };
    let tenant = tenant_id(&store).await?.context("tenant")?;
    let scope = TenantScope::Tenant(tenant);
    let (computers,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM configuration_items WHERE tenant_id = $1 AND class = 'computer'",
    )
    .bind(tenant.0)
    .fetch_one(store.pool())
    .await?;
    let (installations,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM software_installations WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(store.pool())
            .await?;
    let (cis,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM configuration_items WHERE tenant_id = $1")
            .bind(tenant.0)
            .fetch_one(store.pool())
            .await?;

    let load_before = load();
    let mut figures = Vec::new();
    for text in QUERIES {
        let (limited, rows_limited) = time_query(&store, scope, text, 100, args.runs).await?;
        let (full, rows_full) = time_query(&store, scope, text, 1_000_000, 5).await?;
        eprintln!("  {text}: p95 {} ms", ms(limited.p95));
        figures.push(QueryFigures {
            text,
            limited,
            rows_limited,
            full,
            rows_full,
        });
    }

    println!(
        "# {backend:?}: {computers} computers, {cis} CIs, {installations} installations; load before queries {load_before}, after {}",
        load()
    );
    if let Some(stats) = &ingest_stats {
        print_ingest(stats);
    }
    print_queries(&figures, args.runs);
    if args.explain {
        for text in QUERIES {
            println!("\n```");
            for line in explain(&store, tenant, text).await? {
                println!("{line}");
            }
            println!("```");
        }
    }
    store.close().await;
    if args.keep || args.database_url.is_some() {
        if let Some(dir) = dir {
            let kept = dir.keep();
            eprintln!("kept {}", kept.display());
        }
        eprintln!("database: {url}");
    } else if backend == Backend::Postgres {
        let name = url.rsplit('/').next().unwrap_or_default();
        let mut admin = sqlx::AnyConnection::connect(&args.postgres_admin_url).await?;
        admin
            .execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
            .await?;
    }
    Ok(())
}
