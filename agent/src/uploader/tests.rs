//! The uploader against a real HTTP server on 127.0.0.1:0 that misbehaves on purpose.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use atalaya_shared::protocol::{Report, ReportAck, PROTOCOL_VERSION};
use atalaya_shared::ErrorBody;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;

use super::*;
use crate::spool::{Priority, Spool, DEFAULT_CAP_BYTES};
use crate::state::Credential;

/// What the fake server should answer to the n-th request (0-based); afterwards it acks.
type Script = Vec<(u16, Option<&'static str>)>;

#[derive(Clone, Default)]
struct Fake {
    script: Arc<Mutex<Script>>,
    requests: Arc<Mutex<u64>>,
    /// Sequence numbers committed, in commit order.
    committed: Arc<Mutex<Vec<u64>>>,
    agent_ids: Arc<Mutex<Vec<String>>>,
    reject_seq: Option<u64>,
}

async fn report(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Json(report): Json<Report>,
) -> Response {
    assert_eq!(headers.get("authorization").unwrap(), "Bearer ata_test");
    assert!(headers
        .get("user-agent")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("atalaya-agent/"));
    let n = {
        let mut r = fake.requests.lock().unwrap();
        *r += 1;
        *r - 1
    };
    let scripted = fake.script.lock().unwrap().get(n as usize).copied();
    if let Some((status, retry_after)) = scripted {
        if status != 200 {
            let mut resp = (
                StatusCode::from_u16(status).unwrap(),
                Json(ErrorBody::new("scripted", "try later")),
            )
                .into_response();
            if let Some(ra) = retry_after {
                resp.headers_mut()
                    .insert("retry-after", ra.parse().unwrap());
            }
            return resp;
        }
    }
    if Some(report.seq) == fake.reject_seq {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            Json(ErrorBody::new("invalid_report", "bad volume")),
        )
            .into_response();
    }
    fake.agent_ids.lock().unwrap().push(report.agent_id.clone());
    let mut committed = fake.committed.lock().unwrap();
    let duplicate = committed.contains(&report.seq);
    if !duplicate {
        committed.push(report.seq);
    }
    Json(ReportAck {
        protocol: PROTOCOL_VERSION,
        seq: report.seq,
        duplicate,
        config_version: 1,
        report_interval_secs: 30,
    })
    .into_response()
}

async fn start(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new()
        .route("/api/v1/agent/report", post(report))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn credential(server_url: String) -> Credential {
    Credential {
        server_url,
        agent_id: "agent-now".into(),
        credential: "ata_test".into(),
        tenant: "default".into(),
        report_interval_secs: 60,
        ca_cert: None,
        enrolled_at: Utc::now(),
    }
}

fn spool_with(dir: &std::path::Path, seqs: std::ops::RangeInclusive<u64>) -> Mutex<Spool> {
    let mut spool = Spool::open(dir, DEFAULT_CAP_BYTES).unwrap();
    for seq in seqs {
        let mut r = crate::spool::tests::report(seq, 10);
        r.report.agent_id = "agent-before-re-enroll".into();
        spool.push(&r, Priority::Metrics).unwrap();
    }
    Mutex::new(spool)
}

fn fast_backoff() -> Backoff {
    Backoff::new(
        Duration::from_millis(10),
        Duration::from_millis(50),
        Duration::from_secs(5),
    )
}

#[tokio::test]
async fn retry_after_is_honoured_then_everything_replays_once_in_order() {
    let fake = Fake {
        script: Arc::new(Mutex::new(vec![(503, Some("1")), (500, None)])),
        ..Fake::default()
    };
    let url = start(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), 1..=5);
    let uploader = Uploader::new(&credential(url)).unwrap();

    let started = Instant::now();
    let mut acks = Vec::new();
    let out = drain(&spool, &uploader, &mut fast_backoff(), Some(5), &mut |a| {
        acks.push(a.seq)
    })
    .await;
    assert!(
        matches!(
            out,
            Drained::Empty {
                sent: 5,
                rejected: 0
            }
        ),
        "{out:?}"
    );
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After: 1 was not honoured"
    );
    assert_eq!(*fake.committed.lock().unwrap(), vec![1, 2, 3, 4, 5]);
    assert_eq!(acks, vec![1, 2, 3, 4, 5]);
    assert_eq!(*fake.requests.lock().unwrap(), 7);
    assert!(
        fake.agent_ids
            .lock()
            .unwrap()
            .iter()
            .all(|id| id == "agent-now"),
        "agent id follows re-enrollment"
    );
    assert!(lock(&spool).is_empty());
    assert!(
        Spool::open(dir.path(), DEFAULT_CAP_BYTES)
            .unwrap()
            .is_empty(),
        "acked files are deleted"
    );
}

#[tokio::test]
async fn garbage_answers_are_retried_not_trusted() {
    // A proxy answering 200 with an HTML page must not make the agent delete anything.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = Router::new().route(
        "/api/v1/agent/report",
        post(|| async { "<html>captive portal</html>" }),
    );
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), 1..=2);
    let uploader = Uploader::new(&credential(format!("http://{addr}"))).unwrap();
    let out = drain(&spool, &uploader, &mut fast_backoff(), Some(2), &mut |_| {}).await;
    match out {
        Drained::GaveUp(SendError::Transient { detail, .. }) => {
            assert!(detail.contains("not valid"), "{detail}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(lock(&spool).seqs(), vec![1, 2]);
}

#[tokio::test]
async fn unreachable_server_gives_up_and_keeps_everything() {
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), 1..=3);
    let uploader = Uploader::new(&credential(format!("http://127.0.0.1:{port}"))).unwrap();
    let out = drain(&spool, &uploader, &mut fast_backoff(), Some(3), &mut |_| {}).await;
    assert!(
        matches!(out, Drained::GaveUp(SendError::Transient { .. })),
        "{out:?}"
    );
    assert_eq!(lock(&spool).seqs(), vec![1, 2, 3]);
}

#[tokio::test]
async fn rejected_report_moves_aside_and_the_queue_goes_on() {
    let fake = Fake {
        reject_seq: Some(2),
        ..Fake::default()
    };
    let url = start(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), 1..=3);
    let uploader = Uploader::new(&credential(url)).unwrap();
    let out = drain(&spool, &uploader, &mut fast_backoff(), Some(3), &mut |_| {}).await;
    assert!(
        matches!(
            out,
            Drained::Empty {
                sent: 2,
                rejected: 1
            }
        ),
        "{out:?}"
    );
    assert_eq!(*fake.committed.lock().unwrap(), vec![1, 3]);
    assert!(dir
        .path()
        .join("rejected/00000000000000000002.json")
        .exists());
}

#[tokio::test]
async fn revoked_credential_stops_and_keeps_the_spool() {
    let fake = Fake {
        script: Arc::new(Mutex::new(vec![(401, None)])),
        ..Fake::default()
    };
    let url = start(fake.clone()).await;
    let dir = tempfile::tempdir().unwrap();
    let spool = spool_with(dir.path(), 1..=2);
    let uploader = Uploader::new(&credential(url)).unwrap();
    let out = drain(&spool, &uploader, &mut fast_backoff(), None, &mut |_| {}).await;
    assert!(
        matches!(
            out,
            Drained::Unauthorized(SendError::Unauthorized { status: 401, .. })
        ),
        "{out:?}"
    );
    assert_eq!(lock(&spool).seqs(), vec![1, 2]);
}

#[test]
fn backoff_grows_with_full_jitter_and_respects_retry_after() {
    let mut b = Backoff::new(
        Duration::from_secs(1),
        Duration::from_secs(300),
        Duration::from_secs(3600),
    );
    for n in 0..20 {
        let d = b.next_delay(None);
        let ceiling = Duration::from_secs(1u64 << n.min(9)).min(Duration::from_secs(300));
        assert!(d <= ceiling, "attempt {n}: {d:?} > {ceiling:?}");
    }
    assert!(b.next_delay(Some(Duration::from_secs(42))) >= Duration::from_secs(42));
    b.reset();
    assert!(b.next_delay(None) <= Duration::from_secs(1));
    let mut h = HeaderMap::new();
    h.insert("retry-after", " 7 ".parse().unwrap());
    assert_eq!(parse_retry_after(&h), Some(Duration::from_secs(7)));
    h.insert(
        "retry-after",
        "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
    );
    assert_eq!(parse_retry_after(&h), None);
}
