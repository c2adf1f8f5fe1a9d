//! The daily digest: per tenant, what is open, at risk and breached, and what was opened and
//! resolved in the last day, read from the tickets. Queueing it (once per tenant and local
//! date, however many replicas try) is [`crate::notify::digest`]'s.

use super::tickets::{open_states_sql, TicketKind};
use super::{Store, StoreResult, TenantId};
use chrono::TimeZone;
use serde::Serialize;

const DAY_MS: i64 = 86_400_000;

/// At most this many tickets are listed by name in a digest.
const LISTED: i64 = 20;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DigestSummary {
    pub open: i64,
    /// Past a warning, not breached.
    pub at_risk: i64,
    pub breached: i64,
    pub opened_last_day: i64,
    pub resolved_last_day: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct TicketAtRisk {
    pub number: String,
    pub title: String,
    pub priority: i64,
    /// `warning` or `breached`.
    pub risk: &'static str,
}

/// The last instant `schedule` fired at or before `now` (in `tz`), within the last day.
pub fn latest_occurrence(
    schedule: &cron::Schedule,
    tz: chrono_tz::Tz,
    now: i64,
) -> Option<chrono::DateTime<chrono_tz::Tz>> {
    let now = tz.timestamp_millis_opt(now).single()?;
    let since = now - chrono::Duration::days(1);
    // Bounded: a schedule firing every second would otherwise walk 86 400 instants.
    schedule
        .after(&since)
        .take(2_000)
        .take_while(|t| *t <= now)
        .last()
}

/// The outbox key of a tenant's digest for a local date.
pub fn digest_key(tenant: TenantId, date: chrono::NaiveDate) -> String {
    format!("digest:tenant-{}:{date}", tenant.0)
}

impl Store {
    /// The digest's numbers and the tickets that need attention, as of `now`.
    pub async fn digest_summary(
        &self,
        tenant: TenantId,
        now: i64,
    ) -> StoreResult<(DigestSummary, Vec<TicketAtRisk>)> {
        let open_states = open_states_sql();
        let mut summary = DigestSummary::default();
        let mut listed = Vec::new();
        for kind in [TicketKind::Incident, TicketKind::ServiceRequest] {
            let (open, at_risk, breached, opened, resolved): (i64, i64, i64, i64, i64) =
                sqlx::query_as(&format!(
                    "SELECT
                       COALESCE(SUM(CASE WHEN state IN {open_states} THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN state IN {open_states} AND sla_warning_at <= $2
                            AND (sla_breach_at IS NULL OR sla_breach_at > $2) THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN state IN {open_states} AND sla_breach_at <= $2
                            THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN opened_at > $3 AND opened_at <= $2
                            THEN 1 ELSE 0 END), 0),
                       COALESCE(SUM(CASE WHEN resolved_at > $3 AND resolved_at <= $2
                            THEN 1 ELSE 0 END), 0)
                     FROM {} WHERE tenant_id = $1",
                    kind.table()
                ))
                .bind(tenant.0)
                .bind(now)
                .bind(now - DAY_MS)
                .fetch_one(self.pool())
                .await?;
            summary.open += open;
            summary.at_risk += at_risk;
            summary.breached += breached;
            summary.opened_last_day += opened;
            summary.resolved_last_day += resolved;
            let rows: Vec<(i64, String, i64, Option<i64>)> = sqlx::query_as(&format!(
                "SELECT number, title, priority, sla_breach_at FROM {}
                  WHERE tenant_id = $1 AND state IN {open_states} AND sla_warning_at <= $2
                  ORDER BY priority, opened_at, id LIMIT $3",
                kind.table()
            ))
            .bind(tenant.0)
            .bind(now)
            .bind(LISTED)
            .fetch_all(self.pool())
            .await?;
            listed.extend(
                rows.into_iter()
                    .map(|(number, title, priority, breach)| TicketAtRisk {
                        number: kind.number(number),
                        title,
                        priority,
                        risk: if breach.is_some_and(|b| b <= now) {
                            "breached"
                        } else {
                            "warning"
                        },
                    }),
            );
        }
        listed.sort_by_key(|t| (t.risk != "breached", t.priority));
        listed.truncate(usize::try_from(LISTED).unwrap_or(20));
        Ok((summary, listed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn the_latest_occurrence_is_in_the_tenants_time_zone() {
        let schedule = cron::Schedule::from_str("0 0 7 * * *").expect("cron");
        let madrid: chrono_tz::Tz = "Europe/Madrid".parse().expect("tz");
        // 2026-11-27 05:30 UTC is 06:30 in Madrid: today's 07:00 has not come yet.
        let before = chrono::Utc
            .with_ymd_and_hms(2026, 11, 27, 5, 30, 0)
            .single()
            .expect("time")
            .timestamp_millis();
        let last = latest_occurrence(&schedule, madrid, before).expect("yesterday's");
        assert_eq!(last.date_naive().to_string(), "2026-11-26");
        let after = before + 3_600_000;
        let last = latest_occurrence(&schedule, madrid, after).expect("today's");
        assert_eq!(last.to_rfc3339(), "2026-11-27T07:00:00+01:00");
        assert_eq!(
            digest_key(TenantId(3), last.date_naive()),
            "digest:tenant-3:2026-11-27"
        );
        let weekly = cron::Schedule::from_str("0 0 7 * * Mon").expect("cron");
        // 2026-11-27 is a Friday: Monday's digest is too old to send late.
        assert!(latest_occurrence(&weekly, madrid, after).is_none());
    }
}
