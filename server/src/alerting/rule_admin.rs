//! Saving what people give the rule engine — rules, maintenance windows and silences: checked
//! by the rules' own words ([`crate::rules::stored`], [`crate::rules::suppression`]), then stored
//! as rows. These are methods of [`Store`] so that every caller (the API, bootstrap, tests) saves
//! through the check; the store itself only inserts and replaces rows.

use crate::store::alerts::{NewSuppression, Suppression};
use crate::store::rules::{Rule, RuleSpec};
use crate::store::{now_ms, Store, StoreResult, TenantId, TenantScope};

impl Store {
    /// Create a rule for a tenant, or MSP-wide with `tenant = None`.
    pub async fn create_rule(
        &self,
        tenant: Option<TenantId>,
        spec: &RuleSpec,
    ) -> StoreResult<Rule> {
        spec.validate()?;
        self.insert_rule(tenant, spec).await
    }

    /// Replace a rule's fields. A tenant-scoped caller may only change its own tenant's rules.
    pub async fn update_rule(
        &self,
        scope: TenantScope,
        id: i64,
        spec: &RuleSpec,
    ) -> StoreResult<Rule> {
        spec.validate()?;
        self.replace_rule(scope, id, spec).await
    }

    /// Create a maintenance window or silence, by `author`.
    pub async fn create_suppression(
        &self,
        tenant: TenantId,
        new: &NewSuppression,
        author: &str,
    ) -> StoreResult<Suppression> {
        new.validate(now_ms())?;
        self.insert_suppression(tenant, new, author).await
    }
}
