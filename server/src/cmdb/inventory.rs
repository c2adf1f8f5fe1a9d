//! What a report says about a computer and its parts, turned into CI observations: the computer
//! itself, its volumes (every report), and — when an inventory rides along — its disks, network
//! interfaces, services and installed software.

use atalaya_shared::{HostFacts, Inventory, Sample, Volume};
use serde_json::{json, Map, Value};

use super::identify::{self, is_junk};
use super::reconcile::{self, Observed, Reconciled};
use super::{class, relation, software};
use crate::store::cis::tx::{self as ci_tx, ComponentsAhead, ComponentsRefreshed};
use crate::store::{StoreResult, TenantId, Tx};

fn object(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The MAC addresses that identify a machine: those of its physical interfaces.
pub fn identifying_macs(inventory: Option<&Inventory>) -> Vec<&str> {
    inventory
        .map(|inv| {
            inv.network_interfaces
                .iter()
                .filter(|i| !i.is_virtual)
                .filter_map(|i| i.mac_address.as_deref())
                .filter(|m| !is_junk(m))
                .collect()
        })
        .unwrap_or_default()
}

/// Reconcile the computer CI of a report, for the agent that sent it. `inventory` is the one to
/// apply with this report (`None` also when the computer already has the one attached).
///
/// A report whose host facts are exactly those of the agent's last report refreshes the
/// computer's measurements in one statement; anything else is reconciled in full.
#[allow(clippy::too_many_arguments)]
pub async fn computer(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    agent_id: &str,
    host: &HostFacts,
    agent_version: &str,
    inventory: Option<&Inventory>,
    samples: &[Sample],
    seen_at: i64,
    volumes: Option<&reconcile::Components<'_, '_>>,
) -> StoreResult<Reconciled> {
    let mut observed = observe_computer(tenant, host, agent_version, samples, seen_at);
    let (fingerprint, metrics) = steady_refresh(&observed, host);
    if inventory.is_none() {
        let pairs = volumes.map(reconcile::Components::refresh_pairs);
        let ahead = volumes
            .zip(pairs.as_deref())
            .map(|(v, pairs)| ComponentsAhead {
                computer_id: v.computer_id,
                class: class::VOLUME,
                observed: pairs,
            });
        if let Some(refreshed) =
            ci_tx::refresh_observed(tx, agent_id, &fingerprint, &metrics, seen_at, ahead).await?
        {
            return Ok(Reconciled {
                ci_id: refreshed.ci_id,
                created: false,
                inventory_hash: refreshed.inventory_hash,
                alerts_unsettled: Some(refreshed.alerts_unsettled),
                components: refreshed.components,
            });
        }
    }
    if let Some(inv) = inventory {
        for (key, value) in inventory_attributes(inv) {
            // DMI only fills in what the host facts lack.
            let fills_in = matches!(key.as_str(), "serial_number" | "hardware_uuid");
            if !(fills_in && observed.attributes.contains_key(&key)) {
                observed.attributes.insert(key, value);
            }
        }
    }
    // Identification reads the same values the attributes show (DMI filled in).
    let text = |key: &str| {
        observed
            .attributes
            .get(key)
            .and_then(Value::as_str)
            .map(Into::into)
    };
    let effective = HostFacts {
        hardware_uuid: text("hardware_uuid"),
        serial_number: text("serial_number"),
        ..host.clone()
    };
    let ids = identify::computer_identifiers(&effective, &identifying_macs(inventory));
    reconcile::reconcile_hashed(tx, &observed, &ids, &fingerprint).await
}

fn observe_computer<'a>(
    tenant: TenantId,
    host: &'a HostFacts,
    agent_version: &str,
    samples: &[Sample],
    seen_at: i64,
) -> Observed<'a> {
    Observed {
        tenant,
        class: class::COMPUTER,
        name: &host.hostname,
        computer_id: None,
        attributes: host_attributes(host, agent_version),
        metrics: computer_metrics(host, samples),
        seen_at,
    }
}

/// What the steady refresh of a computer compares and writes for a report without an
/// inventory: the computer's fingerprint and its measurements (JSON) — for the group commit's
/// batch, the same [`computer`] refreshes one report's computer with.
pub fn steady_computer(
    tenant: TenantId,
    host: &HostFacts,
    agent_version: &str,
    samples: &[Sample],
    seen_at: i64,
) -> (String, String) {
    steady_refresh(
        &observe_computer(tenant, host, agent_version, samples, seen_at),
        host,
    )
}

/// The observed computer's fingerprint and measurements (JSON). The fingerprint covers what
/// every report says (host facts), never the inventory: the inventory has its own hash, and is
/// applied in full whenever it changes.
fn steady_refresh(observed: &Observed<'_>, host: &HostFacts) -> (String, String) {
    let fingerprint = reconcile::fingerprint(observed, &identify::computer_identifiers(host, &[]));
    // The text `Value::Object(..).to_string()` gives, without copying the map. Serialising a
    // map of JSON values with string keys cannot fail.
    let metrics = serde_json::to_string(&observed.metrics).expect("a JSON map serialises");
    (fingerprint, metrics)
}

/// What every report says about its computer. A hardware UUID or serial number the host facts
/// could not read (without root, say) is left out rather than `null`, so that it does not erase
/// the one an inventory read from DMI.
fn host_attributes(host: &HostFacts, agent_version: &str) -> Map<String, Value> {
    let mut attributes = object(json!({
        "hostname": host.hostname,
        "machine_id": host.machine_id,
        "os_name": host.os_name,
        "os_version": host.os_version,
        "kernel_version": host.kernel_version,
        "architecture": host.architecture,
        "cpu_model": host.cpu_model,
        "cpu_cores": host.cpu_cores,
        "memory_total_bytes": host.memory_total_bytes,
        "boot_time": host.boot_time,
        "agent_version": agent_version,
    }));
    for (key, value) in [
        ("hardware_uuid", &host.hardware_uuid),
        ("serial_number", &host.serial_number),
    ] {
        if let Some(value) = value {
            attributes.insert(key.into(), json!(value));
        }
    }
    attributes
}

/// What an inventory adds to its computer's attributes; DMI values fill in the hardware UUID
/// and serial number the host facts lack.
fn inventory_attributes(inv: &Inventory) -> Map<String, Value> {
    let mut attributes = Map::new();
    if let Some(hw) = &inv.hardware {
        attributes.extend(object(json!({
            "vendor": hw.vendor, "model": hw.model,
            "bios_vendor": hw.bios_vendor, "bios_version": hw.bios_version, "bios_date": hw.bios_date,
            "board_vendor": hw.board_vendor, "board_model": hw.board_model, "chassis_type": hw.chassis_type,
        })));
        for (key, value) in [
            ("serial_number", &hw.serial_number),
            ("hardware_uuid", &hw.uuid),
        ] {
            if let Some(value) = value {
                attributes.insert(key.into(), json!(value));
            }
        }
    }
    if let Some(cpu) = &inv.cpu {
        attributes.extend(object(json!({
            "cpu_vendor": cpu.vendor, "cpu_sockets": cpu.sockets, "cpu_threads": cpu.threads,
            "cpu_max_frequency_mhz": cpu.max_frequency_mhz,
        })));
    }
    attributes.extend(object(json!({
        "time_zone": inv.time_zone,
        "reboot_required": inv.reboot_required,
        "logged_in_users": inv.logged_in_users.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
    })));
    // Modules are listed only where SMBIOS was readable (as root): never erase them with an
    // empty list from a run that could not read them.
    if !inv.memory_modules.is_empty() {
        attributes.insert("memory_modules".into(), json!(inv.memory_modules));
    }
    attributes
}

/// The computer's latest measurements: every sample of the report, and memory use in percent.
fn computer_metrics(host: &HostFacts, samples: &[Sample]) -> Map<String, Value> {
    let mut metrics = Map::new();
    for sample in samples {
        metrics.insert(sample.metric.clone(), json!(sample.value));
    }
    if let (Some(used), Some(total)) = (
        metrics
            .get(atalaya_shared::metric::MEMORY_USED_BYTES)
            .and_then(Value::as_f64),
        host.memory_total_bytes.filter(|t| *t > 0),
    ) {
        metrics.insert(
            "memory_used_percent".into(),
            json!((used * 10_000.0 / total as f64).round() / 100.0),
        );
    }
    metrics
}

/// A computer's volumes as observed (a report lists them all), to fingerprint with
/// [`reconcile::Components::new`] and reconcile with [`volumes`].
pub fn observe_volumes<'a>(
    tenant: TenantId,
    computer_id: i64,
    volumes: &'a [Volume],
    seen_at: i64,
) -> Vec<(String, Observed<'a>)> {
    volumes
        .iter()
        .map(|v| {
            let attributes = object(json!({
                "mount_point": v.mount_point, "device": v.device, "filesystem": v.filesystem,
                "total_bytes": v.total_bytes, "read_only": v.read_only,
            }));
            let metrics = object(json!({
                "available_bytes": v.available_bytes,
                "used_bytes": v.used_bytes(),
                "used_percent": (v.used_percent() * 100.0).round() / 100.0,
            }));
            let o = Observed {
                tenant,
                class: class::VOLUME,
                name: &v.mount_point,
                computer_id: Some(computer_id),
                attributes,
                metrics,
                seen_at,
            };
            (v.mount_point.clone(), o)
        })
        .collect()
}

/// Volumes observed by [`observe_volumes`], fingerprinted for their computer.
pub fn prepare_volumes<'o, 'a>(
    computer_id: i64,
    observed: &'o [(String, Observed<'a>)],
) -> reconcile::Components<'o, 'a> {
    reconcile::Components::new(computer_id, class::VOLUME, relation::CONTAINED_IN, observed)
}

/// Reconcile a computer's volumes, observed by [`observe_volumes`]; returns the CI id of each.
/// `refreshed_ahead`: what the computer's refresh did to them already.
pub async fn volumes(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    observed: &reconcile::Components<'_, '_>,
    refreshed_ahead: Option<ComponentsRefreshed>,
    seen_at: i64,
) -> StoreResult<Vec<i64>> {
    reconcile::sync_prepared(tx, tenant, observed, refreshed_ahead, seen_at).await
}

/// The CIs an applied inventory produced, in the inventory's order, for the rule engine.
#[derive(Debug, Default)]
pub struct Applied {
    pub disk_ids: Vec<i64>,
    pub service_ids: Vec<i64>,
}

/// Whether `inventory` is the one last applied to the computer whose stored hash is given.
pub fn already_applied(inventory: &Inventory, stored_hash: Option<&str>) -> bool {
    !inventory.hash.is_empty() && stored_hash == Some(inventory.hash.as_str())
}

/// Apply an inventory to a computer, unless it is the one applied last time (same hash): an
/// unchanged inventory then costs one comparison (`None`).
pub async fn apply(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    computer_id: i64,
    inventory: &Inventory,
    catalogue: &software::Catalogue,
    stored_hash: Option<&str>,
    seen_at: i64,
) -> StoreResult<Option<Applied>> {
    if already_applied(inventory, stored_hash) {
        return Ok(None);
    }
    let mut applied = Applied::default();
    let available = |section: &str| !inventory.unavailable.contains_key(section);

    if available("disks") {
        let disks: Vec<(String, Observed<'_>)> = inventory
            .disks
            .iter()
            .map(|d| {
                // A disk is the same disk by its serial number; a swapped disk in the same slot
                // is a new CI and the old one is retired.
                let key = match d.serial_number.as_deref().filter(|s| !is_junk(s)) {
                    Some(serial) => format!("serial:{}", serial.trim()),
                    None => format!("name:{}", d.name),
                };
                let attributes = object(json!({
                    "device": d.name, "model": d.model, "serial_number": d.serial_number,
                    "size_bytes": d.size_bytes, "kind": d.kind, "removable": d.removable,
                    "smart_available": d.smart.available, "smart_passed": d.smart.passed,
                    "smart_unavailable_reason": d.smart.reason,
                }));
                let metrics = object(json!({
                    "temperature_celsius": d.smart.temperature_celsius, "power_on_hours": d.smart.power_on_hours,
                    "reallocated_sectors": d.smart.reallocated_sectors, "pending_sectors": d.smart.pending_sectors,
                    "wear_percent": d.smart.wear_percent,
                }));
                (key, observation(tenant, class::PHYSICAL_DISK, &d.name, computer_id, attributes, metrics, seen_at))
            })
            .collect();
        applied.disk_ids = reconcile::sync_components(
            tx,
            tenant,
            computer_id,
            class::PHYSICAL_DISK,
            relation::CONTAINED_IN,
            &disks,
            seen_at,
        )
        .await?;
    }
    if available("network_interfaces") {
        let interfaces: Vec<(String, Observed<'_>)> = inventory
            .network_interfaces
            .iter()
            .map(|i| {
                let attributes = object(json!({
                    "mac_address": i.mac_address, "addresses": i.addresses, "mtu": i.mtu,
                    "speed_mbps": i.speed_mbps, "is_virtual": i.is_virtual,
                }));
                let metrics = object(json!({"oper_state": i.oper_state}));
                let o = observation(
                    tenant,
                    class::NETWORK_INTERFACE,
                    &i.name,
                    computer_id,
                    attributes,
                    metrics,
                    seen_at,
                );
                (i.name.clone(), o)
            })
            .collect();
        reconcile::sync_components(
            tx,
            tenant,
            computer_id,
            class::NETWORK_INTERFACE,
            relation::CONTAINED_IN,
            &interfaces,
            seen_at,
        )
        .await?;
    }
    if available("services") {
        let services: Vec<(String, Observed<'_>)> = inventory
            .services
            .iter()
            .map(|s| {
                // `null` rather than `false` for an unwatched service, so the first inventory
                // after an upgrade adds no history entry to every service.
                let attributes = object(json!({
                    "unit": s.name, "description": s.description, "enabled_state": s.enabled_state,
                    "load_state": s.load_state, "watched": s.watched.then_some(true),
                }));
                let metrics =
                    object(json!({"active_state": s.active_state, "sub_state": s.sub_state}));
                (
                    s.name.clone(),
                    observation(
                        tenant,
                        class::SERVICE,
                        &s.name,
                        computer_id,
                        attributes,
                        metrics,
                        seen_at,
                    ),
                )
            })
            .collect();
        applied.service_ids = reconcile::sync_components(
            tx,
            tenant,
            computer_id,
            class::SERVICE,
            relation::RUNS_ON,
            &services,
            seen_at,
        )
        .await?;
    }
    if available("software") {
        software::sync(
            tx,
            tenant,
            computer_id,
            &inventory.software,
            catalogue,
            seen_at,
        )
        .await?;
    }
    if !inventory.hash.is_empty() {
        ci_tx::set_inventory_hash(tx, computer_id, &inventory.hash).await?;
    }
    Ok(Some(applied))
}

fn observation<'a>(
    tenant: TenantId,
    class: &'a str,
    name: &'a str,
    computer_id: i64,
    attributes: Map<String, Value>,
    metrics: Map<String, Value>,
    seen_at: i64,
) -> Observed<'a> {
    Observed {
        tenant,
        class,
        name,
        computer_id: Some(computer_id),
        attributes,
        metrics,
        seen_at,
    }
}
