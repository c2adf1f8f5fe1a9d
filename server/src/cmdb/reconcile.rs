//! Reconciliation: recognise the CI an agent describes, merge what it says into what is stored
//! (honouring fields a person locked), record every change in the history, and retire what
//! disappeared.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use crate::store::cis::json_text;
use sha2::{Digest, Sha256};

use super::identify::{self, Identifier, IdentifierKind};
use crate::store::cis::tx::{self as ci_tx, Change, CiUpdate, NewCi};
use crate::store::{StoreResult, TenantId, Tx};

/// The source recorded in the history for agent-made changes.
pub const AGENT: &str = "agent";

/// What an agent says about one CI.
pub struct Observed<'a> {
    pub tenant: TenantId,
    pub class: &'a str,
    pub name: &'a str,
    pub computer_id: Option<i64>,
    /// Attributes this observation covers; keys it does not mention keep their stored value.
    pub attributes: Map<String, Value>,
    pub metrics: Map<String, Value>,
    pub seen_at: i64,
}

enum Identified {
    Known(i64, Vec<(String, String)>),
    /// A candidate shared a weaker identifier but disagreed on a stronger one.
    Clash {
        other: i64,
        shared: IdentifierKind,
        stronger: IdentifierKind,
    },
    Unknown,
}

async fn identify(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    class: &str,
    ids: &[Identifier],
) -> StoreResult<Identified> {
    for id in ids {
        let Some(ci_id) =
            ci_tx::lookup_identifier(tx, tenant, class, id.kind.name, &id.value).await?
        else {
            continue;
        };
        let held = ci_tx::identifiers_of(tx, ci_id).await?;
        return Ok(match identify::disagreement(ids, id.kind, &held) {
            None => Identified::Known(ci_id, held),
            // Weaker identifiers would only lead back to the same candidate: stop here.
            Some(stronger) => Identified::Clash {
                other: ci_id,
                shared: id.kind,
                stronger,
            },
        });
    }
    Ok(Identified::Unknown)
}

/// The CI's id, whether it was created now, and the hash of the inventory last applied to it
/// (computers only).
pub struct Reconciled {
    pub ci_id: i64,
    pub created: bool,
    pub inventory_hash: Option<String>,
    /// Whether an alert on the CI or its parts is unsettled, when that was read on the way
    /// (a computer's refresh); `None`: not known.
    pub alerts_unsettled: Option<bool>,
    /// Components refreshed by the same statement (a computer's steady refresh, see
    /// [`ci_tx::refresh_observed`]).
    pub components: Option<ci_tx::ComponentsRefreshed>,
}

/// Create or update the CI `observed` describes, identified by `ids` (strongest first).
pub async fn reconcile(
    tx: &mut Tx<'_>,
    observed: &Observed<'_>,
    ids: &[Identifier],
) -> StoreResult<Reconciled> {
    reconcile_hashed(tx, observed, ids, &fingerprint(observed, ids)).await
}

/// [`reconcile`], with the observation's [`fingerprint`] computed by the caller.
pub async fn reconcile_hashed(
    tx: &mut Tx<'_>,
    observed: &Observed<'_>,
    ids: &[Identifier],
    fingerprint: &str,
) -> StoreResult<Reconciled> {
    let identified = identify(tx, observed.tenant, observed.class, ids).await?;
    let metrics = Value::Object(observed.metrics.clone()).to_string();
    let (ci_id, held, created, inventory_hash) = match identified {
        Identified::Known(ci_id, held) => {
            let hash = update(tx, ci_id, observed, &metrics, fingerprint).await?;
            (ci_id, held, false, hash)
        }
        other => {
            if let Identified::Clash {
                other,
                shared,
                stronger,
            } = &other
            {
                // The review itself is filed below, when the shared identifier cannot be claimed.
                tracing::info!(
                    ci_id = other,
                    shared = shared.name,
                    stronger = stronger.name,
                    "identifier clash"
                );
            }
            match create(tx, observed, &metrics, ids, fingerprint).await? {
                Created::New(ci_id) => (ci_id, Vec::new(), true, None),
                Created::LostRace(winner) => {
                    let held = ci_tx::identifiers_of(tx, winner).await?;
                    let hash = update(tx, winner, observed, &metrics, fingerprint).await?;
                    (winner, held, false, hash)
                }
            }
        }
    };
    register_identifiers(tx, observed, ci_id, ids, &held).await?;
    Ok(Reconciled {
        ci_id,
        created,
        inventory_hash,
        alerts_unsettled: None,
        components: None,
    })
}

enum Created {
    New(i64),
    /// Another transaction created the same CI first (it claimed the strongest identifier).
    LostRace(i64),
}

/// Insert a new CI and claim its strongest identifier at once. Two reports of the same new
/// machine arriving together (several replicas, or an agent reinstalled while the old one still
/// runs) both find nothing and both insert; the unique identifier decides who created it, and
/// the loser withdraws its row and updates the winner's. SQLite serialises writers, so there
/// only PostgreSQL ever takes the second branch.
async fn create(
    tx: &mut Tx<'_>,
    observed: &Observed<'_>,
    metrics: &str,
    ids: &[Identifier],
    fingerprint: &str,
) -> StoreResult<Created> {
    let attributes = Value::Object(observed.attributes.clone()).to_string();
    let new = NewCi {
        tenant: observed.tenant,
        class: observed.class,
        name: observed.name,
        computer_id: observed.computer_id,
        attributes: &attributes,
        metrics,
        seen_at: observed.seen_at,
        observed_hash: Some(fingerprint),
    };
    let ci_id = ci_tx::insert_ci(tx, &new).await?;
    if let Some(first) = ids.first() {
        let claimed = if first.kind.is_multi_valued() {
            ci_tx::add_identifier(
                tx,
                observed.tenant,
                observed.class,
                ci_id,
                first.kind.name,
                &first.value,
            )
            .await?
        } else {
            ci_tx::set_identifier(
                tx,
                observed.tenant,
                observed.class,
                ci_id,
                first.kind.name,
                &first.value,
            )
            .await?
        };
        if !claimed {
            let owner = ci_tx::lookup_identifier(
                tx,
                observed.tenant,
                observed.class,
                first.kind.name,
                &first.value,
            )
            .await?;
            if let Some(winner) = owner.filter(|o| *o != ci_id) {
                ci_tx::withdraw(tx, ci_id).await?;
                return Ok(Created::LostRace(winner));
            }
        }
    }
    change(
        tx,
        observed,
        ci_id,
        "status",
        None,
        Some(&json_text("active")),
    )
    .await?;
    Ok(Created::New(ci_id))
}

async fn change(
    tx: &mut Tx<'_>,
    observed: &Observed<'_>,
    ci_id: i64,
    field: &str,
    old: Option<&str>,
    new: Option<&str>,
) -> StoreResult<()> {
    let change = Change {
        tenant: observed.tenant,
        ci_id,
        at: observed.seen_at,
        field,
        old,
        new,
        source: AGENT,
    };
    ci_tx::record_change(tx, &change).await
}

/// The history stores values as JSON text (`null` becomes no value).
fn history_text(value: Option<&Value>) -> Option<String> {
    match value {
        None | Some(Value::Null) => None,
        Some(other) => Some(other.to_string()),
    }
}

async fn update(
    tx: &mut Tx<'_>,
    ci_id: i64,
    observed: &Observed<'_>,
    metrics: &str,
    fingerprint: &str,
) -> StoreResult<Option<String>> {
    let stored = ci_tx::load(tx, ci_id).await?;
    let old: Map<String, Value> = serde_json::from_str(&stored.attributes).unwrap_or_default();
    let mut new = old.clone();
    for (key, value) in &observed.attributes {
        new.insert(key.clone(), value.clone());
    }
    // A field a person set stays as they set it; the agent's value is kept beside it.
    for (field, locked) in ci_tx::locks_of(tx, ci_id).await? {
        let Some(key) = field.strip_prefix("attributes.") else {
            continue;
        };
        if let Some(agent_value) = observed.attributes.get(key) {
            ci_tx::keep_agent_value(tx, ci_id, &field, &agent_value.to_string()).await?;
        }
        new.insert(
            key.to_string(),
            serde_json::from_str(&locked).unwrap_or(Value::String(locked)),
        );
    }
    let mut changed = false;
    let mut keys: Vec<&String> = old.keys().chain(new.keys()).collect();
    keys.sort_unstable();
    keys.dedup();
    for key in keys {
        let (before, after) = (old.get(key), new.get(key));
        if before.unwrap_or(&Value::Null) != after.unwrap_or(&Value::Null) {
            changed = true;
            let (b, a) = (history_text(before), history_text(after));
            change(
                tx,
                observed,
                ci_id,
                &format!("attributes.{key}"),
                b.as_deref(),
                a.as_deref(),
            )
            .await?;
        }
    }
    if stored.name != observed.name {
        changed = true;
        let (old, new) = (json_text(&stored.name), json_text(observed.name));
        change(tx, observed, ci_id, "name", Some(&old), Some(&new)).await?;
    }
    if stored.status != "active" {
        // Reported again: a stale or retired CI is back.
        changed = true;
        let (old, new) = (json_text(&stored.status), json_text("active"));
        change(tx, observed, ci_id, "status", Some(&old), Some(&new)).await?;
    }
    let attributes = Value::Object(new).to_string();
    let update = CiUpdate {
        id: ci_id,
        name: observed.name,
        attributes: &attributes,
        metrics,
        status: "active",
        seen_at: observed.seen_at,
        changed,
        observed_hash: fingerprint,
    };
    ci_tx::update_ci(tx, &update).await?;
    Ok(stored.inventory_hash)
}

async fn register_identifiers(
    tx: &mut Tx<'_>,
    observed: &Observed<'_>,
    ci_id: i64,
    ids: &[Identifier],
    held: &[(String, String)],
) -> StoreResult<()> {
    let is_held = |id: &Identifier| {
        held.iter()
            .any(|(k, v)| k == id.kind.name && *v == id.value)
    };
    let macs: Vec<&str> = ids
        .iter()
        .filter(|i| i.kind.is_multi_valued())
        .map(|i| i.value.as_str())
        .collect();
    if !macs.is_empty() {
        ci_tx::prune_identifiers(tx, ci_id, identify::MAC_ADDRESS.name, &macs).await?;
    }
    for id in ids.iter().filter(|id| !is_held(id)) {
        let mine = if id.kind.is_multi_valued() {
            ci_tx::add_identifier(
                tx,
                observed.tenant,
                observed.class,
                ci_id,
                id.kind.name,
                &id.value,
            )
            .await?
        } else {
            ci_tx::set_identifier(
                tx,
                observed.tenant,
                observed.class,
                ci_id,
                id.kind.name,
                &id.value,
            )
            .await?
        };
        // Host names repeat legitimately (two "server" machines); stronger identifiers must not.
        if !mine && id.kind != identify::HOSTNAME {
            let other = ci_tx::lookup_identifier(
                tx,
                observed.tenant,
                observed.class,
                id.kind.name,
                &id.value,
            )
            .await?;
            let detail = format!(
                "its {} {} also identifies CI {} (a cloned machine?)",
                id.kind.name,
                id.value,
                other.map(|o| o.to_string()).unwrap_or_else(|| "?".into())
            );
            ci_tx::flag_review(
                tx,
                observed.tenant,
                ci_id,
                other,
                "identifier_clash",
                &detail,
                observed.seen_at,
            )
            .await?;
        }
    }
    Ok(())
}

/// Bring a computer's dependent CIs of one class in line with a complete observation of them:
/// create or update each, link it to the computer, and retire those no longer reported.
///
/// Those the agent describes exactly as last time (same [`fingerprint`], still active) get
/// their new measurements in one statement; when that is all of them and none is missing, that
/// statement is all. Only the others are read and reconciled one by one.
pub async fn sync_components(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    computer_id: i64,
    class: &str,
    relation: &str,
    components: &[(String, Observed<'_>)],
    at: i64,
) -> StoreResult<Vec<i64>> {
    let prepared = Components::new(computer_id, class, relation, components);
    sync_prepared(tx, tenant, &prepared, None, at).await
}

/// A computer's components of one class as observed, fingerprinted for that computer.
pub struct Components<'o, 'a> {
    pub computer_id: i64,
    class: &'a str,
    relation: &'a str,
    observed: &'o [(String, Observed<'a>)],
    /// Per component, in order: its identifier, fingerprint and measurements (JSON).
    fingerprinted: Vec<(Identifier, String, String)>,
}

impl<'o, 'a> Components<'o, 'a> {
    pub fn new(
        computer_id: i64,
        class: &'a str,
        relation: &'a str,
        observed: &'o [(String, Observed<'a>)],
    ) -> Self {
        let fingerprinted = observed
            .iter()
            .map(|(local_key, observed)| {
                let id = Identifier {
                    kind: identify::LOCAL_KEY,
                    value: format!("{computer_id}:{local_key}"),
                };
                let hash = fingerprint(observed, std::slice::from_ref(&id));
                let metrics = Value::Object(observed.metrics.clone()).to_string();
                (id, hash, metrics)
            })
            .collect();
        Components {
            computer_id,
            class,
            relation,
            observed,
            fingerprinted,
        }
    }

    /// (fingerprint, measurements) of each, as [`ci_tx::refresh_unchanged`] takes them.
    pub fn refresh_pairs(&self) -> Vec<(&str, &str)> {
        self.fingerprinted
            .iter()
            .map(|(_, hash, metrics)| (hash.as_str(), metrics.as_str()))
            .collect()
    }
}

/// [`sync_components`] of components prepared beforehand. `refreshed_ahead`: what
/// [`ci_tx::refresh_unchanged`] returned for them, when a statement before already ran it
/// (the computer's steady refresh does, on PostgreSQL).
pub async fn sync_prepared(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    prepared: &Components<'_, '_>,
    refreshed_ahead: Option<ci_tx::ComponentsRefreshed>,
    at: i64,
) -> StoreResult<Vec<i64>> {
    let Components {
        computer_id,
        class,
        relation,
        observed: components,
        fingerprinted: ref observed,
    } = *prepared;
    let ci_tx::ComponentsRefreshed { refreshed, live } = match refreshed_ahead {
        Some(ahead) => ahead,
        None => {
            let pairs = prepared.refresh_pairs();
            ci_tx::refresh_unchanged(tx, computer_id, class, &pairs, at).await?
        }
    };
    let refreshed: HashMap<String, i64> = refreshed.into_iter().map(|(id, h)| (h, id)).collect();
    let all_refreshed = observed.iter().all(|(_, h, _)| refreshed.contains_key(h));
    if all_refreshed && usize::try_from(live).is_ok_and(|n| n == components.len()) {
        return Ok(observed.iter().map(|(_, h, _)| refreshed[h]).collect());
    }

    let live = ci_tx::live_components(tx, computer_id, class).await?;
    let mut seen = Vec::with_capacity(components.len());
    for ((_, observed), (id, hash, _)) in components.iter().zip(observed) {
        if let Some(ci_id) = refreshed.get(hash) {
            seen.push(*ci_id);
            continue;
        }
        let reconciled = reconcile_hashed(tx, observed, std::slice::from_ref(id), hash).await?;
        // A component is identified within its computer, so it never moves: its relation is
        // made once, when it is created (a person who removed it later is not overruled by
        // every report).
        if reconciled.created {
            ci_tx::ensure_relation(
                tx,
                observed.tenant,
                reconciled.ci_id,
                relation,
                computer_id,
                observed.seen_at,
            )
            .await?;
        }
        seen.push(reconciled.ci_id);
    }
    let seen_set: HashSet<i64> = seen.iter().copied().collect();
    for gone in live.into_iter().filter(|id| !seen_set.contains(id)) {
        retire(tx, tenant, gone, at).await?;
    }
    Ok(seen)
}

/// Retire a component no longer reported, with its history entry.
async fn retire(tx: &mut Tx<'_>, tenant: TenantId, id: i64, at: i64) -> StoreResult<()> {
    ci_tx::retire(tx, id, at).await?;
    let (old, new) = (json_text("active"), json_text("retired"));
    let change = Change {
        tenant,
        ci_id: id,
        at,
        field: "status",
        old: Some(&old),
        new: Some(&new),
        source: AGENT,
    };
    ci_tx::record_change(tx, &change).await
}

/// What an agent says about a CI — class, name, computer, attributes and identifiers — hashed.
/// Measurements are not part of it: they change every report and keep no history.
pub fn fingerprint(observed: &Observed<'_>, ids: &[Identifier]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(observed.class.as_bytes());
    hasher.update([0]);
    hasher.update(observed.name.as_bytes());
    hasher.update([0]);
    hasher.update(observed.computer_id.unwrap_or(0).to_le_bytes());
    // serde_json's maps are ordered by key: the same attributes always serialise alike.
    hasher.update(
        Value::Object(observed.attributes.clone())
            .to_string()
            .as_bytes(),
    );
    for id in ids {
        hasher.update([0]);
        hasher.update(id.kind.name.as_bytes());
        hasher.update([0]);
        hasher.update(id.value.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}
