//! Installed software: a shared catalogue of packages (name, version, architecture, source) and
//! each computer's installations, changed only by difference so a large but mostly unchanged
//! package list costs one read.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use atalaya_shared::SoftwarePackage;

use super::reconcile::AGENT;
use crate::ci::version::version_key;
use crate::store::cis::tx::{self as ci_tx, Change};
use crate::store::{placeholders, Store, StoreResult, TenantId, Tx};

type PackageKey = (String, String, String, String);

/// Rows per multi-row statement: well under both databases' bind-parameter limits
/// (SQLite 32,766; PostgreSQL 65,535) at five parameters a row.
const ROWS_PER_STATEMENT: usize = 500;

fn key(p: &SoftwarePackage) -> PackageKey {
    (
        p.name.clone(),
        p.version.clone(),
        p.architecture.clone().unwrap_or_default(),
        p.source.clone(),
    )
}

/// The catalogue ids of the packages one inventory names.
///
/// The catalogue is shared by every tenant, so two reports naming the same new package race for
/// its row. [`Catalogue::register`] settles that outside the report's transaction, in short
/// statements that each take row locks in one global (sorted) order: concurrent reports wait for
/// each other briefly but can never deadlock, and the report transaction only reads the catalogue.
#[derive(Debug, Default)]
pub struct Catalogue {
    ids: HashMap<PackageKey, i64>,
}

impl Catalogue {
    /// Look up every package of `packages`, adding those the catalogue lacks.
    pub async fn register(store: &Store, packages: &[SoftwarePackage]) -> StoreResult<Self> {
        let wanted: BTreeSet<PackageKey> = packages.iter().map(key).collect();
        let wanted: Vec<PackageKey> = wanted.into_iter().collect();
        let mut catalogue = Catalogue::default();
        for chunk in wanted.chunks(ROWS_PER_STATEMENT) {
            catalogue.look_up(store, chunk).await?;
            let missing: Vec<&PackageKey> = chunk
                .iter()
                .filter(|k| !catalogue.ids.contains_key(*k))
                .collect();
            if missing.is_empty() {
                continue;
            }
            insert_missing(store, &missing).await?;
            let missing: Vec<PackageKey> = missing.into_iter().cloned().collect();
            catalogue.look_up(store, &missing).await?;
        }
        Ok(catalogue)
    }

    async fn look_up(&mut self, store: &Store, keys: &[PackageKey]) -> StoreResult<()> {
        let rows = placeholders(keys.len(), 4);
        let sql = format!(
            "SELECT id, name, version, architecture, source FROM software_packages
             WHERE (name, version, architecture, source) IN (VALUES {rows})"
        );
        let mut query = sqlx::query_as::<_, (i64, String, String, String, String)>(&sql);
        for (name, version, arch, source) in keys {
            query = query.bind(name).bind(version).bind(arch).bind(source);
        }
        for (id, name, version, arch, source) in query.fetch_all(store.pool()).await? {
            self.ids.insert((name, version, arch, source), id);
        }
        Ok(())
    }

    fn id(&self, k: &PackageKey) -> StoreResult<i64> {
        self.ids.get(k).copied().ok_or_else(|| {
            crate::store::StoreError::Invalid(format!(
                "software package {} {} is not in the catalogue",
                k.0, k.1
            ))
        })
    }
}

/// Insert catalogue rows in sorted order, skipping those another report added meanwhile.
async fn insert_missing(store: &Store, keys: &[&PackageKey]) -> StoreResult<()> {
    let rows = placeholders(keys.len(), 5);
    let sql = format!(
        "INSERT INTO software_packages (name, version, architecture, source, version_key)
         VALUES {rows} ON CONFLICT (name, version, architecture, source) DO NOTHING"
    );
    let mut query = sqlx::query(&sql);
    for (name, version, arch, source) in keys {
        query = query
            .bind(name)
            .bind(version)
            .bind(arch)
            .bind(source)
            .bind(version_key(version));
    }
    query.execute(store.pool()).await?;
    Ok(())
}

/// Make a computer's installations match `reported`: add new packages, retire removed ones (kept
/// with their date), and record per-package version changes in the computer's history. Every
/// reported package must be in `catalogue` (see [`Catalogue::register`]).
pub async fn sync(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    computer_id: i64,
    reported: &[SoftwarePackage],
    catalogue: &Catalogue,
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
    let wanted: BTreeSet<PackageKey> = reported.iter().map(key).collect();

    // name -> (versions before, versions after), for the history.
    let mut versions: BTreeMap<String, (Vec<String>, Vec<String>)> = BTreeMap::new();
    let mut installed = Vec::new();
    let mut restored = Vec::new();
    for k in &wanted {
        match current.get(k) {
            Some((_, true)) => continue,
            Some((package_id, false)) => restored.push(*package_id),
            None => installed.push(catalogue.id(k)?),
        }
        versions.entry(k.0.clone()).or_default().1.push(k.1.clone());
    }
    let mut removed = Vec::new();
    for (k, (package_id, active)) in &current {
        if *active && !wanted.contains(k) {
            removed.push(*package_id);
            versions.entry(k.0.clone()).or_default().0.push(k.1.clone());
        }
    }
    insert_installations(tx, tenant, computer_id, &installed, at).await?;
    set_retired(tx, computer_id, &restored, None).await?;
    set_retired(tx, computer_id, &removed, Some(at)).await?;
    let text =
        |v: &[String]| (!v.is_empty()).then(|| serde_json::Value::String(v.join(", ")).to_string());
    let entries: Vec<(String, Option<String>, Option<String>)> = versions
        .into_iter()
        .map(|(name, (before, after))| (format!("software.{name}"), text(&before), text(&after)))
        .collect();
    let changes: Vec<Change<'_>> = entries
        .iter()
        .map(|(field, old, new)| Change {
            tenant,
            ci_id: computer_id,
            at,
            field,
            old: old.as_deref(),
            new: new.as_deref(),
            source: AGENT,
        })
        .collect();
    ci_tx::record_changes(tx, &changes).await
}

async fn insert_installations(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    computer_id: i64,
    package_ids: &[i64],
    at: i64,
) -> StoreResult<()> {
    for chunk in package_ids.chunks(ROWS_PER_STATEMENT) {
        let rows = placeholders(chunk.len(), 1);
        let first = chunk.len() + 1;
        let sql = format!(
            "INSERT INTO software_installations (tenant_id, computer_id, package_id, first_seen_at)
             SELECT ${first}, ${}, v.column1, ${} FROM (VALUES {rows}) AS v WHERE true
             ON CONFLICT (computer_id, package_id) DO UPDATE SET retired_at = NULL",
            first + 1,
            first + 2,
        );
        let mut query = sqlx::query(&sql);
        for id in chunk {
            query = query.bind(id);
        }
        query
            .bind(tenant.0)
            .bind(computer_id)
            .bind(at)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

/// Retire (`Some(at)`) or restore (`None`) installations of one computer.
async fn set_retired(
    tx: &mut Tx<'_>,
    computer_id: i64,
    package_ids: &[i64],
    retired_at: Option<i64>,
) -> StoreResult<()> {
    for chunk in package_ids.chunks(ROWS_PER_STATEMENT) {
        let ids: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
        let sql = format!(
            "UPDATE software_installations SET retired_at = $2
             WHERE computer_id = $1 AND package_id IN ({})",
            ids.join(", ")
        );
        let mut query = sqlx::query(&sql).bind(computer_id).bind(retired_at);
        for id in chunk {
            query = query.bind(id);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
