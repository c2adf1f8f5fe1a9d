//! Authentication benchmark (issue 17): what a request pays to find out who is calling — a
//! personal API token or a session cookie — with 10,000 users and 100,000 tokens in the
//! database. It times the access check's own function (`http::access::authenticate`: hash the
//! secret, read the token or session, read its owner, note the use at most once a minute) one
//! call at a time, and the CPU the process (and PostgreSQL) spent over all calls.
//!
//! ```text
//! cargo bench -p atalaya-server --bench auth -- --backend sqlite
//! cargo bench -p atalaya-server --bench auth -- --backend postgres
//! ```

#[path = "cmdb/cpu.rs"]
mod cpu;

use std::time::{Duration, Instant};

use anyhow::Context;
use atalaya_server::config::{Config, Overrides};
use atalaya_server::http::access;
use atalaya_server::http::AppState;
use atalaya_server::people::{password, sessions, Role};
use atalaya_server::secrets;
use atalaya_server::store::{now_ms, Store};
use axum::http::{header, HeaderMap, HeaderValue};
use clap::Parser;
use rand::seq::SliceRandom;
use sqlx::Connection;

#[derive(Parser)]
struct Args {
    /// sqlite (a file in a temporary directory) or postgres (a fresh database).
    #[arg(long, default_value = "sqlite")]
    backend: String,
    #[arg(
        long,
        env = "ATALAYA_TEST_DATABASE_URL",
        default_value = "postgres://postgres@127.0.0.1/postgres"
    )]
    postgres_admin_url: String,
    #[arg(long, default_value_t = 10_000)]
    users: usize,
    #[arg(long, default_value_t = 100_000)]
    tokens: usize,
    /// Timed calls of each kind.
    #[arg(long, default_value_t = 20_000)]
    calls: usize,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// The secrets the calls present: a sample of the tokens and one session per sampled user.
struct Credentials {
    tokens: Vec<String>,
    sessions: Vec<String>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let dir = tempfile::tempdir()?;
    let (url, pg_name) = match args.backend.as_str() {
        "sqlite" => (
            format!("sqlite://{}?mode=rwc", dir.path().join("auth.db").display()),
            None,
        ),
        "postgres" => {
            let name = format!("atalaya_auth_bench_{}", std::process::id());
            sqlx::any::install_default_drivers();
            let mut admin = sqlx::AnyConnection::connect(&args.postgres_admin_url).await?;
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await?;
            let base = args
                .postgres_admin_url
                .rsplit_once('/')
                .map_or("", |(b, _)| b);
            (format!("{base}/{name}"), Some(name))
        }
        other => anyhow::bail!("unknown backend {other}"),
    };
    let store = Store::connect(&url).await.context("opening the database")?;
    let seeded = Instant::now();
    let credentials = seed(&store, &args).await?;
    println!(
        "{}: {} users, {} tokens, {} sessions seeded in {:.1} s",
        args.backend,
        args.users,
        args.tokens,
        credentials.sessions.len(),
        seeded.elapsed().as_secs_f64()
    );
    let state = AppState::new(store.clone(), Config::load(&Overrides::default())?);

    println!("| credential | calls | p50 µs | p95 µs | p99 µs | max µs | CPU µs/call (server + PostgreSQL) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for (label, secrets, as_header) in [
        (
            "API token",
            &credentials.tokens,
            bearer as fn(&str) -> HeaderMap,
        ),
        ("session cookie", &credentials.sessions, cookie),
    ] {
        // Warm up: every credential used once (its use written back), as in steady traffic.
        for secret in secrets {
            access::authenticate(&state, &as_header(secret), now_ms())
                .await
                .map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        }
        let mut timings = Vec::with_capacity(args.calls);
        let (own0, pg0) = cpu::now();
        for i in 0..args.calls {
            let headers = as_header(&secrets[i % secrets.len()]);
            let started = Instant::now();
            let caller = access::authenticate(&state, &headers, now_ms()).await;
            timings.push(started.elapsed());
            caller.map_err(|e| anyhow::anyhow!("{label}: {e}"))?;
        }
        let (own1, pg1) = cpu::now();
        timings.sort();
        let at = |q: f64| timings[((timings.len() as f64 * q) as usize).min(timings.len() - 1)];
        let us = |d: Duration| d.as_secs_f64() * 1e6;
        let per_call = |s: f64| s * 1e6 / args.calls as f64;
        println!(
            "| {label} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} + {:.1} |",
            args.calls,
            us(at(0.50)),
            us(at(0.95)),
            us(at(0.99)),
            us(*timings.last().expect("calls")),
            per_call(own1 - own0),
            per_call(pg1 - pg0),
        );
    }
    // The floor: one indexed read of the token's id by its hash, nothing else.
    let hashes: Vec<String> = credentials
        .tokens
        .iter()
        .map(|s| secrets::hash(s))
        .collect();
    let mut timings = Vec::with_capacity(args.calls);
    let (own0, pg0) = cpu::now();
    for i in 0..args.calls {
        let started = Instant::now();
        let row: Option<(i64,)> = sqlx::query_as("SELECT id FROM api_tokens WHERE token_hash = $1")
            .bind(&hashes[i % hashes.len()])
            .fetch_optional(store.pool())
            .await?;
        timings.push(started.elapsed());
        row.context("token")?;
    }
    let (own1, pg1) = cpu::now();
    timings.sort();
    let at = |q: f64| timings[((timings.len() as f64 * q) as usize).min(timings.len() - 1)];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "| (one indexed read, for scale) | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.1} + {:.1} |",
        args.calls,
        us(at(0.50)),
        us(at(0.95)),
        us(at(0.99)),
        us(*timings.last().expect("calls")),
        (own1 - own0) * 1e6 / args.calls as f64,
        (pg1 - pg0) * 1e6 / args.calls as f64,
    );
    store.close().await;
    if let Some(name) = pg_name {
        let mut admin = sqlx::AnyConnection::connect(&args.postgres_admin_url).await?;
        sqlx::query(&format!("DROP DATABASE {name} WITH (FORCE)"))
            .execute(&mut admin)
            .await?;
    }
    Ok(())
}

fn bearer(secret: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("Bearer {secret}")).expect("ascii");
    headers.insert(header::AUTHORIZATION, value);
    headers
}

fn cookie(secret: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let value = HeaderValue::from_str(&format!("{}={secret}", sessions::COOKIE)).expect("ascii");
    headers.insert(header::COOKIE, value);
    headers
}

/// Users (technicians, each a member of one tenant, and customer admins), their tokens spread
/// evenly, and a session for each of 2,000 users. Rows are written in bulk; one Argon2 hash
/// serves every user (a password hash is paid at sign-in only, which this does not measure).
async fn seed(store: &Store, args: &Args) -> anyhow::Result<Credentials> {
    let now = now_ms();
    let tenant = store
        .create_tenant("acme", "Acme")
        .await?
        .context("tenant")?
        .id;
    let hash = password::hash("correct horse battery").map_err(anyhow::Error::msg)?;
    let mut tx = store.begin().await?;
    for u in 1..=args.users {
        let (role, tenant_id) = if u % 2 == 0 {
            (Role::Technician, None)
        } else {
            (Role::CustomerAdmin, Some(tenant.0))
        };
        sqlx::query(
            "INSERT INTO users (id, email, display_name, role, tenant_id, password_hash, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(u as i64)
        .bind(format!("user{u}@example.com"))
        .bind(format!("User {u}"))
        .bind(role.as_str())
        .bind(tenant_id)
        .bind(&hash)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        if role == Role::Technician {
            sqlx::query("INSERT INTO tenant_memberships (user_id, tenant_id) VALUES ($1, $2)")
                .bind(u as i64)
                .bind(tenant.0)
                .execute(&mut *tx)
                .await?;
        }
    }
    let mut tokens = Vec::new();
    for t in 0..args.tokens {
        let owner = (t % args.users) as i64 + 1;
        let role = if owner % 2 == 0 {
            Role::Technician
        } else {
            Role::CustomerAdmin
        };
        let secret = secrets::generate(secrets::ADMIN_TOKEN_PREFIX);
        sqlx::query(
            "INSERT INTO api_tokens (user_id, role, tenant_id, name, token_hash, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(owner)
        .bind(role.as_str())
        .bind((role == Role::CustomerAdmin).then_some(tenant.0))
        .bind(format!("token {t}"))
        .bind(secrets::hash(&secret))
        .bind(now)
        .bind(now + 86_400_000)
        .execute(&mut *tx)
        .await?;
        if t % 50 == 0 {
            tokens.push(secret);
        }
    }
    let mut sessions = Vec::new();
    for u in (1..=args.users).step_by((args.users / 2000).max(1)) {
        let secret = secrets::generate(sessions::SECRET_PREFIX);
        sqlx::query(
            "INSERT INTO sessions (token_hash, user_id, created_at, last_seen_at, idle_expires_at,
                                   absolute_expires_at)
             VALUES ($1, $2, $3, $3, $4, $5)",
        )
        .bind(secrets::hash(&secret))
        .bind(u as i64)
        .bind(now)
        .bind(now + sessions::IDLE_MS)
        .bind(now + sessions::ABSOLUTE_MS)
        .execute(&mut *tx)
        .await?;
        sessions.push(secret);
    }
    tx.commit().await?;
    if store.backend() == atalaya_server::store::Backend::Postgres {
        sqlx::query("ANALYZE").execute(store.pool()).await?;
    }
    let mut rng = rand::thread_rng();
    tokens.shuffle(&mut rng);
    sessions.shuffle(&mut rng);
    Ok(Credentials { tokens, sessions })
}
