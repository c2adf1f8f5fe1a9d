//! The ingest runtime of one server process: the [`Store`] and what this process keeps between
//! reports — each tenant's rules as last read, the inventory each agent's computer has, when each
//! volume's forecast is due, the queue of steady reports and how far behind on reports it is.
//!
//! None of it is shared between replicas except through the database (the lag is published by
//! [`crate::lag::publish`]); all of it is a cache or a schedule, so a fresh runtime stores every
//! report the same way, only with a few more reads.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};

use super::forecasts::ForecastSchedule;
use super::steady::GroupCommit;
use crate::lag::Lag;
use crate::store::rules::{effective_rules, Rule};
use crate::store::{Store, StoreResult, TenantId, Tx};

/// The store and this process's ingest state. Cheap to clone: clones share the state.
#[derive(Clone)]
pub struct Ingest {
    store: Store,
    rules: Arc<RulesCache>,
    inventory_hints: Arc<InventoryHints>,
    lag: Arc<Lag>,
    forecasts: Arc<ForecastSchedule>,
    group_commit: Arc<GroupCommit>,
}

impl Ingest {
    /// A runtime with nothing cached yet: one per server process (tests make one per test).
    pub fn new(store: Store) -> Self {
        Ingest {
            store,
            rules: Default::default(),
            inventory_hints: Default::default(),
            lag: Default::default(),
            forecasts: Default::default(),
            group_commit: Default::default(),
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Whether this process is behind on reports (shared by its report handlers and jobs).
    pub fn lag(&self) -> &Lag {
        &self.lag
    }

    /// When each volume's fill forecast is due (shared by this process's report handlers).
    pub fn forecasts(&self) -> &ForecastSchedule {
        &self.forecasts
    }

    /// The queue of steady reports stored together (shared by this process's report handlers).
    pub fn group_commit(&self) -> &GroupCommit {
        &self.group_commit
    }

    pub(super) fn inventory_hints(&self) -> &InventoryHints {
        &self.inventory_hints
    }

    /// The tenant's rules in force at `revision` (read by the report's first statement): from
    /// the cache when they were read at that revision, else from the database.
    pub(super) async fn rules_at(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        revision: i64,
    ) -> StoreResult<Arc<Vec<Rule>>> {
        self.rules.rules_at(tx, tenant, revision).await
    }
}

/// Each tenant's rules in force as last read, with the rules revision they were read at
/// (migration 0015: the revision moves with every change to any rule). One per [`Ingest`], so
/// shared by every report the process ingests.
#[derive(Default)]
struct RulesCache {
    by_tenant: Mutex<HashMap<TenantId, RulesAt>>,
}

/// Rules as read at a rules revision.
type RulesAt = (i64, Arc<Vec<Rule>>);

impl RulesCache {
    fn lock(&self) -> MutexGuard<'_, HashMap<TenantId, RulesAt>> {
        // Each update is one insert: a panic elsewhere cannot leave the map half-written.
        self.by_tenant.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn rules_at(
        &self,
        tx: &mut Tx<'_>,
        tenant: TenantId,
        revision: i64,
    ) -> StoreResult<Arc<Vec<Rule>>> {
        if let Some((at, rules)) = self.lock().get(&tenant) {
            if *at == revision {
                return Ok(Arc::clone(rules));
            }
        }
        // Read after the revision, so at least as new as it (newer only costs a re-read later).
        let rules = Arc::new(effective_rules(tx, tenant).await?);
        let mut by_tenant = self.lock();
        let newer_known = by_tenant.get(&tenant).is_some_and(|(at, _)| *at > revision);
        if !newer_known {
            by_tenant.insert(tenant, (revision, Arc::clone(&rules)));
        }
        Ok(rules)
    }
}

/// The inventory each agent's computer has, as far as this process knows: the one it stored or
/// recognised last for that agent. A hint only — it spares the look-up before a report's
/// transaction, which checks the stored hash again (another replica may have stored a newer
/// one: that costs one more try, never a wrong result).
#[derive(Default)]
pub(super) struct InventoryHints {
    by_agent: Mutex<HashMap<String, u64>>,
}

/// Agents remembered at most; past that the hints start over (about 100 bytes each).
const MAX_HINTS: usize = 1_000_000;

fn digest(hash: &str) -> u64 {
    let mut hasher = DefaultHasher::new();
    hash.hash(&mut hasher);
    hasher.finish()
}

impl InventoryHints {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, u64>> {
        // Each update is one insert: a panic elsewhere cannot leave the map half-written.
        self.by_agent.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether the agent's computer has the inventory with this hash, if this process knows.
    /// An empty hash never matches.
    pub(super) fn get(&self, agent_id: &str, hash: &str) -> Option<bool> {
        if hash.is_empty() {
            return Some(false);
        }
        let known = self.lock().get(agent_id).copied()?;
        Some(known == digest(hash))
    }

    /// Note that the agent's computer now has the inventory with this hash.
    pub(super) fn remember(&self, agent_id: &str, hash: &str) {
        if hash.is_empty() {
            return;
        }
        let mut hints = self.lock();
        if hints.len() >= MAX_HINTS && !hints.contains_key(agent_id) {
            hints.clear();
        }
        hints.insert(agent_id.to_string(), digest(hash));
    }
}
