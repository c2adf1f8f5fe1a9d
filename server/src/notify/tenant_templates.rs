//! A tenant's own email wording per event; events without one use the built-in default
//! ([`super::templates`]). The rows are the store's ([`crate::store::notification_templates`]).

use serde::Serialize;

use super::templates::{self, Template, EVENTS};
use crate::store::notification_templates::StoredTemplate;
use crate::store::{to_time, Store, StoreError, StoreResult, TenantId};

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

impl From<StoredTemplate> for EventTemplate {
    fn from(saved: StoredTemplate) -> Self {
        EventTemplate {
            event: saved.event,
            custom: true,
            template: Template {
                subject: saved.subject,
                body: saved.body,
            },
            updated_by: Some(saved.updated_by),
            updated_at: Some(to_time(saved.updated_at)),
        }
    }
}

/// The tenant's own template for `event`, if it wrote one.
pub async fn custom(store: &Store, tenant: TenantId, event: &str) -> StoreResult<Option<Template>> {
    Ok(store
        .stored_template(tenant, event)
        .await?
        .map(|saved| Template {
            subject: saved.subject,
            body: saved.body,
        }))
}

/// Every event's template in force, custom or built in.
pub async fn in_force(store: &Store, tenant: TenantId) -> StoreResult<Vec<EventTemplate>> {
    let mut saved = store.stored_templates(tenant).await?;
    Ok(EVENTS
        .iter()
        .map(|event| match saved.iter().position(|s| s.event == *event) {
            Some(at) => saved.swap_remove(at).into(),
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
pub async fn save(
    store: &Store,
    tenant: TenantId,
    event: &str,
    template: &Template,
    actor: &str,
    now: i64,
) -> StoreResult<EventTemplate> {
    templates::validate(event, template).map_err(StoreError::Invalid)?;
    let saved = StoredTemplate {
        event: event.to_string(),
        subject: template.subject.clone(),
        body: template.body.clone(),
        updated_by: actor.to_string(),
        updated_at: now,
    };
    store.upsert_template(tenant, &saved).await?;
    Ok(saved.into())
}

/// Go back to the built-in template; `NotFound` when the tenant had none of its own.
pub async fn reset(store: &Store, tenant: TenantId, event: &str) -> StoreResult<()> {
    store.delete_template(tenant, event).await
}
