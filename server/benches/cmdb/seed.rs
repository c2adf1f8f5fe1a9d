//! Bulk seeding: the rows ingest would have written for thousands of computers, written with
//! multi-row INSERTs (CIs, identifiers, relations) and one INSERT … SELECT per batch of
//! computers for their 1,000 installations each, on a connection of its own with foreign-key
//! checks off (the rows are consistent by construction). Ingest order is kept: a computer, then
//! its disk, interface, services and volumes get consecutive ids.
//!
//! Not written: history rows and metric samples (no query reads them) and agents (the bulk
//! computers never report).

use std::time::Instant;

use anyhow::Context;
use atalaya_server::cmdb::identify::computer_identifiers;
use atalaya_server::cmdb::version::version_key;
use atalaya_server::store::{Backend, TenantId};
use serde_json::{json, Map, Value};
use sqlx::{AnyConnection, Connection, Executor};

use crate::fleet::{self, collected_at, Machine, VARIANT_SQL};

/// Computers written per transaction.
const BATCH: u64 = 100;

/// What the queries need to know about the seeded data.
pub struct Seeded {
    /// One service CI from each of 50 computers, for the business service to depend on.
    pub payroll_services: Vec<i64>,
}

fn text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// Rows of one multi-row INSERT.
struct Insert {
    head: &'static str,
    rows: Vec<String>,
}

impl Insert {
    fn new(head: &'static str) -> Self {
        Insert {
            head,
            rows: Vec::new(),
        }
    }

    async fn run(&mut self, conn: &mut AnyConnection) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let sql = format!("{} VALUES {}", self.head, self.rows.join(",\n"));
        conn.execute(sql.as_str()).await.context(self.head)?;
        self.rows.clear();
        Ok(())
    }
}

struct Batch {
    tenant: i64,
    seen_at: i64,
    cis: Insert,
    identifiers: Insert,
    relations: Insert,
}

impl Batch {
    #[allow(clippy::too_many_arguments)]
    fn ci(
        &mut self,
        id: i64,
        class: &str,
        name: &str,
        computer_id: Option<i64>,
        attributes: Map<String, Value>,
        metrics: Map<String, Value>,
        inventory_hash: Option<&str>,
    ) {
        let seen = self.seen_at;
        self.cis.rows.push(format!(
            "({id}, {}, {}, {}, {}, 'active', {}, {}, {seen}, {seen}, {seen}, {})",
            self.tenant,
            text(class),
            text(name),
            computer_id.map_or("NULL".into(), |c| c.to_string()),
            text(&Value::Object(attributes).to_string()),
            text(&Value::Object(metrics).to_string()),
            inventory_hash.map_or("NULL".into(), text),
        ));
    }

    fn identifier(&mut self, class: &str, kind: &str, value: &str, ci_id: i64) {
        self.identifiers.rows.push(format!(
            "({}, {}, {}, {}, {ci_id})",
            self.tenant,
            text(class),
            text(kind),
            text(value)
        ));
    }

    /// A dependent CI: its row, its local key and its link to the computer.
    #[allow(clippy::too_many_arguments)]
    fn component(
        &mut self,
        id: i64,
        computer_id: i64,
        class: &str,
        name: &str,
        local_key: &str,
        relation: &str,
        attributes: Value,
        metrics: Value,
    ) {
        self.ci(
            id,
            class,
            name,
            Some(computer_id),
            object(attributes),
            object(metrics),
            None,
        );
        self.identifier(
            class,
            "local_key",
            &format!("{computer_id}:{local_key}"),
            id,
        );
        self.relations.rows.push(format!(
            "({}, {id}, {}, {computer_id}, {})",
            self.tenant,
            text(relation),
            self.seen_at
        ));
    }

    /// Everything ingest would store for `m`; returns the ids used (computer first).
    fn machine(&mut self, m: &Machine, computer_id: i64) -> Vec<i64> {
        let host = m.host();
        let inventory = m.inventory(0);
        let mut attributes = object(json!({
            "hostname": host.hostname, "machine_id": host.machine_id,
            "hardware_uuid": host.hardware_uuid, "serial_number": host.serial_number,
            "os_name": host.os_name, "os_version": host.os_version,
            "kernel_version": host.kernel_version, "architecture": host.architecture,
            "cpu_model": host.cpu_model, "cpu_cores": host.cpu_cores,
            "memory_total_bytes": host.memory_total_bytes, "boot_time": host.boot_time,
            "agent_version": "0.1.0",
        }));
        let hw = m.hardware();
        attributes.extend(object(json!({
            "vendor": hw.vendor, "model": hw.model,
            "bios_vendor": hw.bios_vendor, "bios_version": hw.bios_version, "bios_date": hw.bios_date,
            "board_vendor": hw.board_vendor, "board_model": hw.board_model, "chassis_type": hw.chassis_type,
        })));
        let cpu = m.cpu();
        attributes.extend(object(json!({
            "cpu_vendor": cpu.vendor, "cpu_sockets": cpu.sockets, "cpu_threads": cpu.threads,
            "cpu_max_frequency_mhz": cpu.max_frequency_mhz,
            "time_zone": inventory.time_zone, "reboot_required": inventory.reboot_required,
            "logged_in_users": Vec::<String>::new(),
        })));
        let mut metrics = Map::new();
        for sample in m.samples(0) {
            metrics.insert(sample.metric, json!(sample.value));
        }
        if let (Some(used), Some(total)) = (
            metrics.get("memory.used_bytes").and_then(Value::as_f64),
            host.memory_total_bytes,
        ) {
            metrics.insert(
                "memory_used_percent".into(),
                json!((used * 10_000.0 / total as f64).round() / 100.0),
            );
        }
        self.ci(
            computer_id,
            "computer",
            &host.hostname,
            None,
            attributes,
            metrics,
            Some(&inventory.hash),
        );
        let nic = m.interface();
        let macs: Vec<&str> = nic.mac_address.as_deref().into_iter().collect();
        for id in computer_identifiers(&host, &macs) {
            self.identifier("computer", id.kind.name, &id.value, computer_id);
        }

        let mut next = computer_id;
        let mut ids = vec![computer_id];
        let mut take = || {
            next += 1;
            ids.push(next);
            next
        };
        let d = m.disk();
        let serial = d.serial_number.clone().unwrap_or_default();
        self.component(
            take(),
            computer_id,
            "physical_disk",
            &d.name,
            &format!("serial:{serial}"),
            "contained_in",
            json!({
                "device": d.name, "model": d.model, "serial_number": d.serial_number,
                "size_bytes": d.size_bytes, "kind": d.kind, "removable": d.removable,
                "smart_available": d.smart.available, "smart_passed": d.smart.passed,
                "smart_unavailable_reason": d.smart.reason,
            }),
            json!({
                "temperature_celsius": d.smart.temperature_celsius, "power_on_hours": d.smart.power_on_hours,
                "reallocated_sectors": d.smart.reallocated_sectors, "pending_sectors": d.smart.pending_sectors,
                "wear_percent": d.smart.wear_percent,
            }),
        );
        self.component(
            take(),
            computer_id,
            "network_interface",
            &nic.name,
            &nic.name,
            "contained_in",
            json!({
                "mac_address": nic.mac_address, "addresses": nic.addresses, "mtu": nic.mtu,
                "speed_mbps": nic.speed_mbps, "is_virtual": nic.is_virtual,
            }),
            json!({"oper_state": nic.oper_state}),
        );
        for s in &inventory.services {
            self.component(
                take(),
                computer_id,
                "service",
                &s.name,
                &s.name,
                "runs_on",
                json!({
                    "unit": s.name, "description": s.description, "enabled_state": s.enabled_state,
                    "load_state": s.load_state,
                }),
                json!({"active_state": s.active_state, "sub_state": s.sub_state}),
            );
        }
        for v in m.volumes() {
            self.component(
                take(),
                computer_id,
                "volume",
                &v.mount_point,
                &v.mount_point,
                "contained_in",
                json!({
                    "mount_point": v.mount_point, "device": v.device, "filesystem": v.filesystem,
                    "total_bytes": v.total_bytes, "read_only": v.read_only,
                }),
                json!({
                    "available_bytes": v.available_bytes,
                    "used_bytes": v.used_bytes(),
                    "used_percent": (v.used_percent() * 100.0).round() / 100.0,
                }),
            );
        }
        ids
    }

    async fn flush(&mut self, conn: &mut AnyConnection) -> anyhow::Result<()> {
        conn.execute("BEGIN").await?;
        self.cis.run(conn).await?;
        self.identifiers.run(conn).await?;
        self.relations.run(conn).await?;
        conn.execute("COMMIT").await?;
        Ok(())
    }
}

/// A connection for bulk writes: foreign-key checks off, durability relaxed.
pub async fn connect(url: &str, backend: Backend) -> anyhow::Result<AnyConnection> {
    let mut conn = AnyConnection::connect(url).await?;
    match backend {
        Backend::Sqlite => {
            conn.execute(
                "PRAGMA foreign_keys = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -512000;",
            )
            .await?;
        }
        Backend::Postgres => {
            conn.execute("SET session_replication_role = replica; SET synchronous_commit = off;")
                .await?;
        }
    }
    Ok(conn)
}

/// Write the software catalogue, then computers `first..first + count` of the fleet.
pub async fn bulk(
    conn: &mut AnyConnection,
    backend: Backend,
    tenant: TenantId,
    first: u64,
    count: u64,
) -> anyhow::Result<Seeded> {
    let started = Instant::now();
    let seen_at = collected_at(0).timestamp_millis();

    // The catalogue, and which package each (slot, variant) stands for.
    let catalogue = fleet::catalogue();
    let mut packages = Insert::new(
        "INSERT INTO software_packages (name, version, architecture, source, version_key)",
    );
    for chunk in catalogue.chunks(1000) {
        for (_, _, p) in chunk {
            packages.rows.push(format!(
                "({}, {}, 'amd64', 'dpkg', {})",
                text(&p.name),
                text(&p.version),
                text(&version_key(&p.version))
            ));
        }
        let head = packages.head;
        let sql = format!(
            "{head} VALUES {} ON CONFLICT (name, version, architecture, source) DO NOTHING",
            packages.rows.join(",")
        );
        conn.execute(sql.as_str()).await?;
        packages.rows.clear();
    }
    let ids: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT id, name, version FROM software_packages")
            .fetch_all(&mut *conn)
            .await?;
    let ids: std::collections::HashMap<(String, String), i64> =
        ids.into_iter().map(|(id, n, v)| ((n, v), id)).collect();
    conn.execute(
        "CREATE TEMP TABLE bench_slots (n BIGINT PRIMARY KEY);
         CREATE TEMP TABLE bench_choices (slot BIGINT, variant BIGINT, package_id BIGINT,
                                          PRIMARY KEY (slot, variant));",
    )
    .await?;
    let slots: Vec<String> = (0..fleet::SLOTS).map(|n| format!("({n})")).collect();
    conn.execute(format!("INSERT INTO bench_slots (n) VALUES {}", slots.join(",")).as_str())
        .await?;
    let mut choices = Insert::new("INSERT INTO bench_choices (slot, variant, package_id)");
    for (slot, variant, p) in &catalogue {
        let id = ids
            .get(&(p.name.clone(), p.version.clone()))
            .context("package just written")?;
        choices.rows.push(format!("({slot}, {variant}, {id})"));
    }
    choices.run(conn).await?;

    let (base,): (i64,) =
        sqlx::query_as("SELECT COALESCE(MAX(id), 0) + 1 FROM configuration_items")
            .fetch_one(&mut *conn)
            .await?;
    let mut batch = Batch {
        tenant: tenant.0,
        seen_at,
        cis: Insert::new(
            "INSERT INTO configuration_items (id, tenant_id, class, name, computer_id, status, attributes, metrics,
                 first_seen_at, last_seen_at, updated_at, inventory_hash)",
        ),
        identifiers: Insert::new(
            "INSERT INTO ci_identifiers (tenant_id, class, kind, value, ci_id)",
        ),
        relations: Insert::new(
            "INSERT INTO ci_relations (tenant_id, source_id, kind, target_id, created_at)",
        ),
    };
    let mut payroll_services = Vec::new();
    let mut next_id = base;
    let payroll_every = (count / 50).max(1);
    for index in first..first + count {
        let ids = batch.machine(&Machine { index }, next_id);
        if (index - first) % payroll_every == 0 && payroll_services.len() < 50 {
            // ids: computer, disk, interface, then the services.
            payroll_services.push(ids[3]);
        }
        next_id += ids.len() as i64;
        if (index - first + 1) % BATCH == 0 {
            batch.flush(conn).await?;
        }
        if (index - first + 1) % 1000 == 0 {
            eprintln!(
                "  seeded {} computers' CIs ({:.0} s)",
                index - first + 1,
                started.elapsed().as_secs_f64()
            );
        }
    }
    batch.flush(conn).await?;

    // 1,000 installations per computer, a batch of computers per statement.
    let install = format!(
        "INSERT INTO software_installations (tenant_id, computer_id, package_id, first_seen_at)
         SELECT c.tenant_id, c.id, ch.package_id, c.first_seen_at
         FROM configuration_items c CROSS JOIN bench_slots s
         JOIN bench_choices ch ON ch.slot = s.n AND ch.variant = {VARIANT_SQL}
         WHERE c.class = 'computer' AND c.id >= $1 AND c.id < $2"
    );
    let step = 57 * 200;
    let mut from = base;
    while from < next_id {
        conn.execute("BEGIN").await?;
        sqlx::query(&install)
            .bind(from)
            .bind(from + step)
            .execute(&mut *conn)
            .await?;
        conn.execute("COMMIT").await?;
        from += step;
        if (from - base) % (step * 10) == 0 {
            eprintln!(
                "  installations up to CI {from} of {next_id} ({:.0} s)",
                started.elapsed().as_secs_f64()
            );
        }
    }
    if backend == Backend::Postgres {
        // Explicit ids bypassed the identity sequence; ingest must continue after them.
        conn.execute(
            "SELECT setval(pg_get_serial_sequence('configuration_items', 'id'),
                           (SELECT MAX(id) FROM configuration_items))",
        )
        .await?;
    }
    conn.execute("DROP TABLE bench_choices; DROP TABLE bench_slots;")
        .await?;
    eprintln!(
        "  bulk seeding done in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(Seeded { payroll_services })
}
