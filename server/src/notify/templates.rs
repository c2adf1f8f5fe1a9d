//! Email wording per event type: built-in defaults, and a tenant's own versions written in
//! minijinja (Jinja2 syntax), checked when saved so a broken template is refused, not mailed.
//!
//! A template sees the outbox payload — `event`, `kind`, `at`, `ticket` (`number`, `title`,
//! `state`, `priority`, `assignment_group`, `assignee`), `detail` — plus `what` (the event in
//! words), `noun` (incident or service request) and, in the resolved email, `satisfaction_url`.
//! The digest sees `tenant`, `date`, `summary` and `at_risk` instead of a ticket.

use minijinja::Environment;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The events a template (and a notification channel) can be for.
pub const EVENTS: &[&str] = &[
    "opened",
    "escalated",
    "resolved",
    "sla_warning",
    "sla_breach",
    "digest",
];

/// Templates longer than this are refused: an email, not a document.
const MAX_TEMPLATE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Template {
    pub subject: String,
    pub body: String,
}

const TICKET_SUBJECT: &str = "[{{ ticket.number }}] {{ what }}: {{ ticket.title }}";

const TICKET_BODY: &str = "{{ what }}: {{ ticket.number }} {{ ticket.title }}

Priority: P{{ ticket.priority }}
State: {{ ticket.state }}
{% if ticket.assignment_group %}Group: {{ ticket.assignment_group }}
{% endif %}{% if ticket.assignee %}Assignee: {{ ticket.assignee }}
{% endif %}{% if detail %}
{% for key, value in detail|items %}{% if value is not none %}{{ key }}: {{ value }}
{% endif %}{% endfor %}{% endif %}{% if satisfaction_url %}
How did we do? Rate this {{ noun }} from 1 to 5:
{{ satisfaction_url }}
{% endif %}";

const DIGEST_SUBJECT: &str = "[{{ tenant.display_name }}] Service desk digest {{ date }}";

const DIGEST_BODY: &str = "Service desk digest for {{ tenant.display_name }}, {{ date }}

Open tickets: {{ summary.open }}
SLA at risk: {{ summary.at_risk }}
SLA breached: {{ summary.breached }}
Opened in the last day: {{ summary.opened_last_day }}
Resolved in the last day: {{ summary.resolved_last_day }}
{% if at_risk %}
Needing attention:
{% for t in at_risk %}- {{ t.number }} P{{ t.priority }} {{ t.title }} ({{ t.risk }})
{% endfor %}{% endif %}";

const PASSWORD_RESET_SUBJECT: &str = "Reset your Atalaya password";

const PASSWORD_RESET_BODY: &str = "Hello {{ user.display_name }},

Someone (we hope you) asked to reset the password of {{ user.email }}.
Choose a new one here, before {{ expires_at }}:

{{ link }}

If it was not you, ignore this email: your password stays as it is.
";

const INVITATION_SUBJECT: &str = "You are invited to the Atalaya service desk";

const INVITATION_BODY: &str = "Hello {{ user.display_name }},

{{ invited_by }} invited you to the service desk as {{ user.role }}.
Choose your password here, before {{ expires_at }}, and sign in with {{ user.email }}:

{{ link }}
";

/// The wording used when a tenant has not written its own (mail to one person — a password
/// reset, an invitation — always uses the built-in one).
pub fn builtin(event: &str) -> Template {
    if event == "password_reset" {
        return Template {
            subject: PASSWORD_RESET_SUBJECT.into(),
            body: PASSWORD_RESET_BODY.into(),
        };
    }
    if event == "invitation" {
        return Template {
            subject: INVITATION_SUBJECT.into(),
            body: INVITATION_BODY.into(),
        };
    }
    if event == "digest" {
        Template {
            subject: DIGEST_SUBJECT.into(),
            body: DIGEST_BODY.into(),
        }
    } else {
        Template {
            subject: TICKET_SUBJECT.into(),
            body: TICKET_BODY.into(),
        }
    }
}

/// The event in words, for subjects.
pub fn describe(event: &str) -> &str {
    match event {
        "opened" => "Opened",
        "escalated" => "Escalated",
        "resolved" => "Resolved",
        "sla_warning" => "SLA warning",
        "sla_breach" => "SLA breached",
        "digest" => "Digest",
        other => other,
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    // Plain-text email: nothing to escape, and a template must not loop forever.
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_fuel(Some(100_000));
    env
}

/// Refuse an unknown event, an empty or oversized template, or one that does not parse; the
/// message says which part and where.
pub fn validate(event: &str, template: &Template) -> Result<(), String> {
    if !EVENTS.contains(&event) {
        return Err(format!(
            "unknown event {event:?}; events are {}",
            EVENTS.join(", ")
        ));
    }
    if template.subject.trim().is_empty() || template.body.trim().is_empty() {
        return Err("subject and body must not be empty".into());
    }
    if template.subject.len() + template.body.len() > MAX_TEMPLATE_BYTES {
        return Err(format!(
            "a template may be at most {MAX_TEMPLATE_BYTES} bytes"
        ));
    }
    let env = environment();
    for (part, source) in [("subject", &template.subject), ("body", &template.body)] {
        env.template_from_str(source)
            .map_err(|e| format!("{part}: {}", describe_error(&e)))?;
    }
    // A template that parses may still fail on every message (an unknown filter, say): try it
    // on a sample so the author hears of it now.
    render(template, &sample(event)).map(|_| ())
}

fn describe_error(error: &minijinja::Error) -> String {
    match error.line() {
        Some(line) => format!("{} (line {line})", error),
        None => error.to_string(),
    }
}

/// The email's subject (one line) and body for `context`.
pub fn render(template: &Template, context: &Value) -> Result<(String, String), String> {
    let env = environment();
    let subject = env
        .render_str(&template.subject, context)
        .map_err(|e| format!("subject: {}", describe_error(&e)))?;
    let body = env
        .render_str(&template.body, context)
        .map_err(|e| format!("body: {}", describe_error(&e)))?;
    // A header cannot span lines.
    let subject = subject.split_whitespace().collect::<Vec<_>>().join(" ");
    Ok((subject, body))
}

/// What a template sees: the payload, with the event in words and the ticket kind's noun.
pub fn context(event: &str, payload: &Value, satisfaction_url: Option<&str>) -> Value {
    let mut context = payload.clone();
    if let Some(map) = context.as_object_mut() {
        map.insert("what".into(), describe(event).into());
        let noun = match payload["kind"].as_str() {
            Some("service_request") => "service request",
            _ => "incident",
        };
        map.insert("noun".into(), noun.into());
        if let Some(url) = satisfaction_url {
            map.insert("satisfaction_url".into(), url.into());
        }
    }
    context
}

/// A made-up occurrence of `event`, to try a template on.
pub fn sample(event: &str) -> Value {
    let payload = if event == "digest" {
        serde_json::json!({
            "event": "digest", "date": "2026-11-27",
            "tenant": {"id": 1, "name": "acme", "display_name": "Acme"},
            "summary": {"open": 3, "at_risk": 1, "breached": 1, "opened_last_day": 2,
                        "resolved_last_day": 1},
            "at_risk": [{"number": "INC-000001", "title": "Mail down", "priority": 1,
                         "risk": "breached"}],
        })
    } else {
        serde_json::json!({
            "event": event, "kind": "incident", "at": "2026-11-27T09:00:00Z", "tenant_id": 1,
            "ticket": {"id": 1, "number": "INC-000001", "title": "Mail down", "state": "new",
                       "priority": 1, "assignment_group": "service-desk", "assignee": null},
            "detail": {"note": "sample"},
        })
    };
    let url = (event == "resolved").then_some("https://desk.example/satisfaction/sample");
    context(event, &payload, url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builtin_templates_name_the_ticket_and_the_event() {
        let payload = json!({"kind": "incident",
                             "ticket": {"number": "INC-000007", "title": "Disk full",
                                        "priority": 2, "state": "new",
                                        "assignment_group": "service-desk"},
                             "detail": {"metric": "resolution", "note": null}});
        let context = context("sla_breach", &payload, None);
        let (subject, body) = render(&builtin("sla_breach"), &context).expect("renders");
        assert_eq!(subject, "[INC-000007] SLA breached: Disk full");
        assert!(body.contains("Priority: P2"), "{body}");
        assert!(body.contains("Group: service-desk"), "{body}");
        assert!(body.contains("metric: resolution"), "{body}");
        assert!(!body.contains("note"), "null details are left out: {body}");
        assert!(!body.contains("Rate this"), "{body}");
    }

    #[test]
    fn the_resolved_email_carries_the_satisfaction_link() {
        let (_, body) = render(&builtin("resolved"), &sample("resolved")).expect("renders");
        assert!(
            body.contains(
                "Rate this incident from 1 to 5:\nhttps://desk.example/satisfaction/sample"
            ),
            "{body}"
        );
        let (subject, body) = render(&builtin("digest"), &sample("digest")).expect("renders");
        assert_eq!(subject, "[Acme] Service desk digest 2026-11-27");
        assert!(body.contains("SLA breached: 1"), "{body}");
        assert!(
            body.contains("- INC-000001 P1 Mail down (breached)"),
            "{body}"
        );
    }

    #[test]
    fn every_builtin_validates_and_broken_templates_are_refused_with_the_reason() {
        for event in EVENTS {
            validate(event, &builtin(event)).expect("built-in templates are valid");
        }
        let broken = Template {
            subject: "Hi".into(),
            body: "{% if ticket.title %}unclosed".into(),
        };
        let error = validate("opened", &broken).expect_err("refused");
        assert!(error.starts_with("body:"), "{error}");
        let unknown_filter = Template {
            subject: "{{ ticket.title|shout }}".into(),
            body: "x".into(),
        };
        let error = validate("opened", &unknown_filter).expect_err("refused");
        assert!(error.contains("shout"), "{error}");
        assert!(validate("closed", &builtin("opened"))
            .expect_err("unknown event")
            .contains("unknown event"));
        let multiline = Template {
            subject: "{{ ticket.number }}\n{{ ticket.title }}".into(),
            body: "x".into(),
        };
        let (subject, _) = render(&multiline, &sample("opened")).expect("renders");
        assert_eq!(subject, "INC-000001 Mail down");
    }
}
