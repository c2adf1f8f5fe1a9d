//! Per-disk health from every report's `disk_io`: I/O rates and SMART readings recorded as
//! samples on the disk's CI (matched by kernel name, unknown disks skipped), and a failing SMART
//! verdict opening — and a passing one resolving — the default "Disk SMART failing" incident
//! between two inventories. On every backend.

use axum::http::StatusCode;
use serde_json::{json, Value};

use crate::agent_config::{report, Api};
use crate::on_every_backend;

fn disk_io(smart_healthy: Option<bool>) -> Value {
    let mut sda = json!({"device": "sda", "read_bytes_per_sec": 4096.0, "write_bytes_per_sec": 1024.5,
                         "reads_per_sec": 12.0, "writes_per_sec": 3.0,
                         "reallocated_sectors": 0, "temperature_celsius": 38});
    if let (Some(ok), Some(entry)) = (smart_healthy, sda.as_object_mut()) {
        entry.insert("smart_healthy".into(), json!(ok));
        entry.insert("smart_checked_at".into(), json!("2026-11-22T09:59:00Z"));
    }
    json!({"disk_io": [
        sda,
        // No SMART on a virtual disk: rates only.
        {"device": "vda", "read_bytes_per_sec": 1.0, "write_bytes_per_sec": 2.0},
        // Not in any inventory yet: skipped without a word.
        {"device": "sdz", "read_bytes_per_sec": 7.0, "smart_healthy": false},
    ]})
}

on_every_backend!(disk_io_records_samples_and_smart_opens_incidents, |store| {
    let api = Api::new(&store).await;
    let (agent_id, credential) = api.enroll().await;
    let disk = |name: &str, serial: &str, smart: Value| {
        json!({"name": name, "serial_number": serial, "size_bytes": 500_000_000_000u64,
               "kind": "ssd", "smart": smart})
    };
    let mut first = json!({"inventory": {"hash": "inv-disks", "disks": [
        disk("sda", "S1", json!({"available": true, "passed": true, "reallocated_sectors": 0})),
        disk("vda", "V1", json!({"available": false, "reason": "smartctl is not installed"})),
    ]}});
    if let (Some(first), Some(extra)) = (first.as_object_mut(), disk_io(Some(true)).as_object()) {
        first.extend(extra.clone());
    }
    // The inventory and the rates in one report: the disks' CIs exist before their samples.
    api.report(&credential, report(&agent_id, 1, 0, first))
        .await;
    api.report(&credential, report(&agent_id, 2, 1, disk_io(Some(true))))
        .await;

    let disk_id = |name: &'static str| {
        let store = store.clone();
        async move {
            let (id,): (i64,) = sqlx::query_as(
                "SELECT id FROM configuration_items WHERE class = 'physical_disk' AND name = $1",
            )
            .bind(name)
            .fetch_one(store.pool())
            .await
            .expect("disk CI");
            id
        }
    };
    let sda = disk_id("sda").await;
    let vda = disk_id("vda").await;
    let samples = |ci: i64| {
        let store = store.clone();
        async move {
            let rows: Vec<(String, i64, f64)> = sqlx::query_as(
                "SELECT metric, at, value FROM metric_samples WHERE ci_id = $1 ORDER BY metric, at",
            )
            .bind(ci)
            .fetch_all(store.pool())
            .await
            .expect("samples");
            rows
        }
    };
    let at_minute = |minute: i64| 1_795_341_600_000 + minute * 60_000;
    let sda_samples = samples(sda).await;
    let of = |metric: &str| -> Vec<(i64, f64)> {
        sda_samples
            .iter()
            .filter(|(m, _, _)| m == metric)
            .map(|(_, at, v)| (*at, *v))
            .collect()
    };
    assert_eq!(
        of("disk.read_bytes_per_second"),
        vec![(at_minute(0), 4096.0), (at_minute(1), 4096.0)],
        "{sda_samples:?}"
    );
    assert_eq!(of("disk.write_bytes_per_second")[1], (at_minute(1), 1024.5));
    assert_eq!(of("disk.reads_per_second")[1].1, 12.0);
    assert_eq!(of("disk.writes_per_second")[1].1, 3.0);
    assert_eq!(of("disk.smart_failed")[1].1, 0.0);
    assert_eq!(of("disk.reallocated_sectors")[1].1, 0.0);
    assert_eq!(of("disk.temperature_celsius")[1].1, 38.0);
    // vda: rates, but no SMART sample (unknown is not "healthy").
    let vda_metrics: Vec<String> = samples(vda).await.into_iter().map(|(m, _, _)| m).collect();
    assert!(vda_metrics.contains(&"disk.write_bytes_per_second".to_owned()));
    assert!(
        !vda_metrics.iter().any(|m| m.starts_with("disk.smart")),
        "{vda_metrics:?}"
    );
    let (unknown,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM configuration_items WHERE name = 'sdz'")
            .fetch_one(store.pool())
            .await
            .expect("count");
    assert_eq!(unknown, 0, "an unknown disk gets no CI from disk_io");

    // The agent's SMART check finds sda failing: the incident opens at the next report, with no
    // inventory in between.
    api.report(&credential, report(&agent_id, 3, 2, disk_io(Some(false))))
        .await;
    let open: Vec<(String, i64)> =
        sqlx::query_as("SELECT title, ci_id FROM incidents WHERE resolved_at IS NULL ORDER BY id")
            .fetch_all(store.pool())
            .await
            .expect("incidents");
    assert_eq!(open.len(), 1, "{open:?}");
    assert!(
        open[0].0.contains("Disk SMART failing") && open[0].0.contains("Disk sda"),
        "{open:?}"
    );
    assert_eq!(open[0].1, sda, "linked to the disk's CI");

    // Unknown (smartctl gone) neither resolves nor reopens anything.
    api.report(&credential, report(&agent_id, 4, 3, disk_io(None)))
        .await;
    let (still_open,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM incidents WHERE resolved_at IS NULL")
            .fetch_one(store.pool())
            .await
            .expect("count");
    assert_eq!(still_open, 1);

    // Nor does an inventory that could not read SMART (smartctl timed out): unknown, not healthy.
    let unreadable = json!({"inventory": {"hash": "inv-disks-2", "disks": [
        disk("sda", "S1", json!({"available": false, "reason": "smartctl did not finish within 15s and was killed"})),
        disk("vda", "V1", json!({"available": false, "reason": "smartctl is not installed"})),
    ]}});
    api.report(&credential, report(&agent_id, 5, 4, unreadable))
        .await;
    let (still_open,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM incidents WHERE resolved_at IS NULL")
            .fetch_one(store.pool())
            .await
            .expect("count");
    assert_eq!(
        still_open, 1,
        "an unreadable SMART does not resolve the incident"
    );

    // Passing again: the incident resolves.
    api.report(&credential, report(&agent_id, 6, 5, disk_io(Some(true))))
        .await;
    let (still_open,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM incidents WHERE resolved_at IS NULL")
            .fetch_one(store.pool())
            .await
            .expect("count");
    assert_eq!(still_open, 0, "SMART passed again");
});

on_every_backend!(bad_disk_io_is_refused, |store| {
    let api = Api::new(&store).await;
    let (agent_id, credential) = api.enroll().await;
    for bad in [
        json!({"disk_io": [{"device": "sda", "read_bytes_per_sec": -1.0}]}),
        json!({"disk_io": [{"device": ""}]}),
        json!({"disk_io": [{"device": "sda"}, {"device": "sda"}]}),
    ] {
        let (status, body) = api
            .call(
                "POST",
                "/api/v1/agent/report",
                &credential,
                Some(report(&agent_id, 1, 0, bad.clone())),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("disk_io"), "{message}");
    }
});
