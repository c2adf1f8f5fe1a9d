//! People over HTTP on every backend: the access table covers every route, and every route ×
//! role gets through or is refused with 403 exactly as the table says; sessions in cookies with
//! CSRF, sign-out and password changes; sign-in throttling per account and per address; a
//! technician sees only the tenants they serve; personal tokens; the audit log's API.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use atalaya_server::config::{Config, Overrides};
use atalaya_server::http::access::{access, Access, ROUTES};
use atalaya_server::http::{app, openapi_document, AppState};
use atalaya_server::people::tokens::{self, NewToken};
use atalaya_server::people::{users, NewUser, Role};
use atalaya_server::store::{now_ms, Store, TenantId};
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::db::tenant;
use crate::on_every_backend;

const PASSWORD: &str = "correct horse battery";

/// How a request proves who it is.
#[derive(Clone, Copy)]
enum Auth<'a> {
    Nobody,
    Bearer(&'a str),
    /// A session cookie's secret, and the CSRF token sent with it (if any).
    Cookie(&'a str, Option<&'a str>),
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
    text: String,
}

impl Answer {
    fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    fn message(&self) -> &str {
        self.body["error"]["message"].as_str().unwrap_or("")
    }

    /// Refused by the access check for the role's lack of a permission (not by the handler).
    fn refused_for_permission(&self) -> bool {
        self.status == StatusCode::FORBIDDEN && self.message().contains("(permission ")
    }
}

async fn send(
    app: &Router,
    method: &str,
    uri: &str,
    auth: Auth<'_>,
    body: Option<Value>,
    from: Option<SocketAddr>,
) -> Answer {
    let mut request = Request::builder()
        .method(method.to_uppercase().as_str())
        .uri(uri);
    match auth {
        Auth::Nobody => {}
        Auth::Bearer(token) => {
            request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        Auth::Cookie(secret, csrf) => {
            request = request.header(
                header::COOKIE,
                format!("theme=dark; atalaya_session={secret}"),
            );
            if let Some(csrf) = csrf {
                request = request.header("x-csrf-token", csrf);
            }
        }
    }
    let body = match body {
        Some(v) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(v.to_string())
        }
        None => Body::empty(),
    };
    let mut request = request.body(body).expect("request");
    if let Some(address) = from {
        request.extensions_mut().insert(ConnectInfo(address));
    }
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

fn router(store: &Store) -> Router {
    let config = Config::load(&Overrides::default()).expect("defaults");
    app(AppState::new(store.clone(), config))
}

async fn person(store: &Store, email: &str, role: Role, tenant: Option<TenantId>) -> users::User {
    users::create(
        store,
        &NewUser {
            email: email.into(),
            display_name: email.split('@').next().unwrap_or(email).into(),
            role,
            tenant,
            password: Some(PASSWORD.into()),
        },
        now_ms(),
    )
    .await
    .expect("user")
}

/// A personal token of the user's own role.
async fn token_of(store: &Store, user: &users::User) -> String {
    tokens::create(
        store,
        user,
        &NewToken {
            name: format!("{} token", user.email),
            ..NewToken::default()
        },
        now_ms(),
    )
    .await
    .expect("token")
    .0
}

/// One person of every role (the technician serves `acme`; the customer's people are acme's),
/// each with a personal token.
async fn everyone(store: &Store, acme: TenantId) -> Vec<(Role, String)> {
    let mut out = Vec::new();
    for role in Role::ALL {
        let tenant = role.is_customer().then_some(acme);
        let user = person(
            store,
            &format!("{}@example.com", role.as_str()),
            role,
            tenant,
        )
        .await;
        if role == Role::Technician {
            users::add_membership(store, user.id, acme)
                .await
                .expect("member");
        }
        out.push((role, token_of(store, &user).await));
    }
    out
}

/// A route's path with its parameters filled in: ids that name nothing, so no request of the
/// sweep changes anything another depends on; `acme` for tenant names.
fn concrete(path: &str) -> String {
    path.replace("{id}", "999999")
        .replace("{target}", "999999")
        .replace("{name}", "acme")
        .replace("{tenant}", "acme")
        .replace("{event}", "opened")
        .replace("{field}", "os_name")
        .replace("{kind}", "depends_on")
        .replace("{token}", "not-a-link")
}

#[test]
fn every_route_has_an_access_rule_and_every_rule_a_route() {
    let doc = serde_json::to_value(openapi_document()).expect("json");
    let mut served = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("item").keys() {
            served.insert((method.clone(), path.clone()));
        }
    }
    let declared: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        declared.len(),
        ROUTES.len(),
        "a route is in the table twice"
    );
    let undeclared: Vec<_> = served.difference(&declared).collect();
    assert!(
        undeclared.is_empty(),
        "routes without an access rule: {undeclared:?}"
    );
    let stale: Vec<_> = declared.difference(&served).collect();
    assert!(stale.is_empty(), "access rules without a route: {stale:?}");
}

on_every_backend!(
    every_route_by_every_role_is_let_through_or_refused_as_the_table_says,
    |store| {
        let acme = tenant(&store, "acme").await;
        let app = router(&store);
        let people = everyone(&store, acme).await;
        let mut checked = 0;
        for (method, path, rule) in ROUTES {
            let uri = concrete(path);
            let body = matches!(*method, "post" | "put" | "patch").then(|| json!({}));
            let what = format!("{method} {path}");
            let anonymous = send(&app, method, &uri, Auth::Nobody, body.clone(), None).await;
            let needs = match rule {
                Access::Public => {
                    assert_ne!(
                        anonymous.status,
                        StatusCode::UNAUTHORIZED,
                        "{what} is public"
                    );
                    continue;
                }
                Access::Agent => {
                    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{what}");
                    continue;
                }
                Access::SignedIn => None,
                Access::Needs(permission) => Some(*permission),
            };
            assert_eq!(
                anonymous.status,
                StatusCode::UNAUTHORIZED,
                "{what} without a credential"
            );
            assert_eq!(anonymous.code(), "missing_token", "{what}");
            for (role, token) in &people {
                let answer =
                    send(&app, method, &uri, Auth::Bearer(token), body.clone(), None).await;
                let allowed = needs.is_none_or(|p| role.allows(p));
                if allowed {
                    assert!(
                        !answer.refused_for_permission()
                            && answer.status != StatusCode::UNAUTHORIZED,
                        "{what} as a {role:?} must get through: {} {}",
                        answer.status,
                        answer.body
                    );
                } else {
                    assert!(
                        answer.refused_for_permission() && answer.code() == "forbidden",
                        "{what} as a {role:?} must be refused: {} {}",
                        answer.status,
                        answer.body
                    );
                }
                checked += 1;
            }
        }
        assert!(checked > 400, "only {checked} route × role checks");
    }
);

/// Sign in over HTTP: the cookie's secret and the CSRF token.
async fn sign_in(app: &Router, email: &str, password: &str) -> (String, String, i64) {
    let answer = send(
        app,
        "POST",
        "/api/v1/sessions",
        Auth::Nobody,
        Some(json!({"email": email, "password": password})),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    let cookie = answer.headers[header::SET_COOKIE].to_str().expect("ascii");
    let secret = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.strip_prefix("atalaya_session="))
        .expect("the session cookie")
        .to_string();
    let csrf = answer.body["csrf_token"]
        .as_str()
        .expect("csrf")
        .to_string();
    let id = answer.body["session"]["id"].as_i64().expect("id");
    (secret, csrf, id)
}

on_every_backend!(
    sessions_live_in_cookies_and_their_changes_carry_the_csrf_token,
    |store| {
        let acme = tenant(&store, "acme").await;
        let app = router(&store);
        let tech = person(&store, "tech@msp.example", Role::Technician, None).await;
        users::add_membership(&store, tech.id, acme)
            .await
            .expect("member");

        let answer = send(
            &app,
            "POST",
            "/api/v1/sessions",
            Auth::Nobody,
            Some(json!({"email": "TECH@msp.example", "password": PASSWORD})),
            None,
        )
        .await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
        let cookie = answer.headers[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .to_string();
        for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age=604800"] {
            assert!(cookie.contains(attribute), "{attribute} in {cookie}");
        }
        assert!(!cookie.contains("Secure"), "plain HTTP: {cookie}");
        assert!(cookie.starts_with("atalaya_session=ats_"), "{cookie}");

        let (secret, csrf, session) = sign_in(&app, "tech@msp.example", PASSWORD).await;
        let me = send(
            &app,
            "GET",
            "/api/v1/me",
            Auth::Cookie(&secret, None),
            None,
            None,
        )
        .await;
        assert_eq!(me.status, StatusCode::OK, "{}", me.body);
        assert_eq!(me.body["role"], "technician");
        assert_eq!(me.body["user"]["email"], "tech@msp.example");
        assert_eq!(me.body["tenant_ids"], json!([acme.0]));
        assert_eq!(me.body["session_id"], session);
        assert_eq!(me.body["csrf_token"], csrf.as_str());
        assert!(me.body["permissions"]
            .as_array()
            .expect("list")
            .contains(&json!("work_desk")));

        // A change without the CSRF token (another site's form) is refused and changes nothing.
        let query = json!({"tenant": "acme", "name": "linux", "query": "os_name ~ \"Linux\""});
        for wrong in [None, Some("forged")] {
            let refused = send(
                &app,
                "POST",
                "/api/v1/saved-queries",
                Auth::Cookie(&secret, wrong),
                Some(query.clone()),
                None,
            )
            .await;
            assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
            assert_eq!(refused.code(), "csrf_token");
        }
        let listed = send(
            &app,
            "GET",
            "/api/v1/saved-queries",
            Auth::Cookie(&secret, None),
            None,
            None,
        )
        .await;
        assert_eq!(listed.body, json!([]), "nothing was saved");
        let saved = send(
            &app,
            "POST",
            "/api/v1/saved-queries",
            Auth::Cookie(&secret, Some(&csrf)),
            Some(query),
            None,
        )
        .await;
        assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);

        // Wrong password and unknown account answer alike.
        for (email, password) in [
            ("tech@msp.example", "wrong password!"),
            ("nobody@msp.example", PASSWORD),
        ] {
            let refused = send(
                &app,
                "POST",
                "/api/v1/sessions",
                Auth::Nobody,
                Some(json!({"email": email, "password": password})),
                None,
            )
            .await;
            assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
            assert_eq!(refused.code(), "wrong_credentials");
            assert_eq!(refused.message(), "the email or the password is wrong");
        }

        // Sessions are listed; signing out ends this one and clears the cookie.
        let (other, _, other_id) = sign_in(&app, "tech@msp.example", PASSWORD).await;
        let list = send(
            &app,
            "GET",
            "/api/v1/sessions",
            Auth::Cookie(&secret, None),
            None,
            None,
        )
        .await;
        let ids: Vec<i64> = list
            .body
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|s| s["id"].as_i64())
            .collect();
        assert!(ids.contains(&session) && ids.contains(&other_id), "{ids:?}");
        let out = send(
            &app,
            "DELETE",
            &format!("/api/v1/sessions/{session}"),
            Auth::Cookie(&secret, Some(&csrf)),
            None,
            None,
        )
        .await;
        assert_eq!(out.status, StatusCode::NO_CONTENT);
        assert!(out.headers[header::SET_COOKIE]
            .to_str()
            .expect("ascii")
            .contains("Max-Age=0"));
        let after = send(
            &app,
            "GET",
            "/api/v1/me",
            Auth::Cookie(&secret, None),
            None,
            None,
        )
        .await;
        assert_eq!(after.status, StatusCode::UNAUTHORIZED);
        assert_eq!(after.code(), "session_ended");
        let still = send(
            &app,
            "GET",
            "/api/v1/me",
            Auth::Cookie(&other, None),
            None,
            None,
        )
        .await;
        assert_eq!(still.status, StatusCode::OK, "the other session lives on");

        // Someone else's session is not found, not revocable.
        let boss = person(&store, "boss@msp.example", Role::MspAdmin, None).await;
        let (boss_secret, boss_csrf, _) = sign_in(&app, &boss.email, PASSWORD).await;
        let theirs = send(
            &app,
            "DELETE",
            &format!("/api/v1/sessions/{other_id}"),
            Auth::Cookie(&boss_secret, Some(&boss_csrf)),
            None,
            None,
        )
        .await;
        assert_eq!(theirs.status, StatusCode::NOT_FOUND);

        // A password change ends every session of the account; the old password stops working.
        let (secret, csrf, _) = sign_in(&app, "tech@msp.example", PASSWORD).await;
        let wrong_current = send(
        &app,
        "PUT",
        "/api/v1/me/password",
        Auth::Cookie(&secret, Some(&csrf)),
        Some(json!({"current_password": "not it at all", "new_password": "a much longer secret"})),
        None,
    )
    .await;
        assert_eq!(wrong_current.status, StatusCode::UNPROCESSABLE_ENTITY);
        let changed = send(
            &app,
            "PUT",
            "/api/v1/me/password",
            Auth::Cookie(&secret, Some(&csrf)),
            Some(json!({"current_password": PASSWORD, "new_password": "a much longer secret"})),
            None,
        )
        .await;
        assert_eq!(changed.status, StatusCode::NO_CONTENT, "{}", changed.body);
        for ended in [&secret, &other] {
            let me = send(
                &app,
                "GET",
                "/api/v1/me",
                Auth::Cookie(ended, None),
                None,
                None,
            )
            .await;
            assert_eq!(me.status, StatusCode::UNAUTHORIZED);
        }
        let old = send(
            &app,
            "POST",
            "/api/v1/sessions",
            Auth::Nobody,
            Some(json!({"email": "tech@msp.example", "password": PASSWORD})),
            None,
        )
        .await;
        assert_eq!(old.status, StatusCode::UNAUTHORIZED);
        sign_in(&app, "tech@msp.example", "a much longer secret").await;
    }
);

on_every_backend!(sign_in_is_throttled_per_account_and_per_address, |store| {
    let app = router(&store);
    person(&store, "ana@msp.example", Role::MspAdmin, None).await;
    person(&store, "bo@msp.example", Role::MspAdmin, None).await;
    let attempt = |email: &'static str, password: &'static str, from: &'static str| {
        let app = app.clone();
        async move {
            send(
                &app,
                "POST",
                "/api/v1/sessions",
                Auth::Nobody,
                Some(json!({"email": email, "password": password})),
                Some(from.parse().expect("address")),
            )
            .await
        }
    };
    for _ in 0..5 {
        let wrong = attempt("ana@msp.example", "guess guess guess", "192.0.2.1:5000").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    }
    // The sixth try is paused, even with the right password, and from another address too.
    for from in ["192.0.2.1:5000", "198.51.100.7:6000"] {
        let paused = attempt("ana@msp.example", PASSWORD, from).await;
        assert_eq!(
            paused.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}",
            paused.body
        );
        assert_eq!(paused.code(), "too_many_requests");
        assert!(
            paused.message().contains("try again in 15 minute"),
            "{}",
            paused.message()
        );
        let retry: i64 = paused.headers[header::RETRY_AFTER]
            .to_str()
            .expect("ascii")
            .parse()
            .expect("seconds");
        assert!((800..=900).contains(&retry), "{retry}");
    }
    // Another account is not affected.
    assert_eq!(
        attempt("bo@msp.example", PASSWORD, "192.0.2.1:5000")
            .await
            .status,
        StatusCode::CREATED
    );

    // One address guessing many accounts is paused after 30 failures, for every account.
    for i in 0..30 {
        let email: &'static str = Box::leak(format!("user{i}@example.com").into_boxed_str());
        let wrong = attempt(email, "guess guess guess", "203.0.113.9:1234").await;
        assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    let paused = attempt("bo@msp.example", PASSWORD, "203.0.113.9:1234").await;
    assert_eq!(paused.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        attempt("bo@msp.example", PASSWORD, "192.0.2.1:5000")
            .await
            .status,
        StatusCode::CREATED
    );
});

/// Open an incident in `tenant` as the admin; its id.
async fn incident(app: &Router, admin: &str, tenant: &str, title: &str) -> i64 {
    let answer = send(
        app,
        "POST",
        "/api/v1/incidents",
        Auth::Bearer(admin),
        Some(json!({"tenant": tenant, "title": title, "impact": 2, "urgency": 2})),
        None,
    )
    .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    answer.body["ticket"]["id"]
        .as_i64()
        .or(answer.body["id"].as_i64())
        .expect("id")
}

on_every_backend!(a_technician_reaches_only_the_tenants_they_serve, |store| {
    let acme = tenant(&store, "acme").await;
    tenant(&store, "globex").await;
    let app = router(&store);
    let admin = store.create_api_token(None, "admin").await.expect("admin");
    let ours = incident(&app, &admin, "acme", "acme's printer").await;
    let theirs = incident(&app, &admin, "globex", "globex's mail").await;
    let tech = person(&store, "tech@msp.example", Role::Technician, None).await;
    users::add_membership(&store, tech.id, acme)
        .await
        .expect("member");
    let token = token_of(&store, &tech).await;
    let as_tech = |method: &'static str, uri: String, body: Option<Value>| {
        let (app, token) = (app.clone(), token.clone());
        async move { send(&app, method, &uri, Auth::Bearer(&token), body, None).await }
    };

    let list = as_tech("GET", "/api/v1/incidents".into(), None).await;
    let ids: Vec<i64> = list
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["id"].as_i64())
        .collect();
    assert_eq!(ids, vec![ours], "{}", list.body);
    let tenants = as_tech("GET", "/api/v1/tenants".into(), None).await;
    assert_eq!(
        tenants.body.as_array().expect("list").len(),
        1,
        "{}",
        tenants.body
    );
    assert_eq!(tenants.body[0]["name"], "acme");

    // Nothing of globex is readable or writable, by id or by name.
    let attempts = [
        ("GET", format!("/api/v1/incidents/{theirs}"), None),
        (
            "PATCH",
            format!("/api/v1/incidents/{theirs}"),
            Some(json!({"title": "mine now"})),
        ),
        (
            "POST",
            format!("/api/v1/incidents/{theirs}/comments"),
            Some(json!({"body": "hello"})),
        ),
        (
            "POST",
            format!("/api/v1/incidents/{theirs}/assign"),
            Some(json!({"assignee": "me"})),
        ),
        ("GET", "/api/v1/incidents?tenant=globex".into(), None),
        ("GET", "/api/v1/cis?tenant=globex".into(), None),
        ("GET", "/api/v1/reports/backlog?tenant=globex".into(), None),
        ("GET", "/api/v1/tenants/globex/support-plan".into(), None),
        (
            "POST",
            "/api/v1/incidents".into(),
            Some(json!({"tenant": "globex", "title": "x", "impact": 2, "urgency": 2})),
        ),
        (
            "POST",
            "/api/v1/silences".into(),
            Some(json!({"tenant": "globex", "reason": "x", "ends_at": "2099-01-01T00:00:00Z"})),
        ),
    ];
    for (method, uri, body) in &attempts {
        let answer = as_tech(method, uri.clone(), body.clone()).await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{method} {uri}: {}",
            answer.body
        );
    }
    let detail = send(
        &app,
        "GET",
        &format!("/api/v1/incidents/{theirs}"),
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        detail.body["title"], "globex's mail",
        "unchanged: {}",
        detail.body
    );

    // A membership given through the API applies to the next request; taken away, too.
    let given = send(
        &app,
        "PUT",
        &format!("/api/v1/users/{}/memberships/globex", tech.id),
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(given.status, StatusCode::NO_CONTENT, "{}", given.body);
    let reach = as_tech("GET", format!("/api/v1/incidents/{theirs}"), None).await;
    assert_eq!(reach.status, StatusCode::OK, "{}", reach.body);
    let all = as_tech("GET", "/api/v1/incidents".into(), None).await;
    assert_eq!(all.body.as_array().expect("list").len(), 2);
    let taken = send(
        &app,
        "DELETE",
        &format!("/api/v1/users/{}/memberships/globex", tech.id),
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(taken.status, StatusCode::NO_CONTENT);
    let gone = as_tech("GET", format!("/api/v1/incidents/{theirs}"), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
});

on_every_backend!(
    personal_tokens_are_no_higher_than_their_owner_and_stop_when_they_should,
    |store| {
        let acme = tenant(&store, "acme").await;
        let app = router(&store);
        let tech = person(&store, "tech@msp.example", Role::Technician, None).await;
        users::add_membership(&store, tech.id, acme)
            .await
            .expect("member");
        let own = token_of(&store, &tech).await;
        let make = |body: Value| {
            let (app, own) = (app.clone(), own.clone());
            async move {
                send(
                    &app,
                    "POST",
                    "/api/v1/api-tokens",
                    Auth::Bearer(&own),
                    Some(body),
                    None,
                )
                .await
            }
        };

        for role in ["msp_admin", "auditor"] {
            let higher = make(json!({"name": "more", "role": role})).await;
            assert_eq!(
                higher.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{role}: {}",
                higher.body
            );
        }
        let long = make(json!({"name": "forever", "expires_in_days": 5000})).await;
        assert_eq!(long.status, StatusCode::UNPROCESSABLE_ENTITY);
        let made =
            make(json!({"name": "portal bot", "role": "requester", "expires_in_days": 7})).await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
        let secret = made.body["secret"].as_str().expect("secret").to_string();
        let id = made.body["token"]["id"].as_i64().expect("id");
        assert_eq!(made.body["token"]["role"], "requester");
        let expires = made.body["token"]["expires_at"].as_str().expect("expiry");
        let expires: chrono::DateTime<chrono::Utc> = expires.parse().expect("time");
        let days = (expires - chrono::Utc::now()).num_hours();
        assert!((7 * 24 - 1..=7 * 24).contains(&days), "{days} h");

        // The lower role is what it gets: a requester works no incidents.
        let refused = send(
            &app,
            "GET",
            "/api/v1/incidents",
            Auth::Bearer(&secret),
            None,
            None,
        )
        .await;
        assert!(refused.refused_for_permission(), "{}", refused.body);
        let me = send(&app, "GET", "/api/v1/me", Auth::Bearer(&secret), None, None).await;
        assert_eq!(
            (me.body["role"].clone(), me.body["token_id"].clone()),
            (json!("requester"), json!(id))
        );

        // Listed with its last use, never with a secret.
        let list = send(
            &app,
            "GET",
            "/api/v1/api-tokens",
            Auth::Bearer(&own),
            None,
            None,
        )
        .await;
        let listed = list
            .body
            .as_array()
            .expect("list")
            .iter()
            .find(|t| t["id"] == id)
            .expect("listed")
            .clone();
        assert!(listed["last_used_at"].is_string(), "{listed}");
        assert!(!list.body.to_string().contains(&secret));

        // Revoked: refused at once.
        let revoked = send(
            &app,
            "DELETE",
            &format!("/api/v1/api-tokens/{id}"),
            Auth::Bearer(&own),
            None,
            None,
        )
        .await;
        assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
        let after = send(&app, "GET", "/api/v1/me", Auth::Bearer(&secret), None, None).await;
        assert_eq!(
            (after.status, after.code()),
            (StatusCode::UNAUTHORIZED, "invalid_token")
        );

        // Expired: refused, saying so.
        sqlx::query("UPDATE api_tokens SET expires_at = $1 WHERE token_hash = $2")
            .bind(now_ms() - 1)
            .bind(atalaya_server::secrets::hash(&own))
            .execute(store.pool())
            .await
            .expect("expire");
        let expired = send(&app, "GET", "/api/v1/me", Auth::Bearer(&own), None, None).await;
        assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
        assert!(
            expired.message().contains("expired"),
            "{}",
            expired.message()
        );

        // A deactivated owner's tokens stop.
        let fresh = token_of(&store, &tech).await;
        assert_eq!(
            send(&app, "GET", "/api/v1/me", Auth::Bearer(&fresh), None, None)
                .await
                .status,
            StatusCode::OK
        );
        users::set_active(&store, tech.id, false, now_ms())
            .await
            .expect("deactivate");
        let stopped = send(&app, "GET", "/api/v1/me", Auth::Bearer(&fresh), None, None).await;
        assert_eq!(stopped.status, StatusCode::UNAUTHORIZED);
        assert!(
            stopped.message().contains("deactivated"),
            "{}",
            stopped.message()
        );
    }
);

on_every_backend!(
    people_changes_are_in_the_audit_log_for_those_who_may_read_it,
    |store| {
        let acme = tenant(&store, "acme").await;
        tenant(&store, "globex").await;
        let app = router(&store);
        let admin = store
            .create_api_token(None, "ops script")
            .await
            .expect("admin");
        let created = send(
        &app,
        "POST",
        "/api/v1/users",
        Auth::Bearer(&admin),
        Some(json!({"email": "ca@acme.example", "display_name": "Acme admin", "role": "customer_admin", "tenant": "acme", "password": PASSWORD})),
        None,
    )
    .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
        let ca_id = created.body["id"].as_i64().expect("id");
        let tech = send(
            &app,
            "POST",
            "/api/v1/users",
            Auth::Bearer(&admin),
            Some(
                json!({"email": "tech@msp.example", "display_name": "Tech", "role": "technician"}),
            ),
            None,
        )
        .await;
        assert_eq!(tech.status, StatusCode::CREATED, "{}", tech.body);

        // A customer admin makes their tenant's people, never a role above theirs, never elsewhere.
        let ca = users::get(&store, ca_id).await.expect("ca");
        let ca_token = token_of(&store, &ca).await;
        let as_ca = |method: &'static str, uri: &'static str, body: Option<Value>| {
            let (app, token) = (app.clone(), ca_token.clone());
            async move { send(&app, method, uri, Auth::Bearer(&token), body, None).await }
        };
        let requester = as_ca(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "req@acme.example", "display_name": "Req", "role": "requester"})),
        )
        .await;
        assert_eq!(requester.status, StatusCode::CREATED, "{}", requester.body);
        assert_eq!(requester.body["tenant_id"], acme.0);
        let above = as_ca(
            "POST",
            "/api/v1/users",
            Some(json!({"email": "x@acme.example", "display_name": "X", "role": "technician"})),
        )
        .await;
        assert_eq!(above.status, StatusCode::FORBIDDEN, "{}", above.body);
        let elsewhere = as_ca(
        "POST",
        "/api/v1/users",
        Some(json!({"email": "y@globex.example", "display_name": "Y", "role": "requester", "tenant": "globex"})),
    )
    .await;
        assert_eq!(
            elsewhere.status,
            StatusCode::NOT_FOUND,
            "{}",
            elsewhere.body
        );

        // The MSP admin reads everything; the entry says who, what and the values.
        let log = send(
            &app,
            "GET",
            &format!("/api/v1/audit?object=user:{ca_id}"),
            Auth::Bearer(&admin),
            None,
            None,
        )
        .await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        let entry = &log.body[0];
        assert_eq!(entry["action"], "user.created");
        assert_eq!(
            (entry["actor_kind"].clone(), entry["actor"].clone()),
            (json!("token"), json!("ops script"))
        );
        assert_eq!(entry["tenant_id"], acme.0);
        assert_eq!(entry["after"]["email"], "ca@acme.example");
        let everything = send(
            &app,
            "GET",
            "/api/v1/audit?object=user",
            Auth::Bearer(&admin),
            None,
            None,
        )
        .await;
        assert_eq!(
            everything.body.as_array().expect("list").len(),
            3,
            "{}",
            everything.body
        );

        // The customer admin reads their tenant's entries only (not the MSP's technician).
        let theirs = as_ca("GET", "/api/v1/audit?object=user", None).await;
        let actions: Vec<(&str, &str)> = theirs
            .body
            .as_array()
            .expect("list")
            .iter()
            .map(|e| {
                (
                    e["action"].as_str().unwrap_or(""),
                    e["actor"].as_str().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            actions,
            vec![
                ("user.created", "ca@acme.example"),
                ("user.created", "ops script")
            ],
            "{}",
            theirs.body
        );

        // CSV for a spreadsheet, with formulas defused.
        let csv = send(
            &app,
            "GET",
            "/api/v1/audit?format=csv&object=user",
            Auth::Bearer(&admin),
            None,
            None,
        )
        .await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.headers[header::CONTENT_TYPE]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv"));
        let mut lines = csv.text.lines();
        assert!(lines
            .next()
            .expect("header")
            .starts_with("id,at,tenant_id,actor_kind,"));
        assert_eq!(lines.count(), 3, "{}", csv.text);
        assert!(csv.text.contains("user.created") && csv.text.contains("ca@acme.example"));
        let bad = send(
            &app,
            "GET",
            "/api/v1/audit?format=xml",
            Auth::Bearer(&admin),
            None,
            None,
        )
        .await;
        assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    }
);

on_every_backend!(
    every_other_api_change_leaves_a_trail_with_its_request_id_and_no_secrets,
    |store| {
        tenant(&store, "acme").await;
        let app = router(&store);
        let admin = store
            .create_api_token(None, "ops script")
            .await
            .expect("admin");
        let boss = person(&store, "boss@msp.example", Role::MspAdmin, None).await;
        let (session, csrf, session_id) = sign_in(&app, &boss.email, PASSWORD).await;
        let enrollment = send(
            &app,
            "POST",
            "/api/v1/enrollment-tokens",
            Auth::Bearer(&admin),
            Some(json!({"tenant": "acme", "name": "branch office"})),
            None,
        )
        .await;
        assert_eq!(
            enrollment.status,
            StatusCode::CREATED,
            "{}",
            enrollment.body
        );
        let enrollment_secret = enrollment.body["secret"]
            .as_str()
            .expect("secret")
            .to_string();
        let request_id = enrollment.headers["x-request-id"]
            .to_str()
            .expect("ascii")
            .to_string();
        let personal = send(
            &app,
            "POST",
            "/api/v1/api-tokens",
            Auth::Cookie(&session, Some(&csrf)),
            Some(json!({"name": "laptop"})),
            Some("192.0.2.44:5555".parse().expect("address")),
        )
        .await;
        assert_eq!(personal.status, StatusCode::CREATED, "{}", personal.body);
        let personal_secret = personal.body["secret"]
            .as_str()
            .expect("secret")
            .to_string();
        let saved = send(
            &app,
            "POST",
            "/api/v1/saved-queries",
            Auth::Bearer(&admin),
            Some(json!({"tenant": "acme", "name": "big", "query": "memory > 8GB"})),
            None,
        )
        .await;
        assert_eq!(saved.status, StatusCode::CREATED, "{}", saved.body);
        // Reads and refusals leave nothing.
        send(
            &app,
            "GET",
            "/api/v1/saved-queries",
            Auth::Bearer(&admin),
            None,
            None,
        )
        .await;
        let refused = send(
            &app,
            "POST",
            "/api/v1/saved-queries",
            Auth::Bearer(&admin),
            Some(json!({"tenant": "acme", "name": "bad", "query": "memory >"})),
            None,
        )
        .await;
        assert!(refused.status.is_client_error());

        let log = send(
            &app,
            "GET",
            "/api/v1/audit",
            Auth::Bearer(&admin),
            None,
            None,
        )
        .await;
        assert_eq!(log.status, StatusCode::OK, "{}", log.body);
        let entries = log.body.as_array().expect("list");
        let actions: Vec<&str> = entries
            .iter()
            .filter_map(|e| e["action"].as_str())
            .collect();
        assert_eq!(
            actions,
            vec![
                "saved_query.created",
                "api_token.created",
                "enrollment_token.created",
                "session.opened"
            ],
            "{}",
            log.body
        );
        let by_action = |action: &str| {
            entries
                .iter()
                .find(|e| e["action"] == action)
                .expect(action)
                .clone()
        };
        let e = by_action("enrollment_token.created");
        assert_eq!(e["request_id"], request_id.as_str());
        assert_eq!(
            (e["actor_kind"].clone(), e["actor"].clone()),
            (json!("token"), json!("ops script"))
        );
        assert_eq!(e["after"]["name"], "branch office");
        let t = by_action("api_token.created");
        assert_eq!(
            (t["actor_kind"].clone(), t["actor_id"].clone()),
            (json!("user"), json!(boss.id))
        );
        assert_eq!(t["client_address"], "192.0.2.44");
        assert_eq!(
            t["object_id"],
            personal.body["token"]["id"].to_string().as_str()
        );
        let s = by_action("session.opened");
        assert_eq!(s["object_id"], session_id.to_string().as_str());
        for secret in [&enrollment_secret, &personal_secret, &session, &csrf] {
            assert!(
                !log.text.contains(secret.as_str()),
                "a secret is in the audit log"
            );
        }
    }
);

/// Create `body` at `uri` as the admin; the answer's `id` (or `ticket.id`, `token.id`).
async fn made(app: &Router, admin: &str, uri: &str, body: Value) -> String {
    let answer = send(app, "POST", uri, Auth::Bearer(admin), Some(body), None).await;
    assert!(
        answer.status.is_success(),
        "{uri}: {} {}",
        answer.status,
        answer.body
    );
    let id = [
        &answer.body["id"],
        &answer.body["ticket"]["id"],
        &answer.body["token"]["id"],
        &answer.body["agent_id"],
    ]
    .into_iter()
    .find(|v| !v.is_null())
    .unwrap_or_else(|| panic!("{uri}: no id in {}", answer.body))
    .clone();
    id.as_str().map_or_else(|| id.to_string(), str::to_string)
}

/// What an admin sees of globex, to compare before and after the attempts.
async fn globex_as_seen(app: &Router, admin: &str) -> Vec<Value> {
    let mut seen = Vec::new();
    for uri in [
        "/api/v1/incidents?tenant=globex",
        "/api/v1/requests?tenant=globex",
        "/api/v1/cis?tenant=globex",
        "/api/v1/rules?tenant=globex",
        "/api/v1/silences?tenant=globex",
        "/api/v1/saved-queries?tenant=globex",
        "/api/v1/enrollment-tokens?tenant=globex",
        "/api/v1/users?tenant=globex",
        "/api/v1/agents?tenant=globex",
        "/api/v1/tenants/globex/support-plan",
        "/api/v1/tenants/globex/agent-config",
        "/api/v1/tenants/globex/notification-channels",
    ] {
        let answer = send(app, "GET", uri, Auth::Bearer(admin), None, None).await;
        assert_eq!(answer.status, StatusCode::OK, "{uri}: {}", answer.body);
        seen.push(answer.body);
    }
    seen
}

on_every_backend!(
    nothing_of_another_tenant_is_readable_or_writable_through_any_route,
    |store| {
        let acme = tenant(&store, "acme").await;
        tenant(&store, "globex").await;
        let app = router(&store);
        let admin = store.create_api_token(None, "msp").await.expect("admin");
        const MARK: &str = "GLOBEX-PRIVATE";
        let incident = made(
            &app,
            &admin,
            "/api/v1/incidents",
            json!({"tenant": "globex", "title": MARK, "impact": 2, "urgency": 2}),
        )
        .await;
        let request = made(
            &app,
            &admin,
            "/api/v1/requests",
            json!({"tenant": "globex", "title": MARK, "impact": 2, "urgency": 2}),
        )
        .await;
        let ci = made(
            &app,
            &admin,
            "/api/v1/cis",
            json!({"tenant": "globex", "class": "business_service", "name": MARK}),
        )
        .await;
        let rule = made(
            &app,
            &admin,
            "/api/v1/rules?tenant=globex",
            json!({"name": MARK, "metric": "volume.used_percent", "critical_level": 99.0}),
        )
        .await;
        let silence = made(
            &app,
            &admin,
            "/api/v1/silences",
            json!({"tenant": "globex", "reason": MARK, "ends_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
        let saved = made(
            &app,
            &admin,
            "/api/v1/saved-queries",
            json!({"tenant": "globex", "name": MARK, "query": "memory > 1GB"}),
        )
        .await;
        let enrollment = send(
            &app,
            "POST",
            "/api/v1/enrollment-tokens",
            Auth::Bearer(&admin),
            Some(json!({"tenant": "globex", "name": MARK})),
            None,
        )
        .await;
        let enrollment_id = enrollment.body["id"].to_string();
        let enrolled = send(
        &app,
        "POST",
        "/api/v1/agent/enroll",
        Auth::Nobody,
        Some(json!({"protocol": atalaya_shared::protocol::PROTOCOL_VERSION, "token": enrollment.body["secret"],
                    "agent_version": "0.1.0", "host": {"hostname": MARK}})),
        None,
    )
    .await;
        assert!(enrolled.status.is_success(), "{}", enrolled.body);
        let agent = enrolled.body["agent_id"]
            .as_str()
            .expect("agent id")
            .to_string();
        let user = made(&app, &admin, "/api/v1/users", json!({"email": "boss@globex.example", "display_name": MARK, "role": "customer_admin", "tenant": "globex", "password": PASSWORD})).await;
        let before = globex_as_seen(&app, &admin).await;

        // The attackers: acme's technician, and a token that may do everything — in acme only.
        let tech = person(&store, "tech@msp.example", Role::Technician, None).await;
        users::add_membership(&store, tech.id, acme)
            .await
            .expect("member");
        let attackers = [
            ("technician of acme", token_of(&store, &tech).await),
            (
                "acme-bound admin token",
                store
                    .create_api_token(Some(acme), "acme ops")
                    .await
                    .expect("token"),
            ),
        ];
        let id_for = |path: &str| -> String {
            let pick = [
                ("/api/v1/incidents", &incident),
                ("/api/v1/requests", &request),
                ("/api/v1/cis", &ci),
                ("/api/v1/rules", &rule),
                ("/api/v1/silences", &silence),
                ("/api/v1/maintenance-windows", &silence),
                ("/api/v1/saved-queries", &saved),
                ("/api/v1/enrollment-tokens", &enrollment_id),
                ("/api/v1/agents", &agent),
                ("/api/v1/users", &user),
            ];
            pick.iter()
                .find(|(prefix, _)| path.starts_with(prefix))
                .map_or_else(|| "1".to_string(), |(_, id)| (*id).clone())
        };
        let mut attempts = 0;
        for (who, token) in &attackers {
            for (method, path, rule) in ROUTES {
                // The caller's own account (`/me…`) is nobody else's to reach.
                if matches!(rule, Access::Public | Access::Agent)
                    || path.starts_with("/api/v1/me")
                    || !path.contains('{') && *method == "get"
                {
                    continue;
                }
                let uri = path
                    .replace("{id}", &id_for(path))
                    .replace("{target}", &ci)
                    .replace("{name}", "globex")
                    .replace("{tenant}", "globex")
                    .replace("{event}", "opened")
                    .replace("{field}", "name")
                    .replace("{kind}", "depends_on");
                let body = matches!(*method, "post" | "put" | "patch").then(|| {
                json!({"tenant": "globex", "title": "taken over", "name": "taken over", "reason": "x",
                       "body": "hello", "assignee": "me", "state": "resolved", "note": "x",
                       "ends_at": "2099-01-01T00:00:00Z", "query": "memory > 1GB", "ci_id": ci.parse::<i64>().unwrap_or(1)})
            });
                let answer = send(&app, method, &uri, Auth::Bearer(token), body, None).await;
                assert!(
                    !answer.status.is_success(),
                    "{who}: {method} {uri} answered {} {}",
                    answer.status,
                    answer.body
                );
                assert!(
                    !answer.text.contains(MARK),
                    "{who}: {method} {uri} showed globex's data"
                );
                attempts += 1;
            }
            // Lists never show globex's rows, with or without ?tenant=.
            for uri in [
                "/api/v1/incidents",
                "/api/v1/requests",
                "/api/v1/cis",
                "/api/v1/rules",
                "/api/v1/silences",
                "/api/v1/saved-queries",
                "/api/v1/agents",
                "/api/v1/tenants",
                "/api/v1/audit",
            ] {
                for query in ["", "?tenant=globex"] {
                    let answer = send(
                        &app,
                        "GET",
                        &format!("{uri}{query}"),
                        Auth::Bearer(token),
                        None,
                        None,
                    )
                    .await;
                    assert!(
                        !answer.text.contains(MARK),
                        "{who}: {uri}{query} showed globex's data"
                    );
                    // `/tenants` takes no `?tenant=`: it lists the caller's own either way.
                    if !query.is_empty() && uri != "/api/v1/tenants" {
                        assert!(
                            !answer.status.is_success(),
                            "{who}: {uri}{query} answered {}",
                            answer.status
                        );
                    }
                }
            }
        }
        assert!(attempts > 100, "{attempts}");
        assert_eq!(globex_as_seen(&app, &admin).await, before, "globex changed");
    }
);

#[test]
fn the_access_table_answers_for_the_routes_it_names_only() {
    assert_eq!(
        access(&Method::GET, "/api/v1/incidents"),
        Some(Access::Needs(atalaya_server::people::Permission::ReadDesk))
    );
    assert_eq!(access(&Method::GET, "/api/v1/nothing-here"), None);
    assert_eq!(
        access(&Method::POST, "/api/v1/sessions"),
        Some(Access::Public)
    );
}

on_every_backend!(tickets_go_to_people_who_work_their_tenant, |store| {
    let acme = tenant(&store, "acme").await;
    let globex = tenant(&store, "globex").await;
    let app = router(&store);
    let admin = store.create_api_token(None, "msp").await.expect("admin");
    let tech = person(&store, "tech@msp.example", Role::Technician, None).await;
    users::add_membership(&store, tech.id, acme)
        .await
        .expect("member");
    let elsewhere = person(&store, "gus@msp.example", Role::Technician, None).await;
    users::add_membership(&store, elsewhere.id, globex)
        .await
        .expect("member");
    person(&store, "audit@msp.example", Role::Auditor, None).await;
    person(&store, "ca@acme.example", Role::CustomerAdmin, Some(acme)).await;
    let tech_token = token_of(&store, &tech).await;

    let created = send(
        &app,
        "POST",
        "/api/v1/incidents",
        Auth::Bearer(&admin),
        Some(json!({"tenant": "acme", "title": "disk", "impact": 2, "urgency": 2, "assignee": "TECH@msp.example"})),
        None,
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.body["assignee_id"], tech.id);
    assert_eq!(created.body["assignee"], "tech");
    let id = created.body["id"].as_i64().expect("id");
    let assign = |token: String, assignee: &'static str| {
        let app = app.clone();
        async move {
            send(
                &app,
                "POST",
                &format!("/api/v1/incidents/{id}/assign"),
                Auth::Bearer(&token),
                Some(json!({"assignee": assignee})),
                None,
            )
            .await
        }
    };
    for (who, why) in [
        ("gus@msp.example", "does not work this tenant"),
        ("audit@msp.example", "does not work this tenant"),
        ("ca@acme.example", "does not work this tenant"),
        ("nobody@msp.example", "no user with the email"),
        ("me", "ownerless admin token"),
        ("999999", "no user #999999"),
    ] {
        let refused = assign(admin.clone(), who).await;
        assert_eq!(
            refused.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{who}: {}",
            refused.body
        );
        assert!(
            refused.message().contains(why),
            "{who}: {}",
            refused.message()
        );
    }
    let taken = assign(tech_token.clone(), "me").await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    assert_eq!(taken.body["assignee_id"], tech.id);
    let mine = send(
        &app,
        "GET",
        "/api/v1/incidents?assignee=me",
        Auth::Bearer(&tech_token),
        None,
        None,
    )
    .await;
    assert_eq!(mine.body.as_array().map(Vec::len), Some(1), "{}", mine.body);
    let nobody = send(
        &app,
        "GET",
        "/api/v1/incidents?assignee=none",
        Auth::Bearer(&tech_token),
        None,
        None,
    )
    .await;
    assert_eq!(
        nobody.body.as_array().map(Vec::len),
        Some(0),
        "{}",
        nobody.body
    );
    let unknown = send(
        &app,
        "GET",
        "/api/v1/incidents?assignee=who@x.example",
        Auth::Bearer(&tech_token),
        None,
        None,
    )
    .await;
    assert_eq!(unknown.status, StatusCode::BAD_REQUEST);

    users::set_active(&store, elsewhere.id, false, now_ms())
        .await
        .expect("deactivate");
    users::add_membership(&store, elsewhere.id, acme)
        .await
        .expect("member");
    let inactive = assign(admin.clone(), "gus@msp.example").await;
    assert!(
        inactive.message().contains("deactivated"),
        "{}",
        inactive.body
    );
});

/// The link in a mailed message (quoted-printable soft breaks undone).
fn link_in(printed: &str, nth: usize) -> String {
    let text = printed.replace("=\n", "").replace("=\r\n", "");
    text.match_indices("/password/atp_")
        .nth(nth)
        .map(|(at, _)| {
            text[at + "/password/".len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                .collect()
        })
        .unwrap_or_else(|| panic!("no link #{nth} in {printed}"))
}

async fn form(app: &Router, uri: &str, body: &str) -> Answer {
    let request = Request::builder()
        .method("POST")
        .uri(uri)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(body.to_string()))
        .expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    Answer {
        status,
        headers,
        body: Value::Null,
        text: String::from_utf8_lossy(&bytes).into_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forgotten_password_is_reset_and_a_new_person_invited_through_real_email() {
    let Some(mut smtp) = crate::smtp::SmtpServer::start(
        "a_forgotten_password_is_reset_and_a_new_person_invited_through_real_email",
    )
    .await
    else {
        return;
    };
    let db = crate::db::TestDb::sqlite().await;
    let store = db.store.clone();
    let app = router(&store);
    let deliverer =
        atalaya_server::notify::Deliverer::new(Some(smtp.settings())).expect("deliverer");
    let ana = person(&store, "ana@msp.example", Role::MspAdmin, None).await;
    let queued = || {
        let store = store.clone();
        async move {
            let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM notification_outbox")
                .fetch_one(store.pool())
                .await
                .expect("count");
            n
        }
    };

    // Known or not, the answer is the same; only the known account gets mail.
    let mut answers = Vec::new();
    for email in ["ana@msp.example", "nobody@msp.example", "ANA@msp.example"] {
        let asked = send(
            &app,
            "POST",
            "/api/v1/password-resets",
            Auth::Nobody,
            Some(json!({"email": email})),
            None,
        )
        .await;
        assert_eq!(asked.status, StatusCode::ACCEPTED);
        answers.push(asked.body);
    }
    assert!(answers.windows(2).all(|w| w[0] == w[1]), "{answers:?}");
    assert_eq!(
        queued().await,
        1,
        "one mail: the unknown address gets none, asking again within 5 minutes sends nothing"
    );
    assert_eq!(
        deliverer
            .deliver_due(&store, now_ms())
            .await
            .expect("deliver"),
        1
    );
    let printed = smtp.messages(1).await;
    assert!(
        printed.contains("Subject: Reset your Atalaya password"),
        "{printed}"
    );
    assert!(printed.contains("ana@msp.example"), "{printed}");
    let token = link_in(&printed, 0);

    // The page: the form for ana; what to fix; then done.
    let page = send(
        &app,
        "GET",
        &format!("/password/{token}"),
        Auth::Nobody,
        None,
        None,
    )
    .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.text.contains("For ana@msp.example") && page.text.contains("<form method=\"post\">"),
        "{}",
        page.text
    );
    let differ = form(
        &app,
        &format!("/password/{token}"),
        "password=a+long+new+secret&confirm=another+long+one",
    )
    .await;
    assert!(
        differ.text.contains("The two passwords differ"),
        "{}",
        differ.text
    );
    let short = form(
        &app,
        &format!("/password/{token}"),
        "password=short&confirm=short",
    )
    .await;
    assert!(
        short.text.contains("at least 12 characters"),
        "{}",
        short.text
    );
    let done = form(
        &app,
        &format!("/password/{token}"),
        "password=a+long+new+secret&confirm=a+long+new+secret",
    )
    .await;
    assert!(done.text.contains("Your password is set"), "{}", done.text);
    let again = form(
        &app,
        &format!("/password/{token}"),
        "password=yet+another+secret&confirm=yet+another+secret",
    )
    .await;
    assert!(again.text.contains("used already"), "{}", again.text);
    let old = send(
        &app,
        "POST",
        "/api/v1/sessions",
        Auth::Nobody,
        Some(json!({"email": "ana@msp.example", "password": PASSWORD})),
        None,
    )
    .await;
    assert_eq!(old.status, StatusCode::UNAUTHORIZED);
    let (secret, csrf, _) = sign_in(&app, "ana@msp.example", "a long new secret").await;

    // An invitation: a person made without a password is mailed a link to choose one.
    let invited = send(
        &app,
        "POST",
        "/api/v1/users",
        Auth::Cookie(&secret, Some(&csrf)),
        Some(json!({"email": "tom@msp.example", "display_name": "Tom", "role": "technician"})),
        None,
    )
    .await;
    assert_eq!(invited.status, StatusCode::CREATED, "{}", invited.body);
    assert_eq!(invited.body["has_password"], false);
    assert_eq!(
        deliverer
            .deliver_due(&store, now_ms())
            .await
            .expect("deliver"),
        1
    );
    let printed = smtp.messages(2).await;
    assert!(
        printed.contains("Subject: You are invited to the Atalaya service desk"),
        "{printed}"
    );
    assert!(
        printed.contains(&format!("{} invited you", ana.display_name)),
        "{printed}"
    );
    let token = link_in(&printed, 1);
    let short = send(
        &app,
        "POST",
        &format!("/api/v1/password-resets/{token}"),
        Auth::Nobody,
        Some(json!({"password": "short"})),
        None,
    )
    .await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let set = send(
        &app,
        "POST",
        &format!("/api/v1/password-resets/{token}"),
        Auth::Nobody,
        Some(json!({"password": "toms own passphrase"})),
        None,
    )
    .await;
    assert_eq!(set.status, StatusCode::NO_CONTENT, "{}", set.body);
    sign_in(&app, "tom@msp.example", "toms own passphrase").await;
    let reused = send(
        &app,
        "POST",
        &format!("/api/v1/password-resets/{token}"),
        Auth::Nobody,
        Some(json!({"password": "toms other passphrase"})),
        None,
    )
    .await;
    assert_eq!(reused.status, StatusCode::NOT_FOUND);
    assert!(reused.message().contains("used already"), "{}", reused.body);

    // Both are in the audit log; no link secret is.
    let log = send(
        &app,
        "GET",
        "/api/v1/audit?object=user",
        Auth::Cookie(&secret, None),
        None,
        None,
    )
    .await;
    for action in [
        "user.password_reset_asked",
        "user.password_set_by_link",
        "user.created",
    ] {
        assert!(log.text.contains(action), "{action}: {}", log.text);
    }
    assert!(!log.text.contains("atp_"), "{}", log.text);
    smtp.stop().await;
    db.cleanup().await;
}

/// The code an authenticator app shows for `secret` at `step` (30-second steps).
fn code_at(secret: &str, step: u64) -> String {
    let bytes = totp_rs::Secret::Encoded(secret.to_string())
        .to_bytes()
        .expect("base32");
    totp_rs::TOTP::new(totp_rs::Algorithm::SHA1, 6, 1, 30, bytes, None, "x".into())
        .expect("totp")
        .generate(step * 30)
}

fn step_now() -> u64 {
    (now_ms() / 1000) as u64 / 30
}

on_every_backend!(
    a_second_factor_is_asked_at_sign_in_once_set_up_and_can_be_required,
    |store| {
        let acme = tenant(&store, "acme").await;
        let app = router(&store);
        let admin = store.create_api_token(None, "msp").await.expect("admin");
        let ana = person(&store, "ana@msp.example", Role::MspAdmin, None).await;
        let sign_in_with = |code: Option<String>| {
            let app = app.clone();
            async move {
                let mut body = json!({"email": "ana@msp.example", "password": PASSWORD});
                if let Some(code) = code {
                    body["code"] = json!(code);
                }
                send(
                    &app,
                    "POST",
                    "/api/v1/sessions",
                    Auth::Nobody,
                    Some(body),
                    None,
                )
                .await
            }
        };
        let (secret, csrf, _) = sign_in(&app, "ana@msp.example", PASSWORD).await;
        let setup = send(
            &app,
            "POST",
            "/api/v1/me/totp",
            Auth::Cookie(&secret, Some(&csrf)),
            None,
            None,
        )
        .await;
        assert_eq!(setup.status, StatusCode::CREATED, "{}", setup.body);
        let totp_secret = setup.body["secret"].as_str().expect("secret").to_string();
        assert!(setup.body["otpauth_url"]
            .as_str()
            .expect("url")
            .starts_with("otpauth://totp/Atalaya:ana%40msp.example"));
        // Until confirmed, sign-in asks nothing more.
        assert_eq!(sign_in_with(None).await.status, StatusCode::CREATED);
        let confirm = |code: String| {
            let (app, secret, csrf) = (app.clone(), secret.clone(), csrf.clone());
            async move {
                send(
                    &app,
                    "POST",
                    "/api/v1/me/totp/confirm",
                    Auth::Cookie(&secret, Some(&csrf)),
                    Some(json!({"code": code})),
                    None,
                )
                .await
            }
        };
        let step = step_now();
        let wrong = confirm(code_at(&totp_secret, step + 5)).await;
        assert_eq!(
            wrong.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{}",
            wrong.body
        );
        let confirmed = confirm(code_at(&totp_secret, step)).await;
        assert_eq!(
            confirmed.status,
            StatusCode::NO_CONTENT,
            "{}",
            confirmed.body
        );

        let needed = sign_in_with(None).await;
        assert_eq!(
            (needed.status, needed.code()),
            (StatusCode::UNAUTHORIZED, "code_required")
        );
        let wrong = sign_in_with(Some(code_at(&totp_secret, step + 7))).await;
        assert_eq!(
            (wrong.status, wrong.code()),
            (StatusCode::UNAUTHORIZED, "wrong_code")
        );
        let replayed = sign_in_with(Some(code_at(&totp_secret, step))).await;
        assert_eq!(replayed.code(), "wrong_code", "a code works once");
        let next = sign_in_with(Some(code_at(&totp_secret, step + 1))).await;
        assert_eq!(next.status, StatusCode::CREATED, "{}", next.body);
        let refused = send(
            &app,
            "DELETE",
            "/api/v1/me/totp",
            Auth::Bearer(&token_of(&store, &ana).await),
            None,
            None,
        )
        .await;
        assert_eq!(
            refused.status,
            StatusCode::NO_CONTENT,
            "not required, so it may be removed: {}",
            refused.body
        );
        assert_eq!(sign_in_with(None).await.status, StatusCode::CREATED);

        // Required for acme: its customer admin without one may only set it up.
        let ca = person(&store, "ca@acme.example", Role::CustomerAdmin, Some(acme)).await;
        let policy = send(
            &app,
            "PUT",
            "/api/v1/tenants/acme/security-policy",
            Auth::Bearer(&admin),
            Some(json!({"require_totp": true})),
            None,
        )
        .await;
        assert_eq!(policy.status, StatusCode::OK, "{}", policy.body);
        let (ca_secret, ca_csrf, _) = sign_in(&app, &ca.email, PASSWORD).await;
        let blocked = send(
            &app,
            "GET",
            "/api/v1/incidents",
            Auth::Cookie(&ca_secret, None),
            None,
            None,
        )
        .await;
        assert_eq!(
            (blocked.status, blocked.code()),
            (StatusCode::FORBIDDEN, "totp_setup_required"),
            "{}",
            blocked.body
        );
        let me = send(
            &app,
            "GET",
            "/api/v1/me",
            Auth::Cookie(&ca_secret, None),
            None,
            None,
        )
        .await;
        assert_eq!(me.body["user"]["totp_required"], true);
        let later = person(&store, "new@acme.example", Role::Requester, Some(acme)).await;
        assert!(later.totp_required, "people added later are required too");
        let setup = send(
            &app,
            "POST",
            "/api/v1/me/totp",
            Auth::Cookie(&ca_secret, Some(&ca_csrf)),
            None,
            None,
        )
        .await;
        let ca_totp = setup.body["secret"].as_str().expect("secret").to_string();
        let removal = send(
            &app,
            "DELETE",
            "/api/v1/me/totp",
            Auth::Cookie(&ca_secret, Some(&ca_csrf)),
            None,
            None,
        )
        .await;
        assert_eq!(
            removal.status,
            StatusCode::FORBIDDEN,
            "still blocked while not set up: {}",
            removal.body
        );
        let done = send(
            &app,
            "POST",
            "/api/v1/me/totp/confirm",
            Auth::Cookie(&ca_secret, Some(&ca_csrf)),
            Some(json!({"code": code_at(&ca_totp, step_now())})),
            None,
        )
        .await;
        assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
        let open = send(
            &app,
            "GET",
            "/api/v1/incidents",
            Auth::Cookie(&ca_secret, None),
            None,
            None,
        )
        .await;
        assert_eq!(open.status, StatusCode::OK, "{}", open.body);
        let kept = send(
            &app,
            "DELETE",
            "/api/v1/me/totp",
            Auth::Cookie(&ca_secret, Some(&ca_csrf)),
            None,
            None,
        )
        .await;
        assert_eq!(
            kept.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "required: not removable: {}",
            kept.body
        );

        // A lost phone: an admin resets it, and the person sets up a new one.
        let reset = send(
            &app,
            "PATCH",
            &format!("/api/v1/users/{}", ca.id),
            Auth::Bearer(&admin),
            Some(json!({"reset_totp": true})),
            None,
        )
        .await;
        assert_eq!(reset.status, StatusCode::OK, "{}", reset.body);
        assert_eq!(reset.body["totp_enabled"], false);
        let blocked = send(
            &app,
            "GET",
            "/api/v1/incidents",
            Auth::Cookie(&ca_secret, None),
            None,
            None,
        )
        .await;
        assert_eq!(blocked.code(), "totp_setup_required");
    }
);

on_every_backend!(technicians_work_the_queues_of_their_groups, |store| {
    let acme = tenant(&store, "acme").await;
    let app = router(&store);
    let admin = store.create_api_token(None, "msp").await.expect("admin");
    let tech = person(&store, "tech@msp.example", Role::Technician, None).await;
    users::add_membership(&store, tech.id, acme)
        .await
        .expect("member");
    let auditor = person(&store, "audit@msp.example", Role::Auditor, None).await;
    let tech_token = token_of(&store, &tech).await;
    let group = send(
        &app,
        "POST",
        "/api/v1/assignment-groups",
        Auth::Bearer(&admin),
        Some(json!({"name": "night-shift", "tier": 1})),
        None,
    )
    .await;
    assert_eq!(group.status, StatusCode::CREATED, "{}", group.body);
    for (title, group) in [("queued", Some("night-shift")), ("elsewhere", None)] {
        let mut body = json!({"tenant": "acme", "title": title, "impact": 2, "urgency": 2});
        if let Some(group) = group {
            body["group"] = json!(group);
        }
        let made = send(
            &app,
            "POST",
            "/api/v1/incidents",
            Auth::Bearer(&admin),
            Some(body),
            None,
        )
        .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.body);
    }
    let mine = || {
        let (app, token) = (app.clone(), tech_token.clone());
        async move {
            let answer = send(
                &app,
                "GET",
                "/api/v1/incidents?group=mine",
                Auth::Bearer(&token),
                None,
                None,
            )
            .await;
            assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
            answer
                .body
                .as_array()
                .expect("list")
                .iter()
                .map(|t| t["title"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        }
    };
    assert!(mine().await.is_empty(), "in no group yet");

    let joined = send(
        &app,
        "PUT",
        &format!("/api/v1/assignment-groups/night-shift/members/{}", tech.id),
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(joined.status, StatusCode::NO_CONTENT, "{}", joined.body);
    let listed = send(
        &app,
        "GET",
        "/api/v1/assignment-groups/night-shift/members",
        Auth::Bearer(&tech_token),
        None,
        None,
    )
    .await;
    assert_eq!(
        listed.body[0]["email"], "tech@msp.example",
        "{}",
        listed.body
    );
    assert_eq!(mine().await, ["queued"]);
    let not_staff = send(
        &app,
        "PUT",
        &format!(
            "/api/v1/assignment-groups/night-shift/members/{}",
            auditor.id
        ),
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(
        not_staff.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        not_staff.body
    );
    let no_group = send(
        &app,
        "PUT",
        &format!("/api/v1/assignment-groups/day-shift/members/{}", tech.id),
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(no_group.status, StatusCode::NOT_FOUND);
    let ownerless = send(
        &app,
        "GET",
        "/api/v1/incidents?group=mine",
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(ownerless.status, StatusCode::BAD_REQUEST);

    let left = send(
        &app,
        "DELETE",
        &format!("/api/v1/assignment-groups/night-shift/members/{}", tech.id),
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    assert_eq!(left.status, StatusCode::NO_CONTENT);
    assert!(mine().await.is_empty());
    let log = send(
        &app,
        "GET",
        "/api/v1/audit?object=assignment_group:night-shift",
        Auth::Bearer(&admin),
        None,
        None,
    )
    .await;
    let actions: Vec<&str> = log
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "assignment_group.member_removed",
            "assignment_group.member_added"
        ],
        "{}",
        log.body
    );
});
