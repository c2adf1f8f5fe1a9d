//! Background jobs run on one replica at a time, through a lease in the database.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use atalaya_server::jobs::run_leased;

use crate::on_every_backend;

on_every_backend!(a_lease_has_one_holder_until_it_expires, |store| {
    let t0 = 1_000_000;
    assert!(store.take_lease("sweep", "a", t0, 1_000).await.expect("a"));
    assert!(!store
        .take_lease("sweep", "b", t0 + 10, 1_000)
        .await
        .expect("b"));
    // The holder renews; the other replica still waits.
    assert!(store
        .take_lease("sweep", "a", t0 + 500, 1_000)
        .await
        .expect("a"));
    assert!(!store
        .take_lease("sweep", "b", t0 + 1_200, 1_000)
        .await
        .expect("b"));
    // Another job's lease is independent.
    assert!(store.take_lease("digest", "b", t0, 1_000).await.expect("b"));
    // After expiry (a died), b takes over and a is refused.
    assert!(store
        .take_lease("sweep", "b", t0 + 1_500, 1_000)
        .await
        .expect("b"));
    assert!(!store
        .take_lease("sweep", "a", t0 + 1_600, 1_000)
        .await
        .expect("a"));
    // Released on shutdown: free at once.
    store.release_lease("sweep", "b").await.expect("release");
    assert!(store
        .take_lease("sweep", "a", t0 + 1_700, 1_000)
        .await
        .expect("a"));

    // Eight replicas asking at the same moment: exactly one wins.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.spawn(async move { store.take_lease("race", &format!("r{i}"), t0, 1_000).await });
    }
    let mut winners = 0;
    while let Some(won) = tasks.join_next().await {
        winners += usize::from(won.expect("task").expect("lease"));
    }
    assert_eq!(winners, 1);
    let leases = store.list_leases().await.expect("list");
    assert_eq!(leases.iter().filter(|(name, ..)| name == "race").count(), 1);
});

on_every_backend!(two_replicas_run_a_job_once_per_period, |store| {
    // Two replicas schedule the same job every 100 ms for 1.5 s: it runs about 15 times in all
    // (not 30), every run on the replica holding the lease.
    let runs: Arc<[AtomicUsize; 2]> = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let mut replicas = Vec::new();
    for replica in 0..2 {
        let runs = runs.clone();
        replicas.push(tokio::spawn(run_leased(
            store.clone(),
            format!("replica-{replica}"),
            "test-job",
            Duration::from_millis(100),
            move || {
                runs[replica].fetch_add(1, Ordering::SeqCst);
                async {}
            },
        )));
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (a, b) = (
        runs[0].load(Ordering::SeqCst),
        runs[1].load(Ordering::SeqCst),
    );
    assert!(
        (5..=16).contains(&(a + b)),
        "the job ran {a} + {b} times in 15 periods"
    );
    assert!(a == 0 || b == 0, "both replicas ran the job: {a} and {b}");

    // The holder dies without releasing: the other takes over once the lease (3 periods) expires.
    let (holder, other) = if a > 0 { (0, 1) } else { (1, 0) };
    replicas[holder].abort();
    let before = runs[other].load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let taken_over = runs[other].load(Ordering::SeqCst) - before;
    assert!(
        (3..=10).contains(&taken_over),
        "after the holder died the other replica ran the job {taken_over} times in 10 periods"
    );
    replicas[other].abort();
});

// A job's transaction reads, then writes, while reports keep committing. On SQLite a plain
// (deferred) transaction would fail its first write with SQLITE_BUSY_SNAPSHOT (517) once
// another writer committed after its first read; `begin` makes the other writer wait.
on_every_backend!(
    a_job_transaction_survives_a_writer_between_its_read_and_write,
    |store| {
        let mut tx = store.begin().await.expect("begin");
        let (before,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM job_leases")
            .fetch_one(&mut *tx)
            .await
            .expect("read");
        // Another writer (a report, in production) arrives between the read and the write.
        let other = {
            let store = store.clone();
            tokio::spawn(async move {
                sqlx::query(
                    "INSERT INTO job_leases (name, holder, expires_at) VALUES ('other', 'x', 0)",
                )
                .execute(store.pool())
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(200)).await;
        sqlx::query("INSERT INTO job_leases (name, holder, expires_at) VALUES ('job', 'x', $1)")
            .bind(before)
            .execute(&mut *tx)
            .await
            .expect("the job's write after its read");
        tx.commit().await.expect("commit");
        other
            .await
            .expect("join")
            .expect("the other writer waited its turn");
    }
);
