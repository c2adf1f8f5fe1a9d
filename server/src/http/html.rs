//! The few pages the server shows people who follow a link from an email (a rating, choosing a
//! password): one template each, rendered with HTML escaping on, since what they show comes from
//! users.

use axum::response::Html;
use serde::Serialize;

use super::error::{ApiError, ApiResult};

/// Render `source` (a minijinja template) with `context`; `name` says which page failed.
pub fn render(name: &str, source: &str, context: impl Serialize) -> ApiResult<Html<String>> {
    let mut env = minijinja::Environment::new();
    // The ".html" name turns HTML escaping on.
    env.add_template("page.html", source)
        .and_then(|_| env.get_template("page.html"))
        .and_then(|t| t.render(context))
        .map(Html)
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("{name} page: {e}")))
}
