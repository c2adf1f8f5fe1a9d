//! The rule engine at work on one report (or one offline sweep): every sample is checked
//! against the tenant's rules for its metric, and the alert state machine's decisions are
//! carried out — the desk is told to open, reopen, re-grade or resolve the incident and to
//! mark it flapping; suppressions are checked here — with every transition kept in the alert
//! history. Nothing here writes a ticket: [`crate::desk::incidents`] does.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::json;

use super::suppression;
use crate::desk::incidents::{self as desk_incidents, RuleIncident};
use crate::rules::{evaluate, flapping, Action, AlertState, Phase, Severity, StoredAlert};
use crate::store::alerts::{self, AlertEvent};
use crate::store::incidents;
use crate::store::rules::{self as rule_store, Rule};
use crate::store::{to_time, Backend, StoreResult, TenantId, Tx};

/// The CI a sample is about, and how people call it.
pub struct Subject {
    pub tenant: TenantId,
    pub ci_id: i64,
    /// The computer the CI belongs to (the CI itself for a computer).
    pub computer_id: i64,
    pub description: String,
}

/// Rules and unsettled alert states of one tenant's computer, loaded once per report.
pub struct Engine {
    backend: Backend,
    rules: Arc<Vec<Rule>>,
    unsettled: HashMap<(i64, i64), StoredAlert>,
    now: i64,
    pub incidents_opened: usize,
}

impl Engine {
    pub async fn load(
        tx: &mut Tx<'_>,
        backend: Backend,
        tenant: TenantId,
        computer_id: i64,
        now: i64,
    ) -> StoreResult<Engine> {
        let rules = Arc::new(rule_store::effective_rules(tx, tenant).await?);
        Engine::with_rules(tx, backend, rules, computer_id, None, now).await
    }

    /// [`Engine::load`] with the tenant's rules already at hand, and whether any alert on the
    /// computer is unsettled if that is known (`Some(false)` spares reading them).
    pub async fn with_rules(
        tx: &mut Tx<'_>,
        backend: Backend,
        rules: Arc<Vec<Rule>>,
        computer_id: i64,
        any_unsettled: Option<bool>,
        now: i64,
    ) -> StoreResult<Engine> {
        let unsettled = if rules.is_empty() || any_unsettled == Some(false) {
            HashMap::new()
        } else {
            rule_store::unsettled_alerts(tx, computer_id)
                .await?
                .into_iter()
                .map(StoredAlert::from_row)
                .collect()
        };
        Ok(Engine {
            backend,
            rules,
            unsettled,
            now,
            incidents_opened: 0,
        })
    }

    /// Whether an alert on `ci_id` is pending, firing or held: its samples must keep coming.
    pub fn has_unsettled(&self, ci_id: i64) -> bool {
        self.unsettled.keys().any(|(_, ci)| *ci == ci_id)
    }

    /// The rules it evaluates.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// Check one sample against every rule of its metric.
    pub async fn observe(
        &mut self,
        tx: &mut Tx<'_>,
        subject: &Subject,
        metric: &str,
        value: f64,
        at: i64,
    ) -> StoreResult<()> {
        let rules: Vec<Rule> = self
            .rules
            .iter()
            .filter(|r| r.metric == metric)
            .cloned()
            .collect();
        for rule in rules {
            self.observe_rule(tx, &rule, subject, value, at).await?;
        }
        Ok(())
    }

    async fn observe_rule(
        &mut self,
        tx: &mut Tx<'_>,
        rule: &Rule,
        subject: &Subject,
        value: f64,
        at: i64,
    ) -> StoreResult<()> {
        let levels = rule.levels();
        let key = (rule.id, subject.ci_id);
        let breach = levels.severity_of(value);
        // The common case — healthy and settled — costs nothing.
        let known = self.unsettled.get(&key).cloned();
        if known.is_none() && breach.is_none() {
            return Ok(());
        }
        if let Some(scope) = &rule.scope_query {
            if !alerts::ci_matches(tx, self.backend, subject.ci_id, scope).await? {
                return Ok(());
            }
        }
        let previous = match known {
            Some(alert) => Some(alert),
            None => rule_store::load_alert_state(tx, rule.id, subject.ci_id)
                .await?
                .map(|row| StoredAlert::from_row(row).1),
        };
        if previous
            .as_ref()
            .is_some_and(|p| p.state.last_sample_at >= at)
        {
            return Ok(()); // not newer than what was already evaluated
        }
        let (mut state, actions) =
            evaluate(&levels, previous.as_ref().map(|p| &p.state), value, at);
        // An incident held open through flapping stays attached while the alert is ok.
        if let Some(p) = previous.as_ref().filter(|p| p.state.phase == Phase::Ok) {
            state.incident_id = state.incident_id.or(p.state.incident_id);
        }
        let recent = flapping::record(
            previous.as_ref().map(|p| p.recent.as_str()).unwrap_or(""),
            breach.is_some(),
        );
        let was_flapping = previous.as_ref().is_some_and(|p| p.flapping);
        let mut next = StoredAlert {
            state,
            flapping: flapping::is_flapping(&recent, was_flapping),
            recent,
            suppressed_by: previous.as_ref().and_then(|p| p.suppressed_by.clone()),
        };
        let before = previous
            .as_ref()
            .map(|p| p.state.phase)
            .unwrap_or(Phase::Ok);
        let mut note: Option<String> = None;

        for action in actions {
            match action {
                Action::Open {
                    severity,
                    started_at,
                } => {
                    let reason = suppression::why_held(
                        tx,
                        self.backend,
                        subject.tenant,
                        rule.id,
                        subject.ci_id,
                        subject.computer_id,
                        at,
                    )
                    .await?;
                    match reason {
                        Some(reason) => {
                            note = Some(format!("suppressed: {reason}"));
                            next.suppressed_by = Some(reason);
                            next.state.incident_id = None;
                        }
                        None => {
                            let id = self
                                .open(tx, rule, subject, severity, started_at, value, at)
                                .await?;
                            next.state.incident_id = Some(id);
                        }
                    }
                }
                Action::ChangeSeverity { from, to } => {
                    if let Some(id) = next.state.incident_id {
                        let detail = json!({"from": from.as_str(), "to": to.as_str(), "value": value, "sample_at": to_time(at)});
                        desk_incidents::change_severity(
                            tx,
                            subject.tenant,
                            id,
                            to.as_str(),
                            urgency_for(rule, to),
                            detail,
                            self.now,
                        )
                        .await?;
                    }
                }
                Action::Recover => {
                    let incident = previous.as_ref().and_then(|p| p.state.incident_id);
                    match incident {
                        // Suppressed all along: nobody was told, so nobody is told it is over.
                        None => note = Some("recovered while suppressed: no notification".into()),
                        Some(id) if next.flapping => {
                            // Hold the incident open while flapping; it resolves once it settles.
                            next.state.incident_id = Some(id);
                            note = Some("recovered while flapping: incident held open".into());
                        }
                        Some(id) => self.recover(tx, rule, subject, id, value, at).await?,
                    }
                    next.suppressed_by = None;
                }
            }
        }
        self.follow_up(tx, rule, subject, &mut next, was_flapping, value, at)
            .await?;

        let after = next.state.phase;
        if before != after || note.is_some() || was_flapping != next.flapping {
            let flap_note = (was_flapping != next.flapping).then_some(if next.flapping {
                "flapping started"
            } else {
                "flapping stopped"
            });
            let note = match (note.as_deref(), flap_note) {
                (Some(a), Some(b)) => Some(format!("{a}; {b}")),
                (a, b) => a.or(b).map(str::to_string),
            };
            alerts::record_event(
                tx,
                &AlertEvent {
                    tenant: subject.tenant,
                    rule_id: rule.id,
                    ci_id: subject.ci_id,
                    at,
                    from: before.as_str(),
                    to: after.as_str(),
                    severity: next.state.severity.map(Severity::as_str),
                    value: Some(value),
                    incident_id: next.state.incident_id,
                    note: note.as_deref(),
                },
            )
            .await?;
        }
        let saved = next.to_save(rule.id, (subject.ci_id, subject.computer_id));
        rule_store::save_alert_state(tx, subject.tenant, &saved).await?;
        if next.state.phase == Phase::Ok && !next.flapping {
            self.unsettled.remove(&key);
        } else {
            self.unsettled.insert(key, next);
        }
        Ok(())
    }

    /// What the state machine does not see: a suppression that ended while still firing, a
    /// held incident whose flapping stopped, and marking the incident as flapping.
    #[allow(clippy::too_many_arguments)]
    async fn follow_up(
        &mut self,
        tx: &mut Tx<'_>,
        rule: &Rule,
        subject: &Subject,
        next: &mut StoredAlert,
        was_flapping: bool,
        value: f64,
        at: i64,
    ) -> StoreResult<()> {
        let state: &AlertState = &next.state;
        if state.phase == Phase::Firing && state.incident_id.is_none() {
            let reason = suppression::why_held(
                tx,
                self.backend,
                subject.tenant,
                rule.id,
                subject.ci_id,
                subject.computer_id,
                at,
            )
            .await?;
            if reason.is_none() {
                let severity = state.severity.unwrap_or(Severity::Critical);
                let id = self
                    .open(tx, rule, subject, severity, state.since_at, value, at)
                    .await?;
                next.state.incident_id = Some(id);
            }
            next.suppressed_by = reason;
        }
        // Settle the flapping mark first: a resolution that ends the flapping is then notified
        // at once instead of being held (and the incident does not stay marked).
        if was_flapping != next.flapping {
            if let Some(id) = next.state.incident_id {
                let detail = json!({"value": value, "sample_at": to_time(at),
                                    "state_change_percent": flapping::percent_change(&next.recent)});
                desk_incidents::mark_flapping(
                    tx,
                    subject.tenant,
                    id,
                    next.flapping,
                    detail,
                    self.now,
                )
                .await?;
            }
        }
        if next.state.phase == Phase::Ok && !next.flapping {
            if let Some(id) = next.state.incident_id.take() {
                self.recover(tx, rule, subject, id, value, at).await?;
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn open(
        &mut self,
        tx: &mut Tx<'_>,
        rule: &Rule,
        subject: &Subject,
        severity: Severity,
        started_at: i64,
        value: f64,
        at: i64,
    ) -> StoreResult<i64> {
        let detail = json!({"rule": rule.name, "metric": rule.metric, "value": value, "severity": severity.as_str(),
                            "sample_at": to_time(at), "problem_started_at": to_time(started_at)});
        // Back within the reopen window: the same incident again.
        let previous = incidents::last_finished_incident(tx, rule.id, subject.ci_id).await?;
        if let Some((id, state, resolved_at)) = &previous {
            let recent = resolved_at
                .is_some_and(|r| self.now - r <= rule.reopen_window_secs.saturating_mul(1000));
            if state == "resolved"
                && recent
                && desk_incidents::reopen_for_rule(
                    tx,
                    subject.tenant,
                    rule.id,
                    subject.ci_id,
                    *id,
                    severity.as_str(),
                    urgency_for(rule, severity),
                    &detail,
                    self.now,
                )
                .await?
            {
                return Ok(*id);
            }
        }
        let title = format!(
            "{}: {} is {} ({})",
            subject.description,
            rule.name,
            show(rule, value),
            severity.as_str()
        );
        let description = format!(
            "Rule \"{}\": {} {} {}.{}",
            rule.name,
            rule.metric,
            rule.direction,
            rule.critical_level,
            rule.runbook
                .as_deref()
                .map(|r| format!("\nRunbook: {r}"))
                .unwrap_or_default()
        );
        let (id, new) = desk_incidents::open_for_rule(
            tx,
            &RuleIncident {
                tenant: subject.tenant,
                rule_id: rule.id,
                ci_id: subject.ci_id,
                computer_id: subject.computer_id,
                title: &title,
                description: &description,
                impact: rule.impact,
                urgency: urgency_for(rule, severity),
                severity: severity.as_str(),
                problem_started_at: started_at,
                evidence: &detail,
                previous: previous.map(|(old, _, _)| old),
                now: self.now,
            },
        )
        .await?;
        if new {
            self.incidents_opened += 1;
        }
        Ok(id)
    }

    async fn recover(
        &mut self,
        tx: &mut Tx<'_>,
        rule: &Rule,
        subject: &Subject,
        id: i64,
        value: f64,
        at: i64,
    ) -> StoreResult<()> {
        let detail =
            json!({"value": value, "sample_at": to_time(at), "auto_resolve": rule.auto_resolve});
        desk_incidents::recover(tx, subject.tenant, id, rule.auto_resolve, detail, self.now)
            .await?;
        Ok(())
    }
}

/// A value as people read it for this rule's metric.
fn show(rule: &Rule, value: f64) -> String {
    use crate::rules::metrics::{lookup, Unit};
    match lookup(&rule.metric).map(|m| m.unit) {
        Some(Unit::Percent) => format!("{value:.1}%"),
        Some(Unit::Bytes) => format!("{:.1} GiB", value / 1_073_741_824.0),
        Some(Unit::Seconds) => format!("{:.0} min", value / 60.0),
        Some(Unit::Hours) => format!("{value:.1} h"),
        Some(Unit::Days) => format!("{value:.1} days"),
        Some(Unit::Flag) => (if value >= 0.5 { "yes" } else { "no" }).to_string(),
        Some(Unit::Count) | None => format!("{value}"),
    }
}

/// A warning is less urgent than the rule's urgency for a critical breach.
fn urgency_for(rule: &Rule, severity: Severity) -> i64 {
    match severity {
        Severity::Critical => rule.urgency,
        Severity::Warning => (rule.urgency + 1).min(3),
    }
}
