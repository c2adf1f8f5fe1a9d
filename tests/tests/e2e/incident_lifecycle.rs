//! Issue 5 end to end: reports posted to the real server's HTTP API turn into the right
//! incidents — one per breach, linked to the volume, its computer and the business service that
//! depends on it, escalated in place, kept open by hysteresis, resolved on recovery, reopened
//! within the reopen window — and a maintenance window holds a breach without anyone being told,
//! neither when it starts nor when it is over. Bad rules are refused with a clear 4xx.
//!
//! The machines here exist only as the reports the test sends (through `/api/v1/agent/enroll`
//! and `/api/v1/agent/report`), so every value and sample time is chosen by the test.
//!
//! "Parent down" (a computer's offline alert suppressing its volumes' alerts) is not driven from
//! here: every report is proof of life and recovers the computer's offline alert before that
//! report's volume samples are evaluated (`server/src/ingest/mod.rs`), and volume samples only
//! ever arrive in reports, so through the HTTP API there is no moment at which a volume sample
//! meets a firing offline alert. `server/tests/suite/noise.rs` drives the rule engine directly
//! for that case.

use std::future::Future;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use atalaya_tests::{drop_postgres_database, eventually, postgres_database, Server, ServerOptions};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// The default pack's rule these tests breach: warning above 85 %, critical above 95 %,
/// recovered at 80 % or below.
const VOLUME_RULE: &str = "Volume nearly full";

/// Longest a scenario may take before it counts as hung.
const LIMIT: Duration = Duration::from_secs(180);

async fn start(dir: &Path, database_url: Option<&str>) -> anyhow::Result<Server> {
    Server::start(ServerOptions {
        data_dir: dir,
        database_url,
        listen: "127.0.0.1:0",
        tls: None,
        ca_cert: None,
    })
    .await
}

/// Run `scenario` on a fresh PostgreSQL database when `ATALAYA_TEST_DATABASE_URL` names a
/// server (dropped afterwards); skip loudly otherwise.
async fn on_postgres<F, Fut>(scenario: F) -> anyhow::Result<()>
where
    F: FnOnce(Option<String>) -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let Some((url, admin_url, name)) = postgres_database().await else {
        return Ok(());
    };
    let result = tokio::time::timeout(LIMIT, scenario(Some(url))).await;
    drop_postgres_database(&admin_url, &name).await;
    result?
}

/// A machine that exists only as the reports this test sends for it.
struct Machine {
    hostname: String,
    agent_id: String,
    credential: String,
    seq: u64,
}

impl Machine {
    async fn enroll(server: &Server, hostname: &str) -> anyhow::Result<Machine> {
        let response = server
            .client
            .post(format!("{}/api/v1/agent/enroll", server.url))
            .json(
                &json!({"protocol": 1, "token": server.enrollment_token, "agent_version": "test",
                          "host": {"hostname": hostname, "machine_id": format!("m-{hostname}")}}),
            )
            .send()
            .await?;
        let status = response.status();
        let enrolled: Value = response.json().await?;
        anyhow::ensure!(status.is_success(), "enroll: {status} {enrolled}");
        Ok(Machine {
            hostname: hostname.to_string(),
            agent_id: enrolled["agent_id"]
                .as_str()
                .context("agent_id")?
                .to_string(),
            credential: enrolled["credential"]
                .as_str()
                .context("credential")?
                .to_string(),
            seq: 0,
        })
    }

    /// Report the root volume (1000 bytes, so percentages are exact) `used` percent full, as
    /// collected at `at`. The server acknowledges after commit: its effects are visible at once.
    async fn report_root(
        &mut self,
        server: &Server,
        at: DateTime<Utc>,
        used: u64,
    ) -> anyhow::Result<()> {
        self.seq += 1;
        let report = json!({
            "protocol": 1, "agent_id": self.agent_id, "seq": self.seq, "agent_version": "test",
            "collected_at": rfc3339(at),
            "host": {"hostname": self.hostname, "machine_id": format!("m-{}", self.hostname)},
            "volumes": [{"mount_point": "/", "total_bytes": 1000, "available_bytes": 1000 - used * 10}]
        });
        let response = server
            .client
            .post(format!("{}/api/v1/agent/report", server.url))
            .bearer_auth(&self.credential)
            .json(&report)
            .send()
            .await?;
        let status = response.status();
        let ack: Value = response.json().await?;
        anyhow::ensure!(
            status.is_success() && ack["duplicate"] != true,
            "report {}: {status} {ack}",
            self.seq
        );
        Ok(())
    }

    /// The ids of this machine's computer CI and of its root volume.
    async fn cis(&self, server: &Server) -> anyhow::Result<(i64, i64)> {
        let computers = server.get("/api/v1/cis?class=computer").await?;
        let computer = computers
            .as_array()
            .context("computer list")?
            .iter()
            .find(|c| c["name"] == self.hostname.as_str())
            .and_then(|c| c["id"].as_i64())
            .with_context(|| format!("no computer {}: {computers}", self.hostname))?;
        let volumes = server
            .get(&format!("/api/v1/cis?class=volume&computer_id={computer}"))
            .await?;
        let volume = volumes
            .as_array()
            .context("volume list")?
            .iter()
            .find(|v| v["name"] == "/")
            .and_then(|v| v["id"].as_i64())
            .with_context(|| format!("no / volume: {volumes}"))?;
        Ok((computer, volume))
    }
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Now, to the whole second (sample times are compared exactly).
fn now_secs() -> DateTime<Utc> {
    DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_else(Utc::now)
}

fn secs(n: i64) -> chrono::Duration {
    chrono::Duration::seconds(n)
}

/// A timestamp field of an API answer.
fn time(value: &Value) -> anyhow::Result<DateTime<Utc>> {
    let text = value
        .as_str()
        .with_context(|| format!("not a time: {value}"))?;
    Ok(DateTime::parse_from_rfc3339(text)?.with_timezone(&Utc))
}

async fn rule_named(server: &Server, name: &str, tenant_wide: bool) -> anyhow::Result<Value> {
    let rules = server.get("/api/v1/rules").await?;
    rules
        .as_array()
        .context("rule list")?
        .iter()
        .find(|r| r["name"] == name && r["tenant_id"].is_null() != tenant_wide)
        .cloned()
        .with_context(|| format!("no rule {name:?}: {rules}"))
}

/// Every incident whose subject is CI `ci` (whatever rule opened it).
async fn incidents_on(server: &Server, ci: i64) -> anyhow::Result<Vec<Value>> {
    let all = server.get("/api/v1/incidents?limit=1000").await?;
    Ok(all
        .as_array()
        .context("incident list")?
        .iter()
        .filter(|i| i["ci_id"].as_i64() == Some(ci))
        .cloned()
        .collect())
}

/// The one incident on `ci`, in detail (CIs and timeline); fails unless there is exactly one.
async fn the_incident_on(server: &Server, ci: i64) -> anyhow::Result<Value> {
    let found = incidents_on(server, ci).await?;
    anyhow::ensure!(found.len() == 1, "want exactly one incident: {found:?}");
    server
        .get(&format!("/api/v1/incidents/{}", found[0]["id"]))
        .await
}

/// The alert history of a CI, oldest first.
async fn alert_history(server: &Server, ci: i64) -> anyhow::Result<Vec<Value>> {
    let newest_first = server.get(&format!("/api/v1/cis/{ci}/alerts")).await?;
    let mut entries = newest_first.as_array().context("alert history")?.clone();
    entries.reverse();
    Ok(entries)
}

/// The timeline entries of one kind.
fn timeline<'a>(incident: &'a Value, kind: &str) -> Vec<&'a Value> {
    incident["timeline"]
        .as_array()
        .map(|t| t.iter().filter(|e| e["kind"] == kind).collect())
        .unwrap_or_default()
}

async fn delete(server: &Server, path: &str) -> anyhow::Result<(u16, Value)> {
    let response = server
        .client
        .delete(format!("{}{path}", server.url))
        .bearer_auth(&server.admin_token)
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or(Value::Null)))
}

// --- 1. open, link, escalate, hysteresis, auto-resolve ---------------------------------------

async fn breach_escalate_recover(database_url: Option<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), database_url.as_deref()).await?;
    let rule = rule_named(&server, VOLUME_RULE, false).await?;
    assert_eq!(
        (
            &rule["warning_level"],
            &rule["critical_level"],
            &rule["recovery_level"]
        ),
        (&json!(85.0), &json!(95.0), &json!(80.0)),
        "the default pack's levels: {rule}"
    );
    let mut machine = Machine::enroll(&server, "lifecycle-host").await?;
    // Samples collected a couple of minutes ago (an agent catching up): the incident must show
    // when the problem began on the machine, not when the report arrived. Kept under the
    // default offline threshold (3 × 60 s) so the offline sweep leaves the computer alone.
    let t0 = now_secs() - secs(150);
    machine.report_root(&server, t0, 50).await?;
    let (computer, volume) = machine.cis(&server).await?;
    assert!(incidents_on(&server, volume).await?.is_empty());

    // A business service depending on the computer, modelled before the breach.
    let (status, service) = server
        .post(
            "/api/v1/cis",
            &json!({"class": "business_service", "name": "Payroll", "tenant": "default"}),
        )
        .await?;
    assert_eq!(status, 201, "{service}");
    let service = service["id"].as_i64().context("service id")?;
    // (Answered with a bare status, so not through `Server::post`, which reads a JSON body.)
    let related = server
        .client
        .post(format!("{}/api/v1/cis/{service}/relations", server.url))
        .bearer_auth(&server.admin_token)
        .json(&json!({"kind": "depends_on", "target_id": computer}))
        .send()
        .await?;
    assert_eq!(related.status().as_u16(), 201, "{:?}", related.text().await);

    // Warning level crossed: one incident, at warning severity (urgency one step lower).
    let warned_at = t0 + secs(10);
    let before_arrival = Utc::now();
    machine.report_root(&server, warned_at, 90).await?;
    let incident = the_incident_on(&server, volume).await?;
    let id = incident["id"].as_i64().context("incident id")?;
    assert_eq!(incident["rule_id"], rule["id"]);
    assert_eq!(incident["source"], "rule");
    assert_eq!(incident["severity"], "warning");
    assert_eq!(incident["state"], "new");
    assert_eq!(
        (
            &incident["impact"],
            &incident["urgency"],
            &incident["priority"]
        ),
        (&json!(2), &json!(3), &json!(4)),
        "impact 2 × urgency 3 is P4: {incident}"
    );
    assert_eq!(time(&incident["problem_started_at"])?, warned_at);
    assert!(
        time(&incident["opened_at"])? >= before_arrival - secs(1),
        "opened when the report arrived: {incident}"
    );
    let mut links: Vec<(i64, String)> = incident["cis"]
        .as_array()
        .context("linked CIs")?
        .iter()
        .map(|c| {
            (
                c["ci_id"].as_i64().unwrap_or(-1),
                c["role"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    links.sort();
    let mut expected = vec![
        (volume, "affected".to_string()),
        (computer, "computer".to_string()),
        (service, "business_service".to_string()),
    ];
    expected.sort();
    assert_eq!(links, expected, "{incident}");

    // Critical level crossed: the same incident, escalated in place.
    let critical_at = t0 + secs(20);
    machine.report_root(&server, critical_at, 97).await?;
    let incident = the_incident_on(&server, volume).await?;
    assert_eq!(incident["id"].as_i64(), Some(id), "no second incident");
    assert_eq!(incident["severity"], "critical");
    assert_eq!(
        (&incident["urgency"], &incident["priority"]),
        (&json!(2), &json!(3)),
        "impact 2 × urgency 2 is P3: {incident}"
    );

    // Under the warning level but above the recovery level: hysteresis keeps it open.
    machine.report_root(&server, t0 + secs(30), 82).await?;
    let incident = the_incident_on(&server, volume).await?;
    assert_eq!(incident["state"], "new", "82 % is not yet recovered");
    assert!(incident["resolved_at"].is_null());

    // At the recovery level: resolved by the rule, still the one incident.
    let recovered_at = t0 + secs(40);
    machine.report_root(&server, recovered_at, 70).await?;
    let incident = the_incident_on(&server, volume).await?;
    assert_eq!(incident["id"].as_i64(), Some(id));
    assert_eq!(incident["state"], "resolved", "{incident}");
    assert!(incident["resolved_at"].is_string());

    // The timeline holds the values and sample times that caused each step.
    let opened = timeline(&incident, "opened");
    assert_eq!(opened.len(), 1, "{incident}");
    assert_eq!(opened[0]["detail"]["value"], json!(90.0));
    assert_eq!(opened[0]["detail"]["severity"], "warning");
    assert_eq!(time(&opened[0]["detail"]["sample_at"])?, warned_at);
    assert_eq!(time(&opened[0]["detail"]["problem_started_at"])?, warned_at);
    let escalated = timeline(&incident, "severity_changed");
    assert_eq!(escalated.len(), 1, "{incident}");
    assert_eq!(escalated[0]["detail"]["from"], "warning");
    assert_eq!(escalated[0]["detail"]["to"], "critical");
    assert_eq!(escalated[0]["detail"]["value"], json!(97.0));
    assert_eq!(time(&escalated[0]["detail"]["sample_at"])?, critical_at);
    let recovered = timeline(&incident, "alert_recovered");
    assert_eq!(recovered.len(), 1, "{incident}");
    assert_eq!(recovered[0]["detail"]["value"], json!(70.0));
    assert_eq!(time(&recovered[0]["detail"]["sample_at"])?, recovered_at);
    assert_eq!(timeline(&incident, "resolved").len(), 1, "{incident}");

    // The alert history: firing at the first breach, ok at the recovery, with their values.
    let history: Vec<Value> = alert_history(&server, volume)
        .await?
        .into_iter()
        .filter(|e| e["rule_id"] == rule["id"])
        .collect();
    assert_eq!(history.len(), 2, "{history:?}");
    assert_eq!(
        (&history[0]["from"], &history[0]["to"], &history[0]["value"]),
        (&json!("ok"), &json!("firing"), &json!(90.0))
    );
    assert_eq!(history[0]["incident_id"].as_i64(), Some(id));
    assert_eq!(time(&history[0]["at"])?, warned_at);
    assert_eq!(
        (&history[1]["from"], &history[1]["to"], &history[1]["value"]),
        (&json!("firing"), &json!("ok"), &json!(70.0))
    );
    assert_eq!(time(&history[1]["at"])?, recovered_at);
    // Nothing else fired about this machine meanwhile (the free-space and forecast rules, the
    // offline sweep): exactly the one incident, on the volume.
    let all = server.get("/api/v1/incidents?limit=1000").await?;
    assert_eq!(all.as_array().map(Vec::len), Some(1), "{all}");
    server.stop().await
}

#[tokio::test]
async fn breach_escalate_recover_on_sqlite() -> anyhow::Result<()> {
    tokio::time::timeout(LIMIT, breach_escalate_recover(None)).await?
}

#[tokio::test]
async fn breach_escalate_recover_on_postgres() -> anyhow::Result<()> {
    on_postgres(breach_escalate_recover).await
}

// --- 2. reopen window --------------------------------------------------------------------------

/// The tenant's own version of the volume rule, overriding the MSP-wide one by name, with a
/// reopen window short enough to step past.
const REOPEN_WINDOW_SECS: u64 = 4;

async fn reopen_window(database_url: Option<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), database_url.as_deref()).await?;
    let msp_rule = rule_named(&server, VOLUME_RULE, false).await?;
    let (status, rule) = server
        .post(
            "/api/v1/rules?tenant=default",
            &json!({"name": VOLUME_RULE, "metric": "volume.used_percent", "warning_level": 85.0,
                    "critical_level": 95.0, "recovery_level": 80.0,
                    "reopen_window_secs": REOPEN_WINDOW_SECS}),
        )
        .await?;
    assert_eq!(status, 201, "{rule}");
    assert!(rule["tenant_id"].is_i64(), "a tenant rule: {rule}");

    let mut machine = Machine::enroll(&server, "reopen-host").await?;
    let t0 = now_secs() - secs(120);
    let mut at = t0;
    let mut tick = || {
        at += secs(1);
        at
    };
    machine.report_root(&server, tick(), 50).await?;
    let (_, volume) = machine.cis(&server).await?;

    machine.report_root(&server, tick(), 97).await?;
    let first = the_incident_on(&server, volume).await?;
    assert_eq!(
        first["rule_id"], rule["id"],
        "the tenant's rule overrides the MSP-wide one ({}): {first}",
        msp_rule["id"]
    );
    let id = first["id"].as_i64().context("id")?;
    machine.report_root(&server, tick(), 70).await?;
    assert_eq!(the_incident_on(&server, volume).await?["state"], "resolved");

    // Back within the window: the same incident, open again.
    machine.report_root(&server, tick(), 97).await?;
    let again = the_incident_on(&server, volume).await?;
    assert_eq!(again["id"].as_i64(), Some(id), "reopened, not a new one");
    assert_eq!(again["state"], "new", "{again}");
    assert!(again["resolved_at"].is_null(), "{again}");
    assert_eq!(timeline(&again, "reopened").len(), 1, "{again}");
    assert_eq!(
        again["reopen_count"], 1,
        "counted as a reopen (KPIs): {again}"
    );

    // Resolved again, and back only after the window: a new incident that refers to the old.
    machine.report_root(&server, tick(), 70).await?;
    assert_eq!(the_incident_on(&server, volume).await?["state"], "resolved");
    tokio::time::sleep(Duration::from_millis(REOPEN_WINDOW_SECS * 1000 + 500)).await;
    machine.report_root(&server, tick(), 97).await?;
    let mut both = incidents_on(&server, volume).await?;
    both.sort_by_key(|i| i["id"].as_i64());
    assert_eq!(both.len(), 2, "{both:?}");
    assert_eq!(both[0]["id"].as_i64(), Some(id));
    assert_eq!(both[0]["state"], "resolved");
    assert_eq!(both[1]["state"], "new");
    let later = server
        .get(&format!("/api/v1/incidents/{}", both[1]["id"]))
        .await?;
    let follows = timeline(&later, "follows");
    assert_eq!(follows.len(), 1, "{later}");
    assert_eq!(
        follows[0]["detail"]["previous_incident"], first["number"],
        "{later}"
    );
    server.stop().await
}

#[tokio::test]
async fn reopen_window_on_sqlite() -> anyhow::Result<()> {
    tokio::time::timeout(LIMIT, reopen_window(None)).await?
}

#[tokio::test]
async fn reopen_window_on_postgres() -> anyhow::Result<()> {
    on_postgres(reopen_window).await
}

// --- 3. maintenance windows --------------------------------------------------------------------

/// Webhook deliveries received by a small HTTP server on loopback: (event header, payload).
#[derive(Clone, Default)]
struct Webhooks {
    received: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Webhooks {
    /// Listen on a free loopback port; returns the URL to register.
    async fn start(&self) -> anyhow::Result<String> {
        use axum::extract::State;
        use axum::http::HeaderMap;
        use axum::routing::post;

        async fn receive(
            State(hooks): State<Webhooks>,
            headers: HeaderMap,
            axum::Json(payload): axum::Json<Value>,
        ) -> &'static str {
            let event = headers
                .get("x-atalaya-event")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            hooks
                .received
                .lock()
                .expect("webhook log lock")
                .push((event, payload));
            "ok"
        }

        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}/hook", listener.local_addr()?);
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(url)
    }

    /// What arrived about incidents, in order of arrival.
    fn about_incidents(&self) -> Vec<(String, Value)> {
        let received = self.received.lock().expect("webhook log lock");
        received
            .iter()
            .filter(|(_, payload)| payload["kind"] == "incident")
            .cloned()
            .collect()
    }
}

async fn maintenance_window(database_url: Option<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), database_url.as_deref()).await?;
    let hooks = Webhooks::default();
    let hook_url = hooks.start().await?;
    let (status, channel) = server
        .post(
            "/api/v1/tenants/default/notification-channels",
            &json!({"kind": "webhook", "target": hook_url}),
        )
        .await?;
    assert_eq!(status, 201, "{channel}");
    let rule = rule_named(&server, VOLUME_RULE, false).await?;

    let mut machine = Machine::enroll(&server, "maint-host").await?;
    // Sample times just behind the clock, strictly increasing, inside the windows below.
    let mut at = now_secs() - secs(100);
    let mut tick = || {
        at += secs(1);
        at
    };
    machine.report_root(&server, tick(), 50).await?;
    let (_, volume) = machine.cis(&server).await?;
    let window = |reason: &str| {
        json!({"tenant": "default", "reason": reason, "scope_query": "name = maint-host",
               "starts_at": rfc3339(Utc::now() - secs(600)),
               "ends_at": rfc3339(Utc::now() + secs(3600))})
    };

    // A breach during planned work: held, no incident.
    let (status, first) = server
        .post("/api/v1/maintenance-windows", &window("disk swap"))
        .await?;
    assert_eq!(status, 201, "{first}");
    assert!(first["author"].as_str().is_some_and(|a| !a.is_empty()));
    machine.report_root(&server, tick(), 97).await?;
    assert!(incidents_on(&server, volume).await?.is_empty());
    let history = alert_history(&server, volume).await?;
    let last = history.last().context("alert history")?;
    assert_eq!(
        (&last["from"], &last["to"]),
        (&json!("ok"), &json!("firing"))
    );
    assert!(last["incident_id"].is_null());
    assert_eq!(
        last["note"],
        format!("suppressed: maintenance:{}", first["id"]),
        "{history:?}"
    );

    // The window ends, then the volume recovers: nobody was told, so nobody is told.
    let (status, cancelled) = delete(
        &server,
        &format!("/api/v1/maintenance-windows/{}", first["id"]),
    )
    .await?;
    assert_eq!(status, 200, "{cancelled}");
    assert!(cancelled["cancelled_at"].is_string(), "{cancelled}");
    machine.report_root(&server, tick(), 70).await?;
    assert!(incidents_on(&server, volume).await?.is_empty());
    let history = alert_history(&server, volume).await?;
    let last = history.last().context("alert history")?;
    assert_eq!(
        (&last["from"], &last["to"]),
        (&json!("firing"), &json!("ok"))
    );
    assert_eq!(last["note"], "recovered while suppressed: no notification");

    // Another window; this time the problem outlasts it: the incident opens when the window
    // ends, dated from the first breaching sample — and now people are told, both ways.
    let (status, second) = server
        .post("/api/v1/maintenance-windows", &window("firmware update"))
        .await?;
    assert_eq!(status, 201, "{second}");
    let breached_at = tick();
    machine.report_root(&server, breached_at, 97).await?;
    assert!(incidents_on(&server, volume).await?.is_empty());
    let (status, _) = delete(
        &server,
        &format!("/api/v1/maintenance-windows/{}", second["id"]),
    )
    .await?;
    assert_eq!(status, 200);
    machine.report_root(&server, tick(), 96).await?;
    let incident = the_incident_on(&server, volume).await?;
    let id = incident["id"].as_i64().context("id")?;
    assert_eq!(incident["rule_id"], rule["id"]);
    assert_eq!(time(&incident["problem_started_at"])?, breached_at);
    machine.report_root(&server, tick(), 70).await?;
    assert_eq!(the_incident_on(&server, volume).await?["state"], "resolved");

    // The webhook hears exactly that incident's opening and resolution. (Only messages about
    // incidents count: the tenant's daily digest may go to the same channel meanwhile.)
    let received = eventually(Duration::from_secs(30), || {
        let received = hooks.about_incidents();
        async move { Ok((received.len() >= 2).then_some(received)) }
    })
    .await?;
    let events: Vec<(&str, Option<i64>)> = received
        .iter()
        .map(|(event, payload)| (event.as_str(), payload["ticket"]["id"].as_i64()))
        .collect();
    assert_eq!(
        events,
        vec![("opened", Some(id)), ("resolved", Some(id))],
        "{received:?}"
    );
    // And nothing else about incidents is queued to be sent later.
    let outbox = server.get("/api/v1/tenants/default/outbox").await?;
    let mut queued: Vec<(&str, &str)> = outbox
        .as_array()
        .context("outbox")?
        .iter()
        .filter(|e| {
            e["idempotency_key"]
                .as_str()
                .is_some_and(|k| k.starts_with("incidents:"))
        })
        .map(|e| {
            (
                e["event"].as_str().unwrap_or(""),
                e["state"].as_str().unwrap_or(""),
            )
        })
        .collect();
    queued.sort();
    assert_eq!(
        queued,
        vec![("opened", "sent"), ("resolved", "sent")],
        "{outbox}"
    );
    server.stop().await
}

#[tokio::test]
async fn maintenance_window_on_sqlite() -> anyhow::Result<()> {
    tokio::time::timeout(LIMIT, maintenance_window(None)).await?
}

#[tokio::test]
async fn maintenance_window_on_postgres() -> anyhow::Result<()> {
    on_postgres(maintenance_window).await
}

// --- 5. validation -----------------------------------------------------------------------------

async fn bad_rules_refused(database_url: Option<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = start(dir.path(), database_url.as_deref()).await?;
    let cases = [
        (
            json!({"name": "bad", "metric": "volume.used_percent", "warning_level": 99.0,
                   "critical_level": 90.0}),
            "warning_level must not be worse than critical_level",
        ),
        (
            json!({"name": "bad", "metric": "volume.free_bytes", "direction": "below",
                   "warning_level": 1e9, "critical_level": 5e9}),
            "warning_level must not be worse than critical_level",
        ),
        (
            json!({"name": "bad", "metric": "volume.used_percent", "warning_level": 85.0,
                   "critical_level": 95.0, "recovery_level": 90.0}),
            "recovery_level",
        ),
        (
            json!({"name": "bad", "metric": "volume.fullness", "critical_level": 90.0}),
            "unknown metric",
        ),
        (
            json!({"name": "bad", "metric": "volume.used_percent", "critical_level": 90.0,
                   "for_secs": -5}),
            "for_secs",
        ),
        (
            json!({"name": "bad", "metric": "volume.used_percent", "critical_level": 90.0,
                   "scope_query": "name = = x"}),
            "scope_query",
        ),
        (
            json!({"name": "bad", "metric": "volume.used_percent", "threshold": 90.0}),
            "threshold",
        ),
    ];
    for (body, says) in cases {
        let (status, answer) = server.post("/api/v1/rules?tenant=default", &body).await?;
        assert!(
            (400..500).contains(&status),
            "{body} answered {status} {answer}"
        );
        let message = answer["error"]["message"].as_str().unwrap_or("");
        assert!(
            message.contains(says) && answer["error"]["code"].is_string(),
            "{body}: want a message about {says:?}, got {answer}"
        );
    }
    let rules = server.get("/api/v1/rules").await?;
    assert!(
        !rules
            .as_array()
            .context("rules")?
            .iter()
            .any(|r| r["name"] == "bad"),
        "no refused rule was stored: {rules}"
    );
    // A maintenance window must say why.
    let (status, answer) = server
        .post(
            "/api/v1/maintenance-windows",
            &json!({"tenant": "default", "reason": " ", "ends_at": rfc3339(Utc::now() + secs(60))}),
        )
        .await?;
    assert_eq!(status, 422, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("reason")),
        "{answer}"
    );
    server.stop().await
}

#[tokio::test]
async fn bad_rules_refused_on_sqlite() -> anyhow::Result<()> {
    tokio::time::timeout(LIMIT, bad_rules_refused(None)).await?
}

#[tokio::test]
async fn bad_rules_refused_on_postgres() -> anyhow::Result<()> {
    on_postgres(bad_rules_refused).await
}

// --- 4. offline, and back ----------------------------------------------------------------------

/// Reports every 5 s: a computer is offline after 15 s without one (the default pack's rule).
const REPORT_INTERVAL_SECS: i64 = 5;

/// The offline sweep runs every 30 s on the server (no knob), so this waits for one sweep: a
/// machine that went silent is found offline, while one that keeps reporting is not — even though
/// its samples are a minute old (its clock runs behind, or it is working through its spool) —
/// and the silent machine's next report resolves its offline incident. A volume breach in that
/// report is a problem of its own: the computer is back, so it is not held as "parent down".
async fn offline_and_back(database_url: Option<String>) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let server = Server::start_with_args(
        ServerOptions {
            data_dir: dir.path(),
            database_url: database_url.as_deref(),
            listen: "127.0.0.1:0",
            tls: None,
            ca_cert: None,
        },
        &["--report-interval".into(), REPORT_INTERVAL_SECS.to_string()],
    )
    .await?;
    let offline_rule = rule_named(&server, "Agent offline", false).await?;
    assert_eq!(
        offline_rule["critical_level"].as_f64(),
        Some(3.0 * REPORT_INTERVAL_SECS as f64),
        "{offline_rule}"
    );
    let volume_rule = rule_named(&server, VOLUME_RULE, false).await?;

    let mut silent = Machine::enroll(&server, "silent-host").await?;
    silent.report_root(&server, now_secs(), 50).await?;
    let (silent_computer, silent_volume) = silent.cis(&server).await?;
    let mut behind = Machine::enroll(&server, "behind-host").await?;
    let skew = secs(60);
    behind.report_root(&server, now_secs() - skew, 50).await?;
    let (behind_computer, _) = behind.cis(&server).await?;

    // `behind` reports every second until the sweep has found `silent` offline.
    let deadline = std::time::Instant::now() + Duration::from_secs(75);
    let offline = loop {
        let found = incidents_on(&server, silent_computer).await?;
        if let Some(incident) = found.first() {
            break incident.clone();
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the offline sweep never found silent-host offline"
        );
        tokio::time::sleep(Duration::from_secs(1)).await;
        behind.report_root(&server, now_secs() - skew, 50).await?;
    };
    assert_eq!(offline["rule_id"], offline_rule["id"], "{offline}");
    assert_eq!(offline["state"], "new");
    let behind_incidents = incidents_on(&server, behind_computer).await?;
    assert!(
        behind_incidents.is_empty(),
        "a machine whose reports keep arriving is not offline, whatever its clock says: \
         {behind_incidents:?}"
    );

    // Back, with a full volume: the offline incident resolves, the volume's opens.
    silent.report_root(&server, now_secs(), 97).await?;
    let offline = the_incident_on(&server, silent_computer).await?;
    assert_eq!(offline["state"], "resolved", "{offline}");
    let volume = the_incident_on(&server, silent_volume).await?;
    assert_eq!(volume["rule_id"], volume_rule["id"]);
    assert_eq!(volume["state"], "new", "{volume}");
    server.stop().await
}

#[tokio::test]
async fn offline_and_back_on_sqlite() -> anyhow::Result<()> {
    tokio::time::timeout(LIMIT, offline_and_back(None)).await?
}

#[tokio::test]
async fn offline_and_back_on_postgres() -> anyhow::Result<()> {
    on_postgres(offline_and_back).await
}
