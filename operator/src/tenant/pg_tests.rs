//! The shared tier against a real PostgreSQL: a fresh database per test is the shared
//! pool; the Kubernetes side is the fake API server.

use std::{sync::Arc, time::Duration};

use instudio_tests::TestDb;
use migrations::TenantMigrator;
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tenancy::{SchemaName, TenantSlug, crd::Phase};

use crate::{
    build::DbFlavor,
    db::{Databases, PgDatabases, SecretUrl},
    fixtures::SHARED_TENANT,
    harness::Harness,
    pool,
};

async fn one_string(db: &DatabaseConnection, sql: &str) -> Option<String> {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index::<i64>(0)
        .unwrap()
}

#[tokio::test]
async fn shared_tier_reconcile_claims_a_warm_slot_migrates_and_archives_on_delete() {
    let test_db = TestDb::create().await;
    let db = test_db.connect().await;
    let h = Harness::with(
        PgDatabases::default(),
        DbFlavor::BuiltIn,
        Duration::from_secs(3600),
    );
    h.add_pool("shared-1", test_db.url.expose().as_str(), 100);

    // The SharedPool controller migrates the bookkeeping and warms two slots.
    let pool_obj = serde_json::from_value(
        h.api
            .get("instudio.io/v1alpha1", "sharedpools", None, "shared-1")
            .unwrap(),
    )
    .unwrap();
    pool::reconcile(Arc::new(pool_obj), h.ctx.clone())
        .await
        .unwrap();
    let ready = "SELECT count(*) FROM platform.pool_slots WHERE state = 'ready'";
    assert_eq!(count(&db, ready).await, 2);

    h.add_tenant(SHARED_TENANT);
    h.settle("bella-spa").await;
    let status = h.tenant("bella-spa").unwrap().status.unwrap();
    assert_eq!(status.phase, Some(Phase::Ready));
    assert_eq!(status.placement.as_ref().unwrap().database, test_db.name);
    assert_eq!(
        status.schema_version,
        Some(TenantMigrator::latest_version())
    );
    assert_eq!(count(&db, ready).await, 1, "one warm slot was claimed");
    assert_eq!(
        one_string(&db, "SELECT name FROM t_bella_spa.salon_settings")
            .await
            .as_deref(),
        Some("Bella Spa")
    );
    assert_eq!(
        one_string(
            &db,
            "SELECT version FROM t_bella_spa.seaql_migrations ORDER BY version DESC LIMIT 1"
        )
        .await,
        Some(TenantMigrator::latest_version())
    );

    // Settled: a second reconcile writes nothing to Kubernetes and changes no schema.
    h.api.clear_calls();
    h.reconcile("bella-spa").await.unwrap();
    assert_eq!(h.api.writes(), vec![]);
    assert_eq!(count(&db, ready).await, 1);

    // The pool refills what was claimed.
    let pool_obj = serde_json::from_value(
        h.api
            .get("instudio.io/v1alpha1", "sharedpools", None, "shared-1")
            .unwrap(),
    )
    .unwrap();
    pool::reconcile(Arc::new(pool_obj), h.ctx.clone())
        .await
        .unwrap();
    assert_eq!(count(&db, ready).await, 2);

    // Deletion archives the schema with its data.
    h.delete_tenant("bella-spa");
    h.reconcile("bella-spa").await.unwrap();
    assert!(h.tenant("bella-spa").is_none());
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM pg_namespace WHERE nspname = 't_bella_spa'"
        )
        .await,
        0
    );
    let archived = one_string(
        &db,
        "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'arch_%t_bella_spa'",
    )
    .await
    .expect("archived schema");
    assert_eq!(
        one_string(
            &db,
            &format!("SELECT name FROM \"{archived}\".salon_settings")
        )
        .await
        .as_deref(),
        Some("Bella Spa"),
        "data kept"
    );
}

#[tokio::test]
async fn without_a_warm_slot_the_schema_is_created_cold_and_a_dedicated_database_migrates() {
    let test_db = TestDb::create().await;
    let db = test_db.connect().await;
    let dbs = PgDatabases::default();
    let url = SecretUrl::parse(test_db.url.expose().as_str()).unwrap();
    let target = crate::db::PoolTarget {
        name: tenancy::PoolName::parse("cold").unwrap(),
        database: url.database().unwrap(),
        url: url.clone(),
    };
    dbs.prepare_pool(&target, 10, 0).await.unwrap();
    let schema = SchemaName::for_tenant(&TenantSlug::parse("cold-salon").unwrap());
    let (version, source) = dbs
        .place_shared(&target, &schema, "Cold Salon")
        .await
        .unwrap();
    assert_eq!(source, crate::db::SlotSource::Cold);
    assert_eq!(version, TenantMigrator::latest_version());
    assert!(dbs.schema_exists(&target, &schema).await.unwrap());
    // Placing again (a retried reconcile) keeps the profile it has.
    dbs.migrate_shared(&target, &schema).await.unwrap();
    assert_eq!(
        count(&db, "SELECT count(*) FROM t_cold_salon.salon_settings").await,
        1
    );

    // A dedicated tenant's own database, reached over a direct connection.
    let dedicated = TestDb::create().await;
    let ded_url = SecretUrl::parse(dedicated.url.expose().as_str()).unwrap();
    let acme = SchemaName::for_tenant(&TenantSlug::parse("acme").unwrap());
    let version = dbs
        .migrate_dedicated(&ded_url, &acme, "Acme Beauty")
        .await
        .unwrap();
    assert_eq!(version, TenantMigrator::latest_version());
    let ded = dedicated.connect().await;
    assert_eq!(
        one_string(&ded, "SELECT name FROM t_acme.salon_settings")
            .await
            .as_deref(),
        Some("Acme Beauty")
    );
    // Again: idempotent.
    dbs.migrate_dedicated(&ded_url, &acme, "Acme Beauty")
        .await
        .unwrap();
    assert_eq!(
        count(&ded, "SELECT count(*) FROM t_acme.salon_settings").await,
        1
    );
}
