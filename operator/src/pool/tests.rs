//! SharedPool scenarios against the fake API server.

use std::{sync::Arc, time::Duration};

use serde_json::json;
use tenancy::crd::SharedPool;

use crate::{
    build::DbFlavor,
    fixtures::{SHARED_POOL, SHARED_TENANT, shared_pool},
    harness::{DbCall, Harness, RecordingDb, base64},
};

fn pool(h: &Harness<RecordingDb>) -> SharedPool {
    serde_json::from_value(
        h.api
            .get("instudio.io/v1alpha1", "sharedpools", None, "shared-1")
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn a_pool_is_prepared_refilled_and_reported_then_left_alone() {
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, Duration::ZERO);
    h.api.insert(
        "sharedpools",
        serde_json::to_value(shared_pool(SHARED_POOL)).unwrap(),
    );
    h.api.insert(
        "secrets",
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "shared-1-db", "namespace": "instudio"},
               "data": {"url": base64("postgres://pool:pw@db:5432/shared_one")}}),
    );
    h.add_tenant(SHARED_TENANT);

    super::reconcile(Arc::new(pool(&h)), h.ctx.clone())
        .await
        .unwrap();
    assert_eq!(
        h.db.calls(),
        vec![DbCall::PreparePool {
            pool: "shared-1".into(),
            max: 100,
            warm: 3
        }]
    );
    let status = pool(&h).status.unwrap();
    assert_eq!(status.database.as_deref(), Some("shared_one"));
    assert_eq!(status.ready_slots, 3);
    assert_eq!(status.tenants, 0);
    assert_eq!(status.conditions[0].status, "True");
    assert!(pool(&h).accepts_tenants());

    h.api.clear_calls();
    super::reconcile(Arc::new(pool(&h)), h.ctx.clone())
        .await
        .unwrap();
    assert_eq!(h.api.writes(), vec![], "nothing changed, nothing written");
}

#[tokio::test]
async fn a_pool_whose_secret_is_missing_is_not_ready_and_takes_no_tenants() {
    let h = Harness::with(RecordingDb::default(), DbFlavor::BuiltIn, Duration::ZERO);
    h.api.insert(
        "sharedpools",
        serde_json::to_value(shared_pool(SHARED_POOL)).unwrap(),
    );
    let err = super::reconcile(Arc::new(pool(&h)), h.ctx.clone())
        .await
        .unwrap_err();
    assert_eq!(err.category(), "pool");
    let status = pool(&h).status.unwrap();
    assert_eq!(status.conditions[0].status, "False");
    assert_eq!(status.conditions[0].reason, "ConnectionSecretInvalid");
    assert!(!pool(&h).accepts_tenants());
    assert!(h.db.calls().is_empty());
}
