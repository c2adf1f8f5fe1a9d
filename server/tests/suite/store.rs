//! Store operations: tenants, sites, tokens, agents, rules — each on every backend.

use atalaya_server::people::{tokens, Role};
use atalaya_server::store::agents::NewAgent;
use atalaya_server::store::rules::RuleSpec;
use atalaya_server::store::tokens::{EnrollmentRefusal, NewEnrollmentToken};
use atalaya_server::store::{now_ms, Store, StoreError, TenantScope};

use crate::on_every_backend;

pub fn rule(name: &str, critical: f64) -> RuleSpec {
    RuleSpec::new(
        name,
        "volume.used_percent",
        atalaya_server::rules::Direction::Above,
        critical,
    )
}

on_every_backend!(tenants_are_unique_validated_and_scoped, |store| {
    let acme = store
        .create_tenant("acme", "Acme Corp")
        .await
        .expect("create")
        .expect("new");
    assert!(
        store
            .create_tenant("acme", "Again")
            .await
            .expect("no error")
            .is_none(),
        "duplicate name"
    );
    assert!(matches!(
        store.create_tenant("Bad Name", "x").await,
        Err(StoreError::Invalid(_))
    ));
    let globex = store
        .create_tenant("globex", "Globex")
        .await
        .expect("create")
        .expect("new");
    assert_eq!(
        store
            .list_tenants(TenantScope::All)
            .await
            .expect("list")
            .len(),
        2
    );
    let only_acme = store
        .list_tenants(TenantScope::Tenant(acme.id))
        .await
        .expect("list");
    assert_eq!(only_acme.len(), 1);
    assert_eq!(only_acme[0].name, "acme");
    assert!(matches!(
        store
            .tenant_by_name(TenantScope::Tenant(acme.id), "globex")
            .await,
        Err(StoreError::NotFound)
    ));
    assert_eq!(
        store.tenant_by_id(globex.id).await.expect("get").name,
        "globex"
    );
    let site = store.ensure_site(acme.id, "hq").await.expect("site");
    assert_eq!(
        store.ensure_site(acme.id, "hq").await.expect("same site"),
        site
    );
});

on_every_backend!(admin_tokens_authenticate_by_hash, |store| {
    let acme = store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new");
    let msp = store.create_api_token(None, "msp").await.expect("token");
    let scoped = store
        .create_api_token(Some(acme.id), "acme tech")
        .await
        .expect("token");
    let authenticate = |secret: String| {
        let store = store.clone();
        async move {
            tokens::authenticate(&store, &secret, now_ms())
                .await
                .expect("auth")
        }
    };
    let p = authenticate(msp.clone()).await.expect("known");
    assert_eq!((p.scope, p.role), (TenantScope::All, Role::MspAdmin));
    let p = authenticate(scoped).await.expect("known");
    assert_eq!(p.scope, TenantScope::Tenant(acme.id));
    assert_eq!(
        authenticate("atl_wrong".into()).await.expect_err("unknown"),
        tokens::Refusal::Unknown
    );
    // Only the hash is stored.
    let (stored,): (String,) =
        sqlx::query_as("SELECT token_hash FROM api_tokens WHERE name = 'msp'")
            .fetch_one(store.pool())
            .await
            .expect("row");
    assert_ne!(stored, msp);
    assert_eq!(stored.len(), 64);
});

async fn consume(store: &Store, secret: &str) -> Result<i64, EnrollmentRefusal> {
    let mut tx = store.begin().await.expect("tx");
    let result = Store::consume_enrollment_token(&mut tx, secret)
        .await
        .expect("query");
    tx.commit().await.expect("commit");
    result.map(|t| t.uses)
}

on_every_backend!(
    enrollment_tokens_enforce_revocation_expiry_and_use_limits,
    |store| {
        let acme = store
            .create_tenant("acme", "Acme")
            .await
            .expect("create")
            .expect("new");
        let new = |max_uses| NewEnrollmentToken {
            name: "t".into(),
            site_id: None,
            expires_at_ms: None,
            max_uses,
        };

        let (_, limited) = store
            .create_enrollment_token(acme.id, &new(Some(2)))
            .await
            .expect("token");
        assert_eq!(consume(&store, &limited).await, Ok(1));
        assert_eq!(consume(&store, &limited).await, Ok(2));
        assert_eq!(
            consume(&store, &limited).await,
            Err(EnrollmentRefusal::UsedUp)
        );

        let (record, revoked) = store
            .create_enrollment_token(acme.id, &new(None))
            .await
            .expect("token");
        store
            .revoke_enrollment_token(TenantScope::All, record.id)
            .await
            .expect("revoke");
        assert_eq!(
            consume(&store, &revoked).await,
            Err(EnrollmentRefusal::Revoked)
        );

        let (record, expiring) = store
            .create_enrollment_token(
                acme.id,
                &NewEnrollmentToken {
                    expires_at_ms: Some(now_ms() + 60_000),
                    ..new(None)
                },
            )
            .await
            .expect("token");
        sqlx::query("UPDATE enrollment_tokens SET expires_at = $1 WHERE id = $2")
            .bind(now_ms() - 1)
            .bind(record.id)
            .execute(store.pool())
            .await
            .expect("age the token");
        assert_eq!(
            consume(&store, &expiring).await,
            Err(EnrollmentRefusal::Expired)
        );
        assert_eq!(
            consume(&store, "ate_unknown").await,
            Err(EnrollmentRefusal::Unknown)
        );

        assert!(matches!(
            store.create_enrollment_token(acme.id, &new(Some(0))).await,
            Err(StoreError::Invalid(_))
        ));
        assert!(matches!(
            store
                .create_enrollment_token(
                    acme.id,
                    &NewEnrollmentToken {
                        expires_at_ms: Some(1),
                        ..new(None)
                    }
                )
                .await,
            Err(StoreError::Invalid(_))
        ));
        let other = store
            .create_tenant("other", "Other")
            .await
            .expect("create")
            .expect("new");
        assert!(store
            .list_enrollment_tokens(TenantScope::Tenant(other.id))
            .await
            .expect("list")
            .is_empty());
        assert_eq!(
            store
                .list_enrollment_tokens(TenantScope::Tenant(acme.id))
                .await
                .expect("list")
                .len(),
            3
        );
        assert!(matches!(
            store
                .revoke_enrollment_token(TenantScope::Tenant(other.id), record.id)
                .await,
            Err(StoreError::NotFound)
        ));
    }
);

on_every_backend!(agents_authenticate_until_revoked, |store| {
    let acme = store
        .create_tenant("acme", "Acme")
        .await
        .expect("create")
        .expect("new");
    let (token, _) = store
        .create_enrollment_token(
            acme.id,
            &NewEnrollmentToken {
                name: "t".into(),
                ..Default::default()
            },
        )
        .await
        .expect("token");
    let mut tx = store.begin().await.expect("tx");
    let (agent_id, credential) = Store::create_agent(
        &mut tx,
        &NewAgent {
            tenant: acme.id,
            site_id: None,
            enrollment_token_id: token.id,
            hostname: "h",
            agent_version: "1",
        },
    )
    .await
    .expect("agent");
    tx.commit().await.expect("commit");
    let identity = store
        .authenticate_agent(&credential)
        .await
        .expect("auth")
        .expect("known");
    assert_eq!(identity.agent_id, agent_id);
    assert_eq!(identity.tenant, acme.id);
    assert_eq!(
        store
            .list_agents(TenantScope::Tenant(acme.id))
            .await
            .expect("list")
            .len(),
        1
    );
    store
        .revoke_agent(TenantScope::All, &agent_id)
        .await
        .expect("revoke");
    assert!(store
        .authenticate_agent(&credential)
        .await
        .expect("auth")
        .is_none());
    assert!(matches!(
        store.revoke_agent(TenantScope::All, "nope").await,
        Err(StoreError::NotFound)
    ));
});

on_every_backend!(
    rules_validate_and_tenant_rules_override_msp_wide_ones,
    |store| {
        let acme = store
            .create_tenant("acme", "Acme")
            .await
            .expect("create")
            .expect("new");
        let globex = store
            .create_tenant("globex", "Globex")
            .await
            .expect("create")
            .expect("new");
        let msp = store
            .create_rule(None, &rule("Disk", 90.0))
            .await
            .expect("msp rule");
        let own = store
            .create_rule(Some(acme.id), &rule("Disk", 70.0))
            .await
            .expect("override");
        assert!(matches!(
            store.create_rule(Some(acme.id), &rule("Disk", 60.0)).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(matches!(
            store.create_rule(None, &rule("Disk", 60.0)).await,
            Err(StoreError::Conflict(_))
        ));

        let mut bad = rule("Bad", 90.0);
        bad.warning_level = Some(95.0);
        assert!(matches!(
            store.create_rule(None, &bad).await,
            Err(StoreError::Invalid(_))
        ));
        let mut bad = rule("Bad", 90.0);
        bad.metric = "nonsense".into();
        assert!(matches!(
            store.create_rule(None, &bad).await,
            Err(StoreError::Invalid(_))
        ));
        let mut bad = rule("Bad", 90.0);
        bad.impact = 7;
        assert!(matches!(
            store.create_rule(None, &bad).await,
            Err(StoreError::Invalid(_))
        ));

        let mut tx = store.begin().await.expect("tx");
        let for_acme = atalaya_server::store::rules::effective_rules(&mut tx, acme.id)
            .await
            .expect("rules");
        let for_globex = atalaya_server::store::rules::effective_rules(&mut tx, globex.id)
            .await
            .expect("rules");
        tx.rollback().await.expect("rollback");
        assert_eq!(
            for_acme.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![own.id]
        );
        assert_eq!(
            for_globex.iter().map(|r| r.id).collect::<Vec<_>>(),
            vec![msp.id]
        );

        // A tenant-scoped caller sees MSP-wide rules but cannot change them.
        let scope = TenantScope::Tenant(globex.id);
        assert_eq!(store.list_rules(scope).await.expect("list").len(), 1);
        assert!(matches!(
            store.update_rule(scope, msp.id, &rule("Disk", 50.0)).await,
            Err(StoreError::NotFound)
        ));
        let updated = store
            .update_rule(TenantScope::All, msp.id, &rule("Disk", 80.0))
            .await
            .expect("update");
        assert_eq!(updated.critical_level, 80.0);
        store
            .delete_rule(TenantScope::All, own.id)
            .await
            .expect("delete");
        assert!(matches!(
            store.get_rule(TenantScope::All, own.id).await,
            Err(StoreError::NotFound)
        ));
    }
);
