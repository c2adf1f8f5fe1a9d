//! A tenant's own email wording per event; events without one use the built-in default (see
//! [`crate::notify::templates`]).

use serde::Serialize;

use super::{to_time, Store, StoreError, StoreResult, TenantId};
use crate::notify::templates::{self, Template, EVENTS};

/// The template in force for one event, for the API.
#[derive(Debug, Clone, Serialize)]
pub struct EventTemplate {
    pub event: String,
    /// False: the built-in default.
    pub custom: bool,
    #[serde(flatten)]
    pub template: Template,
    pub updated_by: Option<String>,
    pub updated_at: Option<chrono::DateTime<chrono::Utc>>,
}

type TemplateRow = (String, String, String, String, i64);

impl Store {
    /// The tenant's own template for `event`, if it wrote one.
    pub async fn custom_template(
        &self,
        tenant: TenantId,
        event: &str,
    ) -> StoreResult<Option<Template>> {
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT subject, body FROM notification_templates WHERE tenant_id = $1 AND event = $2",
        )
        .bind(tenant.0)
        .bind(event)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|(subject, body)| Template { subject, body }))
    }

    /// Every event's template in force, custom or built in.
    pub async fn notification_templates(
        &self,
        tenant: TenantId,
    ) -> StoreResult<Vec<EventTemplate>> {
        let rows: Vec<TemplateRow> = sqlx::query_as(
            "SELECT event, subject, body, updated_by, updated_at FROM notification_templates
              WHERE tenant_id = $1",
        )
        .bind(tenant.0)
        .fetch_all(self.pool())
        .await?;
        Ok(EVENTS
            .iter()
            .map(|event| match rows.iter().find(|r| r.0 == *event) {
                Some((_, subject, body, by, at)) => EventTemplate {
                    event: event.to_string(),
                    custom: true,
                    template: Template {
                        subject: subject.clone(),
                        body: body.clone(),
                    },
                    updated_by: Some(by.clone()),
                    updated_at: Some(to_time(*at)),
                },
                None => EventTemplate {
                    event: event.to_string(),
                    custom: false,
                    template: templates::builtin(event),
                    updated_by: None,
                    updated_at: None,
                },
            })
            .collect())
    }

    /// Save the tenant's template for `event`, after checking that it renders.
    pub async fn set_notification_template(
        &self,
        tenant: TenantId,
        event: &str,
        template: &Template,
        actor: &str,
        now: i64,
    ) -> StoreResult<EventTemplate> {
        templates::validate(event, template).map_err(StoreError::Invalid)?;
        sqlx::query(
            "INSERT INTO notification_templates (tenant_id, event, subject, body, updated_by,
                                                 updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (tenant_id, event) DO UPDATE SET subject = excluded.subject,
                    body = excluded.body, updated_by = excluded.updated_by,
                    updated_at = excluded.updated_at",
        )
        .bind(tenant.0)
        .bind(event)
        .bind(&template.subject)
        .bind(&template.body)
        .bind(actor)
        .bind(now)
        .execute(self.pool())
        .await?;
        Ok(EventTemplate {
            event: event.to_string(),
            custom: true,
            template: template.clone(),
            updated_by: Some(actor.to_string()),
            updated_at: Some(to_time(now)),
        })
    }

    /// Go back to the built-in template; `NotFound` when the tenant had none of its own.
    pub async fn delete_notification_template(
        &self,
        tenant: TenantId,
        event: &str,
    ) -> StoreResult<()> {
        let done =
            sqlx::query("DELETE FROM notification_templates WHERE tenant_id = $1 AND event = $2")
                .bind(tenant.0)
                .bind(event)
                .execute(self.pool())
                .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound);
        }
        Ok(())
    }
}
