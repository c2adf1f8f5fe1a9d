//! Installed software: a shared catalogue of packages (name, version, architecture, source) and
//! each computer's installations, changed only by difference so a large but mostly unchanged
//! package list costs one read.

use std::collections::{BTreeMap, HashMap};

use atalaya_shared::SoftwarePackage;

use super::reconcile::AGENT;
use super::version::version_key;
use crate::store::cis::tx::{self as ci_tx, Change};
use crate::store::{StoreResult, TenantId, Tx};

type PackageKey = (String, String, String, String);

fn key(p: &SoftwarePackage) -> PackageKey {
    (
        p.name.clone(),
        p.version.clone(),
        p.architecture.clone().unwrap_or_default(),
        p.source.clone(),
    )
}

/// Make a computer's installations match `reported`: add new packages, retire removed ones (kept
/// with their date), and record per-package version changes in the computer's history.
pub async fn sync(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    computer_id: i64,
    reported: &[SoftwarePackage],
    at: i64,
) -> StoreResult<()> {
    let rows: Vec<(i64, String, String, String, String, Option<i64>)> = sqlx::query_as(
        "SELECT p.id, p.name, p.version, p.architecture, p.source, i.retired_at
         FROM software_installations i JOIN software_packages p ON p.id = i.package_id
         WHERE i.computer_id = $1",
    )
    .bind(computer_id)
    .fetch_all(&mut **tx)
    .await?;
    let mut current: HashMap<PackageKey, (i64, bool)> = HashMap::with_capacity(rows.len());
    for (id, name, version, arch, source, retired_at) in rows {
        current.insert((name, version, arch, source), (id, retired_at.is_none()));
    }
    let wanted: HashMap<PackageKey, &SoftwarePackage> =
        reported.iter().map(|p| (key(p), p)).collect();

    // name -> (versions before, versions after), for the history.
    let mut versions: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    for (k, package) in &wanted {
        match current.get(k) {
            Some((_, true)) => continue,
            Some((package_id, false)) => {
                sqlx::query("UPDATE software_installations SET retired_at = NULL WHERE computer_id = $1 AND package_id = $2")
                    .bind(computer_id)
                    .bind(package_id)
                    .execute(&mut **tx)
                    .await?;
            }
            None => {
                let package_id = ensure_package(tx, package).await?;
                sqlx::query(
                    "INSERT INTO software_installations (tenant_id, computer_id, package_id, first_seen_at)
                     VALUES ($1, $2, $3, $4) ON CONFLICT (computer_id, package_id) DO UPDATE SET retired_at = NULL",
                )
                .bind(tenant.0)
                .bind(computer_id)
                .bind(package_id)
                .bind(at)
                .execute(&mut **tx)
                .await?;
            }
        }
        versions.entry(k.0.clone()).or_default().1.push(k.1.clone());
    }
    for (k, (package_id, active)) in &current {
        if !*active || wanted.contains_key(k) {
            continue;
        }
        sqlx::query("UPDATE software_installations SET retired_at = $3 WHERE computer_id = $1 AND package_id = $2")
            .bind(computer_id)
            .bind(package_id)
            .bind(at)
            .execute(&mut **tx)
            .await?;
        versions.entry(k.0.clone()).or_default().0.push(k.1.clone());
    }
    for (name, (before, after)) in versions {
        let text = |v: &[String]| {
            (!v.is_empty()).then(|| serde_json::Value::String(v.join(", ")).to_string())
        };
        let (old, new) = (text(&before), text(&after));
        let field = format!("software.{name}");
        let change = Change {
            tenant,
            ci_id: computer_id,
            at,
            field: &field,
            old: old.as_deref(),
            new: new.as_deref(),
            source: AGENT,
        };
        ci_tx::record_change(tx, &change).await?;
    }
    Ok(())
}

async fn ensure_package(tx: &mut Tx<'_>, p: &SoftwarePackage) -> StoreResult<i64> {
    let arch = p.architecture.as_deref().unwrap_or("");
    let inserted: Option<(i64,)> = sqlx::query_as(
        "INSERT INTO software_packages (name, version, architecture, source, version_key) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name, version, architecture, source) DO NOTHING RETURNING id",
    )
    .bind(&p.name)
    .bind(&p.version)
    .bind(arch)
    .bind(&p.source)
    .bind(version_key(&p.version))
    .fetch_optional(&mut **tx)
    .await?;
    if let Some((id,)) = inserted {
        return Ok(id);
    }
    let (id,): (i64,) = sqlx::query_as(
        "SELECT id FROM software_packages WHERE name = $1 AND version = $2 AND architecture = $3 AND source = $4",
    )
    .bind(&p.name)
    .bind(&p.version)
    .bind(arch)
    .bind(&p.source)
    .fetch_one(&mut **tx)
    .await?;
    Ok(id)
}
